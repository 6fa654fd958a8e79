/**
 * The compute layer on a real hypervisor: the lab (lab/up) with libvirt and real VMs.
 * It pushes the very scripts the HypervisorHost and KvmInstance components push, over
 * SSH from inside the lab namespace, and checks what a user relies on: SSH through the
 * jump host with pinned host keys, data volumes with their serials, VLAN isolation that
 * a guest cannot undo, and a removal that leaves nothing behind.
 */
import { expect } from "chai";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { prepareHypervisorScript } from "../../components/hypervisorHost";
import { applyInstanceScript, directKernelBoot, domainContext, removeInstanceScript } from "../../components/kvmInstance";
import { planVlan } from "../../components/network";
import { HostSpec } from "../../config/types";
import { loadStackFile } from "../../render/stackConfig";
import { LAB_HOME, LAB_NS, LabSsh, labIsUp, sleep } from "./labHost";

describe("compute layer on the lab hypervisor", function () {
    this.timeout(20 * 60 * 1000);
    const { config } = loadStackFile("lab");
    const hv = config.hypervisors[0];
    const vlans = config.vlans.map(planVlan);
    const hosts = config.hosts;
    let lab: LabSsh;
    let deployKey: { file: string; publicKey: string };
    const hostKeys = new Map<string, { privateKey: string; publicKey: string }>();

    const guest = (host: HostSpec, command: string) =>
        lab.onGuest(host.address, hostKeys.get(host.name)!.publicKey, deployKey.file, command);
    const hostNamed = (name: string) => hosts.find(h => h.name === name)!;
    const contextOf = (host: HostSpec) =>
        domainContext(host, vlans.find(v => v.name === host.vlan)!, hv, directKernelBoot(config));

    const apply = (host: HostSpec) => {
        const keys = hostKeys.get(host.name)!;
        return lab.onHypervisor(applyInstanceScript({
            host, vlan: vlans.find(v => v.name === host.vlan)!, ctx: contextOf(host), ssh: config.ssh,
            baseImage: config.baseImage, imagePool: hv.imagePoolPath, nvmePool: hv.nvmePoolPath,
            keys: { hostPrivateKey: keys.privateKey, hostPublicKey: keys.publicKey, deployPublicKey: deployKey.publicKey },
        }));
    };
    const waitForSsh = async (host: HostSpec) => {
        let answer = guest(host, "hostname");
        for (let i = 0; i < 120 && answer.status !== 0; i++) {
            await sleep(5000);
            answer = guest(host, "hostname");
        }
        expect(answer.status, `${host.name}: ${answer.stderr}`).to.equal(0);
    };

    before(async function () {
        if (!labIsUp()) {
            throw new Error("the lab is not up: run lab/up (or lab/up --no-fleet) first");
        }
        lab = new LabSsh(hv.address);
        deployKey = lab.newKey("deploy");
        const prepared = lab.onHypervisor(prepareHypervisorScript(hv, vlans, config.baseImage));
        expect(prepared.status, prepared.stderr).to.equal(0);

        for (const host of hosts) {
            hostKeys.set(host.name, lab.newKey(`host-${host.name}`));
            const started = Date.now();
            const applied = apply(host);
            expect(applied.status, applied.stderr).to.equal(0);
            console.log(`      ${host.name}: domain defined and started in ${Date.now() - started} ms`);
        }
        const bootStart = Date.now();
        for (const host of hosts) {
            await waitForSsh(host);
            console.log(`      ${host.name}: SSH through the jump host after ${Math.round((Date.now() - bootStart) / 1000)} s`);
        }
    });

    after(() => {
        if (!lab) {
            return;
        }
        for (const host of hosts) {
            lab.onHypervisor(removeInstanceScript(host, hv.imagePoolPath, hv.nvmePoolPath));
        }
        lab.remove();
    });

    it("runs at least 3 VMs on one VLAN, each answering SSH as itself with its pinned host key", () => {
        const platform = hosts.filter(h => h.vlan === "platform");
        expect(platform.length).to.be.at.least(3);
        for (const host of hosts) {
            expect(guest(host, "hostname").stdout.trim()).to.equal(host.name);
        }
    });

    it("refuses a guest whose host key is not the pinned one", () => {
        const other = hostKeys.get("gw-1")!.publicKey;
        const app = hostNamed("app-1");
        const r = lab.onGuest(app.address, other, deployKey.file, "true");
        expect(r.status).to.not.equal(0);
        expect(r.stderr).to.match(/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
    });

    it("shows each data volume in the guest under its serial", () => {
        for (const host of hosts.filter(h => h.dataDisks.length)) {
            for (const disk of contextOf(host).dataDisks) {
                const r = guest(host, `test -b /dev/disk/by-id/virtio-${disk.serial} && echo present`);
                expect(r.stdout.trim(), `${host.name} ${disk.serial}: ${r.stderr}`).to.equal("present");
            }
        }
    });

    it("lets two VMs on the same VLAN reach each other", () => {
        const [a, b] = hosts.filter(h => h.vlan === "platform");
        const r = guest(a, `timeout 5 bash -c '</dev/tcp/${b.address}/22' && echo open`);
        expect(r.stdout.trim(), r.stderr).to.equal("open");
    });

    it("keeps a VM on another VLAN out, even with an 802.1Q sub-interface of their VLAN", () => {
        const probe = hosts.find(h => h.vlan !== "platform")!;
        const target = hostNamed("app-1");
        const platform = vlans.find(v => v.name === "platform")!;
        // Control: the probe does reach its own VLAN (the hypervisor's bridge refuses port 22 at once).
        const own = guest(probe, `timeout 5 bash -c '</dev/tcp/${vlans.find(v => v.name === probe.vlan)!.bridgeAddress}/22' 2>&1; echo rc=$?`);
        expect(own.stdout).to.include("Connection refused");

        const joined = guest(probe, [
            `ip link add link eth0 name eth0.${platform.id} type vlan id ${platform.id}`,
            `ip addr add 10.110.0.250/24 dev eth0.${platform.id}`,
            `ip link set eth0.${platform.id} up`,
            `ip -d link show eth0.${platform.id} | grep -o 'vlan protocol 802.1Q id ${platform.id}'`,
        ].join(" && "));
        expect(joined.stdout.trim(), joined.stderr).to.equal(`vlan protocol 802.1Q id ${platform.id}`);

        const attempt = guest(probe, `timeout 8 bash -c '</dev/tcp/${target.address}/22' 2>&1; echo rc=$?`);
        expect(attempt.stdout).to.not.include("rc=0");
        expect(attempt.stdout).to.not.include("Connection refused");
        const neighbours = guest(probe, `ip neigh show ${target.address}`);
        expect(neighbours.stdout).to.not.match(/lladdr/);
    });

    describe("lifecycle of app-1", () => {
        const bootId = (host: HostSpec) => guest(host, "cat /proc/sys/kernel/random/boot_id").stdout.trim();
        const disk = () => `/dev/disk/by-id/virtio-${contextOf(hostNamed("app-1")).dataDisks[0].serial}`;

        it("leaves a running guest alone when nothing changed", () => {
            const app = hostNamed("app-1");
            expect(guest(app, `printf nordfleet-data | dd of=${disk()} conv=fsync status=none && echo written`).stdout.trim())
                .to.equal("written");
            const before = bootId(app);
            expect(apply(app).status).to.equal(0);
            expect(bootId(app)).to.equal(before);
        });

        it("grows a data volume in place, keeping its data", () => {
            const app = hostNamed("app-1");
            const before = Number(guest(app, `blockdev --getsize64 ${disk()}`).stdout.trim());
            app.dataDisks[0].sizeGb += 1;
            const r = apply(app);
            expect(r.status, r.stderr).to.equal(0);
            expect(Number(guest(app, `blockdev --getsize64 ${disk()}`).stdout.trim())).to.equal(before + 2 ** 30);
            expect(guest(app, `head -c 14 ${disk()}`).stdout).to.equal("nordfleet-data");
        });

        it("refuses to shrink a data volume and leaves it as it is", () => {
            const app = hostNamed("app-1");
            app.dataDisks[0].sizeGb -= 1;
            const r = apply(app);
            app.dataDisks[0].sizeGb += 1;
            expect(r.status).to.not.equal(0);
            expect(r.stderr).to.include("would lose data");
            expect(guest(app, `head -c 14 ${disk()}`).stdout).to.equal("nordfleet-data");
        });

        it("applies a memory change with a restart, keeping its identity and data", async () => {
            const app = hostNamed("app-1");
            const before = bootId(app);
            const memKb = () => Number(guest(app, "awk '/MemTotal/ {print $2}' /proc/meminfo").stdout.trim());
            const memBefore = memKb();
            app.memoryMb += 128;
            const r = apply(app);
            expect(r.status, r.stderr).to.equal(0);
            await waitForSsh(app);
            expect(bootId(app)).to.not.equal(before);
            expect(memKb() - memBefore).to.be.greaterThan(100 * 1024);
            expect(guest(app, `head -c 14 ${disk()}`).stdout).to.equal("nordfleet-data");
        });
    });

    describe("doctor", () => {
        // The fleet as its stack outputs would describe it, for the doctor's --outputs.
        const writeOutputs = () => {
            const outputs = {
                sites: [{ hypervisor: hv.name, site: hv.site, address: hv.address }],
                hosts: Object.fromEntries(hosts.map(h => [h.name, {
                    role: h.role, address: h.address, vlan: h.vlan, hypervisor: hv.name,
                    hostKey: hostKeys.get(h.name)!.publicKey.split(" ").slice(0, 2).join(" "),
                    volumeSerials: Object.fromEntries(h.dataDisks.map((d, i) => [d.name, contextOf(h).dataDisks[i].serial])),
                }])),
                deployPrivateKey: fs.readFileSync(deployKey.file, "utf8"),
            };
            const file = path.join(lab.dir, "outputs.json");
            fs.writeFileSync(file, JSON.stringify(outputs), { mode: 0o600 });
            const knownHosts = path.join(lab.dir, "doctor_hypervisor_known_hosts");
            fs.writeFileSync(knownHosts, `${hv.address} ${fs.readFileSync(path.join(LAB_HOME, "ssh_host_ed25519_key.pub"), "utf8")}`);
            return { file, knownHosts };
        };
        // Software emulation is slow and has no time source: limits for a lab, not for prod.
        const LAB_LIMITS = ["--max-latency-ms", "250", "--max-steal-pct", "50", "--max-clock-offset-ms", "5000",
            "--max-write-latency-ms", "250", "--min-write-iops", "5", "--ntp-optional"];
        const doctor = () => {
            const { file, knownHosts } = writeOutputs();
            const r = spawnSync("ip", ["netns", "exec", LAB_NS, process.execPath, "-r", "ts-node/register/transpile-only",
                "doctor/main.ts", "--outputs", file, "--hypervisor-key", path.join(LAB_HOME, "hypervisor_ed25519"),
                "--hypervisor-known-hosts", knownHosts, ...LAB_LIMITS], { cwd: path.join(__dirname, "..", ".."), encoding: "utf8" });
            console.log(r.stdout.replace(/^/gm, "      "));
            return r;
        };
        const SSHD_DROP_IN = "/etc/ssh/sshd_config.d/10-nordfleet.conf";

        it("measures a healthy lab fleet and finds every pushed file as pushed", () => {
            const app = hostNamed("app-1");
            const dev = `/dev/disk/by-id/virtio-${contextOf(app).dataDisks[0].serial}`;
            const mounted = guest(app, `mkfs.ext4 -q -F ${dev} && mkdir -p /srv/scratch && mount ${dev} /srv/scratch`);
            expect(mounted.status, mounted.stderr).to.equal(0);
            const r = doctor();
            expect(r.status, r.stderr).to.equal(0);
            expect(r.stdout).to.match(/app-1 +volume scratch write IOPS +ok +\d+/);
            expect(r.stdout).to.match(/gw-1 +latency to app-1 +ok +[\d.]+ ms/);
            for (const h of hosts) {
                expect(r.stdout).to.match(new RegExp(`${h.name} +file ${SSHD_DROP_IN} +ok +as pushed`));
            }
        });

        it("reports a file changed by hand on a VM and exits non-zero", () => {
            const edited = guest(hostNamed("app-1"), `echo 'PermitRootLogin yes' >>${SSHD_DROP_IN}`);
            expect(edited.status, edited.stderr).to.equal(0);
            const r = doctor();
            expect(r.status).to.equal(1);
            expect(r.stdout).to.match(new RegExp(`app-1 +file ${SSHD_DROP_IN} +PROBLEM +changed since the last pulumi up`));
            expect(r.stdout).to.match(new RegExp(`gw-1 +file ${SSHD_DROP_IN} +ok +as pushed`));
            expect(r.stdout).to.include("1 problem(s)");
        });
    });

    // Nested suites run after the tests above and in order, so removal comes last.
    describe("removal", () => {
        it("removes every domain, overlay and seed, and keeps only protected volumes", () => {
            for (const host of hosts) {
                const r = lab.onHypervisor(removeInstanceScript(host, hv.imagePoolPath, hv.nvmePoolPath));
                expect(r.status, r.stderr).to.equal(0);
            }
            const left = lab.onHypervisor([
                `virsh -q list --all --name | grep -E '^(${hosts.map(h => h.name).join("|")})$' || true`,
                `ls ${hv.imagePoolPath}`,
                `ls ${hv.nvmePoolPath}`,
            ].join("\n"));
            const kept = hosts.flatMap(h => h.dataDisks.filter(d => d.protect).map(d => `${h.name}-${d.name}.qcow2`));
            expect(left.stdout.split("\n").filter(Boolean).sort()).to.deep.equal(
                [config.baseImage, config.baseInitrd!, config.baseKernel!, ...kept].sort());
        });
    });
});
