/**
 * nordfleet scale benchmark: how a `pulumi preview` grows with the fleet.
 *
 *   npm run bench:scale [-- --sizes 10x2,50x5,100x10,200x20]
 *
 * Each size (VMs x hypervisors) is a synthetic stack built on Pulumi.prod.yaml: its
 * hypervisors spread over the prod stack's countries, two gateways, three Consul
 * servers, a PostgreSQL host per 50 VMs, a RabbitMQ host, and service VMs running a
 * service per 20 VMs (at least three, each with replicas on several hypervisors), left
 * to placement. Every stack goes through the real `pulumi preview` on a local backend in
 * a scratch copy of the project, one after another, and the table gives per size: the
 * resources planned, the preview's wall time, the program's own CPU time and peak memory
 * (its Node.js process, measured from inside by bench/node-usage.js), the CPU time of
 * everything else (the CLI, the engine, the language host, the providers: the tree's
 * total from /usr/bin/time less the program's), and the ratio of time and memory to the
 * smallest size.
 *
 * Every preview runs the way the pull-request workflow runs it, with
 * PULUMI_SKIP_CHECKPOINTS=true. Since Pulumi 3.276 a preview on a self-managed backend
 * keeps the same in-memory snapshot an update does and serializes all of it after every
 * step, though nothing is written: what a `pulumi up` pays for its checkpoints. The
 * variable makes the engine write the snapshot once, at the end (a preview discards it
 * anyway). For the sizes up to --default-engine-up-to (all, by default), the table also
 * gives the preview with the engine's default, side by side: its time, the peak memory
 * of the run's largest process (from /usr/bin/time: the CLI or the program, whichever
 * is larger) and of the program.
 */
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as os from "os";
import * as path from "path";
import { parseFlags, runCli, UsageError } from "../cli/run";
import { repoFile, ScratchProject } from "../test/engine/harness";

const USAGE = `usage: npm run bench:scale [-- --sizes VMSxHYPERVISORS,...]

Runs pulumi preview of synthetic stacks of each size and prints a table.

  --sizes LIST               sizes to measure (default 10x2,50x5,100x10,200x20)
  --default-engine-up-to N   also preview, with the engine's per-step snapshots, the
                             sizes of at most N VMs (default 200; 0: none)
  -h, --help                 this text`;

export interface Size {
    vms: number;
    hypervisors: number;
}

const SITES = ["oslo-1", "oslo-2", "bergen-1", "stockholm-1", "stockholm-2"];
const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBgNgjkZkUdr8gjGakuidkaQwTSbVC8yE0LSSxCuTKRs";

export function parseSizes(list: string): Size[] {
    return list.split(",").map(item => {
        const m = /^(\d+)x(\d+)$/.exec(item.trim());
        const size = m ? { vms: Number(m[1]), hypervisors: Number(m[2]) } : undefined;
        if (!size || size.vms < 8 || size.hypervisors < 1 || size.hypervisors > size.vms) {
            throw new UsageError(`--sizes: ${JSON.stringify(item)} is not VMSxHYPERVISORS with at least 8 VMs ` +
                `(gateways, Consul, data) and no more hypervisors than VMs; e.g. 50x5`);
        }
        return size;
    });
}

function parseVmCount(flag: string, text: string): number {
    if (!/^\d+$/.test(text)) {
        throw new UsageError(`${flag}: ${JSON.stringify(text)} is not a number of VMs; e.g. 50, or 0 for none`);
    }
    return Number(text);
}

/**
 * The synthetic stack's config, as the `config:` map of a stack file, its state declared
 * to live at `backendUrl` (the scratch project's local backend).
 */
export function syntheticConfig(size: Size, backendUrl: string): Record<string, unknown> {
    const prod = (yaml.load(repoFile("Pulumi.prod.yaml")) as { config: Record<string, any> }).config;
    const hypervisors = Array.from({ length: size.hypervisors }, (_, i) => ({
        name: `hv-${i + 1}`, site: SITES[i % SITES.length], address: `hv${i + 1}.nordfleet.internal`, hostKey: HOST_KEY,
        uplink: "bond0", publicBridge: "br-public", accelerator: "kvm",
        capacity: { vcpus: 64, memoryMb: 262144, nvmeGb: 3500 },
    }));
    const serviceCount = Math.max(3, Math.floor(size.vms / 20));
    const services = Array.from({ length: serviceCount }, (_, i) => ({
        name: `svc-${i + 1}`, port: 8081 + i, gatewayPath: `/svc-${i + 1}/`, replicas: 2,
        database: i % 3 !== 2, queue: i % 2 === 0,
    }));
    let next = 10;
    const address = () => {
        const n = next++;
        return `10.110.${Math.floor(n / 256)}.${n % 256}`;
    };
    const host = (name: string, role: string, extra: Record<string, unknown> = {}) =>
        ({ name, role, vlan: "platform", address: address(), vcpus: 2, memoryMb: 4096, ...extra });
    const hosts = [
        host("gw-1", "gateway"), host("gw-2", "gateway"),
        // Pinned as prod pins them, one per hypervisor and so one per site where there are
        // three hypervisors or more (see consulQuorum below).
        ...[0, 1, 2].map(k => host(`consul-${k + 1}`, "consul-server", { hypervisor: hypervisors[k % hypervisors.length].name })),
        host("mq-1", "rabbitmq", { dataDisks: [{ name: "mnesia", sizeGb: 50 }] }),
    ];
    const databases = Math.max(1, Math.floor(size.vms / 50));
    const withDatabase = services.filter(svc => svc.database).map(svc => svc.name);
    for (let i = 0; i < databases; i++) {
        hosts.push(host(`pg-${i + 1}`, "postgres", {
            dataDisks: [{ name: "pgdata", sizeGb: 200 }],
            databases: withDatabase.filter((_, k) => k % databases === i),
        }));
    }
    const serviceHosts = size.vms - hosts.length;
    for (let i = 0; i < serviceHosts; i++) {
        // Three services each, in turn, so every service has replicas on several VMs.
        const runs = [0, 1, 2].map(k => services[(i * 3 + k) % serviceCount].name);
        hosts.push(host(`app-${i + 1}`, "service", { services: [...new Set(runs)] }));
    }
    // With fewer than three hypervisors (so sites), one site holds two of the three Consul
    // servers, and its loss alone would take the quorum: a prod stack must say it accepts that.
    const consulQuorum = hypervisors.length < 3 ? { "nordfleet:consulQuorumLossAccepted": [hypervisors[0].site] } : {};
    return {
        ...prod,
        ...consulQuorum,
        "nordfleet:stateBackend": { ...prod["nordfleet:stateBackend"], url: backendUrl },
        "nordfleet:hypervisors": hypervisors,
        "nordfleet:vlans": [{ name: "platform", id: 110, cidr: "10.110.0.0/22" }],
        "nordfleet:services": services,
        "nordfleet:hosts": hosts,
    };
}

export interface Preview {
    resources: number;
    wallSeconds: number;
    programCpuSeconds: number;
    otherCpuSeconds: number;
    programPeakMb: number;
    /** The peak memory of the run's largest process (the CLI, or the program), from /usr/bin/time. */
    peakMb: number;
}

export interface Measurement extends Preview {
    size: Size;
    /** The same preview with the engine's default per-step snapshots, if measured. */
    defaultEngine?: Preview;
}

function measure(project: ScratchProject, size: Size, withDefaultEngine: boolean): Measurement {
    const stack = `scale-${size.vms}x${size.hypervisors}`;
    project.initStack(stack, yaml.dump({ config: syntheticConfig(size, project.backendUrl) }, { lineWidth: -1 }));
    try {
        const measured: Measurement = { size, ...preview(project, stack, { PULUMI_SKIP_CHECKPOINTS: "true" }) };
        if (withDefaultEngine) {
            measured.defaultEngine = preview(project, stack, {});
        }
        return measured;
    } finally {
        project.pulumi("stack", "rm", "--yes", "--force", "--stack", stack);
    }
}

function preview(project: ScratchProject, stack: string, engineEnv: NodeJS.ProcessEnv): Preview {
    const usageDir = fs.mkdtempSync(path.join(os.tmpdir(), "nordfleet-bench-usage-"));
    const timeFile = path.join(usageDir, "time");
    try {
        const started = process.hrtime.bigint();
        const r = project.run(["/usr/bin/time", "-f", "%U %S %M", "-o", timeFile,
            "pulumi", "preview", "--stack", stack, "--non-interactive", "--color", "never"], {
            ...engineEnv,
            NORDFLEET_BENCH_USAGE_DIR: usageDir,
            NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --require ${path.join(__dirname, "node-usage.js")}`.trim(),
        });
        const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
        if (r.status !== 0) {
            throw new Error(`pulumi preview of ${stack} failed (${r.status}):\n${r.output}`);
        }
        const created = /\+ (\d+) to create/.exec(r.output);
        if (!created) {
            throw new Error(`pulumi preview of ${stack} printed no "N to create":\n${r.output}`);
        }
        const [user, system, maxRssKb] = fs.readFileSync(timeFile, "utf8").trim().split(/\s+/).map(Number);
        // The program is the Node.js process that ran longest on the CPU (the others are
        // short helpers, if any).
        const nodes = fs.readdirSync(usageDir).filter(f => f.endsWith(".json"))
            .map(f => JSON.parse(fs.readFileSync(path.join(usageDir, f), "utf8")) as { maxRssKb: number; cpuSeconds: number });
        if (nodes.length === 0) {
            throw new Error(`no Node.js process of the preview of ${stack} reported its usage`);
        }
        const program = nodes.reduce((a, b) => (b.cpuSeconds > a.cpuSeconds ? b : a));
        return {
            resources: Number(created[1]), wallSeconds,
            programCpuSeconds: program.cpuSeconds,
            otherCpuSeconds: Math.max(0, user + system - program.cpuSeconds),
            programPeakMb: program.maxRssKb / 1024,
            peakMb: maxRssKb / 1024,
        };
    } finally {
        fs.rmSync(usageDir, { recursive: true, force: true });
    }
}

export function formatTable(rows: Measurement[]): string {
    const base = rows[0];
    const header = ["VMs", "hypervisors", "resources", "per VM", "preview s", "x", "program CPU s", "rest CPU s",
        "program MB", "x", "peak MB", "default engine s", "x preview", "s per VM, x", "peak MB", "program MB"];
    const perVm = (m: Measurement) => m.defaultEngine!.wallSeconds / m.size.vms;
    const lines = rows.map(m => [
        String(m.size.vms), String(m.size.hypervisors), String(m.resources), (m.resources / m.size.vms).toFixed(1),
        m.wallSeconds.toFixed(1), (m.wallSeconds / base.wallSeconds).toFixed(2),
        m.programCpuSeconds.toFixed(1), m.otherCpuSeconds.toFixed(1),
        m.programPeakMb.toFixed(0), (m.programPeakMb / base.programPeakMb).toFixed(2), m.peakMb.toFixed(0),
        ...(m.defaultEngine === undefined ? ["-", "-", "-", "-", "-"] : [
            m.defaultEngine.wallSeconds.toFixed(1), (m.defaultEngine.wallSeconds / m.wallSeconds).toFixed(2),
            base.defaultEngine === undefined ? "-" : (perVm(m) / perVm(base)).toFixed(2),
            m.defaultEngine.peakMb.toFixed(0), m.defaultEngine.programPeakMb.toFixed(0),
        ]),
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...lines.map(l => l[i].length)));
    const row = (cells: string[]) => `| ${cells.map((c, i) => c.padStart(widths[i])).join(" | ")} |`;
    return [row(header), `|${widths.map(w => "-".repeat(w + 1) + ":").join("|")}|`, ...lines.map(row)].join("\n") + "\n";
}

if (require.main === module) {
    runCli("bench:scale", USAGE, async argv => {
        const { flags } = parseFlags(argv, ["sizes", "default-engine-up-to"]);
        const sizes = parseSizes(flags.get("sizes") ?? "10x2,50x5,100x10,200x20");
        const defaultEngineUpTo = parseVmCount("--default-engine-up-to", flags.get("default-engine-up-to") ?? "200");
        const project = new ScratchProject();
        const rows: Measurement[] = [];
        try {
            for (const size of sizes) {
                process.stderr.write(`[bench:scale] ${size.vms} VMs over ${size.hypervisors} hypervisors ...\n`);
                rows.push(measure(project, size, size.vms <= defaultEngineUpTo));
                process.stderr.write(formatTable(rows));
            }
        } finally {
            project.remove();
        }
        process.stdout.write(formatTable(rows));
        const first = rows[0];
        const last = rows[rows.length - 1];
        const timeRatio = last.wallSeconds / first.wallSeconds;
        const vmRatio = last.size.vms / first.size.vms;
        const verdict = (met: boolean) => (met ? "MET" : "MISSED");
        console.log("\ntargets");
        console.log(`  time grows no faster than the VM count:  ${verdict(timeRatio <= vmRatio)} ` +
            `(${first.size.vms} -> ${last.size.vms} VMs: ${vmRatio.toFixed(0)}x the VMs, ${timeRatio.toFixed(2)}x the time)`);
        const big = rows.find(m => m.size.vms === 200);
        if (big) {
            console.log(`  a 200-VM preview in under 30 s:          ${verdict(big.wallSeconds < 30)} (${big.wallSeconds.toFixed(1)} s)`);
        }
        const engine = big?.defaultEngine;
        if (engine) {
            const peakMb = engine.peakMb;
            console.log(`  the same with the default engine, within 60 s and 2 GB: ${verdict(engine.wallSeconds <= 60 && peakMb <= 2048)} ` +
                `(${engine.wallSeconds.toFixed(1)} s, ${peakMb.toFixed(0)} MB)`);
        }
        if (first.defaultEngine && last.defaultEngine) {
            const perVm = (m: Measurement) => m.defaultEngine!.wallSeconds / m.size.vms;
            const growth = perVm(last) / perVm(first);
            console.log(`  default engine, time per VM grows at most 2x: ${verdict(growth <= 2)} ` +
                `(${first.size.vms} -> ${last.size.vms} VMs: ${growth.toFixed(2)}x)`);
        }
        console.log("");
        return 0;
    });
}
