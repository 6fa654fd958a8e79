/**
 * The lab's demo services, run for real on this machine inside a network namespace the
 * test creates (loopback only, nothing routes out): PostgreSQL with TLS and scram, and
 * RabbitMQ with only an AMQPS listener, each with a certificate from a throwaway CA.
 * The broker's users get the permissions the platform grants: hello may only publish
 * to its exchange, audit may only read its queue in hello's vhost.
 *
 * Needs root, postgresql-15, rabbitmq-server, python3-psycopg2 and python3-pika.
 */
import { expect } from "chai";
import { ChildProcess, execFileSync, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { AS_ROOT, requireHost } from "./hostNeeds";

const NS = `nf-demo-${process.pid}`;
const ADDR = "10.213.0.10";
const PG_BIN = "/usr/lib/postgresql/15/bin";
const MQ_BIN = "/usr/lib/rabbitmq/bin";
const PY = "/usr/bin/python3";
const DEMO = path.join(__dirname, "..", "examples", "demo-service");

const inNs = (cmd: string[], env: NodeJS.ProcessEnv = process.env, input?: string) =>
    execFileSync("ip", ["netns", "exec", NS, ...cmd], { encoding: "utf8", env, input, stdio: ["pipe", "pipe", "pipe"] });

async function until<T>(what: string, seconds: number, probe: () => T | undefined): Promise<T> {
    let last = "";
    for (let i = 0; i < seconds * 4; i++) {
        try {
            const v = probe();
            if (v !== undefined) {
                return v;
            }
        } catch (e) {
            last = String((e as Error).message).slice(0, 300);
        }
        await new Promise(r => setTimeout(r, 250));
    }
    throw new Error(`${what} not ready after ${seconds}s ${last}`);
}

/** GET inside the namespace: [status, parsed body]. */
function get(port: number, urlPath: string): [number, any] {
    const out = inNs(["curl", "-sS", "--max-time", "5", "-w", "\n%{http_code}", `http://${ADDR}:${port}${urlPath}`]);
    const lines = out.trimEnd().split("\n");
    const status = Number(lines.pop());
    return [status, JSON.parse(lines.join("\n"))];
}

describe(`demo services on real PostgreSQL and RabbitMQ (TLS) ${AS_ROOT}`, function () {
    this.timeout(180000);
    let dir = "";
    let mqEnv: NodeJS.ProcessEnv = {};
    const apps: ChildProcess[] = [];

    /** A python snippet as a broker client, inside the namespace; prints its result. */
    const amqp = (user: string, password: string, code: string) => inNs([PY, "-c", `
import ssl, pika, sys
ctx = ssl.create_default_context(cafile="${dir}/ca.pem")
p = pika.URLParameters("amqps://${user}:${password}@${ADDR}:5671/hello")
p.ssl_options = pika.SSLOptions(ctx, server_hostname="${ADDR}")
ch = pika.BlockingConnection(p).channel()
try:
${code.split("\n").map(l => "    " + l).join("\n")}
except pika.exceptions.ChannelClosedByBroker as e:
    print("refused", e.reply_code)
`]).trim();

    function startPostgres(): void {
        const pg = `${dir}/pg`;
        inNs(["runuser", "-u", "postgres", "--", `${PG_BIN}/pg_ctl`, "-D", `${pg}/data`, "-l", `${pg}/log`, "-w",
            "-o", `-c listen_addresses=${ADDR} -c unix_socket_directories=${pg} -c ssl=on -c log_connections=on ` +
            `-c ssl_cert_file=${pg}/server.pem -c ssl_key_file=${pg}/server.key`, "start"]);
    }

    function startApp(script: string, env: Record<string, string>): void {
        const log = fs.openSync(path.join(dir, `${script}.log`), "w");
        apps.push(spawn("ip", ["netns", "exec", NS, "env", "-i", "PYTHONDONTWRITEBYTECODE=1",
            ...Object.entries(env).map(([k, v]) => `${k}=${v}`), path.join(DEMO, script)],
        { stdio: ["ignore", log, log] }));
    }

    before(async function () {
        requireHost(this, {
            root: "it runs the servers in a network namespace of its own",
            programs: { [`${PG_BIN}/postgres`]: "apt-get install postgresql-15", [`${MQ_BIN}/rabbitmq-server`]: "apt-get install rabbitmq-server" },
            pythonModules: { psycopg2: "apt-get install python3-psycopg2", pika: "apt-get install python3-pika" },
        });
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "nf-demo-"));
        fs.chmodSync(dir, 0o755);
        execFileSync("ip", ["netns", "add", NS]);
        execFileSync("ip", ["-n", NS, "link", "set", "lo", "up"]);
        execFileSync("ip", ["-n", NS, "addr", "add", `${ADDR}/32`, "dev", "lo"]);

        // A CA and one server certificate for the address both servers listen on.
        const ossl = (...a: string[]) => execFileSync("openssl", a, { cwd: dir, stdio: "pipe" });
        ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
            "-out", "ca.pem", "-days", "1", "-subj", "/CN=nordfleet test CA");
        ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "server.key",
            "-out", "server.csr", "-subj", `/CN=${ADDR}`);
        fs.writeFileSync(path.join(dir, "ext"), `subjectAltName=IP:${ADDR}\n`);
        ossl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "1", "-extfile", "ext");

        // PostgreSQL: TLS only from the "VLAN", scram-sha-256, one database owned by hello.
        const pg = path.join(dir, "pg");
        fs.mkdirSync(pg);
        for (const f of ["server.pem", "server.key"]) {
            fs.copyFileSync(path.join(dir, f), path.join(pg, f));
        }
        fs.writeFileSync(path.join(pg, "pw"), "admin-pw\n");
        execFileSync("chown", ["-R", "postgres:postgres", pg]);
        fs.chmodSync(path.join(pg, "server.key"), 0o600);
        execFileSync("runuser", ["-u", "postgres", "--", `${PG_BIN}/initdb`, "-D", `${pg}/data`, "-U", "admin",
            "-A", "scram-sha-256", `--pwfile=${pg}/pw`], { stdio: "pipe" });
        fs.writeFileSync(`${pg}/data/pg_hba.conf`,
            "local all admin scram-sha-256\nhostssl all all 10.213.0.0/24 scram-sha-256\n");
        startPostgres();
        const psql = (sql: string) => inNs(["psql", "-h", pg, "-U", "admin", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql],
            { ...process.env, PGPASSWORD: "admin-pw" });
        psql("CREATE ROLE hello LOGIN PASSWORD 'hello-db-pw'");
        psql("CREATE DATABASE hello OWNER hello");

        // RabbitMQ: AMQPS only, no guest, vhost hello.
        const mq = path.join(dir, "mq");
        fs.mkdirSync(mq);
        fs.writeFileSync(`${mq}/rabbitmq.conf`, [
            "listeners.tcp = none", `listeners.ssl.default = ${ADDR}:5671`,
            `ssl_options.cacertfile = ${dir}/ca.pem`, `ssl_options.certfile = ${dir}/server.pem`,
            `ssl_options.keyfile = ${dir}/server.key`, "ssl_options.verify = verify_none",
            "ssl_options.fail_if_no_peer_cert = false", ""].join("\n"));
        fs.writeFileSync(`${mq}/enabled_plugins`, "[].\n");
        mqEnv = { ...process.env, HOME: mq, RABBITMQ_NODENAME: `nfdemo${process.pid}@localhost`,
            RABBITMQ_MNESIA_BASE: `${mq}/mnesia`, RABBITMQ_LOG_BASE: `${mq}/log`,
            RABBITMQ_CONFIG_FILE: `${mq}/rabbitmq.conf`, RABBITMQ_ENABLED_PLUGINS_FILE: `${mq}/enabled_plugins`,
            RABBITMQ_PID_FILE: `${mq}/pid` };
        const out = fs.openSync(`${mq}/out`, "w");
        spawn("ip", ["netns", "exec", NS, `${MQ_BIN}/rabbitmq-server`], { env: mqEnv, stdio: ["ignore", out, out], detached: true }).unref();
        inNs([`${MQ_BIN}/rabbitmqctl`, "wait", "--timeout", "90", `${mq}/pid`], mqEnv);
        const ctl = (...a: string[]) => inNs([`${MQ_BIN}/rabbitmqctl`, "-q", ...a], mqEnv);
        ctl("delete_user", "guest");
        ctl("add_vhost", "hello");
        // What the platform sets up for hello's events (examples/demo-service/README.md): an
        // admin declares hello's exchange and audit's queue bound to it; services declare nothing.
        ctl("add_user", "nfadmin", "admin-mq-pw");
        ctl("set_permissions", "-p", "hello", "nfadmin", ".*", ".*", ".*");
        ctl("add_user", "hello", "hello-mq-pw");
        ctl("set_permissions", "-p", "hello", "hello", "^$", "^hello\\.events$", "^$");
        ctl("add_user", "audit", "audit-mq-pw");
        ctl("set_permissions", "-p", "hello", "audit", "^$", "^$", "^audit\\.hello$");
        expect(amqp("nfadmin", "admin-mq-pw", [
            'ch.exchange_declare("hello.events", "topic", durable=True)',
            'ch.queue_declare("audit.hello", durable=True)',
            'ch.queue_bind("audit.hello", "hello.events", "hello.#")',
            'print("ok")'].join("\n"))).to.equal("ok");

        startApp("hello.py", {
            PORT: "8081", BIND: ADDR,
            DATABASE_URL: `postgresql://hello:hello-db-pw@${ADDR}:5432/hello?sslmode=verify-full&sslrootcert=${dir}/ca.pem`,
            AMQP_URL: `amqps://hello:hello-mq-pw@${ADDR}:5671/hello`, AMQP_CA: `${dir}/ca.pem`,
        });
        startApp("audit.py", {
            PORT: "8082", BIND: ADDR,
            EVENTS_AMQP_URL: `amqps://audit:audit-mq-pw@${ADDR}:5671/hello`, AMQP_CA: `${dir}/ca.pem`,
        });
        await until("hello /healthz", 30, () => get(8081, "/healthz")[0] === 200 || undefined);
        await until("audit /healthz", 30, () => get(8082, "/healthz")[0] === 200 || undefined);
    });

    after(function () {
        for (const app of apps) {
            app.kill();
        }
        if (!dir) {
            return;
        }
        spawnSync("ip", ["netns", "exec", NS, "runuser", "-u", "postgres", "--", `${PG_BIN}/pg_ctl`, "-D",
            `${dir}/pg/data`, "-m", "immediate", "stop"], { stdio: "ignore" });
        spawnSync("ip", ["netns", "exec", NS, `${MQ_BIN}/rabbitmqctl`, "-q", "stop"], { env: mqEnv, stdio: "ignore" });
        // Whatever is left in the namespace (epmd, a stuck broker) goes with it.
        const pids = spawnSync("ip", ["netns", "pids", NS], { encoding: "utf8" }).stdout.split("\n").filter(Boolean);
        for (const pid of pids) {
            try { process.kill(Number(pid), "SIGKILL"); } catch { /* already gone */ }
        }
        spawnSync("ip", ["netns", "del", NS]);
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("hello records a visit in its database and publishes an event; audit receives it", async () => {
        const [s1, first] = get(8081, "/");
        const [s2, second] = get(8081, "/");
        expect([s1, s2]).to.deep.equal([200, 200]);
        expect(first.host).to.equal(os.hostname());
        expect(first.published).to.equal(true);
        expect(second.db.visits).to.equal(first.db.visits + 1);
        const events = await until("two events at audit", 20, () => {
            const [, e] = get(8082, "/events");
            return e.length >= 2 ? e : undefined;
        });
        expect(events.slice(-2).map((e: any) => [e.type, e.visits])).to.deep.equal([
            ["visit", first.db.visits], ["visit", second.db.visits]]);
    });

    it("the database is reached over TLS with the server's name checked against the CA", () => {
        const [, body] = get(8081, "/");
        expect(body.db.visits).to.be.greaterThan(0);
        // The server logs how each session of hello's came in: every one over TLS.
        const sessions = fs.readFileSync(`${dir}/pg/log`, "utf8").split("\n")
            .filter(l => l.includes("connection authorized: user=hello"));
        expect(sessions).to.not.be.empty;
        for (const line of sessions) {
            expect(line).to.match(/SSL enabled \(protocol=TLSv1\.[23]/);
        }
        // A wrong CA is refused: verify-full really verifies.
        fs.writeFileSync(path.join(dir, "other.pem"), execFileSync("openssl", ["req", "-x509", "-newkey", "ec",
            "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "/dev/null", "-days", "1", "-subj", "/CN=other"],
        { stdio: ["ignore", "pipe", "ignore"] }));
        const r = spawnSync("ip", ["netns", "exec", NS, PY, "-c",
            `import psycopg2; psycopg2.connect("postgresql://hello:hello-db-pw@${ADDR}/hello?sslmode=verify-full&sslrootcert=${dir}/other.pem")`],
        { encoding: "utf8" });
        expect(r.status).to.not.equal(0);
        expect(r.stderr).to.match(/certificate verify failed/);
    });

    it("broker permissions are least privilege: hello only publishes, audit only reads its queue", () => {
        expect(amqp("audit", "audit-mq-pw",
            'ch.confirm_delivery()\nch.basic_publish("hello.events", "hello.visit", b"forged")\nprint("published")'))
            .to.equal("refused 403");
        expect(amqp("hello", "hello-mq-pw", 'ch.basic_get("audit.hello")\nprint("read")')).to.equal("refused 403");
        expect(amqp("hello", "hello-mq-pw", 'ch.queue_declare("hello.mine")\nprint("declared")')).to.equal("refused 403");
    });

    it("keeps a connection open for the next request, as the gateway's upstream keepalive expects", () => {
        // curl's num_connects is 0 for a transfer that reused the connection before it.
        const connects = inNs(["curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-o", "/dev/null",
            "-w", "%{http_version} %{num_connects}\n", `http://${ADDR}:8081/livez`, `http://${ADDR}:8081/livez`]);
        expect(connects.trim().split("\n")).to.deep.equal(["1.1 1", "1.1 0"]);
    });

    it("health answers 503 when hello's database is gone, and recovers when it returns; liveness stays 200", async () => {
        const pg = `${dir}/pg`;
        inNs(["runuser", "-u", "postgres", "--", `${PG_BIN}/pg_ctl`, "-D", `${pg}/data`, "-m", "fast", "-w", "stop"]);
        const [status, body] = get(8081, "/healthz");
        expect(status).to.equal(503);
        expect(body.error).to.equal("OperationalError");
        const [liveStatus, live] = get(8081, "/livez");
        expect(liveStatus, "liveness asks no dependency").to.equal(200);
        expect(live.status).to.equal("alive");
        startPostgres();
        await until("hello healthy again", 20, () => get(8081, "/healthz")[0] === 200 || undefined);
    });
});
