import { expect } from "chai";
import * as crypto from "crypto";
import { isSecretValue, recorded, settle, valueOf, mockLedger, releaseScriptOf } from "./mocks";
import { parseFleetConfig, RawConfig } from "../config/load";
import { FleetConfig } from "../config/types";
import { InternalCa } from "../components/pki/internalCa";
import {
    amqpsUrl, RabbitMq, rabbitMqReleaseFiles, rabbitMqVars, rabbitPasswordHash, renderDefinitions,
} from "../components/platform/rabbitMq";
import { fillGeneratedValues } from "./postgresDatabase.test";
import { labConfig } from "./fixtures";

function config(mqHosts = 1): FleetConfig {
    const raw: RawConfig = labConfig();
    raw.services = [
        { name: "hello", port: 8081, replicas: 1, queue: true },
        { name: "audit", port: 8082, replicas: 1, queue: true, consumes: ["hello"] },
        { name: "web", port: 8083, replicas: 1 },
    ];
    raw.hosts = [
        ...(raw.hosts as any[]).filter(h => h.role !== "service" && h.role !== "postgres"),
        { name: "app-1", role: "service", vlan: "platform", address: "10.110.0.30", memoryMb: 512, services: ["hello", "audit", "web"] },
        ...Array.from({ length: mqHosts }, (_, i) =>
            ({ name: `mq-${i + 1}`, role: "rabbitmq", vlan: "platform", address: `10.110.0.5${i}`, memoryMb: 768 })),
    ];
    return parseFleetConfig(raw).config;
}

describe("rabbitmq: rendering", () => {
    it("hashes passwords the way rabbit_password_hashing_sha256 stores them", () => {
        const hash = Buffer.from(rabbitPasswordHash("s3cretPassw0rd", "hello"), "base64");
        expect(hash).to.have.length(36);
        const salt = hash.subarray(0, 4);
        expect(hash.subarray(4).equals(crypto.createHash("sha256").update(Buffer.concat([salt, Buffer.from("s3cretPassw0rd")])).digest()))
            .to.equal(true);
        expect(rabbitPasswordHash("s3cretPassw0rd", "hello")).to.equal(rabbitPasswordHash("s3cretPassw0rd", "hello"));
        expect(rabbitPasswordHash("s3cretPassw0rd", "audit")).to.not.equal(rabbitPasswordHash("s3cretPassw0rd", "hello"));
    });

    it("gives each service its own vhost and names, and a consumer only its queue in the producer's vhost", () => {
        const defs = JSON.parse(renderDefinitions([
            { name: "hello", passwordHash: "H", consumes: [] },
            { name: "audit", passwordHash: "A", consumes: ["hello"] },
        ]));
        expect(defs.users).to.deep.equal([
            { name: "hello", password_hash: "H", hashing_algorithm: "rabbit_password_hashing_sha256", tags: [], limits: {} },
            { name: "audit", password_hash: "A", hashing_algorithm: "rabbit_password_hashing_sha256", tags: [], limits: {} },
        ]);
        expect(defs.vhosts).to.deep.equal([{ name: "hello" }, { name: "audit" }]);
        expect(defs.permissions).to.deep.equal([
            { user: "hello", vhost: "hello", configure: "^hello\\..*", write: "^hello\\..*", read: "^hello\\..*" },
            { user: "audit", vhost: "audit", configure: "^audit\\..*", write: "^audit\\..*", read: "^audit\\..*" },
            { user: "audit", vhost: "hello", configure: "^$", write: "^$", read: "^audit\\.hello$" },
        ]);
        expect(defs.exchanges.map((e: any) => `${e.vhost}/${e.name} ${e.type}`)).to.deep.equal(["hello/hello.events topic", "audit/audit.events topic"]);
        expect(defs.queues.map((q: any) => `${q.vhost}/${q.name}`)).to.deep.equal(["hello/audit.hello"]);
        expect(defs.bindings).to.deep.equal([{ source: "hello.events", vhost: "hello", destination: "audit.hello",
            destination_type: "queue", routing_key: "#", arguments: {} }]);
        expect(defs.policies).to.deep.equal([{ vhost: "hello", name: "nordfleet-bound-audit.hello", pattern: "^audit\\.hello$",
            "apply-to": "queues", priority: 10, definition: { "max-length": 100000, overflow: "reject-publish" } }]);
        const bounded = JSON.parse(renderDefinitions([
            { name: "hello", passwordHash: "H", consumes: [] },
            { name: "audit", passwordHash: "A", consumes: ["hello"], queueMaxLength: 50 },
        ]));
        expect(bounded.policies[0].definition).to.deep.equal({ "max-length": 50, overflow: "reject-publish" });
        expect(() => renderDefinitions([{ name: "audit", passwordHash: "A", consumes: ["billing"] }]))
            .to.throw(`service "audit" consumes events of "billing", which has no vhost on the broker (queue: true)`);
    });

    it("builds AMQPS URLs with every part encoded", () => {
        expect(amqpsUrl("hello", "p@ss/word", "10.110.0.50", "/")).to.equal("amqps://hello:p%40ss%2Fword@10.110.0.50:5671/%2F");
    });

    it("renders a TLS-only node config reading everything from the live release", () => {
        const c = config(3);
        const nodes = c.hosts.filter(h => h.role === "rabbitmq");
        const files = rabbitMqReleaseFiles({ host: nodes[1], nodes, services: [], cookie: "C".repeat(32),
            tls: { certPem: "CERT", keyPem: "KEY", caPem: "CA" } });
        const by = Object.fromEntries(files.map(f => [f.path, f]));
        const conf = by["rabbitmq.conf"].content;
        expect(conf).to.contain("listeners.tcp = none\nlisteners.ssl.1 = 10.110.0.51:5671\n");
        expect(conf).to.contain("ssl_options.certfile = /etc/nordfleet/rabbitmq/current/tls/server.crt");
        expect(conf).to.contain("cluster_formation.peer_discovery_backend = classic_config\n"
            + "cluster_formation.classic_config.nodes.1 = rabbit@mq-1\n"
            + "cluster_formation.classic_config.nodes.2 = rabbit@mq-2\n"
            + "cluster_formation.classic_config.nodes.3 = rabbit@mq-3\n");
        expect(by["rabbitmq-env.conf"].content).to.contain("NODENAME=rabbit@mq-2\nCONFIG_FILE=/etc/nordfleet/rabbitmq/current/rabbitmq.conf\n");
        expect(by["erlang.cookie"].mode).to.equal("0400");
        expect(by["tls/server.key"]).to.include({ mode: "0600", owner: "rabbitmq:rabbitmq" });
        expect(by["definitions.json"]).to.include({ mode: "0640", owner: "root:rabbitmq" });
        expect(rabbitMqVars(nodes[1], nodes, ["hello", "audit"])).to.include({
            PEERS: "mq-1=10.110.0.50 mq-2=10.110.0.51 mq-3=10.110.0.52", VHOSTS: "audit hello", WAIT: 180 });

        const single = rabbitMqReleaseFiles({ host: nodes[0], nodes: [nodes[0]], services: [], cookie: "c",
            tls: { certPem: "", keyPem: "", caPem: "" } });
        expect(single.find(f => f.path === "rabbitmq.conf")!.content).to.not.contain("cluster_formation");
        expect(conf).to.contain(`disk_free_limit.absolute = ${nodes[1].memoryMb}MB\n`);
    });

    it("starts the broker only once its data volume is mounted, where it has one", () => {
        const c = config(1);
        const node = c.hosts.find(h => h.role === "rabbitmq")!;
        const dropIn = (hasDataVolume: boolean) => rabbitMqReleaseFiles({ host: node, nodes: [node], services: [], cookie: "c",
            tls: { certPem: "", keyPem: "", caPem: "" }, hasDataVolume }).find(f => f.path === "unit-dropin.conf")!.content;
        expect(dropIn(true)).to.equal("[Unit]\nRequiresMountsFor=/var/lib/rabbitmq/mnesia\n\n[Service]\nTimeoutStartSec=1800\n");
        expect(dropIn(false)).to.equal("[Service]\nTimeoutStartSec=1800\n");
    });
});

describe("RabbitMq component (mocked)", () => {
    before(fillGeneratedValues);

    it("makes a password per service, one cookie, a certificate and a release per node; URLs are secrets", async () => {
        const c = config(2);
        recorded.length = 0;
        const ca = new InternalCa("mqca", { organization: "nordfleet" });
        const nodes = c.hosts.filter(h => h.role === "rabbitmq").map(host => ({
            host, connection: { host: host.address, user: "root" }, machine: `m-${host.name}`,
            ledger: mockLedger(host.name),
            volumeSerials: (host.name === "mq-1" ? { mnesia: "nfmq1" } : {}) as Record<string, string>,
        }));
        const mq = new RabbitMq("broker", { nodes, config: c, ca });
        expect(mq.endpoints).to.deep.equal(["10.110.0.50:5671", "10.110.0.51:5671"]);
        expect(Object.keys(mq.urls)).to.deep.equal(["hello", "audit"]);
        const helloUrl = await valueOf(mq.urls.hello);
        expect(helloUrl).to.match(/^amqps:\/\/hello:pw[0-9a-f]+@10\.110\.0\.50:5671\/hello$/);
        expect(await valueOf(mq.eventUrls.audit.hello)).to.match(/^amqps:\/\/audit:pw[0-9a-f]+@10\.110\.0\.50:5671\/hello$/);
        expect(await valueOf(mq.releases["mq-2"])).to.match(/^[0-9a-f]{16}$/);
        await settle();
        const mine = recorded.filter(r => r.name.startsWith("broker"));
        expect(mine.map(r => `${r.type} ${r.name}`)).to.include.members([
            "random:index/randomPassword:RandomPassword broker-hello-password",
            "random:index/randomPassword:RandomPassword broker-audit-password",
            "random:index/randomPassword:RandomPassword broker-erlang-cookie",
            "tls:index/locallySignedCert:LocallySignedCert broker-mq-1-tls-cert",
            "command:remote:Command broker-mq-1-release-apply",
            "command:remote:Command broker-mq-2-release-apply",
        ]);
        expect(recorded.find(r => r.name === "broker-erlang-cookie")!.inputs).to.include({ length: 32, special: false });
        const password = helloUrl.split(":")[2].split("@")[0];
        for (const node of ["mq-1", "mq-2"]) {
            const apply = recorded.find(r => r.name === `broker-${node}-release-apply`)!;
            expect(isSecretValue(apply.inputs.stdin)).to.equal(true);
            const script = releaseScriptOf(apply.inputs);
            expect(script).to.not.contain(password);
            expect(JSON.stringify(apply.inputs.create)).to.not.contain(password);
            expect(script).to.contain(`NODE='rabbit@${node}'`);
            expect(script).to.contain(`DATA_SERIAL='${node === "mq-1" ? "nfmq1" : ""}'`);
        }
    });
});
