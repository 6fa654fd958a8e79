/**
 * SSH the way the fleet is reached: hypervisors with their pinned host keys, guests
 * only through their hypervisor as a jump host, guest host keys pinned from the stack
 * outputs. The deploy key lives in a private temporary folder for the run only.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export interface SshResult {
    status: number | null;
    stdout: string;
    stderr: string;
}

export interface FleetSshOptions {
    user: string;
    /** known_hosts holding every hypervisor's key. */
    hypervisorKnownHosts: string;
    /** Key for the hypervisors; without one the SSH agent is used. */
    hypervisorKey?: string;
    /** The fleet's deploy key (OpenSSH private key text). */
    deployPrivateKey: string;
    /** Guest address -> pinned host key ("ssh-ed25519 AAAA..."). */
    guestHostKeys: Record<string, string>;
}

export class FleetSsh {
    private readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "nordfleet-ssh-"));
    private readonly deployKeyFile = path.join(this.dir, "deploy_key");
    private readonly guestKnownHosts = path.join(this.dir, "guest_known_hosts");

    constructor(private readonly o: FleetSshOptions) {
        fs.writeFileSync(this.deployKeyFile, o.deployPrivateKey.endsWith("\n") ? o.deployPrivateKey : `${o.deployPrivateKey}\n`,
            { mode: 0o600 });
        fs.writeFileSync(this.guestKnownHosts,
            Object.entries(o.guestHostKeys).map(([address, key]) => `${address} ${key}\n`).join(""));
    }

    private hypervisorOptions(): string[] {
        return [...(this.o.hypervisorKey ? ["-i", this.o.hypervisorKey, "-o", "IdentitiesOnly=yes"] : []),
            "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${this.o.hypervisorKnownHosts}`,
            "-o", "ConnectTimeout=10"];
    }

    public onHypervisor(address: string, command: string): Promise<SshResult> {
        return this.run(["ssh", ...this.hypervisorOptions(), `${this.o.user}@${address}`, command]);
    }

    public onGuest(hypervisor: string, address: string, command: string, stdin?: string): Promise<SshResult> {
        const proxy = ["ssh", ...this.hypervisorOptions(), "-W", "%h:%p", `${this.o.user}@${hypervisor}`].join(" ");
        return this.run(["ssh", "-i", this.deployKeyFile, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${this.guestKnownHosts}`, "-o", "ConnectTimeout=10",
            "-o", `ProxyCommand=${proxy}`, `${this.o.user}@${address}`, command], stdin);
    }

    private run([program, ...args]: string[], stdin?: string): Promise<SshResult> {
        return new Promise(resolve => {
            const child = spawn(program, args, { stdio: ["pipe", "pipe", "pipe"] });
            let stdout = "";
            let stderr = "";
            child.stdout.on("data", d => { stdout += d; });
            child.stderr.on("data", d => { stderr += d; });
            child.on("close", status => resolve({ status, stdout, stderr }));
            child.stdin.end(stdin ?? "");
        });
    }

    public close(): void {
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}
