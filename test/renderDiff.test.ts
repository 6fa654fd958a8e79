import { expect } from "chai";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { COMMENT_MARKER, formatReport, HostDiff } from "../render/diff";
import { editFile as edit, PROJECT, scratchCopy } from "./scratchCopy";

describe("render:diff", function () {
    this.timeout(180_000);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nordfleet-render-diff-test-"));
    after(() => fs.rmSync(tmp, { recursive: true, force: true }));

    it("shows a route's new rate limit in gw-1's nginx.conf and a new sysctl value in every baseline, and no secret", () => {
        const head = path.join(tmp, "head");
        scratchCopy(head);
        edit(path.join(head, "Pulumi.lab.yaml"), "rateLimitPerSecond: 20", "rateLimitPerSecond: 35");
        edit(path.join(head, "components", "platform", "hostBaseline.ts"),
            `{ key: "net.ipv4.tcp_max_syn_backlog", value: "8192"`, `{ key: "net.ipv4.tcp_max_syn_backlog", value: "12288"`);
        const out = path.join(tmp, "report.md");
        const r = spawnSync(path.join(head, "node_modules", ".bin", "ts-node"),
            ["--transpile-only", path.join(head, "render", "diff.ts"), PROJECT, "--stack", "lab", "--out", out],
            { cwd: head, encoding: "utf8" });
        expect(r.status, r.stderr).to.equal(0);
        const report = fs.readFileSync(out, "utf8");
        expect(report.startsWith(COMMENT_MARKER)).to.equal(true);
        expect(report).to.match(/<summary>lab · gw-1: [^<]*gateway\/nginx\.conf[^<]*baseline\/sysctl\.conf|<summary>lab · gw-1: [^<]*baseline\/sysctl\.conf[^<]*gateway\/nginx\.conf/);
        expect(report).to.include("-    limit_req_zone $binary_remote_addr zone=nf_hello:10m rate=20r/s;");
        expect(report).to.include("+    limit_req_zone $binary_remote_addr zone=nf_hello:10m rate=35r/s;");
        expect(report).to.include("+net.ipv4.tcp_max_syn_backlog = 12288");
        for (const host of ["app-1", "consul-1", "db-1", "mq-1"]) {
            expect(report).to.match(new RegExp(`<summary>lab · ${host}: [^<]*baseline/sysctl\\.conf`));
        }
        // On the hypervisor only the guests' ledgers change (their digests), and the commands that install them.
        const onHypervisor = /<summary>lab · lab-hv: ([^(]*) \(/.exec(report)![1].split(", ");
        expect(onHypervisor.filter(f => !/^(ledgers\/[a-z0-9-]+\.json|commands\/[a-z0-9-]+-ledger\.sh)$/.test(f))).to.deep.equal([]);
        expect(report).to.not.match(/BEGIN [A-Z ]*PRIVATE KEY|SCRAM-SHA-256\$|secretAccessKey"?\s*[:=]\s*"?[A-Za-z0-9]/);
    });

    it("says so when no host receives a different file", () => {
        expect(formatReport([], "main")).to.equal(`${COMMENT_MARKER}\n### What this change pushes ` +
            "(npm run render:diff -- main)\n\nNo host receives a different file.\n");
    });

    it("cuts a large report, counting the hosts, files and lines it leaves out", () => {
        const big = (host: string): HostDiff => ({ stack: "prod", host, files: [
            { file: "baseline/sysctl.conf", diff: `@@ -1 +1 @@\n${"-a\n+b\n".repeat(400)}`, added: 400, removed: 400 }] });
        const report = formatReport(["app-1", "app-2", "app-3", "gw-1"].map(big), "main", 5000);
        expect(report.length).to.be.at.most(5000);
        expect(report).to.include("4 file(s) change on 4 host(s)");
        expect(report).to.match(/\*\*Cut:\*\* \d host\(s\) with \d changed file\(s\) and \d+ changed line\(s\) are left out/);
        const shown = (report.match(/<details>/g) ?? []).length;
        const cut = Number(/\*\*Cut:\*\* (\d) host/.exec(report)![1]);
        expect(shown + cut).to.equal(4);
    });
});
