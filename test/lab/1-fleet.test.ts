/**
 * The fleet lab/up made with a real `pulumi up` of Pulumi.lab.yaml: reached the way the
 * fleet reaches it (through the hypervisor as a jump host, host keys pinned from the
 * stack outputs), its data volumes, its VLAN isolation, its outputs and their consumer,
 * and the doctor. Runs inside the lab namespace (test/run-all.sh).
 */
import { expect } from "chai";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { contractViolations } from "../../contract/validate";
import { renderedPattern } from "../../components/placeholder";
import { readTree, renderStack } from "../renderTree";
import { labDoctor, LAB_ENV, LabFleet, labOutputs, labPulumi, labStackDeployed, ROOT } from "./labStack";

describe("the lab fleet made by pulumi up", function () {
    this.timeout(20 * 60 * 1000);
    let fleet: LabFleet;
    let hosts: Record<string, any>;

    before(() => {
        if (!labStackDeployed()) {
            throw new Error("the lab stack is not deployed: run `bash lab/up` first");
        }
        fleet = new LabFleet(labOutputs());
        hosts = fleet.outputs.hosts;
    });
    after(() => fleet?.close());

    it("has at least 4 VMs on 2 VLANs, each answering SSH as itself with its pinned host key", async () => {
        expect(Object.keys(hosts).length).to.be.at.least(4);
        expect(new Set(Object.values<any>(hosts).map(h => h.vlan)).size).to.be.at.least(2);
        for (const name of Object.keys(hosts)) {
            expect((await fleet.mustOnGuest(name, "hostname")).trim()).to.equal(name);
        }
    });

    it("refuses a guest whose host key is not the pinned one", async () => {
        const swapped = new LabFleet({
            ...fleet.outputs,
            hosts: { ...hosts, "app-1": { ...hosts["app-1"], hostKey: hosts["gw-1"].hostKey } },
        });
        try {
            const r = await swapped.onGuest("app-1", "true");
            expect(r.status).to.not.equal(0);
            expect(r.stderr).to.match(/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
        } finally {
            swapped.close();
        }
    });

    it("keeps no host private key in any guest's seed once it has booted, on disk or open in qemu", async () => {
        const pool = "/var/lib/nordfleet-lab/images";
        // Every VM at once: each check is a few SSH sessions.
        await Promise.all(Object.keys(hosts).map(async name => {
            const seed = await fleet.onHypervisor(`isoinfo -R -i ${pool}/${name}/seed.iso -x /user-data`);
            expect(seed.status, seed.stderr).to.equal(0);
            expect(seed.stdout, name).to.include("ssh_authorized_keys");
            expect(seed.stdout, name).to.not.include("PRIVATE KEY");
            // A replaced file that qemu still held open would keep its bytes on disk.
            const held = await fleet.onHypervisor(`ls -l /proc/$(pgrep -f '^/usr/bin/qemu-system-x86_64 -name guest=${name},')/fd | grep -c 'seed.iso (deleted)' || true`);
            expect(held.stdout.trim(), name).to.equal("0");
            // What the guest itself can read from its seed drive.
            const inGuest = await fleet.onGuest(name, "grep -c 'PRIVATE KEY' /dev/sr0 || true");
            expect(inGuest.stdout.trim(), `${name}: ${inGuest.stderr}`).to.equal("0");
        }));
    });

    it("shows each data volume in the guest under the serial the outputs give", async () => {
        const withDisks = Object.entries<any>(hosts).filter(([, h]) => Object.keys(h.volumeSerials).length);
        expect(withDisks).to.not.be.empty;
        for (const [name, h] of withDisks) {
            for (const serial of Object.values<string>(h.volumeSerials)) {
                const r = await fleet.onGuest(name, `test -b /dev/disk/by-id/virtio-${serial} && echo present`);
                expect(r.stdout.trim(), `${name} ${serial}: ${r.stderr}`).to.equal("present");
            }
        }
    });

    it("lets two VMs on the same VLAN reach each other (on Consul's gossip port, open to the whole VLAN)", async () => {
        const r = await fleet.onGuest("gw-1", `timeout 5 bash -c '</dev/tcp/${hosts["app-1"].address}/8301' && echo open`);
        expect(r.stdout.trim(), r.stderr).to.equal("open");
    });

    it("keeps a VM on another VLAN out, even with an 802.1Q sub-interface of their VLAN", async () => {
        const platform = fleet.outputs.vlans.find((v: any) => v.name === "platform");
        const own = fleet.outputs.vlans.find((v: any) => v.name === hosts["probe-1"].vlan);
        const target = hosts["app-1"].address;
        // Control: the probe does reach its own VLAN (the hypervisor's bridge address refuses port 22 at once).
        const ownBridge = own.cidr.replace(/\.0\/\d+$/, ".1");
        const control = await fleet.onGuest("probe-1", `timeout 5 bash -c '</dev/tcp/${ownBridge}/22' 2>&1; echo rc=$?`);
        expect(control.stdout).to.include("Connection refused");

        const joined = await fleet.onGuest("probe-1", [
            `ip link add link eth0 name eth0.${platform.id} type vlan id ${platform.id}`,
            `ip addr add ${platform.cidr.replace(/\.0\/(\d+)$/, ".250/$1")} dev eth0.${platform.id}`,
            `ip link set eth0.${platform.id} up`,
            `ip -d link show eth0.${platform.id} | grep -o 'vlan protocol 802.1Q id ${platform.id}'`,
        ].join(" && "));
        expect(joined.stdout.trim(), joined.stderr).to.equal(`vlan protocol 802.1Q id ${platform.id}`);
        try {
            const attempt = await fleet.onGuest("probe-1", `timeout 8 bash -c '</dev/tcp/${target}/22' 2>&1; echo rc=$?`);
            expect(attempt.stdout).to.not.include("rc=0");
            expect(attempt.stdout).to.not.include("Connection refused");
            const neighbours = await fleet.onGuest("probe-1", `ip neigh show ${target}`);
            expect(neighbours.stdout).to.not.match(/lladdr/);
        } finally {
            await fleet.onGuest("probe-1", `ip link del eth0.${platform.id}`);
        }
    });

    it("gives outputs that satisfy contract/outputs.schema.json", () => {
        expect(contractViolations(fleet.outputs)).to.deep.equal([]);
    });

    it("feeds the consumer example through StackReference, with its own pulumi up and its own passphrase, " +
        "and gives it no way to the deploy key or any password", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nordfleet-consumer-"));
        // Another team: the same backend, but not the lab stack's passphrase.
        const { PULUMI_CONFIG_PASSPHRASE_FILE: _operatorOnly, ...shared } = LAB_ENV;
        const consumerEnv = { ...shared, PULUMI_CONFIG_PASSPHRASE: "the consumer team's own" };
        const run = (...args: string[]) =>
            spawnSync("pulumi", [...args, "--non-interactive"], { cwd: dir, env: consumerEnv, encoding: "utf8" });
        const pulumi = (...args: string[]) => {
            const r = run(...args);
            if (r.status !== 0) {
                throw new Error(`pulumi ${args.join(" ")} failed (${r.status}):\n${r.stdout}${r.stderr}`);
            }
            return r.stdout;
        };
        try {
            fs.cpSync(path.join(ROOT, "examples", "consumer"), dir, { recursive: true });
            fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
            pulumi("stack", "init", "consumer-test", "--secrets-provider", "passphrase");
            try {
                pulumi("config", "set", "fleetStack", "organization/nordfleet/lab", "--stack", "consumer-test");
                pulumi("up", "--yes", "--skip-preview", "--stack", "consumer-test");
                const consumed = JSON.parse(pulumi("stack", "output", "--json", "--stack", "consumer-test"));
                const serviceHosts = Object.values<any>(hosts).filter(h => h.role === "service").map(h => h.address).sort();
                expect(consumed.serviceAddresses).to.deep.equal(serviceHosts);
                expect(consumed.knownHostsText).to.include(`gw-1 ${hosts["gw-1"].hostKey}`);
                expect(consumed.sshConfigText).to.include(
                    `Host app-1\n  HostName ${hosts["app-1"].address}\n  User root\n  ProxyJump root@${fleet.hypervisor}`);
                // All the consumer was given holds no key and no credential, and the state that
                // does is closed to it.
                const given = JSON.stringify({ consumed, fleet: fleet.outputs });
                expect(given).to.not.match(/PRIVATE KEY|password|amqps:\/\/[^"@]*@|postgresql:\/\//i);
                const exported = run("stack", "export", "--show-secrets", "--stack", "organization/nordfleet/lab");
                expect(exported.status, "the consumer reads the lab stack's secrets").to.not.equal(0);
                expect(exported.stdout).to.not.include("PRIVATE KEY");
            } finally {
                pulumi("stack", "rm", "consumer-test", "--yes", "--force");
            }
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("placed on every guest exactly the files `npm run render -- lab` shows, but for the placeholders", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nordfleet-readback-"));
        try {
            renderStack("lab", dir);
            const rendered = readTree(dir);
            let compared = 0;
            for (const host of Object.keys(hosts)) {
                const live: Record<string, string> = JSON.parse(await fleet.mustOnGuest(host, "python3 -", LIVE_RELEASES));
                const expected = [...rendered.keys()].filter(f => f.startsWith(`${host}/`)
                    && !/^[^/]+\/(commands|releases)\//.test(f)).map(f => f.slice(host.length + 1));
                expect(Object.keys(live).filter(f => !expected.includes(f)), `${host}: files with no rendered counterpart`)
                    .to.deep.equal([]);
                expect(expected.filter(f => !(f in live)), `${host}: rendered files not on the host`).to.deep.equal([]);
                for (const [file, base64] of Object.entries(live)) {
                    const content = Buffer.from(base64, "base64").toString("utf8");
                    const pattern = renderedPattern(rendered.get(`${host}/${file}`)!);
                    expect(pattern.test(content), `${host}: /etc/nordfleet/${file.replace("/", "/current/")} differs ` +
                        `from its render`).to.equal(true);
                    compared++;
                }
            }
            console.log(`      compared ${compared} files on ${Object.keys(hosts).length} guests with their render`);
            expect(compared).to.be.greaterThan(100);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    describe("doctor", () => {
        const SSHD_DROP_IN = "/etc/ssh/sshd_config.d/10-nordfleet.conf";
        const doctor = (...extra: string[]) => labDoctor(...extra);

        it("measures the healthy lab fleet and finds every pushed file as pushed", async () => {
            const r = doctor();
            expect(r.status, r.stderr).to.equal(0);
            expect(r.stdout).to.match(/gw-1 +latency to app-1 +ok +[\d.]+ ms/);
            for (const name of Object.keys(hosts)) {
                expect(r.stdout).to.match(new RegExp(`${name} +file ${SSHD_DROP_IN} +ok +as pushed`));
            }
            // Every VM with a Consul agent holds the CA's certificate and its own, issued for 365 days.
            for (const name of Object.keys(hosts).filter(n => hosts[n].vlan === "platform")) {
                expect(r.stdout).to.match(new RegExp(`${name} +certificates +ok +\\d+ checked; the first, /etc/nordfleet/\\S+\\.(pem|crt), ` +
                    `expires in 36[45] days`));
            }
            // The database host's archiving and its first full backup, taken when its release went live.
            expect(r.stdout).to.match(/db-1 +postgres WAL archiving +(ok|warn) +last archived/);
            expect(r.stdout).to.match(/db-1 +postgres last backup +ok +(full|diff|incr), [\d.]+ h ago/);
        });

        it("reports a file changed by hand on a VM and exits non-zero", async () => {
            const original = await fleet.mustOnGuest("app-1", `cat ${SSHD_DROP_IN}`);
            await fleet.mustOnGuest("app-1", `echo 'PermitRootLogin yes' >>${SSHD_DROP_IN}`);
            try {
                // The changed VM and one left alone: the healthy run above covered every one.
                const r = doctor("--hosts", "app-1,gw-1");
                expect(r.status).to.equal(1);
                expect(r.stdout).to.match(new RegExp(`app-1 +file ${SSHD_DROP_IN} +PROBLEM +changed since the last pulumi up`));
                expect(r.stdout).to.match(new RegExp(`gw-1 +file ${SSHD_DROP_IN} +ok +as pushed`));
                expect(r.stdout).to.include("1 problem(s)");
            } finally {
                await fleet.mustOnGuest("app-1", `cat >${SSHD_DROP_IN}`, original);
            }
        });

        it("names exactly the platform files changed by hand on three roles, with their diffs, and the command that " +
            "puts them back", async () => {
            const edits: [string, string][] = [["gw-1", "/etc/nordfleet/gateway/current/nginx.conf"],
                ["db-1", "/etc/nordfleet/postgres/current/pg_hba.conf"], ["consul-1", "/etc/nordfleet/consul/current/dnsmasq.conf"]];
            for (const [host, file] of edits) {
                await fleet.mustOnGuest(host, `echo '# changed by hand' >>${file}`);
            }
            const r = doctor("--hosts", edits.map(([host]) => host).join(","));
            expect(r.status).to.equal(1);
            const fileProblems = r.stdout.split("\n").filter(l => / file \S+ +PROBLEM /.test(l));
            expect(fileProblems.map(l => l.split(/\s+/).slice(0, 3).join(" ")), "the changed files, and no other")
                .to.deep.equal(edits.map(([host, file]) => `${host} file ${file}`));
            for (const [host, file] of edits) {
                expect(r.stdout).to.contain(`--- ${host}: ${file} (mode 0644), changed since it was pushed`);
            }
            expect(r.stdout.match(/^ {4}\+# changed by hand$/gm), "each file's diff shows the added line").to.have.length(3);
            const urns = fileProblems.map(l => /--target-replace '([^']+)'/.exec(l)![1]);
            const up = labPulumi(["up", "--yes", "--skip-preview", ...urns.flatMap(u => ["--target-replace", u])]);
            expect(up.status, up.output.slice(-3000)).to.equal(0);
            expect(up.output).to.contain("was changed on the host; putting the pushed files back");
            const after = doctor("--hosts", edits.map(([host]) => host).join(","));
            expect(after.status, after.stdout).to.equal(0);
            for (const [host, file] of edits) {
                expect(after.stdout).to.match(new RegExp(`${host} +file ${file} +ok +as pushed`));
            }
        });
    });
});

/** Every file of every live release on a guest, as JSON: "ROLE/PATH" -> base64 content. */
const LIVE_RELEASES = `
import base64, json, os
root, out = "/etc/nordfleet", {}
for role in sorted(os.listdir(root)):
    live = os.path.join(root, role, "current")
    if not os.path.isdir(live):
        continue
    tree = os.path.realpath(live)
    for folder, _, names in os.walk(tree):
        for name in names:
            full = os.path.join(folder, name)
            with open(full, "rb") as f:
                out[role + "/" + os.path.relpath(full, tree)] = base64.b64encode(f.read()).decode()
print(json.dumps(out))
`;
