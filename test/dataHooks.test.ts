/**
 * The PostgreSQL and RabbitMQ releases, run for real on this host: the very scripts the
 * components push (release steps + hooks + files), against PostgreSQL 15, pgBackRest and
 * RabbitMQ from Debian, each server inside a network namespace this test creates.
 *
 * What stands in: there is no systemd here, so `pg_systemctl`/`mq_systemctl` (the hooks'
 * only calls to systemd) are replaced by pg_ctl / rabbitmq-server -detached; the unit
 * files are installed but not run by systemd. The data volume is a loop device behind a
 * /dev/disk/by-id-like link, and the fstab a scratch file. Everything else is real.
 *
 * It needs root and the Debian packages, takes minutes and changes this host (a mount,
 * /etc/nordfleet/{postgres,rabbitmq}), so it runs only when asked:
 *   NORDFLEET_HOST_TESTS=all npx mocha test/dataHooks.test.ts
 * and holds a lock so that two runs never share the host.
 */
import { expect } from "chai";
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { HostSpec } from "../config/types";
import { postgresReleaseFiles, PostgresReleaseInput, postgresVars, scramVerifier } from "../components/platform/postgresDatabase";
import { amqpsUrl, rabbitMqReleaseFiles, rabbitMqVars, rabbitPasswordHash } from "../components/platform/rabbitMq";
import { ReleaseFile, releaseDigest, releaseScript } from "../components/platform/release";
import { AS_ROOT, requireHost } from "./hostNeeds";

const PG_BIN = "/usr/lib/postgresql/15/bin";
const NEEDS = {
    root: "it mounts a loop device and runs the servers in network namespaces",
    servers: "PostgreSQL and RabbitMQ for minutes and changes /etc/nordfleet",
    programs: {
        [`${PG_BIN}/postgres`]: "apt-get install postgresql-15", pgbackrest: "apt-get install pgbackrest",
        "/usr/sbin/rabbitmq-server": "apt-get install rabbitmq-server",
    },
};

interface Run { status: number; stdout: string; stderr: string }

function sh(script: string, input?: string): Run {
    const r = spawnSync("bash", ["-c", script], { input, encoding: "utf8", maxBuffer: 64 << 20 });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function ok(script: string, input?: string): string {
    const r = sh(script, input);
    if (r.status !== 0) {
        throw new Error(`failed (${r.status}): ${script}\n${r.stdout}\n${r.stderr}`);
    }
    return r.stdout.trim();
}

/** Three namespaces on one bridge: the server, an allowed client and a stranger. */
function makeNet(prefix: string, net: string): { server: string; client: string; stranger: string } {
    const ns = { server: `nfdata-${prefix}-srv`, client: `nfdata-${prefix}-cl`, stranger: `nfdata-${prefix}-x` };
    ok(`set -e
        for n in ${ns.server} ${ns.client} ${ns.stranger}; do ip netns add $n; ip -n $n link set lo up; done
        ip -n ${ns.server} link add br0 type bridge
        ip -n ${ns.server} addr add ${net}.1/24 dev br0
        ip -n ${ns.server} link set br0 up
        i=2
        for n in ${ns.client} ${ns.stranger}; do
            ip link add ${prefix}$i type veth peer name eth0 netns $n
            ip link set ${prefix}$i netns ${ns.server}
            ip -n ${ns.server} link set ${prefix}$i master br0 up
            ip -n $n addr add ${net}.$i/24 dev eth0
            ip -n $n link set eth0 up
            i=$((i+1))
        done`);
    return ns;
}

function dropNet(prefix: string): void {
    sh(`for n in nfdata-${prefix}-srv nfdata-${prefix}-cl nfdata-${prefix}-x; do ip netns del $n 2>/dev/null; done; true`);
}

/** A throwaway CA and a server certificate for `ip`, made with openssl. */
function makeTls(dir: string, ip: string): { caPem: string; certPem: string; keyPem: string } {
    ok(`set -e; cd ${dir}
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt -subj /CN=test-ca -days 2 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr -subj /CN=${ip} 2>/dev/null
        printf 'subjectAltName=IP:${ip}\\nextendedKeyUsage=serverAuth\\n' >ext
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile ext 2>/dev/null`);
    const read = (f: string) => fs.readFileSync(path.join(dir, f), "utf8");
    return { caPem: read("ca.crt"), certPem: read("server.crt"), keyPem: read("server.key") };
}

const LOCK = "/run/nfdata-host-test.lock";

/** One run at a time: the tests use fixed paths, namespaces and a mount point. */
function takeLock(): void {
    try {
        fs.mkdirSync(LOCK);
    } catch {
        throw new Error(`${LOCK} exists: another run of this test is under way (remove it if none is)`);
    }
}

function releaseLock(): void {
    fs.rmSync(LOCK, { recursive: true, force: true });
}

const password = () => crypto.randomBytes(24).toString("base64url");

describe(`PostgreSQL release on a real PostgreSQL 15 ${AS_ROOT}`, function () {
    this.timeout(900_000);
    const net = "10.251.7";
    const tmp = path.join(os.tmpdir(), "nfdata-pg");
    const diskDir = path.join(tmp, "by-id");
    const fstab = path.join(tmp, "fstab");
    const repoDir = path.join(tmp, "backup");
    const host: HostSpec = { name: "pg-t", role: "postgres", vlan: "platform", address: `${net}.1`, vcpus: 2,
        memoryMb: 1024, rootDiskGb: 10, dataDisks: [{ name: "pgdata", sizeGb: 1, protect: true }], services: [] };
    const pw = { hello: password(), orders: password() };
    let ns: ReturnType<typeof makeNet>;
    let loop = "";
    let swapLoop = "";
    let input: PostgresReleaseInput;
    let files: ReleaseFile[];

    // Stands in for systemd: the unit's own command line, run by pg_ctl.
    const stub = `
pg_systemctl() {
    local ctl="runuser -u postgres -- ${PG_BIN}/pg_ctl -D /etc/nordfleet/postgres/current -w -t 120"
    case "$1" in
        start) install -d -o postgres -g postgres /run/postgresql; $ctl -l ${tmp}/log/postgres.log start >/dev/null ;;
        stop) $ctl -m fast stop >/dev/null ;;
        restart) $ctl -m fast -l ${tmp}/log/postgres.log restart >/dev/null ;;
        reload) $ctl reload >/dev/null ;;
        *) echo "$*" >>${tmp}/systemctl.log ;;
    esac
}
export -f pg_systemctl
`;
    const vars = (serial: string) => ({ ...postgresVars(host, serial, ["hello", "orders"]), DISK_DIR: diskDir, FSTAB: fstab });
    const apply = (f: ReleaseFile[], serial = "nfpgdata") =>
        sh(`nsenter --net=/run/netns/${ns.server} bash -s`, stub + releaseScript("postgres", "postgres/hooks.sh", f, vars(serial)));
    const psql = (sql: string, db = "postgres") =>
        ok(`nsenter --net=/run/netns/${ns.server} runuser -u postgres -- ${PG_BIN}/psql -X -A -t -h /run/postgresql -d ${db} -c "${sql}"`);
    const login = (where: string, user: string, pass: string, extra = "") => sh(
        `ip netns exec ${where} env PGPASSWORD='${pass}' PGCONNECT_TIMEOUT=5 ${PG_BIN}/psql -X -A -t ` +
        `"host=${net}.1 dbname=${user} user=${user} sslmode=verify-full sslrootcert=${tmp}/ca.crt ${extra}" ` +
        `-c "select current_user || ' ' || ssl from pg_stat_ssl where pid = pg_backend_pid()"`);

    let locked = false;
    before(function () {
        requireHost(this, NEEDS);
        takeLock();
        locked = true;
        fs.rmSync(tmp, { recursive: true, force: true });
        fs.mkdirSync(tmp);
        dropNet("pg");
        ns = makeNet("pg", net);
        fs.mkdirSync(diskDir);
        fs.writeFileSync(fstab, "# scratch fstab\n");
        ok(`install -d -o postgres -g postgres ${repoDir} ${tmp}/log`);
        ok(`truncate -s 400M ${tmp}/data.img ${tmp}/swap.img`);
        loop = ok(`losetup -f --show ${tmp}/data.img`);
        swapLoop = ok(`losetup -f --show ${tmp}/swap.img`);
        ok(`mkswap ${swapLoop} >/dev/null`);
        fs.symlinkSync(loop, path.join(diskDir, "virtio-nfpgdata"));
        fs.symlinkSync(swapLoop, path.join(diskDir, "virtio-nfswap"));
        const tls = makeTls(tmp, `${net}.1`);
        input = {
            host, dataSerial: "nfpgdata", services: ["hello", "orders"],
            clients: { hello: [`${net}.2`], orders: [`${net}.9`] },
            verifiers: { hello: scramVerifier(pw.hello, "hello"), orders: scramVerifier(pw.orders, "orders") },
            tls, repo: { type: "posix", path: repoDir }, cipherPass: password(),
        };
        files = postgresReleaseFiles(input);
    });

    after(() => {
        if (!locked) {
            return;
        }
        sh(`nsenter --net=/run/netns/nfdata-pg-srv runuser -u postgres -- ${PG_BIN}/pg_ctl -D /etc/nordfleet/postgres/current -m immediate stop`);
        sh(`umount /var/lib/nordfleet/pgdata; losetup -d ${loop} ${swapLoop}; rm -rf /etc/nordfleet/postgres ${tmp}
            rm -f /etc/systemd/system/nordfleet-postgres.service /etc/systemd/system/nordfleet-pg-backup*
            rmdir /var/lib/nordfleet/pgdata 2>/dev/null; true`);
        dropNet("pg");
        releaseLock();
    });

    it("refuses a data volume that holds another filesystem, and leaves it as it was", () => {
        const r = apply(files, "nfswap");
        expect(r.status).to.equal(1);
        expect(r.stderr).to.match(/holds 'swap', not ext4; refusing to format or mount it/);
        expect(ok(`blkid -p -o value -s TYPE ${swapLoop}`)).to.equal("swap");
        expect(fs.readFileSync(fstab, "utf8")).to.equal("# scratch fstab\n");
    });

    it("formats the empty volume, mounts it by UUID, initialises the cluster and serves each service over TLS only", () => {
        const r = apply(files);
        expect(r.status, r.stderr).to.equal(0);
        expect(r.stdout).to.contain(`postgres: release ${releaseDigest(files)} live`);
        const uuid = ok(`blkid -p -o value -s UUID ${loop}`);
        expect(fs.readFileSync(fstab, "utf8")).to.contain(`UUID=${uuid} /var/lib/nordfleet/pgdata ext4 defaults,noatime,nofail 0 2`);
        expect(ok("findmnt -n -o SOURCE /var/lib/nordfleet/pgdata")).to.equal(loop);
        expect(fs.existsSync("/var/lib/nordfleet/pgdata/15/main/PG_VERSION")).to.equal(true);
        expect(psql("show config_file")).to.equal("/etc/nordfleet/postgres/current/postgresql.conf");
        expect(psql("show password_encryption")).to.equal("scram-sha-256");
        // Exactly the verifier computed in TypeScript: the plaintext never reached the server.
        expect(psql("select rolpassword from pg_authid where rolname = 'hello'")).to.equal(scramVerifier(pw.hello, "hello"));
        expect(psql("select pg_get_userbyid(datdba) from pg_database where datname = 'orders'")).to.equal("orders");

        const good = login(ns.client, "hello", pw.hello);
        expect(good.stdout.trim(), good.stderr).to.equal("hello true");
        expect(login(ns.client, "hello", "wrong-password").stderr).to.contain("password authentication failed");
        expect(login(ns.client, "hello", pw.hello, "sslmode=disable").stderr).to.match(/rejects connection|no pg_hba.conf entry/);
        // orders is admitted only from its own host (.9), not from hello's host.
        expect(login(ns.client, "orders", pw.orders).stderr).to.match(/rejects connection/);
        expect(login(ns.stranger, "hello", pw.hello).stderr).to.match(/rejects connection/);
        // A base backup exists from the first activation, and WAL is archived.
        expect(ok(`runuser -u postgres -- pgbackrest --config=/etc/nordfleet/postgres/current/pgbackrest.conf --stanza=pg-t info`))
            .to.match(/status: ok[\s\S]*full backup/);
    });

    it("applies the same release again without touching the volume or the data", () => {
        psql("create table keep (n int); insert into keep select generate_series(1, 100)", "hello");
        const uuid = ok(`blkid -p -o value -s UUID ${loop}`);
        const r = apply(files);
        expect(r.status, r.stderr).to.equal(0);
        expect(ok(`blkid -p -o value -s UUID ${loop}`)).to.equal(uuid);
        expect(fs.readFileSync(fstab, "utf8").match(/pgdata/g)).to.have.length(1);
        expect(psql("select count(*) from keep", "hello")).to.equal("100");
    });

    it("applies the stack's own settings (nordfleet:postgres.settings) with a reload", () => {
        const started = psql("select pg_postmaster_start_time()");
        const r = apply(postgresReleaseFiles({ ...input, settings: { statement_timeout: "45s", log_min_duration_statement: 250 } }));
        expect(r.status, r.stderr).to.equal(0);
        expect(psql("show statement_timeout")).to.equal("45s");
        expect(psql("show log_min_duration_statement")).to.equal("250ms");
        expect(psql("select pg_postmaster_start_time()"), "a reload, not a restart").to.equal(started);
    });

    it("rejects a setting value PostgreSQL refuses, before the switch, and keeps serving", () => {
        const live = fs.readlinkSync("/etc/nordfleet/postgres/current");
        const r = apply(postgresReleaseFiles({ ...input, settings: { work_mem: "lots" } }));
        expect(r.status).to.equal(1);
        expect(r.stderr).to.contain("rejected; the live release").and.contain('invalid value for parameter "work_mem"');
        expect(fs.readlinkSync("/etc/nordfleet/postgres/current")).to.equal(live);
        expect(login(ns.client, "hello", pw.hello).stdout.trim()).to.equal("hello true");
    });

    it("switches back when the server rejects pg_hba.conf on reload, and keeps serving with the old rules", () => {
        const live = fs.readlinkSync("/etc/nordfleet/postgres/current");
        const bad = files.map(f => f.path === "pg_hba.conf"
            ? { ...f, content: f.content.replace("local   all       all", "hostssl all all 10.0.0.0/33 scram-sha-256\nlocal   all       all") } : f);
        const r = apply(bad);
        expect(r.status).to.equal(1);
        expect(r.stderr).to.contain("the server rejected its config").and.contain("restored to the previous release");
        expect(fs.readlinkSync("/etc/nordfleet/postgres/current")).to.equal(live);
        expect(psql("select count(*) from pg_hba_file_rules where error is not null")).to.equal("0");
        expect(login(ns.client, "hello", pw.hello).stdout.trim()).to.equal("hello true");
    });

    it("restores dropped rows from a backup with the release's restore script", () => {
        psql("create table orders_log (id int, note text); insert into orders_log select g, 'row ' || g from generate_series(1, 5000) g", "orders");
        // What the nightly timer runs.
        ok(`nsenter --net=/run/netns/${ns.server} runuser -u postgres -- pgbackrest --config=/etc/nordfleet/postgres/current/pgbackrest.conf --stanza=pg-t --type=full backup`);
        psql("drop table orders_log", "orders");
        const out = ok(`nsenter --net=/run/netns/${ns.server} bash -c '${stub.replace(/'/g, `'\\''`)}
/etc/nordfleet/postgres/current/restore.sh --backup'`);
        expect(out).to.contain("the server is open for writes");
        expect(psql("select count(*), sum(id) from orders_log", "orders")).to.equal("5000|12502500");
        expect(psql("select count(*) from keep", "hello")).to.equal("100");
        expect(login(ns.client, "hello", pw.hello).stdout.trim()).to.equal("hello true");
    });

    it("restores to a point in time from archived WAL, without a backup taken after the rows", () => {
        psql("create table pitr (n int); insert into pitr select generate_series(1, 777)", "orders");
        const before = psql("select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'");
        ok("sleep 1");
        psql("drop table pitr", "orders");
        const out = ok(`nsenter --net=/run/netns/${ns.server} bash -c '${stub.replace(/'/g, `'\\''`)}
/etc/nordfleet/postgres/current/restore.sh --time "${before}"'`);
        expect(out).to.contain("the server is open for writes");
        expect(psql("select count(*) from pitr", "orders")).to.equal("777");
    });
});

/** An AMQPS client (pika from Debian): publish to an exchange, or get from a queue. */
const AMQP_CLIENT = `
import sys, ssl, time, pika
from urllib.parse import urlparse, unquote
url, ca, action, name = sys.argv[1:5]
u = urlparse(url)
ctx = ssl.create_default_context(cafile=ca)
params = pika.ConnectionParameters(host=u.hostname, port=u.port, virtual_host=unquote(u.path[1:]),
    credentials=pika.PlainCredentials(unquote(u.username), unquote(u.password)),
    ssl_options=pika.SSLOptions(ctx, u.hostname), connection_attempts=1, socket_timeout=10)
try:
    c = pika.BlockingConnection(params)
    ch = c.channel()
    if action == "publish":
        ch.confirm_delivery()
        ch.basic_publish(exchange=name, routing_key="hello.visit", body=b"a visit", mandatory=True)
        print("published")
    else:
        for _ in range(50):
            m = ch.basic_get(name, auto_ack=True)
            if m[0]:
                break
            time.sleep(0.1)
        print("got:", m[2].decode() if m[0] else "nothing")
    c.close()
except Exception as e:
    print("refused:", type(e).__name__, e)
`;

describe(`RabbitMQ release on a real RabbitMQ 3.10 ${AS_ROOT}`, function () {
    this.timeout(900_000);
    const net = "10.251.8";
    const tmp = path.join(os.tmpdir(), "nfdata-mq");
    const nsDir = "/run/nfdata-mq";
    // Memory small enough for the free-disk alarm (the VM's memory) to stay clear on the small test volume.
    const host: HostSpec = { name: "mq-t", role: "rabbitmq", vlan: "platform", address: `${net}.1`, vcpus: 2,
        memoryMb: 256, rootDiskGb: 10, dataDisks: [], services: [] };
    const pw = { hello: password(), orders: password() };
    let ns: ReturnType<typeof makeNet>;
    let tls: ReturnType<typeof makeTls>;
    const cookie = crypto.randomBytes(24).toString("hex").slice(0, 32);
    let loop = "";

    // Stands in for systemd: the Debian rabbitmq-server, detached, reading the same env file.
    const stub = `
mq_systemctl() {
    case "$1" in
        start) rabbitmq-server -detached >/dev/null 2>&1 ;;
        stop) rabbitmqctl -q shutdown >/dev/null ;;
        *) echo "$*" >>${tmp}/systemctl.log ;;
    esac
}
`;
    // The server's own mount and UTS namespaces: its /var/lib/rabbitmq, /etc/rabbitmq,
    // /etc/hosts and host name are this test's, at their real paths.
    const inServer = `nsenter --mount=${nsDir}/mnt --uts=${nsDir}/uts --net=/run/netns/nfdata-mq-srv`;
    // hello publishes its events; orders consumes them.
    const files = (hashPw = pw, serverTls = tls) => rabbitMqReleaseFiles({
        host, nodes: [host], cookie, tls: serverTls, services: [
            { name: "hello", passwordHash: rabbitPasswordHash(hashPw.hello, "hello"), consumes: [] },
            { name: "orders", passwordHash: rabbitPasswordHash(hashPw.orders, "orders"), consumes: ["hello"] },
        ],
        hasDataVolume: true,
    });
    const vars = () => ({ ...rabbitMqVars(host, [host], ["hello", "orders"], "nfmnesia"),
        DISK_DIR: `${tmp}/by-id`, FSTAB: `${tmp}/fstab`, UNIT_DROPIN: `${tmp}/rabbitmq-server.service.d/nordfleet.conf` });
    const apply = (f: ReleaseFile[]) => sh(`${inServer} bash -s`,
        stub + releaseScript("rabbitmq", "rabbitmq/hooks.sh", f, vars()));
    const ctl = (args: string) => ok(`${inServer} rabbitmqctl -q ${args}`);
    const amqp = (url: string, action: "publish" | "get", name: string, where = ns.client) =>
        ok(`ip netns exec ${where} /usr/bin/python3 -c '${AMQP_CLIENT}' '${url}' ${tmp}/ca.crt ${action} '${name}'`);
    const url = (user: string, pass: string, vhost: string) => amqpsUrl(user, pass, `${net}.1`, vhost);

    let locked = false;
    before(function () {
        requireHost(this, NEEDS);
        takeLock();
        locked = true;
        sh(`umount ${nsDir}/mnt ${nsDir}/uts ${nsDir} 2>/dev/null; rm -rf ${tmp}`);
        fs.mkdirSync(tmp);
        dropNet("mq");
        ns = makeNet("mq", net);
        tls = makeTls(tmp, `${net}.1`);
        ok(`set -e
            install -d -o rabbitmq -g rabbitmq -m 0755 ${tmp}/varlib ${tmp}/log
            cp -a /etc/rabbitmq ${tmp}/etc
            rm -f ${tmp}/etc/rabbitmq-env.conf
            printf '127.0.0.1 localhost\\n' >${tmp}/hosts
            install -d ${tmp}/by-id
            truncate -s 600M ${tmp}/mnesia.img
            install -d ${nsDir}
            mount --bind ${nsDir} ${nsDir}
            mount --make-private ${nsDir}
            touch ${nsDir}/mnt ${nsDir}/uts
            unshare --mount=${nsDir}/mnt --uts=${nsDir}/uts --propagation private sh -c '
                hostname ${host.name}
                mount --bind ${tmp}/varlib /var/lib/rabbitmq
                mount --bind ${tmp}/log /var/log/rabbitmq
                mount --bind ${tmp}/etc /etc/rabbitmq
                mount --bind ${tmp}/hosts /etc/hosts'`);
        loop = ok(`losetup -f --show ${tmp}/mnesia.img`);
        fs.symlinkSync(loop, `${tmp}/by-id/virtio-nfmnesia`);
    });

    after(() => {
        if (!locked) {
            return;
        }
        sh(`${inServer} rabbitmqctl -q shutdown; ${inServer} sh -c 'pkill -u rabbitmq -x epmd' 2>/dev/null; true`);
        sh(`umount ${nsDir}/mnt ${nsDir}/uts; umount ${nsDir}; losetup -d ${loop}; rm -rf ${nsDir} /etc/nordfleet/rabbitmq ${tmp}; true`);
        dropNet("mq");
        releaseLock();
    });

    it("starts the node on the release's config: AMQPS only, no guest, a vhost and user per service", () => {
        const f = files();
        const started = Date.now();
        const r = apply(f);
        expect(r.status, r.stderr).to.equal(0);
        expect(r.stdout).to.contain(`rabbitmq: release ${releaseDigest(f)} live`);
        console.log(`      (first start and release took ${Math.round((Date.now() - started) / 1000)} s)`);
        expect(ctl("list_users --no-table-headers").split("\n").map(l => l.split("\t")[0]).sort()).to.deep.equal(["hello", "orders"]);
        expect(ctl("list_permissions -p hello --no-table-headers").split("\n").sort())
            .to.deep.equal(["hello\t^hello\\..*\t^hello\\..*\t^hello\\..*", "orders\t^$\t^$\t^orders\\.hello$"]);
        expect(ctl("list_permissions -p orders --no-table-headers")).to.equal("orders\t^orders\\..*\t^orders\\..*\t^orders\\..*");
        expect(ok(`stat -c '%a %U' ${tmp}/varlib/.erlang.cookie`)).to.equal("400 rabbitmq");
        // The message store lives on the data volume, formatted because it was blank.
        expect(ok(`${inServer} findmnt -n -o SOURCE /var/lib/rabbitmq/mnesia`)).to.equal(loop);
        expect(ok(`${inServer} ls /var/lib/rabbitmq/mnesia`)).to.contain("rabbit@mq-t");
        expect(fs.readFileSync(`${tmp}/fstab`, "utf8")).to.match(/^UUID=\S+ \/var\/lib\/rabbitmq\/mnesia ext4 defaults,noatime,nofail 0 2\n$/);
        expect(ok(`${inServer} readlink /etc/rabbitmq/rabbitmq-env.conf`)).to.equal("/etc/nordfleet/rabbitmq/current/rabbitmq-env.conf");
        expect(ctl("eval 'node().'")).to.equal("'rabbit@mq-t'");
        // systemd's start timeout for the node and its wait for the data volume, reloaded once.
        expect(fs.readFileSync(`${tmp}/rabbitmq-server.service.d/nordfleet.conf`, "utf8")).to.equal(
            "[Unit]\nRequiresMountsFor=/var/lib/rabbitmq/mnesia\n\n[Service]\nTimeoutStartSec=1800\n");
        expect(fs.readFileSync(`${tmp}/systemctl.log`, "utf8").split("\n").filter(l => l === "daemon-reload")).to.have.length(1);

        // The event path the platform declared: hello.events -> orders.hello.
        expect(amqp(url("hello", pw.hello, "hello"), "publish", "hello.events")).to.equal("published");
        expect(amqp(url("orders", pw.orders, "hello"), "get", "orders.hello")).to.equal("got: a visit");
        // Each side only its own part of it.
        expect(amqp(url("hello", pw.hello, "hello"), "get", "orders.hello")).to.match(/^refused: ChannelClosedByBroker \(403, "ACCESS_REFUSED/);
        expect(amqp(url("orders", pw.orders, "hello"), "publish", "hello.events")).to.match(/^refused: ChannelClosedByBroker \(403, "ACCESS_REFUSED/);
        expect(amqp(url("hello", pw.hello, "hello"), "publish", "")).to.match(/^refused: ChannelClosedByBroker \(403, "ACCESS_REFUSED/);
        expect(amqp(url("hello", pw.hello, "orders"), "get", "orders.x")).to.match(/^refused: (ProbableAccessDeniedError|ConnectionClosedByBroker)/);
        expect(amqp(url("hello", "wrong", "hello"), "get", "x")).to.match(/^refused: ProbableAuthenticationError/);
        expect(amqp(url("guest", "guest", "/"), "get", "x")).to.match(/^refused: ProbableAuthenticationError/);
        expect(sh(`ip netns exec ${ns.client} bash -c 'exec 3<>/dev/tcp/${net}.1/5672'`).status).to.not.equal(0);
    });

    it("applies the same release again without restarting the node", () => {
        const pid = ctl("eval 'os:getpid().'");
        const r = apply(files());
        expect(r.status, r.stderr).to.equal(0);
        expect(ctl("eval 'os:getpid().'")).to.equal(pid);
        expect(fs.readFileSync(`${tmp}/systemctl.log`, "utf8").split("\n").filter(l => l === "daemon-reload")).to.have.length(1);
    });

    it("rejects a rabbitmq.conf the node's schema refuses, before the switch, and keeps serving", () => {
        const live = fs.readlinkSync("/etc/nordfleet/rabbitmq/current");
        const pid = ctl("eval 'os:getpid().'");
        const bad = files().map(f => f.path === "rabbitmq.conf" ? { ...f, content: f.content + "listeners.ssl.2 = not-a-port\n" } : f);
        const r = apply(bad);
        expect(r.status).to.equal(1);
        expect(r.stderr).to.contain("rejected; the live release").and.contain("rabbitmq.conf (");
        expect(fs.readlinkSync("/etc/nordfleet/rabbitmq/current")).to.equal(live);
        expect(ctl("eval 'os:getpid().'")).to.equal(pid);
        expect(amqp(url("hello", pw.hello, "hello"), "publish", "hello.events")).to.equal("published");
    });

    it("serves a renewed certificate on new connections without restarting the node", () => {
        const pid = ctl("eval 'os:getpid().'");
        // Issued again for the same key, as the internal CA renews a certificate.
        ok(`cd ${tmp} && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out renewed.crt ` +
            `-days 2 -extfile ext 2>/dev/null`);
        const renewed = fs.readFileSync(`${tmp}/renewed.crt`, "utf8");
        const serialOf = (pem: string) => ok("openssl x509 -noout -serial", pem);
        expect(serialOf(renewed)).to.not.equal(serialOf(tls.certPem));
        const r = apply(files(pw, { ...tls, certPem: renewed }));
        expect(r.status, r.stderr).to.equal(0);
        expect(ctl("eval 'os:getpid().'")).to.equal(pid);
        const served = ok(`ip netns exec ${ns.client} sh -c 'openssl s_client -connect ${net}.1:5671 </dev/null 2>/dev/null ` +
            `| openssl x509 -noout -serial'`);
        expect(served, "the certificate a new connection gets").to.equal(serialOf(renewed));
        expect(amqp(url("hello", pw.hello, "hello"), "publish", "hello.events")).to.equal("published");
    });

    it("changes a service's password in place: the new one works, the old one no longer does", () => {
        const pid = ctl("eval 'os:getpid().'");
        const next = { ...pw, hello: password() };
        const r = apply(files(next));
        expect(r.status, r.stderr).to.equal(0);
        expect(ctl("eval 'os:getpid().'")).to.equal(pid);
        expect(amqp(url("hello", next.hello, "hello"), "publish", "hello.events")).to.equal("published");
        expect(amqp(url("hello", pw.hello, "hello"), "publish", "hello.events")).to.match(/^refused: ProbableAuthenticationError/);
    });
});
