/**
 * Talks to the lab hypervisor and its guests exactly as the fleet does: over SSH, from
 * inside the lab's network namespace, guests only through the hypervisor as a jump host
 * and with their generated host keys pinned (StrictHostKeyChecking=yes).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { guestSshArgv, hypervisorSshOptions } from "../../doctor/fleetSsh";

export const LAB_NS = "nordfleet-lab";
export const LAB_HOME = "/root/.nordfleet-lab";
const HV_KEY = path.join(LAB_HOME, "hypervisor_ed25519");

export interface Run {
    status: number | null;
    stdout: string;
    stderr: string;
}

export function labIsUp(): boolean {
    return spawnSync("ip", ["netns", "exec", LAB_NS, "true"]).status === 0 && fs.existsSync(HV_KEY);
}

export class LabSsh {
    public readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "nordfleet-lab-ssh-"));
    private readonly hvKnownHosts = path.join(this.dir, "hypervisor_known_hosts");

    constructor(private readonly hvAddress: string) {
        const hostKey = fs.readFileSync(path.join(LAB_HOME, "ssh_host_ed25519_key.pub"), "utf8").split(" ").slice(0, 2);
        fs.writeFileSync(this.hvKnownHosts, `${hvAddress} ${hostKey.join(" ")}\n`);
    }

    /** A fresh ed25519 key pair, as OpenSSH text. */
    public newKey(name: string): { privateKey: string; publicKey: string; file: string } {
        const file = path.join(this.dir, name);
        const r = spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", file]);
        if (r.status !== 0) {
            throw new Error(`ssh-keygen failed: ${r.stderr}`);
        }
        return { privateKey: fs.readFileSync(file, "utf8"), publicKey: fs.readFileSync(`${file}.pub`, "utf8").trim(), file };
    }

    private hvOptions(): string[] {
        return hypervisorSshOptions(this.hvKnownHosts, HV_KEY);
    }

    /** Runs a script on the hypervisor via `bash -s`, the way the fleet's commands do. */
    public onHypervisor(script: string): Run {
        return this.run(["ssh", ...this.hvOptions(), `root@${this.hvAddress}`, "bash -s"], script);
    }

    /** Runs a command on a guest through the hypervisor, its host key pinned. */
    public onGuest(address: string, hostPublicKey: string, deployKeyFile: string, command: string): Run {
        const knownHosts = path.join(this.dir, `known_hosts_${address}`);
        fs.writeFileSync(knownHosts, `${address} ${hostPublicKey.split(" ").slice(0, 2).join(" ")}\n`);
        return this.run(guestSshArgv({ user: "root", hypervisor: this.hvAddress, hypervisorOptions: this.hvOptions(),
            guestKey: deployKeyFile, guestKnownHosts: knownHosts, address, command }));
    }

    private run(argv: string[], input?: string): Run {
        const r = spawnSync("ip", ["netns", "exec", LAB_NS, ...argv], {
            input, encoding: "utf8", timeout: 10 * 60 * 1000,
        });
        return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
    }

    public remove(): void {
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}

export function sleep(ms: number): Promise<void> {
    return new Promise(resolve => setTimeout(resolve, ms));
}
