import { expect } from "chai";
import * as pulumi from "@pulumi/pulumi";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { isSecretValue, recorded, reveal, settle, valueOf, mockLedger, releaseScriptOf } from "./mocks";
import { labConfig } from "./fixtures";
import { AS_ROOT, requireHost } from "./hostNeeds";
import { parseFleetConfig } from "../config/load";
import { FleetConfig } from "../config/types";
import { planVlan } from "../components/compute/network";
import {
    baselineContext, compressPorts, FirewallRule, firewallRules, HostBaseline, nftStatements, renderBaselineFiles,
    servicePorts, sysctlSettings, hardeningSysctlSettings,
} from "../components/platform/hostBaseline";
import { loadStackFile } from "../render/stackConfig";

type Row = [port: number, proto: string, from: string];

/** A rule as one comparable row: port, protocol and its sources. */
const row = (r: FirewallRule): Row => [r.port, r.proto, r.from === "any" ? "any" : r.from.join(" ")];

function rulesOf(config: FleetConfig, hostName: string): Row[] {
    const host = config.hosts.find(h => h.name === hostName)!;
    return firewallRules(host, config, config.vlans.map(planVlan)).map(row);
}

const ssh = (bridge: string): Row => [22, "tcp", bridge];
const gossip = (cidr: string): Row[] => [[8301, "tcp", cidr], [8301, "udp", cidr]];

describe("HostBaseline firewall rules", () => {
    const lab = loadStackFile("lab").config;
    const prod = loadStackFile("prod").config;
    const labVlan = "10.110.0.0/24";
    const prodVlan = "10.110.0.0/22";
    const prodApps = "10.110.1.10 10.110.1.11 10.110.1.12";

    const cases: { stack: string; config: FleetConfig; host: string; want: Row[] }[] = [
        { stack: "lab", config: lab, host: "gw-1", want: [
            ssh("10.110.0.1"), ...gossip(labVlan), [80, "tcp", "any"], [443, "tcp", "any"]] },
        { stack: "lab", config: lab, host: "consul-1", want: [
            ssh("10.110.0.1"), ...gossip(labVlan), [8300, "tcp", labVlan]] },
        { stack: "lab", config: lab, host: "app-1", want: [
            ssh("10.110.0.1"), ...gossip(labVlan), [8081, "tcp", labVlan], [8082, "tcp", labVlan]] },
        { stack: "lab", config: lab, host: "app-2", want: [ssh("10.110.0.1"), ...gossip(labVlan), [8081, "tcp", labVlan]] },
        { stack: "lab", config: lab, host: "db-1", want: [
            ssh("10.110.0.1"), ...gossip(labVlan), [5432, "tcp", "10.110.0.30 10.110.0.31"]] },
        { stack: "lab", config: lab, host: "mq-1", want: [
            ssh("10.110.0.1"), ...gossip(labVlan), [5671, "tcp", "10.110.0.30 10.110.0.31"]] },
        { stack: "lab", config: lab, host: "probe-1", want: [ssh("10.120.0.1"), ...gossip("10.120.0.0/24")] },
        { stack: "prod", config: prod, host: "gw-2", want: [
            ssh("10.110.0.1"), ...gossip(prodVlan), [80, "tcp", "any"], [443, "tcp", "any"]] },
        { stack: "prod", config: prod, host: "app-3", want: [
            ssh("10.110.0.1"), ...gossip(prodVlan), [8081, "tcp", prodVlan], [8082, "tcp", prodVlan]] },
        { stack: "prod", config: prod, host: "pg-1", want: [
            ssh("10.110.0.1"), ...gossip(prodVlan), [5432, "tcp", prodApps]] },
        { stack: "prod", config: prod, host: "mq-1", want: [
            ssh("10.110.0.1"), ...gossip(prodVlan), [5671, "tcp", prodApps]] },
    ];
    for (const c of cases) {
        it(`${c.stack} ${c.host}: exactly what its role serves`, () => {
            expect(rulesOf(c.config, c.host)).to.deep.equal(c.want);
        });
    }

    it("leaves the Consul WAN port closed on servers", () => {
        expect(rulesOf(prod, "consul-1").map(r => r[0])).to.not.include(8302);
    });

    it("opens PostgreSQL only to hosts of services that have a database", () => {
        const raw = labConfig();
        (raw.services as any[]).push({ name: "ledger", port: 8090, database: true });
        raw.backup = { url: "file:///var/lib/nordfleet/backup", site: "lab" };
        (raw.hosts as any[]).push({ name: "app-2", role: "service", vlan: "platform", address: "10.110.0.31", services: ["ledger"] });
        expect(rulesOf(parseFleetConfig(raw).config, "pg-1")).to.deep.include([5432, "tcp", "10.110.0.31"]);
        // The fixture's only service has no database: nobody may connect.
        expect(rulesOf(parseFleetConfig(labConfig()).config, "pg-1").map(r => r[0])).to.not.include(5432);
    });

    it("opens clustering ports between RabbitMQ hosts, never to a host itself", () => {
        const raw = labConfig();
        (raw.services as any[])[0].queue = true;
        for (const [name, address] of [["mq-1", "10.110.0.50"], ["mq-2", "10.110.0.51"]]) {
            (raw.hosts as any[]).push({ name, role: "rabbitmq", vlan: "platform", address });
        }
        expect(rulesOf(parseFleetConfig(raw).config, "mq-2")).to.deep.equal([
            ssh("10.110.0.1"), ...gossip(labVlan), [5671, "tcp", "10.110.0.30"],
            [4369, "tcp", "10.110.0.50"], [25672, "tcp", "10.110.0.50"],
        ]);
    });

    it("opens each blue/green version's port on the hosts that run it", () => {
        const service = { ...lab.services[0], versions: {
            blue: { port: 8081 }, green: { port: 9081, hosts: ["app-9"] },
        } };
        expect(servicePorts(service, "app-1")).to.deep.equal([{ port: 8081, label: "" }]);
        expect(servicePorts(service, "app-9")).to.deep.equal([{ port: 8081, label: "" }, { port: 9081, label: " (green)" }]);
    });

    it("writes one nft statement per address family", () => {
        expect(nftStatements({ port: 5432, proto: "tcp", from: ["10.0.0.5", "fd00::5"], why: "x" })).to.deep.equal([
            "ip saddr { 10.0.0.5 } tcp dport 5432 accept",
            "ip6 saddr { fd00::5 } tcp dport 5432 accept",
        ]);
        expect(nftStatements({ port: 443, proto: "tcp", from: "any", why: "x" })).to.deep.equal(["tcp dport 443 accept"]);
    });
});

describe("HostBaseline files", () => {
    const prod = loadStackFile("prod").config;
    const lab = loadStackFile("lab").config;
    const filesOf = (config: FleetConfig, name: string) =>
        renderBaselineFiles(baselineContext(config.hosts.find(h => h.name === name)!, config, config.vlans.map(planVlan)));
    const content = (config: FleetConfig, name: string, file: string) =>
        filesOf(config, name).find(f => f.path === file)!.content;

    it("wants the high-concurrency values, each with its reason and how it is raised", () => {
        const settings = sysctlSettings([5432, 8301]);
        expect(settings.map(s => [s.key, s.value, s.merge])).to.deep.equal([
            ["net.ipv4.tcp_tw_reuse", "1", "rank 0 2 1"],
            ["net.ipv4.ip_local_reserved_ports", "5432,8301", "ports"],
            ["net.ipv4.ip_local_port_range", "1024 65535", "range"],
            ["net.core.somaxconn", "65535", "max"],
            ["net.ipv4.tcp_max_syn_backlog", "8192", "max"],
            ["net.core.netdev_max_backlog", "16384", "max"],
            ["net.netfilter.nf_conntrack_max", "262144", "max"],
            ["net.netfilter.nf_conntrack_buckets", "65536", "max"],
            ["fs.file-max", "2097152", "max"],
        ]);
        const conf = content(prod, "pg-1", "sysctl.conf");
        expect(conf).to.not.include("tcp_tw_recycle");
        for (const s of settings) {
            expect(conf).to.match(new RegExp(`# \\S.*\\n# merge: ${s.merge}\\n${s.key.replace(/\./g, "\\.")} = `));
        }
    });

    it("reserves every port the host listens on, so the wider ephemeral range never takes one", () => {
        expect(content(prod, "pg-1", "sysctl.conf")).to.include("net.ipv4.ip_local_reserved_ports = 5432,8301,8500-8502,8600\n");
        // A single RabbitMQ node still listens on epmd's and its distribution port.
        expect(content(prod, "mq-1", "sysctl.conf")).to.include("net.ipv4.ip_local_reserved_ports = 4369,5671,8301,8500-8502,8600,25672\n");
        expect(compressPorts([8600, 8081, 8500, 8501, 8502, 8081])).to.equal("8081,8500-8502,8600");
    });

    it("raises open files for the daemons with drop-ins and limits.d", () => {
        const files = filesOf(lab, "app-1");
        expect(files.map(f => f.path)).to.deep.equal([
            "sysctl.conf", "nftables.conf", "limits.conf",
            "systemd/nginx.service.d/60-nordfleet.conf", "systemd/nordfleet-postgres.service.d/60-nordfleet.conf",
            "systemd/rabbitmq-server.service.d/60-nordfleet.conf", "systemd/consul.service.d/60-nordfleet.conf",
            "sshd-crypto.conf", "sshd-hardening.conf", "modprobe.conf", "coredump.conf", "journald.conf",
        ]);
        expect(files[3].content).to.match(/^\[Service\]\nLimitNOFILE=1048576\nLimitCORE=0\n$/m);
        expect(content(lab, "app-1", "limits.conf")).to.match(/^\* +hard +nofile +1048576$/m);
    });

    it("hardens the kernel: each value only made stricter, every key in the rendered file with its reason", () => {
        const settings = hardeningSysctlSettings();
        for (const s of settings) {
            const ranks = s.merge.split(" ");
            expect(ranks[0], s.key).to.equal("rank");
            // The wanted value is the strictest listed: nothing the hooks would replace it with.
            expect(ranks[ranks.length - 1], s.key).to.equal(s.value);
        }
        expect(settings.map(s => s.key)).to.include.members([
            "kernel.kptr_restrict", "fs.suid_dumpable", "net.ipv4.conf.all.accept_redirects",
            "net.ipv4.conf.default.accept_redirects", "net.ipv4.conf.all.send_redirects",
        ]);
        const conf = content(lab, "db-1", "sysctl.conf");
        for (const s of settings) {
            expect(conf).to.match(new RegExp(`# \\S.*\\n# merge: ${s.merge}\\n${s.key.replace(/\./g, "\\.")} = ${s.value}\\n`));
        }
    });

    it("turns core dumps off for sessions, the daemons and systemd-coredump", () => {
        expect(content(lab, "gw-1", "limits.conf")).to.match(/^\* +hard +core +0\nroot +hard +core +0$/m);
        expect(content(lab, "gw-1", "coredump.conf")).to.match(/^\[Coredump\]\nStorage=none\nProcessSizeMax=0$/m);
    });

    it("refuses modules of protocols, filesystems and buses a VM never uses, the way modprobe reads it", () => {
        const refused = content(lab, "gw-1", "modprobe.conf").split("\n").filter(l => l && !l.startsWith("#"));
        for (const line of refused) {
            expect(line).to.match(/^install [a-z0-9_-]+ \/bin\/true$/);
        }
        const modules = refused.map(l => l.split(" ")[1]);
        expect(modules).to.include.members(["dccp", "sctp", "rds", "tipc", "usb-storage", "firewire-core"]);
        if (spawnSync("modprobe", ["--version"]).status !== 0) {
            return; // kmod is not installed: apt-get install kmod
        }
        const file = path.join(os.tmpdir(), `nfbase-modprobe-${process.pid}.conf`);
        fs.writeFileSync(file, content(lab, "gw-1", "modprobe.conf"));
        try {
            for (const module of [...modules, "usb_storage"]) {
                const r = spawnSync("modprobe", ["--dry-run", "--verbose", "--config", file, module], { encoding: "utf8" });
                expect(`${r.status} ${r.stdout.trim()}`, module).to.equal("0 install /bin/true");
            }
        } finally {
            fs.rmSync(file);
        }
    });

    it("replaces its own table in one transaction and accepts established traffic before anything is dropped", () => {
        const nft = content(lab, "gw-1", "nftables.conf");
        expect(nft).to.match(/^table inet nordfleet\ndelete table inet nordfleet\n\ntable inet nordfleet \{/m);
        expect(nft).to.not.include("flush ruleset");
        const established = nft.indexOf("ct state established,related accept");
        expect(established).to.be.greaterThan(0);
        expect(established).to.be.lessThan(nft.indexOf("dport"));
        expect(nft).to.include("policy drop;");
    });

    describe(`every rendered firewall passes nft's own check ${AS_ROOT}`, function () {
        const ns = `nfbase-test-unit-${process.pid}`;
        let tmp: string;
        before(function () {
            requireHost(this, {
                root: "nft -c reads the kernel's netfilter state, in a network namespace of its own",
                programs: { nft: "apt-get install nftables" },
            });
            tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nfbase-nft-"));
            execFileSync("ip", ["netns", "add", ns]);
        });
        after(() => {
            if (tmp) {
                fs.rmSync(tmp, { recursive: true, force: true });
                spawnSync("ip", ["netns", "del", ns]);
            }
        });
        for (const stack of ["lab", "prod"]) {
            it(`${stack}: nft -c -f accepts every host's ruleset`, () => {
                const config = loadStackFile(stack).config;
                for (const host of config.hosts) {
                    const file = path.join(tmp, `${stack}-${host.name}.nft`);
                    fs.writeFileSync(file, content(config, host.name, "nftables.conf"));
                    execFileSync("ip", ["netns", "exec", ns, "nft", "-c", "-f", file], { stdio: "pipe" });
                }
            });
        }
        it("and rejects a broken one", () => {
            const file = path.join(tmp, "broken.nft");
            fs.writeFileSync(file, content(lab, "gw-1", "nftables.conf").replace("tcp dport 443", "tcp dport 99999"));
            expect(() => execFileSync("ip", ["netns", "exec", ns, "nft", "-c", "-f", file], { stdio: "pipe" })).to.throw();
        });
    });
});

describe("HostBaseline (mocked engine)", () => {
    it("pushes the baseline release through the guest connection, as a secret", async () => {
        recorded.length = 0;
        const config = loadStackFile("lab").config;
        const host = config.hosts.find(h => h.name === "app-1")!;
        const ledger = mockLedger("app-1");
        const platform = new pulumi.ComponentResource("nordfleet:platform:Platform", "nf");
        const baseline = new HostBaseline("nf-app-1-baseline", {
            host, config, vlans: config.vlans.map(planVlan),
            connection: { host: host.address, user: "root", proxy: { host: "10.199.0.1" } },
            machine: "machine-1",
            ledger,
        }, { parent: platform });
        ledger.write("nf-app-1-ledger", platform);
        const release = await valueOf(baseline.release);
        await settle();
        expect(release).to.match(/^[0-9a-f]{16}$/);
        expect(recorded.map(r => [r.type, r.name])).to.deep.equal([
            ["nordfleet:platform:Platform", "nf"],
            ["command:remote:CopyToRemote", "nf-app-1-baseline-release-bundle"],
            ["command:remote:Command", "nf-app-1-baseline-release-apply"],
            ["command:remote:CopyToRemote", "nf-app-1-ledger-upload"],
            ["command:remote:Command", "nf-app-1-ledger"],
        ]);
        // The record goes to the hypervisor, in the guest's ledger, digests only: nothing in it is secret.
        const [ledgerUpload, ledgerInstall] = [recorded[3].inputs, recorded[4].inputs];
        expect((reveal(ledgerUpload.connection) as { host: string }).host).to.equal("10.199.0.1");
        const ledgerText = fs.readFileSync(await ledgerUpload.source.path, "utf8");
        // The release's resources sit right under the platform: no component of their own.
        expect(ledgerText).to.include(
            '"urn":"urn:pulumi:unit::nordfleet::nordfleet:platform:Platform$command:remote:Command::nf-app-1-baseline-release-apply"');
        expect(ledgerText).to.include(`"role":"baseline","release":"${release}"`)
            .and.include('"path":"/etc/nordfleet/baseline/current/nftables.conf"');
        expect(ledgerInstall.create).to.include("'/var/lib/nordfleet/pushed/app-1/releases.json'");
        expect(ledgerInstall.delete).to.equal("rm -f '/var/lib/nordfleet/pushed/app-1/releases.json'");
        // The script reaches the guest sealed, as a file the state knows by its hash; the
        // command that opens it holds the guest's release key, a secret, and nothing else.
        const upload = recorded[1].inputs;
        expect(upload.source).to.be.an.instanceOf(pulumi.asset.FileAsset);
        expect(await upload.source.path).to.match(/\/\.nordfleet\/bundles\/unit\/app-1\/baseline$/);
        expect(upload.remotePath).to.match(/^\/var\/lib\/nordfleet\/bundles\/baseline\.[0-9a-f]{20}$/);
        expect(upload.triggers).to.deep.equal(["machine-1"]);
        const apply = recorded[2].inputs;
        expect(isSecretValue(apply.stdin)).to.equal(true);
        expect(reveal(apply.stdin)).to.equal("test-release-key-app-1\n");
        expect(apply.create).to.include(upload.remotePath);
        const script = releaseScriptOf(apply);
        expect(script).to.match(/^SSH_PORT='22'\nROLE='baseline'\nRELEASE='[0-9a-f]{16}'\n/);
        expect(script).to.include("role_validate()");
        expect(script).to.include("'nf_file' 'nftables.conf' '0644' 'root:root'");
        expect(apply.triggers).to.deep.equal(["machine-1"]);
        expect(baseline.firewall.map(r => r.port)).to.deep.equal([22, 8301, 8301, 8081, 8082]);
    });
});
