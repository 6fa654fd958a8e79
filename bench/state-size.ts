/**
 * nordfleet state benchmark: what the lab stack's state holds, and where.
 *
 *   npm run bench:state            (after lab/up, as root)
 *
 * A self-managed backend writes the whole state after every step of an update, so its
 * size, times the steps, is what a `pulumi up` uploads. This reads the lab stack's state
 * as the backend stores it (`pulumi stack export`: secrets encrypted) and prints its size
 * per VM, per resource type, and, for the remote commands, per property.
 */
import { labIsUp } from "../test/lab/labHost";
import { labPulumi, labStackDeployed } from "../test/lab/labStack";

const size = (value: unknown) => Buffer.byteLength(JSON.stringify(value ?? null));
const kb = (bytes: number) => (bytes / 1024).toFixed(1);

function table(title: string, rows: [string, number, number][]): void {
    console.log(`\n${title}`);
    console.log(`${"".padEnd(40)} ${"count".padStart(6)} ${"KB".padStart(9)}`);
    for (const [name, count, bytes] of rows) {
        console.log(`${name.padEnd(40)} ${String(count).padStart(6)} ${kb(bytes).padStart(9)}`);
    }
}

function main(): void {
    if (!labIsUp() || !labStackDeployed()) {
        console.error("bench:state: the lab stack is not deployed: run `bash lab/up` first");
        process.exit(2);
    }
    const exported = labPulumi(["stack", "export"]);
    if (exported.status !== 0) {
        console.error(exported.output);
        process.exit(1);
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
}

main();
