/**
 * nordfleet state benchmark: what the lab stack's state holds, and what an update uploads.
 *
 *   npm run bench:state [-- --baseline-change]      (after lab/up, as root)
 *
 * A self-managed backend writes the whole state after every step of an update, so its
 * size, times the steps, is what a `pulumi up` uploads. This reads the lab stack's state
 * as the backend stores it (`pulumi stack export`: secrets encrypted) and prints its size
 * per VM, per resource type, and, for the remote commands, per property, and the bytes
 * the lab's object store has received into the state bucket since it started.
 *
 * --baseline-change also releases a change to every VM's baseline, as a code change is
 * released: a copy of this working tree with one sysctl value changed runs `pulumi up`
 * of the lab stack, then this tree's own `pulumi up` puts the value back. Both print
 * their time and the bytes of state they uploaded.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseFlags, runCli } from "../cli/run";
import { labIsUp, LAB_NS } from "../test/lab/labHost";
import { LAB_ENV, LAB_STACK_FILE, labPulumi, labStackDeployed, ROOT } from "../test/lab/labStack";
import { editFile, scratchCopy } from "../test/scratchCopy";

const USAGE = `usage: npm run bench:state [-- --baseline-change]

Prints what the lab stack's state holds (after bash lab/up), per VM, per resource type
and per property of the remote commands, and the bytes of state the lab's store received.

  --baseline-change   also release a changed sysctl value to every VM and back, with the
                      time and the bytes of state each pulumi up uploaded
  -h, --help          this text`;

const STATE_BUCKET = "nordfleet-state";
const METRICS = "http://127.0.0.1:9327/metrics";

const size = (value: unknown) => Buffer.byteLength(JSON.stringify(value ?? null));
const kb = (bytes: number) => (bytes / 1024).toFixed(1);

function table(title: string, rows: [string, number, number][]): void {
    console.log(`\n${title}`);
    console.log(`${"".padEnd(40)} ${"count".padStart(6)} ${"KB".padStart(9)}`);
    for (const [name, count, bytes] of rows) {
        console.log(`${name.padEnd(40)} ${String(count).padStart(6)} ${kb(bytes).padStart(9)}`);
    }
}

/** The bytes the lab's store has received into the state bucket since it started (lab/zone.sh). */
function stateBytesReceived(): number {
    const r = spawnSync("ip", ["netns", "exec", LAB_NS, "curl", "-fsS", METRICS], { encoding: "utf8" });
    const line = (r.stdout ?? "").split("\n").find(l =>
        l.startsWith("SeaweedFS_s3_bucket_traffic_received_bytes_total") && l.includes(`bucket="${STATE_BUCKET}"`));
    return line === undefined ? 0 : Number(line.split(" ").pop());
}

/** `pulumi up` of the lab stack from the project in DIR: its time, what it changed and the bytes of state it uploaded. */
function labUpFrom(dir: string): { seconds: number; changed: string; uploaded: number } {
    const before = stateBytesReceived();
    const start = Date.now();
    const r = spawnSync("ip", ["netns", "exec", LAB_NS, "pulumi", "up", "--yes", "--skip-preview", "--stack", "lab",
        "--config-file", LAB_STACK_FILE, "--non-interactive"],
    { cwd: dir, env: LAB_ENV, encoding: "utf8", maxBuffer: 64 << 20, timeout: 60 * 60 * 1000 });
    const output = `${r.stdout ?? ""}${r.stderr ?? ""}`;
    if (r.status !== 0) {
        throw new Error(`pulumi up from ${dir} failed:\n${output.slice(-4000)}`);
    }
    const changed = /Resources:\n([\s\S]*?)\n\n/.exec(output)?.[1].replace(/\s+/g, " ").trim() ?? "";
    return { seconds: Math.round((Date.now() - start) / 1000), changed, uploaded: stateBytesReceived() - before };
}

function baselineChange(): void {
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), "nordfleet-bench-state-"));
    try {
        scratchCopy(copy);
        editFile(path.join(copy, "components", "platform", "hostBaseline.ts"),
            `{ key: "net.ipv4.tcp_max_syn_backlog", value: "8192"`, `{ key: "net.ipv4.tcp_max_syn_backlog", value: "12288"`);
        const rows: [string, ReturnType<typeof labUpFrom>][] = [
            ["sysctl changed on every VM", labUpFrom(copy)],
            ["and back", labUpFrom(ROOT)],
        ];
        console.log("\nbaseline change, as a code change is released");
        console.log(`${"".padEnd(28)} ${"seconds".padStart(8)} ${"state uploaded, KB".padStart(19)}  resources`);
        for (const [what, r] of rows) {
            console.log(`${what.padEnd(28)} ${String(r.seconds).padStart(8)} ${kb(r.uploaded).padStart(19)}  ${r.changed}`);
        }
    } finally {
        fs.rmSync(copy, { recursive: true, force: true });
    }
}

function report(): void {
    const exported = labPulumi(["stack", "export"]);
    if (exported.status !== 0) {
        throw new Error(exported.output);
    }
    const state = JSON.parse(exported.output.slice(exported.output.indexOf("{")));
    const resources: any[] = state.deployment.resources ?? [];
    const vms = resources.filter(r => r.type === "nordfleet:compute:KvmInstance").length;
    const total = size(state);

    const byType = new Map<string, [number, number]>();
    for (const r of resources) {
        const [count, bytes] = byType.get(r.type) ?? [0, 0];
        byType.set(r.type, [count + 1, bytes + size(r)]);
    }
    const commands = resources.filter(r => r.type === "command:remote:Command");
    const byProperty = new Map<string, [number, number]>();
    for (const r of commands) {
        for (const side of ["inputs", "outputs"] as const) {
            for (const [key, value] of Object.entries(r[side] ?? {})) {
                const name = `${side}.${key}`;
                const [count, bytes] = byProperty.get(name) ?? [0, 0];
                byProperty.set(name, [count + 1, bytes + size(value)]);
            }
        }
    }
    const sorted = (m: Map<string, [number, number]>) =>
        [...m].map(([k, [c, b]]) => [k, c, b] as [string, number, number]).sort((a, b) => b[2] - a[2]);

    console.log(`lab stack state: ${kb(total)} KB, ${resources.length} resources, ${vms} VMs: ` +
        `${kb(total / Math.max(vms, 1))} KB per VM`);
    table("by resource type", sorted(byType));
    table("remote commands, by property (inputs and outputs)", sorted(byProperty).slice(0, 12));
    console.log(`\nstate bucket: ${kb(stateBytesReceived())} KB received since the store started`);
}

runCli("bench:state", USAGE, async argv => {
    const { switches } = parseFlags(argv, [], ["baseline-change"], 0);
    if (!labIsUp() || !labStackDeployed()) {
        console.error("bench:state: the lab stack is not deployed: run `bash lab/up` first");
        return 2;
    }
    report();
    if (switches.has("baseline-change")) {
        baselineChange();
    }
    return 0;
});
