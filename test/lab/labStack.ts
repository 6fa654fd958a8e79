/**
 * The lab stack as lab/up deployed it: runs the pulumi CLI on it from inside the lab
 * namespace (as lab/up does), reads its outputs, reaches its guests exactly as the
 * fleet does, and counts the SSH sessions the lab hypervisor's sshd accepted.
 */
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { readDeployKey } from "../../cli/deployKey";
import { FleetSsh, SshResult } from "../../doctor/fleetSsh";
import { LAB_HOME, LAB_NS } from "./labHost";

export const ROOT = path.join(__dirname, "..", "..");
/** Where lab/up keeps the lab stack's config (with its passphrase salt), outside the tree. */
export const LAB_STACK_FILE = path.join(LAB_HOME, "Pulumi.lab.yaml");
const SSHD_LOG = path.join(LAB_HOME, "sshd.log");

/**
 * What lab/up gives the engine: the state in the lab's object store, where the stack
 * declares it, reached with the state identity's keys, by name, over TLS.
 */
export const LAB_ENV = {
    ...process.env,
    PULUMI_BACKEND_URL: (yaml.load(fs.readFileSync(path.join(ROOT, "Pulumi.lab.yaml"), "utf8")) as any)
        .config["nordfleet:stateBackend"].url as string,
    PULUMI_CONFIG_PASSPHRASE_FILE: `${LAB_HOME}/passphrase`,
    AWS_SHARED_CREDENTIALS_FILE: `${LAB_HOME}/objects/state-credentials.ini`,
    AWS_CA_BUNDLE: `${LAB_HOME}/objects/tls/ca.pem`,
    // As lab_pulumi (lab/host.sh) runs the engine: the lab's agent holds the hypervisor's key,
    // and the state is written compressed.
    SSH_AUTH_SOCK: `${LAB_HOME}/agent.sock`,
    PULUMI_DIY_BACKEND_GZIP: "true",
};

export interface CliResult {
    status: number | null;
    output: string;
}

export function labStackDeployed(): boolean {
    const r = spawnSync("ip", ["netns", "exec", LAB_NS, "pulumi", "stack", "ls", "--json", "--non-interactive"],
        { cwd: ROOT, env: LAB_ENV, encoding: "utf8", timeout: 60_000 });
    const stacks: { name: string; resourceCount?: number }[] = r.status === 0 ? JSON.parse(r.stdout) : [];
    return stacks.some(s => s.name === "lab" && (s.resourceCount ?? 0) > 0);
}

/** The commands that read the stack's config take its file. */
const READS_CONFIG = new Set(["up", "preview", "destroy", "refresh"]);

/** Runs `pulumi ARGS --stack lab` in the lab namespace against the lab's stack file. */
export function labPulumi(args: string[], configFile = LAB_STACK_FILE, env: NodeJS.ProcessEnv = {}): CliResult {
    const config = READS_CONFIG.has(args[0]) ? ["--config-file", configFile] : [];
    const r = spawnSync("ip", ["netns", "exec", LAB_NS, "pulumi", ...args, "--stack", "lab", ...config,
        "--non-interactive"], {
        cwd: ROOT, env: { ...LAB_ENV, ...env }, encoding: "utf8", timeout: 30 * 60 * 1000, maxBuffer: 64 * 1024 * 1024,
    });
    return { status: r.status, output: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

/** The same, without blocking: the test can keep probing the fleet while the engine works. */
export function labPulumiAsync(args: string[], configFile = LAB_STACK_FILE): Promise<CliResult> {
    const config = READS_CONFIG.has(args[0]) ? ["--config-file", configFile] : [];
    return new Promise(resolve => {
        const child = spawn("ip", ["netns", "exec", LAB_NS, "pulumi", ...args, "--stack", "lab", ...config, "--non-interactive"],
            { cwd: ROOT, env: LAB_ENV });
        let output = "";
        child.stdout.on("data", d => { output += d; });
        child.stderr.on("data", d => { output += d; });
        child.on("close", status => resolve({ status, output }));
    });
}

export function mustLabPulumi(args: string[], configFile = LAB_STACK_FILE): string {
    const r = labPulumi(args, configFile);
    if (r.status !== 0) {
        throw new Error(`pulumi ${args.join(" ")} failed (${r.status}):\n${r.output}`);
    }
    return r.output;
}

export function labOutputs(): Record<string, any> {
    return JSON.parse(mustLabPulumi(["stack", "output", "--json", "--show-secrets"]));
}

/** A stack file as a plain object: `config` holds the `nordfleet:*` keys. */
export function readStackFile(file: string): { config: Record<string, any>; [key: string]: unknown } {
    return yaml.load(fs.readFileSync(file, "utf8")) as any;
}

/** Writes an edited copy of a lab stack file (keeping its salt) and returns the copy's path. */
export function writeLabStackVariant(name: string, edit: (config: Record<string, any>) => void,
                                     base = LAB_STACK_FILE): string {
    const doc = readStackFile(base);
    edit(doc.config);
    const file = path.join(LAB_HOME, `Pulumi.lab.${name}.yaml`);
    fs.writeFileSync(file, yaml.dump(doc, { lineWidth: 200 }));
    return file;
}

/** SSH sessions the lab hypervisor's sshd accepted so far (every guest contact passes it too). */
export function acceptedSshSessions(): number {
    return (fs.readFileSync(SSHD_LOG, "utf8").match(/Accepted publickey/g) ?? []).length;
}

/** Prints which of its arguments ("address:port") accept a TCP connection. */
const CONNECT_PROBE = `
import errno, selectors, socket, sys, time
targets, opened = sys.argv[1:], set()
for _ in range(3):
    selector, sockets = selectors.DefaultSelector(), []
    for target in [t for t in targets if t not in opened]:
        address, port = target.rsplit(":", 1)
        s = socket.socket()
        s.setblocking(False)
        sockets.append(s)
        started = s.connect_ex((address, int(port)))
        if started == 0:
            opened.add(target)
        elif started == errno.EINPROGRESS:
            selector.register(s, selectors.EVENT_WRITE, target)
    deadline = time.monotonic() + 5
    while selector.get_map() and time.monotonic() < deadline:
        for key, _ in selector.select(deadline - time.monotonic()):
            if key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                opened.add(key.data)
            selector.unregister(key.fileobj)
    for s in sockets:
        s.close()
    if len(opened) == len(targets):
        break
print("\\n".join(sorted(opened)))
`;

/** Reaches the deployed guests with the stack's own deploy key and pinned host keys. */
export class LabFleet {
    public readonly ssh: FleetSsh;
    private readonly knownHostsDir = fs.mkdtempSync(path.join(os.tmpdir(), "nordfleet-lab-fleet-"));

    constructor(public readonly outputs: Record<string, any>) {
        const knownHosts = path.join(this.knownHostsDir, "hypervisor_known_hosts");
        const hvKey = fs.readFileSync(path.join(LAB_HOME, "ssh_host_ed25519_key.pub"), "utf8").split(" ").slice(0, 2).join(" ");
        fs.writeFileSync(knownHosts, outputs.sites.map((s: any) => `${s.address} ${hvKey}\n`).join(""));
        this.ssh = new FleetSsh({
            user: "root",
            hypervisorKnownHosts: knownHosts,
            hypervisorKey: path.join(LAB_HOME, "hypervisor_ed25519"),
            deployPrivateKey: readDeployKey("lab", LAB_ENV),
            guestHostKeys: Object.fromEntries(Object.values<any>(outputs.hosts).map(h => [h.address, h.hostKey])),
        });
    }

    public get hypervisor(): string {
        return this.outputs.sites[0].address;
    }

    /**
     * Runs a command on a guest (by host name), inside the lab namespace. Under software
     * emulation a busy guest's sshd can miss its connect timeout: that is retried, a
     * refused host key or a failing command is not.
     */
    public async onGuest(host: string, command: string, stdin?: string): Promise<SshResult> {
        for (let attempt = 1; ; attempt++) {
            const r = await this.ssh.onGuest(this.hypervisor, this.outputs.hosts[host].address, command, stdin);
            if (r.status !== 255 || !/timed out|Connection refused|Connection closed by/.test(r.stderr) || attempt === 6) {
                return r;
            }
            await sleep(5000);
        }
    }

    public async mustOnGuest(host: string, command: string, stdin?: string): Promise<string> {
        const r = await this.onGuest(host, command, stdin);
        if (r.status !== 0) {
            throw new Error(`${host}: \`${command}\` failed (${r.status}): ${r.stderr}${r.stdout}`);
        }
        return r.stdout;
    }

    /**
     * Which of the targets ("address:port") a guest can open a TCP connection to: all
     * probed at once by one Python process (a shell per probe would swamp an emulated
     * guest), in one SSH session. A connection made is proof; one not made within 5 s
     * may be a loaded guest's slow start, so those get two more rounds before they count
     * as closed.
     */
    public async openFrom(host: string, targets: string[]): Promise<string[]> {
        const out = await this.mustOnGuest(host, `python3 - ${targets.join(" ")}`, CONNECT_PROBE);
        return out.split("\n").filter(Boolean).sort();
    }

    public onHypervisor(command: string): Promise<SshResult> {
        return this.ssh.onHypervisor(this.hypervisor, command);
    }

    public close(): void {
        this.ssh.close();
        fs.rmSync(this.knownHostsDir, { recursive: true, force: true });
    }
}

/** A line of a JavaScript stack trace, which no CLI output a user sees should hold. */
export const STACK_TRACE_LINE = /^\s+at .*\.(js|ts):\d+/m;

export function sleep(ms: number): Promise<void> {
    return new Promise(resolve => setTimeout(resolve, ms));
}

/** Software emulation is slow and has no time source: doctor limits for a lab, not for prod. */
export const LAB_DOCTOR_LIMITS = ["--max-latency-ms", "250", "--max-steal-pct", "50", "--max-clock-offset-ms", "5000",
    "--max-write-latency-ms", "250", "--min-write-iops", "5", "--ntp-optional"];

/**
 * Runs the doctor on the lab stack as an operator would (`npm run doctor -- --stack lab ...`),
 * printing its table. The hypervisor's host key comes from the stack, as for any operator.
 */
export function labDoctor(...extra: string[]): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "doctor/main.ts",
        "--stack", "lab", "--hypervisor-key", path.join(LAB_HOME, "hypervisor_ed25519"),
        ...LAB_DOCTOR_LIMITS, ...extra], { cwd: ROOT, env: LAB_ENV, encoding: "utf8" });
    console.log(r.stdout.replace(/^/gm, "      "));
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
