/**
 * Turns what the probe measured on each guest into table rows, judged against
 * thresholds. Pure: everything here is tested without a fleet.
 */
import { PushedFileDigest } from "../components/compute/guestFiles";
import { ReleaseRecord } from "../components/platform/release";
import { DEFAULT_RENEW_BEFORE_DAYS } from "../config/types";

export interface Thresholds {
    maxLatencyMs: number;
    maxStealPct: number;
    maxClockOffsetMs: number;
    maxWriteLatencyMs: number;
    minWriteIops: number;
    /** Whether a clock that NTP does not synchronise is a problem (it is, outside a lab without a time source). */
    requireNtp: boolean;
    /** A database host's newest backup may be this old (a differential runs every night). */
    maxBackupAgeHours: number;
    /** A certificate this close to expiry is in its renewal window: the next pulumi up renews it. */
    certRenewalDays: number;
    /** A certificate this close to expiry (or past it) is a problem: nobody ran pulumi up in its window. */
    minCertDays: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = {
    maxLatencyMs: 2, maxStealPct: 5, maxClockOffsetMs: 500, maxWriteLatencyMs: 5, minWriteIops: 1000, requireNtp: true,
    maxBackupAgeHours: 36, certRenewalDays: DEFAULT_RENEW_BEFORE_DAYS, minCertDays: 14,
};

export interface Probe {
    /** Guest clock (seconds since the epoch) when the probe started. */
    time: number;
    stealPct: number;
    ntpSynchronized: string;
    latencyMs: Record<string, number | null>;
    volumes: Record<string, VolumeProbe>;
    fileSha256: Record<string, string | null>;
    /** Each pushed file that is a PEM certificate: when its (first) certificate expires. */
    certificates?: Record<string, { notAfter: number } | { error: string }>;
    /** On a database host. */
    postgres?: PostgresProbe;
}

export interface PostgresProbe {
    archiver: { archived: number; failed: number; lastArchived: number; lastFailed: number; lastFailedWal: string; walBytes: number }
        | { error: string };
    lastBackup: { stop: number; type: string } | { error: string } | null;
}

export type VolumeProbe =
    | { state: "missing" }
    | { state: "unmounted" }
    | { state: "measured"; mount: string; iops: number; latencyMs: number };

export type Status = "ok" | "warn" | "PROBLEM";

export interface Row {
    host: string;
    check: string;
    status: Status;
    value: string;
}

export interface HostUnderTest {
    name: string;
    /** Peers on the same VLAN, by name -> address. */
    peers: Record<string, string>;
    /** Data volume name -> serial. */
    volumes: Record<string, string>;
    /** What the last `pulumi up` pushed: the first boot's files (domain metadata) and every release's (the ledger). */
    pushedFiles: PushedFileDigest[];
    /** The releases' records, from the ledger on the hypervisor. */
    releases?: ReleaseRecord[];
}

/** The doctor's clock just before asking and just after the answer: the guest's clock must fall inside. */
export interface Window {
    sentAt: number;
    receivedAt: number;
}

const fixed = (n: number, digits = 1) => n.toFixed(digits);

export function judge(host: HostUnderTest, probe: Probe, window: Window, t: Thresholds): Row[] {
    const row = (check: string, problem: boolean, value: string, warn = false): Row =>
        ({ host: host.name, check, status: problem ? "PROBLEM" : warn ? "warn" : "ok", value });
    const rows: Row[] = [];

    for (const [peer, address] of Object.entries(host.peers)) {
        const ms = probe.latencyMs[address];
        rows.push(ms === null || ms === undefined
            ? row(`latency to ${peer}`, true, `no TCP connection to ${address}:8301 (consul gossip)`)
            : row(`latency to ${peer}`, ms > t.maxLatencyMs, `${fixed(ms, 2)} ms (limit ${t.maxLatencyMs})`));
    }

    for (const [name, serial] of Object.entries(host.volumes)) {
        const v = probe.volumes[serial];
        if (v === undefined || v.state === "missing") {
            rows.push(row(`volume ${name}`, true, `not attached (no /dev/disk/by-id/virtio-${serial})`));
        } else if (v.state === "unmounted") {
            rows.push(row(`volume ${name}`, false, "not mounted: no file system to write a test file into, skipped", true));
        } else {
            rows.push(row(`volume ${name} write latency`, v.latencyMs > t.maxWriteLatencyMs,
                `${fixed(v.latencyMs, 2)} ms (limit ${t.maxWriteLatencyMs}) on ${v.mount}`));
            rows.push(row(`volume ${name} write IOPS`, v.iops < t.minWriteIops, `${fixed(v.iops, 0)} (at least ${t.minWriteIops})`));
        }
    }

    rows.push(row("CPU steal", probe.stealPct > t.maxStealPct, `${fixed(probe.stealPct)} % (limit ${t.maxStealPct})`));

    const offsetMs = (probe.time < window.sentAt ? probe.time - window.sentAt
        : probe.time > window.receivedAt ? probe.time - window.receivedAt : 0) * 1000;
    rows.push(row("clock offset", Math.abs(offsetMs) > t.maxClockOffsetMs,
        offsetMs === 0 ? `within the ${fixed((window.receivedAt - window.sentAt) * 1000, 0)} ms the probe took`
            : `${offsetMs > 0 ? "+" : ""}${fixed(offsetMs, 0)} ms outside it (limit ${t.maxClockOffsetMs})`));
    const synced = probe.ntpSynchronized === "yes";
    rows.push(row("clock NTP sync", t.requireNtp && !synced, `NTPSynchronized=${probe.ntpSynchronized}`, !synced));

    if (probe.postgres !== undefined) {
        rows.push(...judgePostgres(probe.postgres, probe.time, t, row));
    }
    if (probe.certificates !== undefined && Object.keys(probe.certificates).length > 0) {
        rows.push(judgeCertificates(probe.certificates, probe.time, t, row));
    }

    for (const file of host.pushedFiles) {
        const live = probe.fileSha256[file.path];
        const release = host.releases?.find(r => r.files.some(f => f.path === file.path));
        const putBack = release === undefined ? "" : `; put back: pulumi up --target-replace '${release.urn}'`;
        rows.push(live === file.sha256 ? row(`file ${file.path}`, false, "as pushed")
            : row(`file ${file.path}`, true, (live === null || live === undefined ? "missing"
                : `changed since the last pulumi up (sha256 ${live.slice(0, 12)}…, pushed ${file.sha256.slice(0, 12)}…)`) + putBack));
    }
    return rows;
}

const DAY_SECONDS = 24 * 3600;

/**
 * One row for a host's certificates: the one that expires first. In the renewal window a
 * warning (the next pulumi up renews it); closer than minCertDays, or unreadable, a problem.
 */
function judgeCertificates(certificates: NonNullable<Probe["certificates"]>, now: number, t: Thresholds,
                           row: (check: string, problem: boolean, value: string, warn?: boolean) => Row): Row {
    const unreadable = Object.entries(certificates).filter(([, c]) => "error" in c);
    if (unreadable.length > 0) {
        const [file, c] = unreadable[0] as [string, { error: string }];
        return row("certificates", true, `${file} could not be read: ${c.error}`);
    }
    const expiries = Object.entries(certificates as Record<string, { notAfter: number }>)
        .map(([file, c]) => ({ file, days: (c.notAfter - now) / DAY_SECONDS, on: new Date(c.notAfter * 1000) }))
        .sort((a, b) => a.days - b.days);
    const soonest = expiries[0];
    const when = soonest.days < 0 ? `expired ${fixed(-soonest.days, 0)} days ago`
        : `expires in ${fixed(soonest.days, 0)} days, on ${soonest.on.toISOString().slice(0, 10)}`;
    const advice = soonest.days <= t.minCertDays ? `; run pulumi up to renew it (its window opens ${t.certRenewalDays} days before)`
        : soonest.days <= t.certRenewalDays ? "; in its renewal window: the next pulumi up renews it" : "";
    return row("certificates", soonest.days <= t.minCertDays,
        `${expiries.length} checked; the first, ${soonest.file}, ${when}${advice}`, soonest.days <= t.certRenewalDays);
}

/**
 * WAL archiving fails now when its last failure is newer than its last success; the
 * newest backup (full or differential) must be younger than the limit.
 */
function judgePostgres(pg: PostgresProbe, now: number, t: Thresholds,
                       row: (check: string, problem: boolean, value: string, warn?: boolean) => Row): Row[] {
    const rows: Row[] = [];
    const a = pg.archiver;
    if ("error" in a) {
        rows.push(row("postgres WAL archiving", true, `pg_stat_archiver unreadable: ${a.error}`));
    } else {
        const ago = (epoch: number) => epoch === 0 ? "never" : `${fixed(now - epoch, 0)} s ago`;
        const failing = a.lastFailed > a.lastArchived;
        rows.push(row("postgres WAL archiving", failing, failing
            ? `failing: last failure ${ago(a.lastFailed)} (WAL ${a.lastFailedWal}), last success ${ago(a.lastArchived)}; ` +
              `${a.failed} failures in all`
            : `last archived ${ago(a.lastArchived)}; ${a.archived} archived, ${a.failed} failures in all`, a.failed > 0));
        rows.push(row("postgres pg_wal", false, `${fixed(a.walBytes / 1048576, 0)} MiB`));
    }
    const b = pg.lastBackup;
    if (b === null) {
        rows.push(row("postgres last backup", true, "no backup in the repository"));
    } else if ("error" in b) {
        rows.push(row("postgres last backup", true, `pgbackrest info failed: ${b.error}`));
    } else {
        const hours = (now - b.stop) / 3600;
        rows.push(row("postgres last backup", hours > t.maxBackupAgeHours,
            `${b.type}, ${fixed(hours)} h ago (limit ${t.maxBackupAgeHours})`));
    }
    return rows;
}

export function formatTable(rows: Row[]): string {
    const header: Row = { host: "HOST", check: "CHECK", status: "STATUS" as Status, value: "VALUE" };
    const all = [header, ...rows];
    const width = (key: keyof Row) => Math.max(...all.map(r => r[key].length));
    const [h, c, s] = [width("host"), width("check"), width("status")];
    return all.map(r => `${r.host.padEnd(h)}  ${r.check.padEnd(c)}  ${r.status.padEnd(s)}  ${r.value}`.trimEnd()).join("\n") + "\n";
}
