/**
 * The gateway's release, for real: the very script RoleRelease pushes (release steps +
 * gateway hooks + files) runs as root on this machine, inside a network namespace this
 * test creates, with the real nginx and a small upstream. /etc/nordfleet is a private
 * bind mount of a temporary folder, so nothing of the host's is touched.
 *
 * What it covers: nginx -t rejecting a bad release with nginx's own message while the
 * old config keeps serving, the first start, a graceful reload (same master), role_check
 * reading the live config id, and the config's behaviour (proxying, headers, 301, 429,
 * JSON errors). What it does not: the systemd path of role_activate (no systemd runs
 * here), which the hooks take on guests; here they run with NGINX_CONTROL=direct.
 *
 * Needs root, iproute2, /usr/sbin/nginx, curl and openssl (`apt-get install -y nginx-light curl openssl`).
 */
import { expect } from "chai";
import { ChildProcess, execFileSync, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { labConfig } from "./fixtures";
import { AS_ROOT, requireHost } from "./hostNeeds";
import { parseFleetConfig } from "../config/load";
import { gatewayContext, gatewayReleaseFiles } from "../components/platform/apiGateway";
import { ReleaseFile, releaseScript } from "../components/platform/release";

const NS = `nfgw-test-${process.pid}`;
const SERVER_NAME = "gateway.lab.nordfleet.internal";

describe(`gateway release on a real nginx (network namespace) ${AS_ROOT}`, function () {
    this.timeout(60000);
    let tmp: string;
    let etcCreated = false;
    let backend: ChildProcess | undefined;

    const inNs = (cmd: string, args: string[], input?: string) =>
        spawnSync("ip", ["netns", "exec", NS, cmd, ...args], { input, encoding: "utf8", timeout: 45000 });

    const config = (rate: number) => {
        const raw = labConfig();
        (raw.services as any[]).splice(0, 1,
            { name: "hello", port: 8081, replicas: 1, rateLimitPerSecond: rate, rateLimitBurst: 0 },
            { name: "down", port: 8099, replicas: 2 });
        (raw.hosts as any[])[2].services.push("down");
        (raw.hosts as any[]).push({ name: "app-2", role: "service", vlan: "platform", address: "10.110.0.31",
                                    memoryMb: 512, services: ["down"] });
        return parseFleetConfig(raw).config;
    };

    function files(rate: number): ReleaseFile[] {
        const c = config(rate);
        const gw = c.hosts.find(h => h.role === "gateway")!;
        return gatewayReleaseFiles(gatewayContext(c, gw, { pidFile: path.join(tmp, "nginx.pid"), logDir: tmp }), {
            certPem: fs.readFileSync(path.join(tmp, "cert.pem"), "utf8"),
            keyPem: fs.readFileSync(path.join(tmp, "key.pem"), "utf8"),
            caPem: fs.readFileSync(path.join(tmp, "cert.pem"), "utf8"),
        });
    }

    /** The release script as RoleRelease sends it, run as bash -s with /etc/nordfleet private to it. */
    const release = (f: ReleaseFile[]) => inNs("bash", ["-c",
        `mount --bind ${path.join(tmp, "etc")} /etc/nordfleet && exec bash -s`],
        releaseScript("gateway", "gateway/hooks.sh", f, { NGINX_CONTROL: "direct" }));

    const configId = (f: ReleaseFile[]) => /# nordfleet-config-id: (\w+)/.exec(f[0].content)![1];
    const health = () => inNs("curl", ["-fsS", "http://127.0.0.1:8080/healthz"]).stdout;
    const https = (urlPath: string, ...extra: string[]) => inNs("curl", ["-sS", "-i", "--cacert", path.join(tmp, "cert.pem"),
        "--resolve", `${SERVER_NAME}:443:10.110.0.10`, ...extra, `https://${SERVER_NAME}${urlPath}`]).stdout;
    const masterPid = () => fs.readFileSync(path.join(tmp, "nginx.pid"), "utf8").trim();

    before(function () {
        requireHost(this, {
            root: "it creates a network namespace and runs nginx in it",
            programs: { "/usr/sbin/nginx": "apt-get install nginx-light", curl: "apt-get install curl", openssl: "apt-get install openssl" },
        });
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nfgw-hooks-"));
        fs.mkdirSync(path.join(tmp, "etc"));
        if (!fs.existsSync("/etc/nordfleet")) {
            fs.mkdirSync("/etc/nordfleet");
            etcCreated = true;
        }
        execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
            "-subj", `/CN=${SERVER_NAME}`, "-addext", `subjectAltName=DNS:${SERVER_NAME}`,
            "-keyout", path.join(tmp, "key.pem"), "-out", path.join(tmp, "cert.pem")], { stdio: "ignore" });
        execFileSync("ip", ["netns", "add", NS]);
        execFileSync("ip", ["-n", NS, "link", "set", "lo", "up"]);
        // The gateway's and the service host's VLAN addresses, on lo inside the namespace only.
        execFileSync("ip", ["-n", NS, "addr", "add", "10.110.0.10/32", "dev", "lo"]);
        execFileSync("ip", ["-n", NS, "addr", "add", "10.110.0.30/32", "dev", "lo"]);
        execFileSync("ip", ["-n", NS, "addr", "add", "10.110.0.31/32", "dev", "lo"]);
        // The upstream answers with the headers it was sent.
        backend = spawn("ip", ["netns", "exec", NS, process.execPath, "-e",
            `require("http").createServer((q, s) => { s.setHeader("content-type", "application/json");
             s.end(JSON.stringify({ url: q.url, headers: q.headers })); }).listen(8081, "10.110.0.30")`], { stdio: "ignore" });
    });

    after(() => {
        if (tmp && fs.existsSync(path.join(tmp, "nginx.pid"))) {
            spawnSync("kill", ["-QUIT", masterPid()]);
        }
        backend?.kill();
        spawnSync("ip", ["netns", "del", NS]);
        if (etcCreated) {
            try {
                fs.rmdirSync("/etc/nordfleet");
            } catch {
                // Another suite put something there meanwhile: leave it.
            }
        }
        if (tmp) {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    });

    let first: ReleaseFile[];

    it("refuses a release nginx -t rejects when nothing is live yet, with nginx's message", () => {
        const bad = files(50);
        bad[0] = { ...bad[0], content: bad[0].content.replace("server_tokens off;", "server_tokens off;\n    bogus_directive on;") };
        const r = release(bad);
        expect(r.status).to.equal(1);
        expect(r.stderr).to.match(/nordfleet: gateway release \w+ rejected; the live release \(none\) is unchanged/);
        expect(r.stderr).to.include(`unknown directive "bogus_directive"`);
        expect(fs.existsSync(path.join(tmp, "etc", "gateway", "current"))).to.equal(false);
    });

    it("starts nginx on the first release and checks it serves that config", () => {
        first = files(1);
        const r = release(first);
        expect(r.stderr).to.equal("");
        expect(r.status).to.equal(0);
        expect(r.stdout).to.match(/gateway: release \w+ live/);
        expect(JSON.parse(health())).to.deep.equal({ status: "ok", config: configId(first) });
        const key = fs.statSync(path.join(tmp, "etc", "gateway", "current", "tls", "server.key"));
        expect((key.mode & 0o777).toString(8)).to.equal("600");
    });

    it("proxies a route over TLS with the forwarding and correlation headers", () => {
        const out = https("/hello/greet?x=1", "-H", "X-Correlation-ID: abc-123");
        const [head, body] = out.split("\r\n\r\n");
        expect(head).to.match(/^HTTP\/2 200/);
        expect(head).to.include("x-correlation-id: abc-123");
        expect(head).to.include("strict-transport-security: max-age=63072000");
        expect(head).to.not.match(/server: nginx\//);
        const seen = JSON.parse(body);
        expect(seen.url).to.equal("/hello/greet?x=1");
        expect(seen.headers).to.deep.include({ "x-forwarded-proto": "https", "x-real-ip": "10.110.0.10",
            "x-forwarded-for": "10.110.0.10", "x-correlation-id": "abc-123" });
        expect(seen.headers.connection ?? "keep-alive").to.equal("keep-alive");
    });

    it("makes up a correlation id when the client sends none, or a malformed one", async () => {
        // The route allows one request a second.
        await new Promise(resolve => setTimeout(resolve, 1100));
        const seen = JSON.parse(https("/hello/", "-H", "X-Correlation-ID: bad id\"").split("\r\n\r\n")[1]);
        expect(seen.headers["x-correlation-id"]).to.match(/^[0-9a-f]{32}$/);
    });

    it("answers 429 in JSON past the route's rate, and 502 in JSON for an upstream that is down", () => {
        const burst = [https("/hello/"), https("/hello/")].join("\n");
        expect(burst).to.match(/HTTP\/2 429[\s\S]*"error":"too_many_requests"/);
        const down = https("/down/");
        expect(down).to.match(/^HTTP\/2 502/);
        expect(down).to.include(`"error":"bad_gateway"`);
        expect(https("/nowhere")).to.match(/^HTTP\/2 404[\s\S]*"error":"not_found"/);
    });

    it("sends to a service again as soon as a replica is back, though every replica was marked failed", async () => {
        // Each request tries both replicas: four mark both failed (max_fails=3) for fail_timeout.
        for (let i = 0; i < 4; i++) {
            expect(https("/down/")).to.match(/^HTTP\/2 502/);
        }
        const replica = spawn("ip", ["netns", "exec", NS, process.execPath, "-e",
            `require("http").createServer((q, s) => s.end("{}")).listen(8099, "10.110.0.31")`], { stdio: "ignore" });
        try {
            for (let i = 0; i < 50 && inNs("curl", ["-fsS", "http://10.110.0.31:8099/"]).status !== 0; i++) {
                await new Promise(r => setTimeout(r, 100));
            }
            expect(https("/down/")).to.match(/^HTTP\/2 200/);
        } finally {
            replica.kill();
        }
    });

    it("sends plain HTTP to HTTPS", () => {
        const out = inNs("curl", ["-sS", "-i", "http://10.110.0.10/hello/x"]).stdout;
        expect(out).to.match(/^HTTP\/1.1 301/);
        expect(out).to.include("Location: https://10.110.0.10/hello/x");
    });

    it("reloads gracefully (same master) for a new release", () => {
        const before = masterPid();
        const next = files(50);
        const r = release(next);
        expect(r.status, r.stderr).to.equal(0);
        expect(masterPid()).to.equal(before);
        expect(JSON.parse(health()).config).to.equal(configId(next));
        first = next;
    });

    it("keeps the live config when a new release fails nginx -t, and prints nginx's error", () => {
        const live = fs.readlinkSync(path.join(tmp, "etc", "gateway", "current"));
        const bad = files(7);
        bad[0] = { ...bad[0], content: bad[0].content.replace(/proxy_buffers 4 (\d+)k;/, "proxy_buffers 4 $1q;") };
        const r = release(bad);
        expect(r.status).to.equal(1);
        expect(r.stderr).to.include(`the live release (${live}) is unchanged`);
        expect(r.stderr).to.match(/\[emerg\] .*"proxy_buffers"/);
        expect(fs.readlinkSync(path.join(tmp, "etc", "gateway", "current"))).to.equal(live);
        expect(JSON.parse(health()).config).to.equal(configId(first));
        expect(https("/hello/")).to.match(/^HTTP\/2 200/);
    });
});
