import { expect } from "chai";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseFleetConfig, RawConfig } from "../config/load";
import { FleetConfig } from "../config/types";
import {
    aclSeedFiles, ConsulSecrets, deriveConsulSecrets, SECRETS_TOOL, consulCertificateNames, consulDatacenter, consulReleaseFiles, consulServerAddresses,
    renderAclConfig, renderAgentConfig, renderServiceDefinition,
} from "../components/platform/consulCluster";
import { labConfig } from "./fixtures";
import { releaseScriptOf } from "./mocks";
import { requireHost } from "./hostNeeds";

const CONSUL_BIN = process.env.NORDFLEET_CONSUL
    ?? path.join(process.env.NORDFLEET_CACHE ?? path.join(os.homedir(), ".cache", "nordfleet"), "consul-1.14.11", "consul");

/** The lab fixture with three servers, as prod would have. */
function threeServers(): FleetConfig {
    const raw: RawConfig = labConfig();
    raw.hosts = [
        ...(raw.hosts as any[]).filter(h => h.role !== "consul-server"),
        ...[1, 2, 3].map(i => ({ name: `consul-${i}`, role: "consul-server", vlan: "platform", address: `10.110.0.2${i}`, memoryMb: 512 })),
    ];
    return parseFleetConfig(raw).config;
}

const SECRETS: ConsulSecrets = {
    gossipKey: "R09TU0lQLUtFWS1GT1ItVEVTVFMtT05MWS0zMi1CWVQ=",
    managementToken: "secret-management",
    dnsToken: "secret-dns",
    agentTokens: Object.fromEntries(["gw-1", "consul-1", "consul-2", "consul-3", "app-1", "pg-1", "probe-1"].map(n => [n, `secret-agent-${n}`])),
    recoveryTokens: Object.fromEntries(["gw-1", "consul-1", "consul-2", "consul-3", "app-1", "pg-1", "probe-1"].map(n => [n, `secret-recovery-${n}`])),
    serviceTokens: { hello: "secret-service-hello" },
};
const TLS = { caPem: "CA PEM\n", certPem: "CERT PEM\n", keyPem: "secret-key-pem\n" };

function filesOf(config: FleetConfig, hostName: string, seedsAcl = false) {
    const host = config.hosts.find(h => h.name === hostName)!;
    return consulReleaseFiles({ config, datacenter: "prod", host, secrets: SECRETS, tls: TLS, seedsAcl });
}
const content = (files: { path: string; content: string }[], p: string) => files.find(f => f.path === p)!.content;

describe("consul rendering", () => {
    const config = threeServers();

    it("names the datacenter after the stack", () => {
        for (const [stack, dc] of [["prod", "prod"], ["lab", "lab"], ["Prod.Oslo", "prod-oslo"], ["eu_north", "eu_north"], ["...", "dc1"]]) {
            expect(consulDatacenter(stack), stack).to.equal(dc);
        }
    });

    it("gives servers server.<dc>.consul and agents only client names", () => {
        const server = consulCertificateNames(config.hosts.find(h => h.name === "consul-2")!, "prod");
        expect(server.dnsNames).to.deep.equal(["server.prod.consul", "consul-2.server.prod.consul", "localhost"]);
        expect(server.ipAddresses).to.deep.equal(["127.0.0.1", "10.110.0.22"]);
        const agent = consulCertificateNames(config.hosts.find(h => h.name === "app-1")!, "prod");
        expect(agent.dnsNames).to.deep.equal(["client.prod.consul", "app-1.client.prod.consul", "localhost"]);
        expect(agent.dnsNames.join(" ")).to.not.include("server.");
    });

    it("renders a server: bootstrap_expect, retry_join of every server, VLAN bind, API on loopback only", () => {
        const text = renderAgentConfig({ datacenter: "prod", node: "consul-1", address: "10.110.0.21", server: true,
            serverCount: 3, serverAddresses: consulServerAddresses(config), gossipKey: SECRETS.gossipKey, raftMultiplier: 1 });
        for (const line of [
            'datacenter = "prod"', 'node_name = "consul-1"', "server = true", "bootstrap_expect = 3",
            'bind_addr = "10.110.0.21"', 'advertise_addr = "10.110.0.21"', 'client_addr = "127.0.0.1"',
            'retry_join = ["10.110.0.21", "10.110.0.22", "10.110.0.23"]', `encrypt = "${SECRETS.gossipKey}"`,
            "http = -1", "https = 8501", "dns = 8600", "enable_script_checks = false", "enable_local_script_checks = false",
            "disable_remote_exec = true", "  raft_multiplier = 1",
        ]) {
            expect(text).to.include(line);
        }
    });

    it("renders an agent without bootstrap_expect or raft settings; prod servers fail over at raft_multiplier 1", () => {
        const text = content(filesOf(config, "app-1"), "agent.hcl");
        expect(text).to.include("server = false").and.not.include("bootstrap_expect");
        expect(text).not.to.include("raft_multiplier");
        expect(content(filesOf(config, "consul-1"), "agent.hcl")).to.include(
            config.environment === "prod" ? "raft_multiplier = 1" : "raft_multiplier = 5");
        expect(text).to.include('retry_join = ["10.110.0.21", "10.110.0.22", "10.110.0.23"]');
    });

    it("puts initial_management on servers only; every node has its agent, recovery and default tokens", () => {
        expect(content(filesOf(config, "consul-1"), "acl.hcl")).to.include('initial_management = "secret-management"');
        const agent = content(filesOf(config, "app-1"), "acl.hcl");
        expect(agent).to.not.include("initial_management");
        expect(agent).to.include('default_policy = "deny"').and.include("enable_token_persistence = true")
            .and.include('agent = "secret-agent-app-1"').and.include('agent_recovery = "secret-recovery-app-1"')
            .and.include('default = "secret-dns"');
        expect(renderAclConfig({ agentRecovery: "r", agent: "a", default: "d" })).to.not.include("initial_management");
    });

    it("renders a service with an HTTP check on its health path and its own token", () => {
        const hello = config.services.find(s => s.name === "hello")!;
        expect(renderServiceDefinition(hello, "10.110.0.30", "tok")).to.equal([
            "service {", '  id = "hello"', '  name = "hello"', '  address = "10.110.0.30"', "  port = 8081", '  token = "tok"',
            "  check {", '    id = "hello-http"', '    name = "HTTP GET /healthz"', '    http = "http://10.110.0.30:8081/healthz"',
            '    method = "GET"', '    interval = "5s"', '    timeout = "2s"',
            "    # One slow answer does not take a replica out of DNS; this many failures in a row do.",
            "    failures_before_critical = 3", "  }", "}", "",
        ].join("\n"));
        expect(filesOf(config, "app-1").map(f => f.path)).to.include("service-hello.hcl");
        expect(filesOf(config, "gw-1").map(f => f.path).filter(p => p.startsWith("service-"))).to.deep.equal([]);
    });

    it("refuses a host that runs an undeclared service", () => {
        const host = { ...config.hosts.find(h => h.name === "app-1")!, services: ["nope"] };
        expect(() => consulReleaseFiles({ config, datacenter: "prod", host, secrets: SECRETS, tls: TLS, seedsAcl: false }))
            .to.throw('consul: host app-1 runs service "nope", which nordfleet:services does not declare');
    });

    it("keeps every file that holds a secret away from other users", () => {
        for (const host of ["consul-1", "app-1"]) {
            for (const f of filesOf(config, host, true)) {
                const secret = /secret-|R09TU0lQ/.test(f.content);
                const worldReadable = (parseInt(f.mode, 8) & 0o004) !== 0;
                expect(secret && worldReadable, `${host} ${f.path} ${f.mode}`).to.equal(false);
                if (f.path.startsWith("acl/")) {
                    expect([f.mode, f.owner], f.path).to.deep.equal(["0600", "root:root"]);
                }
            }
        }
    });

    it("ships the ACL seed to the seeding server only: DNS policy, node and service identities", () => {
        expect(filesOf(config, "consul-2").some(f => f.path.startsWith("acl/seed/"))).to.equal(false);
        expect(filesOf(config, "consul-2").map(f => f.path)).to.include("acl/management.token");
        expect(filesOf(config, "app-1").map(f => f.path)).to.not.include("acl/management.token");
        const seed = aclSeedFiles("prod", SECRETS);
        expect(JSON.parse(content(seed, "acl/seed/dns.json"))).to.deep.equal({ SecretID: "secret-dns",
            Description: "nordfleet: requests without a token (DNS)", Policies: [{ Name: "nordfleet-dns" }] });
        expect(JSON.parse(content(seed, "acl/seed/agent-app-1.json")).NodeIdentities)
            .to.deep.equal([{ NodeName: "app-1", Datacenter: "prod" }]);
        expect(JSON.parse(content(seed, "acl/seed/service-hello.json")).ServiceIdentities).to.deep.equal([{ ServiceName: "hello" }]);
        expect(content(seed, "acl/seed/service-hello.secret")).to.equal("secret-service-hello");
        expect(JSON.parse(content(seed, "acl/seed/management.json"))).to.deep.equal({ SecretID: "secret-management",
            Description: "nordfleet: management", Policies: [{ ID: "00000000-0000-0000-0000-000000000001" }] });
        expect(content(seed, "acl/seed/nordfleet-dns.rules")).to.match(/node_prefix "" \{\s+policy = "read"/)
            .and.match(/service_prefix "" \{\s+policy = "read"/).and.not.include("write");
    });

    it("gives the seeding server alone the gossip key as an API body and the tool that rotates and retires", () => {
        const seeder = filesOf(config, "consul-1", true);
        expect(JSON.parse(content(seeder, "keyring/primary.json"))).to.deep.equal({ Key: SECRETS.gossipKey });
        expect(seeder.find(f => f.path === SECRETS_TOOL)).to.include({ mode: "0700" });
        expect(content(seeder, SECRETS_TOOL)).to.include("def retire(").and.include("def use_key(");
        for (const host of ["consul-2", "app-1"]) {
            expect(filesOf(config, host).map(f => f.path), host).to.not.include.members(["keyring/primary.json", SECRETS_TOOL]);
        }
    });

    it("forwards .consul from 127.0.0.1:53 to the agent, and points resolv.conf there", () => {
        const files = filesOf(config, "gw-1");
        expect(content(files, "dnsmasq.conf")).to.include("listen-address=127.0.0.1\n")
            .and.include("server=/consul/127.0.0.1#8600\n").and.include("no-resolv\n");
        expect(content(files, "resolv.conf")).to.include("nameserver 127.0.0.1\nsearch service.consul\n");
        expect(content(files, "dns.hcl")).to.include("only_passing = true");
        expect(content(files, "dns.hcl")).to.include("use_cache = true")
            .and.match(/^use_streaming_backend = false$/m);
    });
});

describe("deriveConsulSecrets", () => {
    const nodes = ["consul-1", "app-1"];
    const a = deriveConsulSecrets("seed-a", nodes, ["hello"]);
    const all = (x: ConsulSecrets) => [x.gossipKey, x.managementToken, x.dnsToken,
        ...Object.values(x.agentTokens), ...Object.values(x.recoveryTokens), ...Object.values(x.serviceTokens)];

    it("gives the same seed the same secrets, and every secret its own value", () => {
        expect(deriveConsulSecrets("seed-a", nodes, ["hello"])).to.deep.equal(a);
        expect(new Set(all(a)).size).to.equal(all(a).length);
    });

    it("makes version 4 UUID tokens and a 32-byte base64 gossip key", () => {
        for (const token of all(a).slice(1)) {
            expect(token).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        }
        expect(Buffer.from(a.gossipKey, "base64")).to.have.length(32);
    });

    it("changes every secret when the seed changes, and none when a node is added", () => {
        const b = deriveConsulSecrets("seed-b", nodes, ["hello"]);
        expect(all(b).filter(v => all(a).includes(v))).to.deep.equal([]);
        const grown = deriveConsulSecrets("seed-a", [...nodes, "app-2"], ["hello"]);
        expect(grown.agentTokens["app-1"]).to.equal(a.agentTokens["app-1"]);
        expect(grown.gossipKey).to.equal(a.gossipKey);
    });
});

describe("consul validate on rendered releases", function () {
    this.timeout(60_000);
    let tmp = "";

    before(function () {
        requireHost(this, { programs: { [CONSUL_BIN]: "bash engine/setup.sh builds it" } });
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nfconsul-validate-"));
    });
    after(() => { if (tmp !== "") { fs.rmSync(tmp, { recursive: true, force: true }); } });

    const validate = (name: string, files: { path: string; content: string }[]) => {
        const dir = path.join(tmp, name);
        for (const f of files) {
            fs.mkdirSync(path.dirname(path.join(dir, f.path)), { recursive: true });
            fs.writeFileSync(path.join(dir, f.path), f.content);
        }
        return spawnSync(CONSUL_BIN, ["validate", dir], { encoding: "utf8" });
    };

    for (const [host, seeds] of [["consul-1", true], ["consul-2", false], ["app-1", false], ["gw-1", false]] as const) {
        it(`accepts ${host}'s release`, () => {
            const r = validate(host, filesOf(threeServers(), host, seeds));
            expect(r.status, r.stderr + r.stdout).to.equal(0);
            expect(r.stdout).to.include("Configuration is valid!");
        });
    }

    it("accepts the lab's single server", () => {
        const config = parseFleetConfig(labConfig()).config;
        const r = validate("lab-server", filesOf(config, "consul-1", true));
        expect(r.status, r.stderr + r.stdout).to.equal(0);
    });

    it("rejects a release with an unknown setting, naming it", () => {
        const files = filesOf(threeServers(), "app-1").map(f => f.path === "agent.hcl" ? { ...f, content: `${f.content}bogus_setting = 1\n` } : f);
        const r = validate("broken", files);
        expect(r.status).to.not.equal(0);
        expect(r.stderr + r.stdout).to.include("bogus_setting");
    });
});

/**
 * The component under Pulumi mocks, in a process of its own: its mocks answer the
 * random resources' results, which the shared mocks leave unset.
 */
const MOCKED_PROGRAM = `
require("ts-node/register/transpile-only");
const pulumi = require("@pulumi/pulumi");
const recorded = [];
pulumi.runtime.setMocks({
    newResource(a) {
        const s = { ...a.inputs };
        if (a.type === "random:index/randomPassword:RandomPassword") s.result = "seed-" + a.name;
        if (a.type === "tls:index/privateKey:PrivateKey") s.privateKeyPem = "KEY-" + a.name;
        if (/Cert$/.test(a.type)) s.certPem = "CERT-" + a.name;
        if (a.type === "command:remote:Command") s.stdout = "";
        recorded.push({ type: a.type, name: a.name, inputs: a.inputs });
        return { id: a.name + "-id", state: s };
    },
    call(a) { throw new Error("unexpected invoke " + a.token); },
}, "nordfleet", "lab", true);
const { parseFleetConfig } = require("./config/load");
const { labConfig } = require("./test/fixtures");
const { InternalCa } = require("./components/pki/internalCa");
const { ConsulCluster } = require("./components/platform/consulCluster");
const { HostLedger } = require("./components/platform/hostLedger");
const config = parseFleetConfig(labConfig()).config;
const ca = new InternalCa("ca", { organization: "nordfleet" });
const members = config.hosts.map(h => ({ host: h, connection: { host: h.address, user: "root" }, machine: "m-" + h.name,
    ledger: new HostLedger({ host: "10.199.0.1" }, h.name, pulumi.secret("test-release-key")), resolvers: [] }));
const c = new ConsulCluster("consul", { config, ca, members });
Promise.all([c.managementToken.isSecret, c.serviceTokens.isSecret,
    new Promise(r => c.serviceTokens.apply(t => { r(t); return t; })),
    new Promise(r => c.releases["probe-1"].release.apply(d => { r(d); return d; }))]).then(([ms, ss, tokens]) =>
    setTimeout(() => console.log(JSON.stringify({ recorded, datacenter: c.datacenter, serverAddresses: c.serverAddresses,
        serverReleases: c.serverReleases.length, managementSecret: ms, serviceTokensSecret: ss, tokens })), 300));
`;

describe("ConsulCluster (mocked engine)", function () {
    this.timeout(60_000);
    let out: any;
    const SIG = "4dabf18193072939515e22adb298388d";
    const plain = (v: any): any => v && typeof v === "object"
        ? (v[SIG] ? "<secret>" : Array.isArray(v) ? v.map(plain) : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)])))
        : v;
    const byName = (name: string) => out.recorded.find((r: any) => r.name === name);
    const stdinOf = (host: string) => byName(`consul-${host}-apply`).inputs.stdin;
    const scriptOf = (host: string) => releaseScriptOf(byName(`consul-${host}-apply`).inputs);

    before(() => {
        const r = spawnSync(process.execPath, ["-e", MOCKED_PROGRAM], { cwd: path.join(__dirname, ".."), encoding: "utf8" });
        expect(r.status, r.stderr).to.equal(0);
        out = JSON.parse(r.stdout.trim().split("\n").pop()!);
    });

    it("draws every Consul secret from one RandomPassword, whose id the state keeps as \"none\"", () => {
        const randoms = out.recorded.filter((r: any) => r.type.startsWith("random:"));
        expect(randoms.map((r: any) => [r.type, r.name])).to.deep.equal(
            [["random:index/randomPassword:RandomPassword", "consul-secret-seed"]]);
        expect(randoms[0].inputs).to.include({ length: 64, special: false });
    });

    it("retires replaced secrets on the seeding server", () => {
        const retire = byName("consul-retire-replaced-secrets");
        expect(retire.type).to.equal("command:remote:Command");
        expect(retire.inputs.create).to.equal(`python3 /etc/nordfleet/consul/current/${SECRETS_TOOL} retire`);
        expect((retire.inputs.connection.value ?? retire.inputs.connection).host).to.equal("10.110.0.20");
    });

    it("issues each node a certificate for its role's names", () => {
        expect(byName("consul-consul-1-tls-csr").inputs.dnsNames).to.deep.equal(["server.lab.consul", "consul-1.server.lab.consul", "localhost"]);
        expect(byName("consul-app-1-tls-csr").inputs.dnsNames).to.deep.equal(["client.lab.consul", "app-1.client.lab.consul", "localhost"]);
        expect(byName("consul-app-1-tls-cert").inputs.allowedUses).to.include("client_auth");
    });

    it("pushes one consul release per member as a secret script, the ACL seed on the first server only", () => {
        for (const host of ["consul-1", "app-1", "gw-1", "pg-1", "probe-1"]) {
            expect(byName(`consul-${host}-apply`).type).to.equal("command:remote:Command");
            expect(stdinOf(host)[SIG], host).to.be.a("string");
            const script = scriptOf(host);
            expect(script).to.include("ROLE='consul'").and.include(`CONSUL_NODE='${host}'`);
            expect(script.includes("'acl/seed/dns.json'"), host).to.equal(host === "consul-1");
        }
        expect(out.serverReleases).to.equal(1);
    });

    it("keeps every secret out of plain inputs, and exports the tokens as secrets", () => {
        const visible = JSON.stringify(out.recorded.map((r: any) => plain(r.inputs)));
        const derived = deriveConsulSecrets("seed-consul-secret-seed", ["app-1", "consul-1", "gw-1", "pg-1", "probe-1"], ["hello"]);
        for (const value of [derived.gossipKey, derived.managementToken, derived.agentTokens["app-1"], "KEY-consul"]) {
            expect(visible).to.not.include(value);
        }
        expect(out.managementSecret).to.equal(true);
        expect(out.serviceTokensSecret).to.equal(true);
        expect(out.tokens).to.deep.equal({ hello: derived.serviceTokens.hello });
        expect(out.datacenter).to.equal("lab");
        expect(out.serverAddresses).to.deep.equal(["10.110.0.20"]);
    });
});
