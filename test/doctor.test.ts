import { expect } from "chai";
import * as crypto from "crypto";
import { installLedgerCommand, ledgerText } from "../components/platform/hostLedger";
import { releaseRecord } from "../components/platform/release";
import { changedReleaseFiles, formatPushedDiff, parseReleaseRecords, pushedDiffCommand } from "../doctor/drift";
import { baselineGuestFiles, digestsOf, parsePushedFiles } from "../components/compute/guestFiles";
import { DEFAULT_THRESHOLDS, formatTable, HostUnderTest, judge, Probe } from "../doctor/checks";
import { selectHosts } from "../doctor/main";
import { loadStackFile } from "../render/stackConfig";
import { directKernelBoot, domainContext, renderDomainXml } from "../components/compute/kvmInstance";
import { planVlan } from "../components/compute/network";
import { firstBootDns } from "../config/dns";

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

    it("reports the certificate that expires first, warning in its renewal window and failing close to expiry", () => {
        const day = 24 * 3600;
        const certs = (soonestDays: number) => judge(host, {
            ...healthy, certificates: {
                "/etc/nordfleet/consul/current/tls/ca.pem": { notAfter: healthy.time + 3650 * day },
                "/etc/nordfleet/consul/current/tls/agent.pem": { notAfter: healthy.time + soonestDays * day },
            },
        }, window, DEFAULT_THRESHOLDS).filter(r => r.check === "certificates").map(r => `${r.status}: ${r.value}`);
        const agent = "/etc/nordfleet/consul/current/tls/agent.pem";
        expect(certs(365)).to.deep.equal([`ok: 2 checked; the first, ${agent}, expires in 365 days, on 1971-01-01`]);
        expect(certs(45)).to.deep.equal([`warn: 2 checked; the first, ${agent}, expires in 45 days, on 1970-02-15; ` +
            `in its renewal window: the next pulumi up renews it`]);
        expect(certs(10)).to.deep.equal([`PROBLEM: 2 checked; the first, ${agent}, expires in 10 days, on 1970-01-11; ` +
            `run pulumi up to renew it (its window opens 60 days before)`]);
        expect(certs(-3)).to.deep.equal([`PROBLEM: 2 checked; the first, ${agent}, expired 3 days ago; ` +
            `run pulumi up to renew it (its window opens 60 days before)`]);
        const unreadable = judge(host, { ...healthy, certificates: { [agent]: { error: "unable to load certificate" } } },
            window, DEFAULT_THRESHOLDS).find(r => r.check === "certificates");
        expect(unreadable).to.deep.include({ status: "PROBLEM", value: `${agent} could not be read: unable to load certificate` });
    });

    it("skips an unmounted volume without writing to it, and flags a missing one", () => {
        const rows = judge(host, { ...healthy, volumes: { "nf-scratch-abc": { state: "unmounted" } } }, window, DEFAULT_THRESHOLDS);
        expect(rows.find(r => r.check === "volume scratch")).to.deep.include({ status: "warn" });
        const missing = judge(host, { ...healthy, volumes: {} }, window, DEFAULT_THRESHOLDS);
        expect(missing.find(r => r.check === "volume scratch")).to.deep.include({
            status: "PROBLEM", value: "not attached (no /dev/disk/by-id/virtio-nf-scratch-abc)" });
    });

    it("reads the pushed files' digests back from the rendered domain definition", () => {
        const { config, placement } = loadStackFile("lab");
        const app = config.hosts.find(h => h.name === "app-1")!;
        const domainXml = renderDomainXml(domainContext(app, planVlan(config.vlans.find(v => v.name === app.vlan)!),
            config.hypervisors.find(h => h.name === placement.get(app.name))!, directKernelBoot(config),
            firstBootDns(app, config, placement)));
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

describe("doctor: files of the platform's releases", () => {
    const record = releaseRecord("gateway", [
        { path: "nginx.conf", mode: "0644", content: "worker_processes auto;\nserver_tokens off;\n" },
        { path: "tls/server.key", mode: "0600", content: "KEY\n" },
    ], "urn:pulumi:lab::nordfleet::command:remote:Command::nordfleet-gw-1-gateway-release-apply");
    const sha = (text: string) => crypto.createHash("sha256").update(text).digest("hex");

    it("records every file at its live path with its digest and mode, and reads the ledger back", () => {
        expect(record.files).to.deep.equal([
            { path: "/etc/nordfleet/gateway/current/nginx.conf", mode: "0644", sha256: sha("worker_processes auto;\nserver_tokens off;\n") },
            { path: "/etc/nordfleet/gateway/current/tls/server.key", mode: "0600", sha256: sha("KEY\n") },
        ]);
        expect(parseReleaseRecords(`${JSON.stringify(record)}\nnot json\n${JSON.stringify({ role: 1 })}\n`)).to.deep.equal([record]);
        const baseline = { ...record, role: "baseline" };
        expect(parseReleaseRecords(ledgerText([record, baseline]))).to.deep.equal([baseline, record]);
        expect(installLedgerCommand("gw-1", { name: "ledger-gw-1.0123abcd", remotePath: "/var/lib/nordfleet/bundles/ledger-gw-1.0123abcd" }))
            .to.contain("install -d -m 0700 '/var/lib/nordfleet/pushed/gw-1'")
            .and.contain("install -m 0600 /var/lib/nordfleet/bundles/ledger-gw-1.0123abcd '/var/lib/nordfleet/pushed/gw-1/releases.json'.new")
            .and.contain("mv -f '/var/lib/nordfleet/pushed/gw-1/releases.json'.new '/var/lib/nordfleet/pushed/gw-1/releases.json'");
    });

    it("names each changed file with the command that puts it back, and shows its diff, masked where it may hold a secret", () => {
        const probe = { ...healthy, fileSha256: { [record.files[0].path]: "a".repeat(64), [record.files[1].path]: "b".repeat(64) } };
        const subject = { ...host, pushedFiles: [...pushed, ...record.files], releases: [record] };
        const problems = judge(subject, probe, window, DEFAULT_THRESHOLDS).filter(r => r.status === "PROBLEM").map(r => r.value);
        expect(problems.filter(v => v.includes("put back: pulumi up --target-replace 'urn:pulumi:lab::nordfleet::command:remote:" +
            "Command::nordfleet-gw-1-gateway-release-apply'"))).to.have.length(2);
        const changed = changedReleaseFiles([record], probe);
        expect(changed.map(c => c.file.path)).to.deep.equal(record.files.map(f => f.path));
        expect(pushedDiffCommand(changed[0])).to.contain("tar -xOf '/etc/nordfleet/gateway/releases/." + record.release +
            ".pushed.tar' './nginx.conf'");
        const diff = ["--- pushed", "+++ live", "@@ -1,2 +1,2 @@", " worker_processes auto;", "-server_tokens off;", "+server_tokens on;"];
        expect(formatPushedDiff("gw-1", changed[0], [record.files[0].sha256, ...diff].join("\n"))).to.equal(
            `--- gw-1: /etc/nordfleet/gateway/current/nginx.conf (mode 0644), changed since it was pushed\n` +
            diff.map(l => `    ${l}`).join("\n") + "\n");
        const masked = formatPushedDiff("gw-1", changed[1], [record.files[1].sha256, "--- pushed", "+++ live", "@@ -1 +1 @@",
            "-KEY", "+OTHER KEY"].join("\n"));
        expect(masked).to.contain("    -[line not shown: the file may hold a secret]").and.contain("    @@ -1 +1 @@");
        expect(masked).to.not.contain("KEY\n");
        expect(formatPushedDiff("gw-1", changed[0], "0".repeat(64))).to.contain("the pushed copy on the guest is missing or altered too");
    });
});
