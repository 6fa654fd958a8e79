/**
 * Scans of the lab fleet with Debian's own tools, from inside the lab namespace:
 * ssh-audit against every guest's sshd and the lab hypervisor's, sslscan and the
 * response headers of the gateway's public side, and lynis on one guest of each role
 * (copied in for the audit and removed after: guests have no network to install from).
 * Prints a table of what each found.
 */
import { expect } from "chai";
import { spawnSync } from "child_process";
import { LabFleet, labOutputs } from "../lab/labStack";

const run = (argv: string[], timeoutMs = 120_000) => {
    const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8", timeout: timeoutMs });
    return { status: r.status, output: `${r.stdout ?? ""}${r.stderr ?? ""}` };
};

/** ssh-audit's findings at each level, from its plain-text report. */
export function sshAuditFindings(report: string): { fail: string[]; warn: string[] } {
    const fail: string[] = [];
    const warn: string[] = [];
    let subject = "";
    for (const line of report.split("\n")) {
        const m = /^\((kex|key|enc|mac)\) (\S+)\s+--\s+\[(\w+)\]\s+(.*)$/.exec(line);
        const more = /^\s+`- \[(\w+)\]\s+(.*)$/.exec(line);
        if (m) {
            subject = `${m[1]} ${m[2]}`;
        }
        const [level, why] = m ? [m[3], m[4]] : more ? [more[1], more[2]] : ["", ""];
        if (level === "fail") {
            fail.push(`${subject}: ${why}`);
        } else if (level === "warn") {
            warn.push(`${subject}: ${why}`);
        }
    }
    return { fail, warn };
}

interface TlsScan { protocols: string[]; ciphers: { protocol: string; name: string; strength: string }[] }

/** The enabled protocols and accepted ciphers of sslscan's XML report. */
export function sslscanResult(xml: string): TlsScan {
    const attrs = (tag: string) => Object.fromEntries([...tag.matchAll(/(\w+)="([^"]*)"/g)].map(m => [m[1], m[2]]));
    const protocols = [...xml.matchAll(/<protocol [^>]*>/g)].map(m => attrs(m[0]))
        .filter(a => a.enabled === "1").map(a => `${a.type.toUpperCase()} ${a.version}`);
    const ciphers = [...xml.matchAll(/<cipher [^>]*>/g)].map(m => attrs(m[0]))
        .filter(a => a.status === "accepted" || a.status === "preferred")
        .map(a => ({ protocol: a.sslversion, name: a.cipher, strength: a.strength }));
    return { protocols, ciphers };
}

/**
 * lynis tests left out of the audit. Each runs a process per item of a long list (dpkg -S
 * for every certificate file, a dpkg query per installed package); on an emulated guest
 * those two alone take longer than the rest of the audit. Neither bears on the fleet's
 * hardening: the system CA bundle's expiry dates, and a listing of packages.
 */
export const LYNIS_SKIPPED_TESTS = ["CRYP-7902", "PKGS-7345"];

const report: string[][] = [];

describe("scans of the lab fleet", function () {
    this.timeout(60 * 60 * 1000);
    let fleet: LabFleet;
    let outputs: Record<string, any>;

    before(() => {
        outputs = labOutputs();
        fleet = new LabFleet(outputs);
    });
    after(() => {
        fleet?.close();
        console.log("\n      scan                      target             result");
        for (const [scan, target, result] of report) {
            console.log(`      ${scan.padEnd(25)} ${target.padEnd(18)} ${result}`);
        }
    });

    it("ssh-audit finds nothing at fail level on any guest's sshd or the hypervisor's", () => {
        const targets: [string, string][] = [["hypervisor", fleet.hypervisor],
            ...Object.entries<any>(outputs.hosts).map(([name, h]) => [name, h.address] as [string, string])];
        const failed: string[] = [];
        for (const [name, address] of targets) {
            const r = run(["ssh-audit", "-n", "-t", "60", address]);
            const { fail, warn } = sshAuditFindings(r.output);
            expect(r.output, `${name}: ssh-audit printed no algorithms:\n${r.output}`).to.match(/^\(kex\) /m);
            const warned = [...new Set(warn.map(w => w.split(":")[0]))];
            report.push(["ssh-audit", `${name}`, `${fail.length} fail, ${warn.length} warn${warned.length ? ` (${warned.join(", ")})` : ""}`]);
            failed.push(...fail.map(f => `${name}: ${f}`));
        }
        expect(failed).to.deep.equal([]);
    });

    it("the gateway speaks TLS 1.2 and 1.3 only, with strong forward-secret ciphers, and sends HSTS", () => {
        const address = new URL(outputs.gatewayUrls[0]).hostname;
        const r = run(["sslscan", "--no-colour", "--xml=-", `${address}:443`]);
        const scan = sslscanResult(r.output);
        const weak = scan.ciphers.filter(c => c.strength !== "strong" && c.strength !== "acceptable");
        const notForwardSecret = scan.ciphers.filter(c => c.protocol === "TLSv1.2" && !/^(ECDHE|DHE)-/.test(c.name));
        const headers = run(["curl", "-skI", "--max-time", "30", `https://${address}/`]).output;
        const hsts = /^strict-transport-security: *max-age=(\d+)/im.exec(headers);
        report.push(["sslscan", address, `${scan.protocols.join(", ")}; ${scan.ciphers.length} ciphers, ` +
            `${weak.length} weak, ${notForwardSecret.length} without forward secrecy; HSTS max-age ${hsts?.[1] ?? "none"}`]);
        expect(scan.protocols.sort()).to.deep.equal(["TLS 1.2", "TLS 1.3"]);
        expect(weak).to.deep.equal([]);
        expect(notForwardSecret).to.deep.equal([]);
        expect(Number(hsts?.[1] ?? 0)).to.be.at.least(31536000);
    });

    it(`lynis audits one guest of each role and reports its hardening index (skipping ${LYNIS_SKIPPED_TESTS.join(", ")})`, async function () {
        // One audit takes about 20 minutes of an emulated guest's time, and the guests share two cores.
        this.timeout(2 * 60 * 60 * 1000);
        const byRole = new Map<string, string>();
        for (const [name, h] of Object.entries<any>(outputs.hosts).sort()) {
            if (!byRole.has(h.role)) {
                byRole.set(h.role, name);
            }
        }
        const lynis = spawnSync("tar", ["-C", "/", "-cz", "usr/share/lynis", "usr/sbin/lynis", "etc/lynis"]);
        expect(lynis.status).to.equal(0);
        const bundle = lynis.stdout.toString("base64");
        const dir = "/root/nordfleet-lynis";
        const results = await Promise.all([...byRole].map(async ([role, host]) => {
            const r = await fleet.onGuest(host, `rm -rf ${dir} && mkdir -p ${dir} && base64 -d | tar -C ${dir} -xz && ` +
                `printf 'skip-test=%s\\n' ${LYNIS_SKIPPED_TESTS.join(" ")} >>${dir}/etc/lynis/default.prf && ` +
                `cd ${dir}/usr/share/lynis && ${dir}/usr/sbin/lynis audit system --quick --no-colors ` +
                `--profile ${dir}/etc/lynis/default.prf --plugindir ${dir}/etc/lynis/plugins --logfile ${dir}/lynis.log --report-file ${dir}/report.dat ` +
                `>${dir}/stdout 2>&1; echo "lynis exit $?"; grep -E '^(hardening_index|warning\\[\\]|suggestion\\[\\])=' ${dir}/report.dat; ` +
                `grep -q '^hardening_index=' ${dir}/report.dat || tail -n 20 ${dir}/stdout ${dir}/lynis.log; rm -rf ${dir}`, bundle);
            const index = /^hardening_index=(\d+)/m.exec(r.stdout)?.[1];
            const findings = (kind: string) => r.stdout.split("\n").filter(l => l.startsWith(`${kind}[]=`))
                .map(l => l.slice(kind.length + 3).split("|")[0]);
            const warnings = findings("warning");
            const suggestions = findings("suggestion");
            return { role, host, index, warnings, suggestions, why: index ? "" : `${r.stdout}${r.stderr}` };
        }));
        for (const r of results) {
            report.push([`lynis (${r.role})`, r.host, `hardening index ${r.index ?? "?"}, ` +
                `${r.warnings.length} warnings${r.warnings.length ? ` (${r.warnings.join(", ")})` : ""}, ` +
                `${r.suggestions.length} suggestions (${[...new Set(r.suggestions)].join(", ")})`]);
        }
        expect(results.filter(r => r.index === undefined).map(r => `${r.host}: ${r.why}`)).to.deep.equal([]);
    });
});
