/**
 * The gateway's nginx.conf: what it says, and that the real nginx accepts it.
 * The `nginx -t` cases need /usr/sbin/nginx and openssl on the test machine
 * (Debian: `apt-get install -y nginx-light openssl`); without them they fail, saying so.
 */
import { expect } from "chai";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { isSecretValue, recorded, reveal, settle, valueOf, mockLedger, releaseScriptOf } from "./mocks";
import { labConfig } from "./fixtures";
import { AS_ROOT, requireHost } from "./hostNeeds";
import { parseFleetConfig, RawConfig } from "../config/load";
import { FleetConfig } from "../config/types";
import {
    ApiGateway, GATEWAY_TLS, gatewayContext, gatewayReleaseFiles, proxyBuffers, renderNginxConf, trafficWeights,
} from "../components/platform/apiGateway";
import { InternalCa } from "../components/pki/internalCa";

const NGINX = "/usr/sbin/nginx";

function config(edit: (raw: RawConfig) => void = () => undefined): FleetConfig {
    const raw = labConfig();
    edit(raw);
    return parseFleetConfig(raw).config;
}

/** Two more services on app-1 and a second service host: a blue/green split and a plain one. */
function blueGreen(traffic: unknown): FleetConfig {
    return config(raw => {
        const hosts = raw.hosts as any[];
        hosts.push({ name: "app-2", role: "service", vlan: "platform", address: "10.110.0.31", services: ["orders"] });
        hosts[2].services.push("orders");
        (raw.services as any[]).push({
            name: "orders", port: 8090, gatewayPath: "/orders/", balance: "round_robin", connectTimeoutMs: 250,
            readTimeoutMs: 30000, rateLimitPerSecond: 200, rateLimitBurst: 400, maxBodyMb: 8,
            versions: { blue: { hosts: ["app-1"] }, green: { port: 9090 } }, traffic,
        });
    });
}

const gw = (c: FleetConfig) => c.hosts.find(h => h.role === "gateway")!;

describe("API gateway nginx.conf", () => {
    const lab = config();
    const conf = renderNginxConf({ ...gatewayContext(lab, gw(lab)), configId: "0123456789abcdef" });

    describe("the defaults of the lab stack", () => {
        const expected = [
            "worker_processes auto;", "worker_rlimit_nofile 65536;", "worker_connections 16384;", "multi_accept on;",
            "server_tokens off;", "pid /run/nginx.pid;", "error_log /var/log/nginx/error.log warn;",
            "log_format nf_json escape=json", `"request_id":"$request_id"`, `"upstream_response_time":"$upstream_response_time"`,
            "access_log /var/log/nginx/access.log nf_json buffer=64k flush=5s;", "worker_shutdown_timeout 30s;",
            "client_header_timeout 10s;", "client_body_timeout 10s;", "send_timeout 10s;", "reset_timedout_connection on;",
            "limit_conn_zone $binary_remote_addr zone=nf_conn_per_client:10m;", "limit_conn nf_conn_per_client 512;",
            "ssl_protocols TLSv1.2 TLSv1.3;", "ssl_prefer_server_ciphers off;", "ssl_session_cache shared:SSL:10m;",
            "ssl_session_timeout 10m;", "ssl_session_tickets off;",
            `add_header Strict-Transport-Security "max-age=63072000" always;`,
            "proxy_http_version 1.1;", `proxy_set_header Connection "";`, "proxy_set_header X-Real-IP $remote_addr;",
            "proxy_set_header X-Forwarded-For $remote_addr;", "proxy_set_header X-Forwarded-Proto $scheme;",
            "proxy_set_header X-Correlation-ID $nf_correlation_id;", "add_header X-Correlation-ID $nf_correlation_id always;",
            "proxy_buffer_size 8k;", "proxy_buffers 4 4k;", "proxy_busy_buffers_size 8k;",
            "proxy_next_upstream error timeout http_502 http_503 http_504;", "proxy_next_upstream_tries 2;",
            "limit_req_zone $binary_remote_addr zone=nf_hello:10m rate=50r/s;", "limit_req_status 429;",
            "upstream nf_hello {", "least_conn;", "server 10.110.0.30:8081 max_fails=3 fail_timeout=30s weight=1;",
            "server 10.110.0.30:8081 backup max_fails=0;",
            "keepalive 32;", "keepalive_requests 1000;", "keepalive_timeout 60s;",
            "listen 80 default_server backlog=65535;", "return 301 https://$host$request_uri;",
            "listen 443 ssl http2 default_server backlog=65535;", "server_name gateway.lab.nordfleet.internal;",
            `ssl_certificate ${GATEWAY_TLS.cert};`, `ssl_certificate_key ${GATEWAY_TLS.key};`,
            "location /hello/ {", "limit_req zone=nf_hello burst=100 nodelay;", "client_max_body_size 1m;",
            "proxy_connect_timeout 1000ms;", "proxy_read_timeout 5000ms;", "proxy_next_upstream_timeout 6000ms;",
            "proxy_pass http://nf_hello;",
            "error_page 429 @nf_429;", "error_page 502 @nf_502;", "error_page 503 @nf_503;", "error_page 504 @nf_504;",
            `return 429 '{"error":"too_many_requests","correlation_id":"$nf_correlation_id"}';`,
            `return 504 '{"error":"gateway_timeout","correlation_id":"$nf_correlation_id"}';`,
            "listen 127.0.0.1:8080;", `return 200 '{"status":"ok","config":"0123456789abcdef"}';`,
            "# nordfleet-config-id: 0123456789abcdef",
        ];
        for (const line of expected) {
            it(line, () => expect(conf).to.include(line));
        }
        it("redirects everything on port 80 and serves nothing else there", () => {
            const port80 = /listen 80 default_server backlog=65535;[\s\S]*?\n    }/.exec(conf)![0];
            expect(port80).to.not.include("location");
        });
        it("sizes upstream buffers from the gateway's memory (512 MB here, 4 GB in prod)", () => {
            expect(proxyBuffers(512)).to.deep.equal({ memoryMb: 512, headerKb: 8, bufferKb: 4, busyKb: 8, perRequestKb: 24 });
            expect(proxyBuffers(4096)).to.deep.equal({ memoryMb: 4096, headerKb: 32, bufferKb: 16, busyKb: 32, perRequestKb: 96 });
            // 10000 requests in flight on a 4 GB gateway: under a quarter of its memory.
            expect(10000 * proxyBuffers(4096).perRequestKb / 1024).to.be.below(4096 / 4);
        });
        it("uses Mozilla's intermediate ECDHE suites", () => {
            expect(conf).to.include("ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" +
                "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:" +
                "ECDHE-RSA-CHACHA20-POLY1305;");
        });
        it("sets headers only at server level, so no location loses them", () => {
            const locations = conf.split(/\n\s+location /).slice(1);
            for (const loc of locations) {
                expect(loc.split("\n    }")[0]).to.not.include("add_header");
                expect(loc.split("\n    }")[0]).to.not.include("proxy_set_header");
            }
        });
    });

    describe("blue/green", () => {
        it("splits between one upstream per version, by weight, with the route's own settings", () => {
            const c = blueGreen({ blue: 90, green: 10 });
            const text = renderNginxConf(gatewayContext(c, gw(c)));
            expect(text).to.include([
                `    split_clients "\${request_id}" $nf_split_orders {`,
                "        90% nf_orders_blue;",
                "        * nf_orders_green;",
                "    }"].join("\n"));
            expect(text).to.match(/upstream nf_orders_blue \{\n(?!.*least_conn)\s+server 10\.110\.0\.30:8090 [^\n]*\n\s+#/);
            expect(text).to.match(/upstream nf_orders_green \{\n\s+server 10\.110\.0\.30:9090 [^\n]*\n\s+server 10\.110\.0\.31:9090 /);
            expect(text).to.include("proxy_pass http://$nf_split_orders;");
            for (const line of ["limit_req zone=nf_orders burst=400 nodelay;", "client_max_body_size 8m;",
                "proxy_connect_timeout 250ms;", "proxy_read_timeout 30000ms;", "proxy_next_upstream_timeout 30250ms;",
                "limit_req_zone $binary_remote_addr zone=nf_orders:10m rate=200r/s;"]) {
                expect(text).to.include(line);
            }
        });
        it("gives a version at 0% no upstream at all", () => {
            for (const [traffic, live, dead] of [["green", "green", "blue"], [{ blue: 100, green: 0 }, "blue", "green"]] as const) {
                const c = blueGreen(traffic);
                const text = renderNginxConf(gatewayContext(c, gw(c)));
                expect(text).to.include(`upstream nf_orders_${live} {`);
                expect(text).to.include(`proxy_pass http://nf_orders_${live};`);
                expect(text).to.not.include(`nf_orders_${dead}`);
                expect(text).to.not.include("split_clients");
            }
        });
        it("keeps an ip_hash client on one version", () => {
            const c = blueGreen({ blue: 50, green: 50 });
            c.services[1].balance = "ip_hash";
            const text = renderNginxConf(gatewayContext(c, gw(c)));
            expect(text).to.include(`split_clients "\${remote_addr}" $nf_split_orders {`);
            // nginx refuses backup servers with ip_hash.
            expect(text.split("upstream nf_orders_blue {")[1].split("}")[0]).to.not.include("backup");
        });
        it("reads traffic settings as percentages", () => {
            expect(trafficWeights(undefined)).to.deep.equal({ blue: 100, green: 0 });
            expect(trafficWeights("green")).to.deep.equal({ blue: 0, green: 100 });
            expect(trafficWeights({ blue: 30, green: 70 })).to.deep.equal({ blue: 30, green: 70 });
        });
    });

    describe("release files", () => {
        const tls = { certPem: "CERT A\n", keyPem: "KEY\n", caPem: "CA\n" };
        const files = gatewayReleaseFiles(gatewayContext(lab, gw(lab)), tls);
        it("ships the config, the certificate, a root-only key, the CA and size-bounded log rotation", () => {
            expect(files.map(f => [f.path, f.mode, f.owner ?? "root:root"])).to.deep.equal([
                ["nginx.conf", "0644", "root:root"], ["tls/server.crt", "0644", "root:root"],
                ["tls/server.key", "0600", "root:root"], ["tls/ca.crt", "0644", "root:root"],
                ["logrotate.conf", "0644", "root:root"], ["logrotate-hourly.conf", "0644", "root:root"],
            ]);
            const rotate = files.find(f => f.path === "logrotate.conf")!.content;
            expect(rotate).to.contain("/var/log/nginx/*.log {").and.contain("\tmaxsize 256M\n")
                .and.contain(`kill -USR1 "$(cat /run/nginx.pid)"`);
            // logrotate's own parser accepts it.
            const file = path.join(os.tmpdir(), `nordfleet-logrotate-${process.pid}.conf`);
            fs.writeFileSync(file, rotate);
            try {
                const r = spawnSync("logrotate", ["--debug", file], { encoding: "utf8" });
                expect(r.status, r.stderr).to.equal(0);
            } finally {
                fs.rmSync(file, { force: true });
            }
        });
        it("stamps a config id that changes with the config or the certificate, never with the key alone", () => {
            const id = (f: typeof files) => /# nordfleet-config-id: ([0-9a-f]{16})\n/.exec(f[0].content)![1];
            expect(files[0].content).to.include(`"config":"${id(files)}"`);
            expect(id(gatewayReleaseFiles(gatewayContext(lab, gw(lab)), { ...tls, keyPem: "OTHER\n" }))).to.equal(id(files));
            expect(id(gatewayReleaseFiles(gatewayContext(lab, gw(lab)), { ...tls, certPem: "CERT B\n" }))).to.not.equal(id(files));
            const c = blueGreen("blue");
            expect(id(gatewayReleaseFiles(gatewayContext(c, gw(c)), tls))).to.not.equal(id(files));
        });
    });

    describe(`accepted by the real nginx (\`nginx -t\`) ${AS_ROOT}`, () => {
        let tmp: string;
        before(function () {
            requireHost(this, {
                root: "nginx -t binds the config's listen ports, 80 and 443",
                programs: { [NGINX]: "apt-get install nginx-light", openssl: "apt-get install openssl" },
            });
            tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nfgw-nginx-t-"));
        });
        after(() => tmp && fs.rmSync(tmp, { recursive: true, force: true }));

        /** A release tree as the guest gets it, with a throwaway self-signed certificate. */
        function tree(name: string, c: FleetConfig): string {
            const dir = path.join(tmp, name);
            fs.mkdirSync(path.join(dir, "tls"), { recursive: true });
            execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-days", "1", "-subj", `/CN=${c.gateway.serverName}`, "-keyout", path.join(dir, "key.pem"),
                "-out", path.join(dir, "cert.pem")], { stdio: "ignore" });
            const ctx = gatewayContext(c, gw(c), { pidFile: path.join(dir, "nginx.pid"), logDir: dir });
            const files = gatewayReleaseFiles(ctx, {
                certPem: fs.readFileSync(path.join(dir, "cert.pem"), "utf8"),
                keyPem: fs.readFileSync(path.join(dir, "key.pem"), "utf8"), caPem: "",
            });
            for (const f of files) {
                fs.writeFileSync(path.join(dir, f.path), f.content, { mode: parseInt(f.mode, 8) });
            }
            return dir;
        }
        // From "/", so a relative path could only resolve against the config's own folder.
        const nginxTest = (dir: string) => spawnSync(NGINX, ["-t", "-q", "-c", path.join(dir, "nginx.conf")],
            { cwd: "/", encoding: "utf8" });

        it(`accepts the lab stack's config (${spawnSync(NGINX, ["-v"], { encoding: "utf8" }).stderr?.trim() ?? "nginx"})`, () => {
            const r = nginxTest(tree("lab", lab));
            expect(r.stderr).to.equal("");
            expect(r.status).to.equal(0);
        });

        for (const [label, traffic] of [["a split", { blue: 90, green: 10 }], ["all on green", "green"]] as const) {
            it(`accepts blue/green with ${label}`, () => {
                const r = nginxTest(tree(`bg-${label.replace(/\W/g, "")}`, blueGreen(traffic)));
                expect(r.stderr).to.equal("");
                expect(r.status).to.equal(0);
            });
        }

        it("accepts an ip_hash service, which gets no backup servers", () => {
            const r = nginxTest(tree("ip-hash", config(raw => { (raw.services as any[])[0].balance = "ip_hash"; })));
            expect(r.stderr).to.equal("");
            expect(r.status).to.equal(0);
        });

        it("accepts a route without burst (nginx refuses burst=0)", () => {
            const r = nginxTest(tree("no-burst", config(raw => { (raw.services as any[])[0].rateLimitBurst = 0; })));
            expect(r.stderr).to.equal("");
            expect(r.status).to.equal(0);
        });

        it("resolves tls/ against the config's folder, and says which file is missing", () => {
            const dir = tree("missing-key", lab);
            fs.rmSync(path.join(dir, GATEWAY_TLS.key));
            const r = nginxTest(dir);
            expect(r.status).to.equal(1);
            expect(r.stderr).to.include(`${path.join(dir, GATEWAY_TLS.key)}`);
        });
    });
});

describe("ApiGateway (mocked engine)", () => {
    const names = (prefix: string) => recorded.filter(r => r.name.startsWith(prefix));

    it("has the internal CA issue the certificate, and pushes a secret release", async () => {
        const c = config();
        const ca = new InternalCa("gwt-ca", { organization: "nordfleet" });
        const gateway = new ApiGateway("gwt", {
            host: gw(c), connection: { host: "10.110.0.10", user: "root" }, machine: "m-1", ledger: mockLedger("gw-1"), ca, config: c,
        });
        await valueOf(gateway.urn);
        await settle();
        const mine = names("gwt-");
        expect(mine.map(r => `${r.type} ${r.name}`).sort()).to.include.members([
            "command:remote:Command gwt-release-apply",
            "command:remote:CopyToRemote gwt-release-bundle",
            "tls:index/certRequest:CertRequest gwt-tls-csr",
            "tls:index/locallySignedCert:LocallySignedCert gwt-tls-cert",
            "tls:index/privateKey:PrivateKey gwt-tls-key",
        ]);
        const csr = reveal(mine.find(r => r.name === "gwt-tls-csr")!.inputs);
        expect(csr.dnsNames).to.deep.equal(["gateway.lab.nordfleet.internal"]);
        expect(csr.ipAddresses).to.deep.equal(["10.110.0.10"]);
        const apply = mine.find(r => r.name === "gwt-release-apply")!;
        expect(releaseScriptOf(apply.inputs)).to.include("ROLE='gateway'");
        expect(apply.inputs.stdin === undefined || isSecretValue(apply.inputs.stdin)).to.equal(true);
        expect(await valueOf(gateway.urn)).to.equal("urn:pulumi:unit::nordfleet::nordfleet:platform:ApiGateway::gwt");
        // Other teams read the URL from the stack outputs; the release id is a digest, not the key it covers.
        expect(await pulumi.isSecret(gateway.release)).to.equal(false);
        expect(await pulumi.isSecret(gateway.url)).to.equal(false);
        expect(await valueOf(gateway.url)).to.match(/^https:\/\/[\d.]+\/$/);
    });

    it("uses the stack's own certificate files, the key as a secret, and issues nothing", async () => {
        const c = config(raw => {
            raw.gateway = { serverName: "api.lab.example.no", tls: { certFile: "/etc/nf/cert.pem", keyFile: "/etc/nf/key.pem" } };
        });
        const ca = new InternalCa("gws-ca", { organization: "nordfleet" });
        const args = { host: gw(c), connection: { host: "10.110.0.10", user: "root" }, machine: "m-1",
            ledger: mockLedger("gw-1"), ca, config: c };
        expect(() => new ApiGateway("gws-unread", args)).to.throw("nordfleet:gateway.tls is set, but its files were not read");
        const gateway = new ApiGateway("gws", { ...args, suppliedTls: { certPem: "SUPPLIED CERT\n", keyPem: "SUPPLIED KEY\n" } });
        expect(await valueOf(gateway.certPem)).to.equal("SUPPLIED CERT\n");
        await settle();
        expect(names("gws-tls")).to.deep.equal([]);
        const apply = names("gws-release-apply")[0];
        expect(JSON.stringify(reveal(apply.inputs.create))).to.not.include("SUPPLIED KEY");
        expect(apply.inputs.stdin === undefined || isSecretValue(apply.inputs.stdin)).to.equal(true);
        expect(await pulumi.isSecret(gateway.certPem)).to.equal(false);
    });
});
