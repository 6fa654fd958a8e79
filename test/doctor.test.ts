import { expect } from "chai";
import { baselineGuestFiles, digestsOf, parsePushedFiles } from "../components/guestFiles";
import { DEFAULT_THRESHOLDS, formatTable, HostUnderTest, judge, Probe } from "../doctor/checks";
import { selectHosts } from "../doctor/main";
import { loadStackFile } from "../render/stackConfig";
import { renderFleetFiles } from "../render/fleetFiles";

const pushed = digestsOf(baselineGuestFiles());
const host: HostUnderTest = {
    name: "app-1", peers: { "gw-1": "10.110.0.10", "pg-1": "10.110.0.40" }, volumes: { scratch: "nf-scratch-abc" }, pushedFiles: pushed,
};
const healthy: Probe = {
    time: 1000.5, stealPct: 0.4, ntpSynchronized: "yes",
    latencyMs: { "10.110.0.10": 0.31, "10.110.0.40": 0.28 },
    volumes: { "nf-scratch-abc": { state: "measured", mount: "/srv/scratch", iops: 14000, latencyMs: 0.07 } },
    fileSha256: { [pushed[0].path]: pushed[0].sha256 },
};
const window = { sentAt: 1000, receivedAt: 1002 };

describe("doctor", () => {
    it("finds nothing wrong with a healthy guest", () => {
        const rows = judge(host, healthy, window, DEFAULT_THRESHOLDS);
        expect(rows.filter(r => r.status !== "ok")).to.deep.equal([]);
        expect(rows.map(r => r.check)).to.deep.equal([
            "latency to gw-1", "latency to pg-1", "volume scratch write latency", "volume scratch write IOPS", "CPU steal",
            "clock offset", "clock NTP sync", "file /etc/ssh/sshd_config.d/10-nordfleet.conf",
        ]);
    });

    it("reports each kind of problem with the measured value", () => {
        const sick: Probe = {
            ...healthy, time: 1004.25, stealPct: 12.5, ntpSynchronized: "no",
            latencyMs: { "10.110.0.10": 7.5, "10.110.0.40": null },
            volumes: { "nf-scratch-abc": { state: "measured", mount: "/srv/scratch", iops: 300, latencyMs: 9.3 } },
            fileSha256: { [pushed[0].path]: "f".repeat(64) },
        };
        const problems = judge(host, sick, window, DEFAULT_THRESHOLDS).filter(r => r.status === "PROBLEM")
            .map(r => `${r.check}: ${r.value}`);
        expect(problems).to.deep.equal([
            "latency to gw-1: 7.50 ms (limit 2)",
            "latency to pg-1: no TCP connection to 10.110.0.40:8301 (consul gossip)",
            "volume scratch write latency: 9.30 ms (limit 5) on /srv/scratch",
            "volume scratch write IOPS: 300 (at least 1000)",
            "CPU steal: 12.5 % (limit 5)",
            "clock offset: +2250 ms outside it (limit 500)",
            "clock NTP sync: NTPSynchronized=no",
            `file /etc/ssh/sshd_config.d/10-nordfleet.conf: changed since the last pulumi up (sha256 ffffffffffff…, ` +
            `pushed ${pushed[0].sha256.slice(0, 12)}…)`,
        ]);
    });

    it("reports a database host's WAL archiving and its newest backup", () => {
        const pg = (archiver: any, lastBackup: any) => judge(host, { ...healthy, postgres: { archiver, lastBackup } }, window,
            DEFAULT_THRESHOLDS).filter(r => r.check.startsWith("postgres")).map(r => `${r.check}: ${r.status}: ${r.value}`);
        const archiving = { archived: 40, failed: 0, lastArchived: 990.5, lastFailed: 0, lastFailedWal: "", walBytes: 64 * 1048576 };
        expect(pg(archiving, { stop: 1000.5 - 5 * 3600, type: "diff" })).to.deep.equal([
            "postgres WAL archiving: ok: last archived 10 s ago; 40 archived, 0 failures in all",
            "postgres pg_wal: ok: 64 MiB",
            "postgres last backup: ok: diff, 5.0 h ago (limit 36)",
        ]);
        expect(pg({ ...archiving, failed: 7, lastFailed: 995.5, lastFailedWal: "00000001000000000000002A" }, null)).to.deep.equal([
            "postgres WAL archiving: PROBLEM: failing: last failure 5 s ago (WAL 00000001000000000000002A), last success 10 s ago; 7 failures in all",
            "postgres pg_wal: ok: 64 MiB",
            "postgres last backup: PROBLEM: no backup in the repository",
        ]);
        expect(pg({ ...archiving, failed: 7, lastFailed: 900 }, { stop: 1000.5 - 40 * 3600, type: "full" })).to.deep.equal([
            "postgres WAL archiving: warn: last archived 10 s ago; 40 archived, 7 failures in all",
            "postgres pg_wal: ok: 64 MiB",
            "postgres last backup: PROBLEM: full, 40.0 h ago (limit 36)",
        ]);
    });

    it("skips an unmounted volume without writing to it, and flags a missing one", () => {
        const rows = judge(host, { ...healthy, volumes: { "nf-scratch-abc": { state: "unmounted" } } }, window, DEFAULT_THRESHOLDS);
        expect(rows.find(r => r.check === "volume scratch")).to.deep.include({ status: "warn" });
        const missing = judge(host, { ...healthy, volumes: {} }, window, DEFAULT_THRESHOLDS);
        expect(missing.find(r => r.check === "volume scratch")).to.deep.include({
            status: "PROBLEM", value: "not attached (no /dev/disk/by-id/virtio-nf-scratch-abc)" });
    });

    it("reads the pushed files' digests back from the rendered domain definition", () => {
        const domainXml = renderFleetFiles(loadStackFile("lab")).get("app-1/libvirt/domain.xml")!;
        expect(parsePushedFiles(domainXml)).to.deep.equal(pushed);
        expect(parsePushedFiles(domainXml.replace(/'/g, '"'))).to.deep.equal(pushed);
    });

    it("checks the hosts --hosts names, refusing a name the stack does not have", () => {
        const known = ["gw-1", "app-1", "db-1"];
        expect(selectHosts("app-1, gw-1", known)).to.deep.equal(["app-1", "gw-1"]);
        expect(() => selectHosts("app-1,app-9", known)).to.throw(
            '--hosts: "app-1,app-9" names "app-9", not in the stack; give a comma-separated list of gw-1, app-1, db-1');
        expect(() => selectHosts(",", known)).to.throw('--hosts: "," names no host; give a comma-separated list of gw-1, app-1, db-1');
    });

    it("prints an aligned table", () => {
        const table = formatTable(judge(host, healthy, window, DEFAULT_THRESHOLDS).slice(0, 2));
        expect(table).to.equal(
            "HOST   CHECK            STATUS  VALUE\n" +
            "app-1  latency to gw-1  ok      0.31 ms (limit 2)\n" +
            "app-1  latency to pg-1  ok      0.28 ms (limit 2)\n");
    });
});
