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
    /** known_hosts holding every hypervisor's key; or give the keys themselves below. */
    hypervisorKnownHosts?: string;
    /** Hypervisor address -> pinned host key, used when no known_hosts file is given. */
    hypervisorHostKeys?: Record<string, string>;
    /** Key for the hypervisors; without one the SSH agent is used. */
    hypervisorKey?: string;
    /** The fleet's deploy key (OpenSSH private key text). */
    deployPrivateKey: string;
    /** Guest address -> pinned host key ("ssh-ed25519 AAAA..."). */
    guestHostKeys: Record<string, string>;
}

/** ssh options for a hypervisor: its host key pinned, never a prompt. */
export function hypervisorSshOptions(knownHosts: string, key?: string): string[] {
    return [...(key ? ["-i", key, "-o", "IdentitiesOnly=yes"] : []), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
        "-o", `UserKnownHostsFile=${knownHosts}`, "-o", "ConnectTimeout=10"];
}

/** The ssh command line that runs `command` on a guest through its hypervisor, the guest's host key pinned. */
export function guestSshArgv(a: {
    user: string; hypervisor: string; hypervisorOptions: string[]; guestKey: string; guestKnownHosts: string;
    address: string; command: string;
}): string[] {
    const proxy = ["ssh", ...a.hypervisorOptions, "-W", "%h:%p", `${a.user}@${a.hypervisor}`].join(" ");
    return ["ssh", ...hypervisorSshOptions(a.guestKnownHosts, a.guestKey), "-o", `ProxyCommand=${proxy}`,
        `${a.user}@${a.address}`, a.command];
}

function writeKnownHosts(file: string, keys: Record<string, string>): void {
    fs.writeFileSync(file, Object.entries(keys).map(([address, key]) => `${address} ${key}\n`).join(""));
}

export class FleetSsh {
    private readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "nordfleet-ssh-"));
    private readonly deployKeyFile = path.join(this.dir, "deploy_key");
    private readonly guestKnownHosts = path.join(this.dir, "guest_known_hosts");
    private readonly hypervisorKnownHosts: string;

    constructor(private readonly o: FleetSshOptions) {
        this.hypervisorKnownHosts = o.hypervisorKnownHosts ?? path.join(this.dir, "hypervisor_known_hosts");
        if (o.hypervisorKnownHosts === undefined) {
            writeKnownHosts(this.hypervisorKnownHosts, o.hypervisorHostKeys ?? {});
        }
        fs.writeFileSync(this.deployKeyFile, o.deployPrivateKey.endsWith("\n") ? o.deployPrivateKey : `${o.deployPrivateKey}\n`,
            { mode: 0o600 });
        writeKnownHosts(this.guestKnownHosts, o.guestHostKeys);
    }

    public onHypervisor(address: string, command: string): Promise<SshResult> {
        return this.run(["ssh", ...this.hypervisorOptions(), `${this.o.user}@${address}`, command]);
    }

    public onGuest(hypervisor: string, address: string, command: string, stdin?: string): Promise<SshResult> {
        return this.run(guestSshArgv({ user: this.o.user, hypervisor, hypervisorOptions: this.hypervisorOptions(),
            guestKey: this.deployKeyFile, guestKnownHosts: this.guestKnownHosts, address, command }), stdin);
    }

    private hypervisorOptions(): string[] {
        return hypervisorSshOptions(this.hypervisorKnownHosts, this.o.hypervisorKey);
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
