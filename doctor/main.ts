/**
 * nordfleet doctor: checks a live fleet and prints a table; exits 1 on any problem
 * (usage below).
 *
 * Per guest: TCP latency to every peer on its VLAN, write latency and IOPS of each
 * mounted data volume (fio, 3 s, 16 MiB test file), CPU steal, clock offset and NTP
 * sync, whether every file nordfleet pushed is still as the last `pulumi up` wrote it (with
 * the diff of one that is not), and a database host's WAL archiving and newest backup.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { parsePushedFiles } from "../components/compute/guestFiles";
import { parseFlags, runCli, UsageError } from "../cli/run";
import { ledgerDir } from "../components/platform/hostLedger";
import { liveRelease } from "../components/platform/release";
import { shellQuote } from "../components/render";
import { DEFAULT_THRESHOLDS, formatTable, HostUnderTest, judge, Probe, Row, Thresholds } from "./checks";
import { changedReleaseFiles, formatPushedDiff, parseReleaseRecords, pushedDiffCommand } from "./drift";
import { readDeployKey } from "../cli/deployKey";
import { FleetSsh } from "./fleetSsh";

interface Outputs {
    sites: { hypervisor: string; address: string; hostKey?: string }[];
    hosts: Record<string, { role: string; address: string; vlan: string; hypervisor: string; hostKey: string;
                            volumeSerials: Record<string, string> }>;
}

const PROBE = fs.readFileSync(path.join(__dirname, "probe.py"), "utf8");
const PGBACKREST_CONF = `${liveRelease("postgres")}/pgbackrest.conf`;

export interface DoctorOptions {
    outputs: Outputs;
    /** The fleet's deploy key (OpenSSH private key text): the stack's state holds it, no output does. */
    deployPrivateKey: string;
    user: string;
    /** known_hosts of the hypervisors; without it, their keys pinned in the outputs. */
    hypervisorKnownHosts?: string;
    hypervisorKey?: string;
    thresholds: Thresholds;
    /** The hosts to check (by name); all of the stack's without it. Peers are always all. */
    hosts?: string[];
}

/** The host names a `--hosts a,b` list gives, each one the stack has. */
export function selectHosts(list: string, known: string[]): string[] {
    const names = list.split(",").map(n => n.trim()).filter(Boolean);
    const unknown = names.filter(n => !known.includes(n));
    if (names.length === 0 || unknown.length > 0) {
        throw new UsageError(`--hosts: ${JSON.stringify(list)} ${names.length === 0 ? "names no host" :
            `names ${unknown.map(n => JSON.stringify(n)).join(", ")}, not in the stack`}; give a comma-separated ` +
            `list of ${known.join(", ")}`);
    }
    return names;
}

export interface DoctorReport {
    rows: Row[];
    /** Per file changed by hand: its diff against what was pushed (masked where it may hold a secret). */
    diffs: string[];
}

export async function runDoctor(o: DoctorOptions): Promise<DoctorReport> {
    const ssh = new FleetSsh({
        user: o.user, hypervisorKnownHosts: o.hypervisorKnownHosts, hypervisorKey: o.hypervisorKey,
        hypervisorHostKeys: Object.fromEntries(o.outputs.sites.filter(s => s.hostKey).map(s => [s.address, s.hostKey!])),
        deployPrivateKey: o.deployPrivateKey,
        guestHostKeys: Object.fromEntries(Object.values(o.outputs.hosts).map(h => [h.address, h.hostKey])),
    });
    const jumpHost = new Map(o.outputs.sites.map(s => [s.hypervisor, s.address]));
    const rows: Row[] = [];
    const diffs: string[] = [];
    try {
        for (const name of o.hosts ?? Object.keys(o.outputs.hosts)) {
            const host = o.outputs.hosts[name];
            const hypervisor = jumpHost.get(host.hypervisor)!;
            const domain = await ssh.onHypervisor(hypervisor, `virsh -q dumpxml ${shellQuote(name)}`);
            if (domain.status !== 0) {
                rows.push({ host: name, check: "domain", status: "PROBLEM", value: `virsh dumpxml failed: ${domain.stderr.trim()}` });
                continue;
            }
            const ledger = await ssh.onHypervisor(hypervisor, `cat ${shellQuote(ledgerDir(name))}/*.json 2>/dev/null || true`);
            const releases = parseReleaseRecords(ledger.stdout);
            const subject: HostUnderTest = {
                name,
                peers: Object.fromEntries(Object.entries(o.outputs.hosts)
                    .filter(([peer, h]) => peer !== name && h.vlan === host.vlan).map(([peer, h]) => [peer, h.address])),
                volumes: host.volumeSerials,
                pushedFiles: [...parsePushedFiles(domain.stdout), ...releases.flatMap(r => r.files)],
                releases,
            };
            const args = { peers: Object.values(subject.peers), serials: Object.values(subject.volumes),
                files: subject.pushedFiles.map(f => f.path),
                ...(host.role === "postgres" ? { postgres: PGBACKREST_CONF } : {}) };
            const sentAt = Date.now() / 1000;
            const probe = await ssh.onGuest(hypervisor, host.address, `python3 - ${shellQuote(JSON.stringify(args))}`, PROBE);
            const receivedAt = Date.now() / 1000;
            if (probe.status !== 0) {
                rows.push({ host: name, check: "ssh", status: "PROBLEM", value: `probe failed (${probe.status}): ${probe.stderr.trim()}` });
                continue;
            }
            const measured = JSON.parse(probe.stdout) as Probe;
            rows.push(...judge(subject, measured, { sentAt, receivedAt }, o.thresholds));
            for (const change of changedReleaseFiles(releases, measured)) {
                const r = await ssh.onGuest(hypervisor, host.address, pushedDiffCommand(change));
                diffs.push(formatPushedDiff(name, change, r.stdout));
            }
        }
    } finally {
        ssh.close();
    }
    return { rows, diffs };
}

const THRESHOLD_FLAGS = ["max-latency-ms", "max-steal-pct", "max-clock-offset-ms", "max-write-latency-ms", "min-write-iops",
    "max-backup-age-hours", "cert-renewal-days", "min-cert-days"];

const USAGE = `usage: npm run doctor -- (--stack NAME | --outputs FILE) [options]

Checks a live fleet from this machine and prints a table; exits 1 on any problem.

  --stack NAME                   read the outputs, and the deploy key from the state, with pulumi
  --outputs FILE                 or the outputs from a file of \`pulumi stack output --json\`,
  --deploy-key FILE              and the deploy key from a file of \`npm run deploy-key\`
  --hosts NAME,NAME              check only these VMs (default: every one)
  --user NAME                    login on the hypervisors (default root)
  --hypervisor-key FILE          their SSH key (default: the SSH agent)
  --hypervisor-known-hosts FILE  their host keys (default: the keys the stack pins, in its outputs)
  --max-latency-ms N, --max-steal-pct N, --max-clock-offset-ms N,
  --max-write-latency-ms N, --min-write-iops N,
  --max-backup-age-hours N       thresholds
  --cert-renewal-days N          warn of a certificate this close to expiry (default: the
                                 stack's default nordfleet:certificates.renewBeforeDays, 60)
  --min-cert-days N              a problem this close to expiry (default 14)
  --ntp-optional                 an unsynchronised clock is not a problem
  -h, --help                     this text`;

function parseArgs(argv: string[]): DoctorOptions {
    const { flags, switches: booleans } = parseFlags(argv,
        ["stack", "outputs", "deploy-key", "hosts", "user", "hypervisor-key", "hypervisor-known-hosts", ...THRESHOLD_FLAGS], ["ntp-optional"]);
    const number = (flag: string, fallback: number) => {
        const text = flags.get(flag);
        if (text === undefined) {
            return fallback;
        }
        const value = Number(text);
        if (!Number.isFinite(value) || value < 0) {
            throw new UsageError(`--${flag}: ${JSON.stringify(text)} is not a number; give a non-negative number`);
        }
        return value;
    };
    const stack = flags.get("stack");
    const outputsFile = flags.get("outputs");
    const deployKeyFile = flags.get("deploy-key");
    if ((stack === undefined) === (outputsFile === undefined)) {
        throw new UsageError("give either --stack NAME (read with pulumi) or --outputs FILE with --deploy-key FILE");
    }
    for (const [flag, file] of [["outputs", outputsFile], ["deploy-key", deployKeyFile]]) {
        if (file !== undefined && !fs.existsSync(file)) {
            throw new UsageError(`--${flag}: ${JSON.stringify(file)} does not exist`);
        }
    }
    if (outputsFile !== undefined && deployKeyFile === undefined) {
        throw new UsageError("--outputs needs --deploy-key FILE (npm run deploy-key writes it)");
    }
    const outputsText = outputsFile !== undefined ? fs.readFileSync(outputsFile, "utf8")
        : execFileSync("pulumi", ["stack", "output", "--json", "--stack", stack!], { encoding: "utf8" });
    const outputs: Outputs = JSON.parse(outputsText);
    const deployPrivateKey = deployKeyFile !== undefined ? fs.readFileSync(deployKeyFile, "utf8") : readDeployKey(stack!);
    const hostList = flags.get("hosts");
    const t = DEFAULT_THRESHOLDS;
    return {
        outputs,
        deployPrivateKey,
        hosts: hostList === undefined ? undefined : selectHosts(hostList, Object.keys(outputs.hosts)),
        user: flags.get("user") ?? "root",
        hypervisorKnownHosts: flags.get("hypervisor-known-hosts"),
        hypervisorKey: flags.get("hypervisor-key"),
        thresholds: {
            maxLatencyMs: number("max-latency-ms", t.maxLatencyMs),
            maxStealPct: number("max-steal-pct", t.maxStealPct),
            maxClockOffsetMs: number("max-clock-offset-ms", t.maxClockOffsetMs),
            maxWriteLatencyMs: number("max-write-latency-ms", t.maxWriteLatencyMs),
            minWriteIops: number("min-write-iops", t.minWriteIops),
            requireNtp: !booleans.has("ntp-optional"),
            maxBackupAgeHours: number("max-backup-age-hours", t.maxBackupAgeHours),
            certRenewalDays: number("cert-renewal-days", t.certRenewalDays),
            minCertDays: number("min-cert-days", t.minCertDays),
        },
    };
}

if (require.main === module) {
    runCli("doctor", USAGE, async argv => {
        const { rows, diffs } = await runDoctor(parseArgs(argv));
        process.stdout.write(formatTable(rows));
        process.stdout.write(diffs.map(d => `\n${d}`).join(""));
        const problems = rows.filter(r => r.status === "PROBLEM").length;
        console.log(problems ? `${problems} problem(s)` : "no problems");
        return problems ? 1 : 0;
    });
}
