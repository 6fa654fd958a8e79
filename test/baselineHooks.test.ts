/**
 * The baseline release, run for real: the very script RoleRelease pushes, with the real
 * nft, kernel and socat, in network namespaces this test creates. The guest namespace
 * sees /etc through an overlay whose upper layer is a scratch directory, and scratch
 * files in place of the global kernel values the baseline sets (fs.file-max and the
 * hardening's kernel.*, fs.* and dev.*), so neither the host's files nor its global
 * kernel values change; per-namespace net.* values are the kernel's own.
 */
import { expect } from "chai";
import { ChildProcessWithoutNullStreams, execFileSync, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { planVlan } from "../components/compute/network";
import {
    BASELINE_HOOKS, BASELINE_ROLE, BASELINE_STATIC_FILES, baselineContext, hardeningSysctlSettings, renderBaselineFiles,
} from "../components/platform/hostBaseline";
import { ReleaseFile, releaseDigest, releaseScript } from "../components/platform/release";
import { TEMPLATES_DIR } from "../components/render";
import { loadStackFile } from "../render/stackConfig";
import { AS_ROOT, requireHost } from "./hostNeeds";

const GUEST = `nfbase-test-g-${process.pid}`;
const PEER = `nfbase-test-p-${process.pid}`;
const BOOT = `nfbase-test-b-${process.pid}`;
const GUEST_ADDRESS = "10.110.0.30"; // app-1 of the lab stack: hello on 8081, audit on 8082
const HYPERVISOR = "10.110.0.1";     // the VLAN's bridge address, the only SSH source
const VLAN_PEER = "10.110.0.99";     // any other host on the VLAN
const LISTEN = [22, 8081, 8082, 5432, 9999];

const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: "utf8", stdio: "pipe" });
const procPath = (key: string) => `/proc/sys/${key.replace(/\./g, "/")}`;
const sysctlIn = (ns: string, key: string) => run("ip", ["netns", "exec", ns, "cat", procPath(key)]).trim();

/**
 * Global kernel values the baseline sets, each with a scratch file's first content: the
 * least strict of a hardening value's ranks, so the test sees it moved. Those this
 * kernel lacks are left out: the hooks find them missing, as a guest's kernel would.
 */
const GLOBAL_KEYS: [string, string][] = [
    ["fs.file-max", "100000"],
    ...hardeningSysctlSettings().filter(s => !s.key.startsWith("net.")).map(s => [s.key, s.merge.split(" ")[1]] as [string, string]),
].filter(([key]) => fs.existsSync(procPath(key))) as [string, string][];

describe(`baseline hooks on a real kernel ${AS_ROOT}`, function () {
    this.timeout(60000);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nfbase-hooks-"));
    const upper = path.join(tmp, "upper");
    const scratch = (key: string) => path.join(tmp, `sysctl-${key}`);
    const listeners: ChildProcessWithoutNullStreams[] = [];
    let held: ChildProcessWithoutNullStreams;
    let files: ReleaseFile[];
    const host: Record<string, string> = {};
    const hostKeys = ["net.core.somaxconn", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_tw_reuse", ...GLOBAL_KEYS.map(([k]) => k)];

    /** Runs bash in a namespace, with /etc and the global kernel values redirected to the scratch directory. */
    function inNs(ns: string, script: string, input?: string, env: Record<string, string> = {}) {
        const mounts = [`mount -t overlay nfbase-test -o lowerdir=/etc,upperdir=${upper},workdir=${tmp}/work /etc`,
            ...GLOBAL_KEYS.map(([key]) => `mount --bind ${scratch(key)} ${procPath(key)}`)].join(" && ") + " || exit 97";
        return spawnSync("ip", ["netns", "exec", ns, "unshare", "-m", "--propagation", "private", "bash", "-c",
            `${mounts}\n${script}`], { input, encoding: "utf8", timeout: 30000, env: { ...process.env, ...env } });
    }

    const apply = (release: ReleaseFile[], env: Record<string, string> = {}) =>
        inNs(GUEST, "bash -s", releaseScript(BASELINE_ROLE, BASELINE_HOOKS, release), env);

    /** True when a new TCP connection from `from` gets its bytes echoed back. */
    function connects(from: string, port: number): boolean {
        const r = spawnSync("ip", ["netns", "exec", PEER, "socat", "-T", "3", "-",
            `TCP:${GUEST_ADDRESS}:${port},bind=${from},connect-timeout=2`], { input: "ping\n", encoding: "utf8", timeout: 10000 });
        return r.status === 0 && r.stdout === "ping\n";
    }

    /** Sends a line over the held connection and waits for its echo. */
    function echoes(line: string): Promise<boolean> {
        return new Promise(resolve => {
            let got = "";
            const timer = setTimeout(() => { held!.stdout.off("data", onData); resolve(false); }, 3000);
            const onData = (chunk: Buffer) => {
                got += chunk.toString();
                if (got.includes(line)) {
                    clearTimeout(timer);
                    held!.stdout.off("data", onData);
                    resolve(true);
                }
            };
            held!.stdout.on("data", onData);
            held!.stdin.write(`${line}\n`);
        });
    }

    const upperFile = (p: string) => fs.readFileSync(path.join(upper, p), "utf8");

    before(async function () {
        requireHost(this, {
            root: "it applies sysctl and nftables in namespaces, over bind mounts",
            programs: { nft: "apt-get install nftables", socat: "apt-get install socat",
                unshare: "apt-get install util-linux", ss: "apt-get install iproute2" },
        });
        for (const key of hostKeys) {
            host[key] = fs.readFileSync(procPath(key), "utf8");
        }
        fs.mkdirSync(upper);
        fs.mkdirSync(path.join(tmp, "work"));
        for (const [key, first] of GLOBAL_KEYS) {
            fs.writeFileSync(scratch(key), `${first}\n`);
        }
        for (const ns of [GUEST, PEER, BOOT]) {
            run("ip", ["netns", "add", ns]);
            run("ip", ["-n", ns, "link", "set", "lo", "up"]);
        }
        run("ip", ["-n", GUEST, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", PEER]);
        run("ip", ["-n", GUEST, "addr", "add", `${GUEST_ADDRESS}/24`, "dev", "eth0"]);
        run("ip", ["-n", PEER, "addr", "add", `${HYPERVISOR}/24`, "dev", "eth0"]);
        run("ip", ["-n", PEER, "addr", "add", `${VLAN_PEER}/24`, "dev", "eth0"]);
        for (const ns of [GUEST, PEER]) {
            run("ip", ["-n", ns, "link", "set", "eth0", "up"]);
        }
        // Per-namespace values a raise-only baseline must respect: one already above the wanted value.
        run("ip", ["netns", "exec", GUEST, "sysctl", "-q", "-w", "net.core.somaxconn=70000"]);
        for (const port of LISTEN) {
            // Port 22 stands in for sshd: role_check wants something listening there.
            listeners.push(spawn("ip", ["netns", "exec", GUEST, "socat", `TCP-LISTEN:${port},fork,reuseaddr`, "EXEC:cat"],
                { detached: true }));
        }
        for (let i = 0; i < 50 && run("ip", ["netns", "exec", GUEST, "ss", "-Hltn"]).trim().split("\n").length < LISTEN.length; i++) {
            await new Promise(r => setTimeout(r, 100));
        }
        const config = loadStackFile("lab").config;
        const app = config.hosts.find(h => h.name === "app-1")!;
        files = renderBaselineFiles(baselineContext(app, config, config.vlans.map(planVlan)));
    });

    after(() => {
        held?.kill();
        for (const l of listeners) {
            try {
                process.kill(-l.pid!); // the listener and the children it forked per connection
            } catch { /* already gone */ }
        }
        for (const ns of [GUEST, PEER, BOOT]) {
            spawnSync("ip", ["netns", "del", ns]);
        }
        fs.rmSync(tmp, { recursive: true, force: true });
    });

    it("before the baseline, every listener answers anyone on the VLAN", async () => {
        for (const port of LISTEN) {
            expect(connects(VLAN_PEER, port), `port ${port}`).to.equal(true);
        }
        // The session that applies the first baseline: from the jump host to sshd. The kernel
        // tracks no connection before a ruleset asks it to, so this one is picked up mid-stream.
        held = spawn("ip", ["netns", "exec", PEER, "socat", "-", `TCP:${GUEST_ADDRESS}:22,bind=${HYPERVISOR}`]);
        expect(await echoes("before")).to.equal(true);
    });

    it("applies the release: validated by nft, switched, activated and checked", () => {
        const r = apply(files);
        expect(r.stderr).to.equal("");
        expect(r.status).to.equal(0);
        expect(r.stdout).to.equal(`baseline: release ${releaseDigest(files)} live\n`);
    });

    it("keeps the connection that was open while the firewall was applied", async () => {
        expect(await echoes("after")).to.equal(true);
    });

    const matrix: [string, number, boolean][] = [
        [HYPERVISOR, 22, true], [VLAN_PEER, 22, false], [VLAN_PEER, 8081, true], [VLAN_PEER, 8082, true],
        [VLAN_PEER, 5432, false], [VLAN_PEER, 9999, false],
    ];
    for (const [from, port, open] of matrix) {
        it(`${open ? "lets in" : "drops"} a new connection from ${from} to port ${port}`, () => {
            expect(connects(from, port)).to.equal(open);
        });
    }

    it("raises kernel values, never lowers one, and records what is in effect", () => {
        expect(sysctlIn(GUEST, "net.core.somaxconn")).to.equal("70000");
        expect(sysctlIn(GUEST, "net.ipv4.tcp_max_syn_backlog")).to.equal("8192");
        expect(sysctlIn(GUEST, "net.ipv4.ip_local_port_range")).to.equal("1024\t65535");
        expect(sysctlIn(GUEST, "net.ipv4.tcp_tw_reuse")).to.equal("1");
        expect(sysctlIn(GUEST, "net.ipv4.ip_local_reserved_ports")).to.equal("8081-8082,8301,8500-8502,8600");
        expect(fs.readFileSync(scratch("fs.file-max"), "utf8").trim()).to.equal("2097152");
        // Connection tracking loads at boot before the file below is applied.
        expect(upperFile("modules-load.d/60-nordfleet.conf")).to.equal("nf_conntrack\n");
        const effective = upperFile("sysctl.d/60-nordfleet.conf");
        expect(effective.split("\n").slice(1).join("\n")).to.equal([
            "net.ipv4.tcp_tw_reuse = 1",
            "net.ipv4.ip_local_reserved_ports = 8081-8082,8301,8500-8502,8600",
            "net.ipv4.ip_local_port_range = 1024 65535",
            "net.core.somaxconn = 70000",
            "net.ipv4.tcp_max_syn_backlog = 8192",
            "# net.core.netdev_max_backlog: not in this kernel", // global: invisible in a network namespace
            "# net.netfilter.nf_conntrack_max: read-only here", // global: the host's, read-only in a namespace
            "# net.netfilter.nf_conntrack_buckets: read-only here",
            "fs.file-max = 2097152",
            ...hardeningSysctlSettings().map(s => s.key === "net.core.bpf_jit_harden" || !fs.existsSync(procPath(s.key))
                ? `# ${s.key}: not in this kernel` // bpf_jit_harden: global, invisible in a network namespace
                : `${s.key} = ${s.value}`),
            "",
        ].join("\n"));
    });

    it("makes the kernel's hardening values stricter", () => {
        for (const s of hardeningSysctlSettings().filter(h => GLOBAL_KEYS.some(([key]) => key === h.key))) {
            expect(fs.readFileSync(scratch(s.key), "utf8").trim(), s.key).to.equal(s.value);
        }
        expect(sysctlIn(GUEST, "net.ipv4.conf.all.accept_redirects")).to.equal("0");
        expect(sysctlIn(GUEST, "net.ipv4.conf.default.log_martians")).to.equal("1");
    });

    it("refuses the unused modules and turns core dumps off", () => {
        expect(upperFile("modprobe.d/60-nordfleet.conf")).to.match(/^install dccp \/bin\/true$/m);
        expect(upperFile("systemd/coredump.conf.d/60-nordfleet.conf")).to.include("Storage=none\nProcessSizeMax=0\n");
        expect(upperFile("security/limits.d/60-nordfleet.conf")).to.match(/^\* +hard +core +0$/m);
    });

    it("keeps a persistent, bounded journal that lets a daemon's burst through", () => {
        expect(upperFile("systemd/journald.conf.d/60-nordfleet.conf")).to.include(
            "Storage=persistent\nSystemMaxUse=512M\nSystemKeepFree=1G\nRateLimitIntervalSec=30s\nRateLimitBurst=50000\n");
    });

    it("merges each kind of value so that nothing goes down", () => {
        const cases: [string, string, string, string][] = [
            ["max", "4096", "65535", "65535"],
            ["max", "70000", "65535", "70000"],
            ["range", "32768 60999", "1024 65535", "1024 65535"],
            ["range", "1024 50000", "2048 65535", "1024 65535"],
            ["rank 0 2 1", "2", "1", "1"],
            ["rank 0 2 1", "1", "1", "1"],
            ["rank 0 2 1", "0", "1", "1"],
            ["rank 0 2 1", "3", "1", "3"],
            // Hardening: a stricter value already set, or one the ranks do not list, is kept.
            ["rank 1 2 0", "2", "0", "0"],
            ["rank 1 2 0", "0", "0", "0"],
            ["rank 0 1", "3", "1", "3"],
            ["ports", "", "8081", "8081"],
            ["ports", "5000", "8081", "5000,8081"],
        ];
        for (const [merge, cur, want, expected] of cases) {
            const out = run("bash", ["-c", `source ${path.join(TEMPLATES_DIR, BASELINE_HOOKS)} && bl_merge "$@"`, "-", merge, cur, want]);
            expect(out, `${merge}: ${cur} with ${want}`).to.equal(`${expected}\n`);
        }
    });

    it("writes the open-file limits, the boot-time firewall and enables it", () => {
        expect(upperFile("security/limits.d/60-nordfleet.conf")).to.match(/^\* +soft +nofile +1048576$/m);
        for (const unit of ["nginx.service", "nordfleet-postgres.service", "rabbitmq-server.service", "consul.service"]) {
            expect(upperFile(`systemd/system/${unit}.d/60-nordfleet.conf`)).to.include("LimitNOFILE=1048576");
        }
        expect(upperFile("nftables.conf")).to.include('include "/etc/nordfleet/baseline/current/nftables.conf"');
        expect(fs.readlinkSync(path.join(upper, "systemd/system/sysinit.target.wants/nftables.service")))
            .to.match(/\/nftables\.service$/);
        expect(fs.readlinkSync(path.join(upper, "nordfleet/baseline/current"))).to.equal(`releases/${releaseDigest(files)}`);
    });

    it("sets sshd's algorithms and hardening, and sshd accepts its whole configuration with them", () => {
        expect(upperFile("ssh/sshd_config.d/20-nordfleet-crypto.conf"))
            .to.equal(files.find(f => f.path === "sshd-crypto.conf")!.content);
        expect(upperFile("ssh/sshd_config.d/21-nordfleet-hardening.conf"))
            .to.equal(files.find(f => f.path === "sshd-hardening.conf")!.content);
        const r = inNs(GUEST, "/usr/sbin/sshd -T -f /etc/ssh/sshd_config -C user=root,host=h,addr=10.110.0.1");
        expect(r.status, r.stderr).to.equal(0);
        const offered = r.stdout.split("\n").filter(l => /^(kexalgorithms|ciphers|macs|hostkeyalgorithms) /.test(l));
        expect(offered).to.have.length(4);
        expect(offered.join("\n")).to.match(/^kexalgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256,/m);
        expect(offered.join("\n")).to.not.match(/nistp|sha1|umac-64|cbc/);
        // In effect, whatever the distribution's sshd_config says further down.
        for (const setting of ["allowtcpforwarding no", "allowagentforwarding no", "x11forwarding no", "maxauthtries 3",
            "loglevel VERBOSE", "compression no", "clientaliveinterval 300", "tcpkeepalive no"]) {
            expect(r.stdout.split("\n"), setting).to.include(setting);
        }
    });

    it("rejects a release whose sshd algorithms sshd refuses, and keeps the live ones", () => {
        const broken = files.map(f => f.path !== "sshd-crypto.conf" ? f
            : { ...f, content: f.content.replace("Ciphers ", "Ciphers rot13-cbc,") });
        const r = apply(broken);
        expect(r.status).to.equal(1);
        expect(r.stderr).to.include("Bad SSH2 cipher spec");
        expect(upperFile("ssh/sshd_config.d/20-nordfleet-crypto.conf")).to.not.include("rot13");
    });

    it("leaves the system's own sshd, modules and core dumps to a release without those files, as after a rollback to one", () => {
        const installed = ["ssh/sshd_config.d/20-nordfleet-crypto.conf", "ssh/sshd_config.d/21-nordfleet-hardening.conf",
            "modprobe.d/60-nordfleet.conf", "systemd/coredump.conf.d/60-nordfleet.conf",
            "systemd/journald.conf.d/60-nordfleet.conf"];
        const older = files.filter(f => !BASELINE_STATIC_FILES.includes(f.path));
        const r = apply(older);
        expect(r.status, r.stderr).to.equal(0);
        expect(installed.filter(f => fs.existsSync(path.join(upper, f)))).to.deep.equal([]);
        expect(apply(files).status).to.equal(0);
        expect(installed.filter(f => fs.existsSync(path.join(upper, f)))).to.deep.equal(installed);
        expect(upperFile("ssh/sshd_config.d/20-nordfleet-crypto.conf")).to.include("KexAlgorithms ");
    });

    it("loads at boot: /etc/nftables.conf and the effective sysctl file, in a fresh namespace", () => {
        const r = inNs(BOOT, "nft -f /etc/nftables.conf && nft list table inet nordfleet && " +
            "sysctl -p /etc/sysctl.d/60-nordfleet.conf && cat /proc/sys/net/ipv4/tcp_max_syn_backlog");
        expect(r.stderr).to.equal("");
        expect(r.status).to.equal(0);
        expect(r.stdout).to.include("policy drop;");
        expect(r.stdout.trim().split("\n").pop()).to.equal("8192");
    });

    it("converges when the same release is applied again", () => {
        const r = apply(files);
        expect(r.status, r.stderr).to.equal(0);
        expect(r.stdout).to.equal(`baseline: release ${releaseDigest(files)} live\n`);
        expect(connects(VLAN_PEER, 9999)).to.equal(false);
        expect(connects(VLAN_PEER, 8081)).to.equal(true);
    });

    it("rejects a release whose firewall nft refuses, and keeps the live one", () => {
        const broken = files.map(f => f.path !== "nftables.conf" ? f
            : { ...f, content: f.content.replace("tcp dport 8081", "tcp dport 99999") });
        const r = apply(broken);
        expect(r.status).to.equal(1);
        expect(r.stderr).to.include(`baseline release ${releaseDigest(broken)} rejected; the live release (releases/${releaseDigest(files)}) is unchanged`);
        expect(fs.readlinkSync(path.join(upper, "nordfleet/baseline/current"))).to.equal(`releases/${releaseDigest(files)}`);
        expect(connects(VLAN_PEER, 8081)).to.equal(true);
        expect(connects(VLAN_PEER, 9999)).to.equal(false);
    });

    it("refuses a firewall that would shut out the SSH client applying it", () => {
        const r = apply(files, { SSH_CONNECTION: `${VLAN_PEER} 40000 ${GUEST_ADDRESS} 22` });
        expect(r.status).to.equal(1);
        expect(r.stderr).to.include(`SSH (port 22) would not accept new connections from ${VLAN_PEER}`);
        expect(apply(files, { SSH_CONNECTION: `${HYPERVISOR} 40000 ${GUEST_ADDRESS} 22` }).status).to.equal(0);
    });

    it("closing a port in a new release keeps the connections already open on it", async () => {
        held.kill();
        held = spawn("ip", ["netns", "exec", PEER, "socat", "-", `TCP:${GUEST_ADDRESS}:8081,bind=${VLAN_PEER}`]);
        expect(await echoes("open")).to.equal(true);
        const config = loadStackFile("lab").config;
        const app = { ...config.hosts.find(h => h.name === "app-1")!, services: ["audit"] };
        const closed = renderBaselineFiles(baselineContext(app, config, config.vlans.map(planVlan)));
        const r = apply(closed);
        expect(r.status, r.stderr).to.equal(0);
        expect(connects(VLAN_PEER, 8081)).to.equal(false);
        expect(await echoes("still open")).to.equal(true);
    });

    it("left the host alone: its kernel values, its files and its own ruleset", () => {
        for (const key of hostKeys) {
            expect(fs.readFileSync(procPath(key), "utf8"), key).to.equal(host[key]);
        }
        expect(fs.existsSync("/etc/sysctl.d/60-nordfleet.conf")).to.equal(false);
        expect(fs.existsSync("/etc/modules-load.d/60-nordfleet.conf")).to.equal(false);
        expect(fs.existsSync("/etc/nordfleet/baseline")).to.equal(false);
        expect(run("nft", ["list", "tables"])).to.not.include("nordfleet");
    });
});
