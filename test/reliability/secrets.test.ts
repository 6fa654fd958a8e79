/**
 * The secrets sweep on the lab fleet: every secret value the stack holds (its secret
 * outputs and config, and every generated key, password and token in its state) is
 * searched for in plain text where it must not be: the exported state, the CLI's own
 * verbose output, the hypervisor's files and logs, and each guest's journal and
 * cloud-init logs. The files on a guest that must hold one are listed with their modes:
 * readable by their owner (and the group of the daemon that reads it) only. Consul's
 * tokens and gossip key, which no provider reports, are derived from the cluster's
 * seed exactly as the component does.
 */
import { expect } from "chai";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { deriveConsulSecrets } from "../../components/platform/consulCluster";
import { RESPONSE_NOT_LOGGED, SDK_DEBUG_LOG_VARIABLE } from "../../sdk/debugLog";
import { LAB_HOME } from "../lab/labHost";
import { LabFleet, labOutputs, labPulumi, mustLabPulumi } from "../lab/labStack";

/** The marker Pulumi puts on a secret value in an exported state. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/**
 * Where the stack's secrets come from: what the random and tls providers generate (every
 * password, token, gossip key and private key), and the stack's own secret outputs. A
 * script or release made secret because it carries one of them is not a source: its
 * other lines are plain, and a leak of it shows as a leak of what it carries.
 */
const SECRET_SOURCES = /^(random:|tls:|pulumi:pulumi:Stack$)/;

/** The part of `pulumi stack export` these functions read. */
interface StateExport {
    deployment: { resources?: { urn: string; type: string; outputs?: Record<string, unknown> }[] };
}

/** Every plain string under a secret marker of the sources, in an export made with --show-secrets. */
export function secretValues(exported: StateExport): string[] {
    const out: string[] = [];
    for (const resource of exported.deployment.resources ?? []) {
        if (SECRET_SOURCES.test(resource.type)) {
            secretsIn(resource.outputs, out);
        }
    }
    return out;
}

/**
 * Daemons that read their own secrets: a file that holds one may be readable by the
 * daemon's group (owner root, mode 0640), as Debian's own packages set them up.
 */
const DAEMON_GROUPS = ["consul", "postgres", "rabbitmq"];
const PRIVATE_FILE = new RegExp(`^(?:[0-7]00 \\S+|640 root:(?:${DAEMON_GROUPS.join("|")})) `);

/**
 * The lines every OpenSSH ed25519 private key shares (its format's header), which
 * say nothing about any one key: taken from a throwaway key made here.
 */
function opensshBoilerplate(dir: string): string {
    const key = path.join(dir, "throwaway");
    const r = spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key], { encoding: "utf8" });
    expect(r.status, r.stderr).to.equal(0);
    return fs.readFileSync(key, "utf8");
}

/** Every Consul secret derived from the cluster's seed, for these nodes and services. */
export function consulSecretValues(exported: StateExport, nodes: string[], services: string[]): string[] {
    const seedResource = (exported.deployment.resources ?? []).find(r => r.urn.endsWith("::nordfleet-consul-secret-seed"));
    expect(seedResource, "the Consul secret seed in the state").to.not.equal(undefined);
    const seed = JSON.parse((seedResource!.outputs!.result as { plaintext: string }).plaintext) as string;
    const s = deriveConsulSecrets(seed, nodes, services);
    return [s.gossipKey, s.managementToken, s.dnsToken,
        ...Object.values(s.agentTokens), ...Object.values(s.recoveryTokens), ...Object.values(s.serviceTokens)];
}

/**
 * The plain strings of the tls resources (public keys, certificates). An ECDSA private
 * key's PEM carries its public point, so some of its lines are public as well.
 */
export function publicMaterial(exported: StateExport): string[] {
    return (exported.deployment.resources ?? []).filter(r => r.type.startsWith("tls:"))
        .flatMap(r => Object.values(r.outputs ?? {}).filter((v): v is string => typeof v === "string"));
}

function secretsIn(node: unknown, out: string[]): void {
    if (Array.isArray(node)) {
        node.forEach(n => secretsIn(n, out));
    } else if (typeof node === "object" && node !== null) {
        const obj = node as Record<string, unknown>;
        if (obj[SECRET_SIG] !== undefined && typeof obj.plaintext === "string") {
            stringsIn(JSON.parse(obj.plaintext), out);
        } else {
            Object.values(obj).forEach(n => secretsIn(n, out));
        }
    }
}

function stringsIn(node: unknown, out: string[]): void {
    if (typeof node === "string") {
        out.push(node);
    } else if (typeof node === "object" && node !== null) {
        Object.values(node).forEach(n => stringsIn(n, out));
    }
}

/**
 * What to search for: a one-line secret whole, a multi-line one (a PEM key) by each of
 * its body lines. Short values (a port, "true") say nothing and are left out.
 */
export function needlesOf(secrets: string[]): string[] {
    const needles = secrets.flatMap(s => (s.includes("\n")
        ? s.split("\n").map(l => l.trim()).filter(l => l.length >= 20 && !l.startsWith("-----"))
        : [s.trim()]))
        .filter(n => n.length >= 12);
    return [...new Set(needles)];
}

describe("secrets sweep on the lab fleet", function () {
    this.timeout(30 * 60 * 1000);
    let fleet: LabFleet;
    let needles: string[];
    let tmp: string;
    let needlesFile: string;
    // A hit is reported by the secret's number, never by any part of it.
    const hits = (label: string, text: string) => needles.flatMap((n, i) => (text.includes(n) ? [`${label}: secret #${i}`] : []));

    before(() => {
        fleet = new LabFleet(labOutputs());
        const config: Record<string, { value: unknown; secret: boolean }> =
            JSON.parse(mustLabPulumi(["config", "--show-secrets", "--json"]));
        const secretConfig: string[] = [];
        stringsIn(Object.values(config).filter(c => c.secret).map(c => c.value), secretConfig);
        const exported = JSON.parse(mustLabPulumi(["stack", "export", "--show-secrets"]));
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nordfleet-sweep-"));
        const publicText = [...publicMaterial(exported), opensshBoilerplate(tmp)].join("\n");
        const consul = consulSecretValues(exported, Object.keys(fleet.outputs.hosts), Object.keys(fleet.outputs.services));
        needles = needlesOf([...secretValues(exported), ...consul, ...secretConfig]).filter(n => !publicText.includes(n));
        needlesFile = path.join(tmp, "needles");
        fs.writeFileSync(needlesFile, needles.join("\n") + "\n", { mode: 0o600 });
        console.log(`      ${needles.length} secret strings to look for`);
    });
    after(() => {
        fleet?.close();
        fs.rmSync(tmp, { recursive: true, force: true });
    });

    it("finds none in the exported state", () => {
        expect(needles.length).to.be.greaterThan(20);
        expect(hits("stack export", mustLabPulumi(["stack", "export"]))).to.deep.equal([]);
    });

    it("finds none in the output of pulumi up --refresh --verbose 3, with the SDK's runtime trace on", () => {
        const r = labPulumi(["up", "--yes", "--skip-preview", "--refresh", "--verbose", "3", "--logtostderr"], undefined,
            { [SDK_DEBUG_LOG_VARIABLE]: "1" });
        expect(r.status, r.output.slice(-3000)).to.equal(0);
        expect(r.output, "the SDK's trace, its responses cut off").to.include(RESPONSE_NOT_LOGGED);
        console.log(`      ${r.output.length} bytes of CLI output searched`);
        expect(hits("pulumi up --verbose 3", r.output)).to.deep.equal([]);
    });

    it("finds none in the hypervisor's files and logs but the engine's own key to it, root-only", () => {
        const places = ["/var/lib/nordfleet-lab/images", "/var/log/libvirt", "/etc/libvirt", "/run/libvirt", LAB_HOME];
        // The stack's key to the lab hypervisor is secret config, and this file is where the lab keeps it.
        const holder = path.join(LAB_HOME, "hypervisor_ed25519");
        // Guests' disks hold their own keys: those are the guests' files, searched from inside.
        const r = spawnSync("grep", ["-rlF", "-f", needlesFile, "--exclude=*.qcow2", ...places], { encoding: "utf8" });
        expect(r.status, r.stderr).to.be.oneOf([0, 1]);
        expect(r.stdout.split("\n").filter(f => f !== "" && f !== holder)).to.deep.equal([]);
        const mode = spawnSync("stat", ["-c", "%a %U:%G", holder], { encoding: "utf8" }).stdout.trim();
        expect(mode, holder).to.equal("600 root:root");
    });

    it("finds none in any guest's journal or cloud-init logs", async () => {
        const found = await Promise.all(Object.keys(fleet.outputs.hosts).map(async host => {
            const logs = await fleet.mustOnGuest(host,
                "journalctl --no-pager -o cat; cat /var/log/cloud-init.log /var/log/cloud-init-output.log 2>/dev/null");
            return hits(`${host} journal and cloud-init logs`, logs);
        }));
        expect(found.flat()).to.deep.equal([]);
    });

    it("keeps the files on a guest that hold one readable by their owner (and their daemon's group) only", async () => {
        const report: string[] = [];
        for (const host of Object.keys(fleet.outputs.hosts)) {
            // The needles travel on stdin, never in the command.
            const out = await fleet.mustOnGuest(host, "grep -rlF -f - /etc /root /home /tmp /var/log /var/lib/nordfleet " +
                "/var/lib/cloud /var/lib/rabbitmq 2>/dev/null | xargs -r stat -c '%a %U:%G %n'", needles.join("\n") + "\n");
            for (const line of out.split("\n").filter(Boolean)) {
                report.push(`${host.padEnd(9)} ${line}`);
            }
        }
        console.log(report.map(l => `      ${l}`).join("\n"));
        const open = report.filter(l => !PRIVATE_FILE.test(l.replace(/^\S+\s+/, "")));
        expect(open, "files with a secret that others, or a group other than its daemon's, can read").to.deep.equal([]);
    });
});
