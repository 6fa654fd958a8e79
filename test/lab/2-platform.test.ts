/**
 * The platform `pulumi up` pushed onto the lab fleet, seen from where its users stand:
 * clients on the public side of the gateway (this namespace stands in for the
 * internet), the services behind it, Consul, PostgreSQL and RabbitMQ on the VLAN.
 */
import { expect } from "chai";
import { execFile, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { CONSUL, consulCli, GatewayClient } from "./labClients";
import { LabFleet, labOutputs, labPulumi, labPulumiAsync, sleep, writeLabStackVariant } from "./labStack";

describe("the platform on the lab fleet", function () {
    this.timeout(30 * 60 * 1000);
    let fleet: LabFleet;
    let hosts: Record<string, any>;
    let tmp: string;
    let gateway: GatewayClient;
    let serverName: string;

    /** curl from the public side, verifying the gateway's certificate against the stack's CA. */
    const curl = (args: string[]) => gateway.curl(args);
    const curlAsync = (args: string[]) => gateway.curlAsync(args);
    const get = (p: string, headers: string[] = []) => gateway.get(p, headers);
    const helloReplicas = () => Object.entries<any>(hosts).filter(([, h]) => h.role === "service" && h.vlan === "platform")
        .map(([name]) => name).filter(name => ["app-1", "app-2"].includes(name));
    const openFrom = (from: string, targets: string[]) => fleet.openFrom(from, targets);
    /** Polls a name lookup on a guest until it gives the expected addresses (health checks flap under load). */
    const answerOn = async (host: string, lookup: string, expected: string[]): Promise<string[]> => {
        let answer: string[] = [];
        for (let i = 0; i < 30 && JSON.stringify(answer) !== JSON.stringify(expected); i++) {
            // An emulated guest's agent can be slow to answer: a timeout is retried like a flap.
            answer = (await fleet.onGuest(host, lookup)).stdout.trim().split("\n").sort();
            if (JSON.stringify(answer) !== JSON.stringify(expected)) {
                await sleep(2000);
            }
        }
        return answer;
    };

    before(() => {
        fleet = new LabFleet(labOutputs());
        hosts = fleet.outputs.hosts;
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nordfleet-platform-"));
        gateway = new GatewayClient(fleet.outputs, tmp);
        serverName = gateway.serverName;
    });
    after(() => {
        fleet?.close();
        fs.rmSync(tmp, { recursive: true, force: true });
    });

    describe("gateway", () => {
        it("serves over TLS with a certificate that verifies against the CA in the stack outputs", () => {
            const r = get("/healthz");
            expect(r.status, r.error).to.equal(200);
            expect(r.head).to.match(/strict-transport-security: max-age=\d+/i);
            const other = spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", path.join(tmp, "other.key"), "-out", path.join(tmp, "other.pem"), "-subj", "/CN=other",
                "-days", "1"], { encoding: "utf8" });
            expect(other.status, other.stderr).to.equal(0);
            const untrusted = spawnSync("curl", ["-sS", "--max-time", "10", "--cacert", path.join(tmp, "other.pem"),
                "--resolve", `${serverName}:443:${gateway.address}`, `https://${serverName}/healthz`], { encoding: "utf8" });
            expect(untrusted.status).to.not.equal(0);
        });

        it("redirects plain HTTP to HTTPS", () => {
            const r = curl(["-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", `http://${serverName}/hello/`]);
            expect(r.stdout).to.equal(`301 https://${serverName}/hello/`);
        });

        it("reaches every replica, whose answers prove their database query and queue publish, and the event arrives", async () => {
            const seen = new Set<string>();
            for (let i = 0; i < 20 && seen.size < helloReplicas().length; i++) {
                const r = get("/hello/");
                expect(r.status, `${r.head}\n${r.body}`).to.equal(200);
                const answer = JSON.parse(r.body);
                expect(answer.db.visits, JSON.stringify(answer)).to.be.a("number");
                expect(answer.published, JSON.stringify(answer)).to.equal(true);
                seen.add(answer.host);
            }
            expect([...seen].sort()).to.deep.equal(helloReplicas().sort());
            let events: any[] = [];
            for (let i = 0; i < 20 && events.length === 0; i++) {
                const r = get("/audit/events");
                events = r.status === 200 ? JSON.parse(r.body).events ?? JSON.parse(r.body) : [];
                if (events.length === 0) {
                    await sleep(1000);
                }
            }
            expect(events.length, "audit received hello's events").to.be.greaterThan(0);
        });

        it("passes the caller's X-Correlation-ID on, echoes it and logs it", async () => {
            const id = `lab-${Date.now()}`;
            const r = get("/hello/", [`X-Correlation-ID: ${id}`]);
            expect(r.status).to.equal(200);
            expect(r.head).to.match(new RegExp(`x-correlation-id: ${id}`, "i"));
            // The access log is buffered: a line is written within its 5 s flush.
            let logged = "";
            for (let i = 0; i < 10 && !logged.includes(id); i++) {
                await sleep(1000);
                logged = await fleet.mustOnGuest("gw-1", `grep -h '${id}' /var/log/nginx/*.log | head -n 1`);
            }
            expect(logged).to.include(id);
        });

        it("answers 429 once a client goes over the route's rate limit", () => {
            // /audit/ allows 1 request a second with a burst of 1 (Pulumi.lab.yaml): six in a row go over it.
            const statuses = spawnSync("bash", ["-c", `for i in $(seq 6); do curl -s -o /dev/null -w '%{http_code}\\n' ` +
                `--max-time 30 --cacert ${gateway.caFile} --resolve ${serverName}:443:${gateway.address} https://${serverName}/audit/events; done`],
            { encoding: "utf8" }).stdout.split("\n").filter(Boolean);
            console.log(`      statuses: ${statuses.join(" ")}`);
            expect(statuses).to.have.length(6);
            expect(statuses).to.include("429");
            expect(statuses.filter(s => !["200", "429"].includes(s))).to.deep.equal([]);
        });

        it("skips a stopped replica without a client-visible error after the first failure, and Consul DNS drops it", async () => {
            // Let the rate limit and the replicas' queues of the test above drain.
            for (let ok = 0, i = 0; ok < 3 && i < 60; i++) {
                ok = get("/hello/").status === 200 ? ok + 1 : 0;
                await sleep(1000);
            }
            await fleet.mustOnGuest("app-2", "systemctl stop nordfleet-hello.service");
            try {
                get("/hello/"); // the first failure marks the replica down (and is retried on the other one)
                const answers: string[] = [];
                for (let i = 0; i < 10; i++) {
                    const r = get("/hello/");
                    expect(r.status, r.body).to.equal(200);
                    answers.push(JSON.parse(r.body).host);
                    await sleep(150);
                }
                expect(new Set(answers)).to.deep.equal(new Set(["app-1"]));
                let dns = "";
                for (let i = 0; i < 30; i++) {
                    dns = await fleet.mustOnGuest("gw-1", "dig +short @127.0.0.1 -p 8600 hello.service.consul | sort");
                    if (dns.trim() === hosts["app-1"].address) {
                        break;
                    }
                    await sleep(2000);
                }
                expect(dns.trim()).to.equal(hosts["app-1"].address);
            } finally {
                await fleet.mustOnGuest("app-2", "systemctl start nordfleet-hello.service");
            }
        });
    });

    describe("exposure", () => {
        const platformPorts = [22, 80, 443, 5432, 5671, 8080, 8081, 8082, 8300, 8301, 8500, 8501, 8600];

        it("from the public side, only 80 and 443 of the gateway answer", async () => {
            const opens = await Promise.all(platformPorts.map(port => new Promise<boolean>(resolve =>
                execFile("timeout", ["3", "bash", "-c", `</dev/tcp/${gateway.address}/${port}`], error => resolve(!error)))));
            const open = platformPorts.filter((_, i) => opens[i]);
            console.log(`      public side of gw-1: open ${open.join(", ")}`);
            expect(open).to.deep.equal([80, 443]);
        });

        it("from a VM on another VLAN, nothing on the platform VLAN answers", async () => {
            const targets = Object.values<any>(hosts).filter(h => h.vlan === "platform")
                .flatMap(h => [22, 443, 5432, 8301].map(port => `${h.address}:${port}`));
            expect(targets).to.have.length.at.least(20);
            expect(await openFrom("probe-1", targets)).to.deep.equal([]);
        });

        it("PostgreSQL admits only the hosts of services with a database, and the broker only its clients", async () => {
            const db = hosts["db-1"].address;
            const mq = hosts["mq-1"].address;
            const targets = [`${db}:5432`, `${mq}:5671`, `${mq}:5672`];
            const [app1, app2, gw1, consul1] = await Promise.all(["app-1", "app-2", "gw-1", "consul-1"]
                .map(from => openFrom(from, targets)));
            expect(app1, "from app-1").to.deep.equal([`${db}:5432`, `${mq}:5671`]);
            expect(app2, "from app-2").to.deep.equal([`${db}:5432`, `${mq}:5671`]);
            expect(gw1, "from gw-1").to.deep.equal([]);
            expect(consul1, "from consul-1").to.deep.equal([]);
        });
    });

    describe("baseline", () => {
        it("raises the kernel's values and leaves one it already had higher as it was", async () => {
            const keys = ["net.core.somaxconn", "net.ipv4.tcp_tw_reuse", "net.ipv4.ip_local_port_range",
                "net.ipv4.tcp_max_syn_backlog", "net.netfilter.nf_conntrack_max", "net.netfilter.nf_conntrack_buckets",
                "fs.file-max"];
            // One session per VM, all at once: "key = value" lines.
            const values = Object.fromEntries(await Promise.all(Object.keys(hosts).map(async host => {
                const out = await fleet.mustOnGuest(host, `sysctl ${keys.join(" ")}`);
                return [host, Object.fromEntries(out.trim().split("\n").map(l => l.split(/\s*=\s*/)))];
            })));
            for (const [host, v] of Object.entries<Record<string, string>>(values)) {
                expect(v["net.core.somaxconn"], host).to.equal("65535");
                expect(v["net.ipv4.tcp_tw_reuse"], host).to.equal("1");
                expect(v["net.ipv4.ip_local_port_range"].split(/\s+/), host).to.deep.equal(["1024", "65535"]);
                expect(Number(v["net.ipv4.tcp_max_syn_backlog"]), host).to.be.at.least(8192);
                expect(Number(v["net.netfilter.nf_conntrack_max"]), host).to.be.at.least(262144);
                expect(Number(v["net.netfilter.nf_conntrack_buckets"]), host).to.be.at.least(65536);
            }
            // The guest kernel's own fs.file-max is far above the 2097152 asked for: it stays.
            const fileMax = BigInt(values["app-1"]["fs.file-max"]);
            expect(fileMax > 2097152n).to.equal(true);
            expect(await fleet.mustOnGuest("app-1", "grep '^fs.file-max' /etc/sysctl.d/60-nordfleet.conf")).to.include(String(fileMax));
        });
    });

    describe("consul", () => {
        it("lists every VM of the platform VLAN alive", async () => {
            const members = await fleet.mustOnGuest("consul-1", consulCli(`members -token-file=${CONSUL}/acl/recovery.token`));
            for (const name of Object.keys(hosts).filter(n => hosts[n].vlan === "platform")) {
                expect(members).to.match(new RegExp(`^${name}\\s+\\S+\\s+alive`, "m"));
            }
        });

        it("answers NAME.service.consul on every VM, through the node's own resolver too", async () => {
            const replicas = helloReplicas().map(h => hosts[h].address).sort();
            for (const name of Object.keys(hosts).filter(n => hosts[n].vlan === "platform")) {
                const answer = await answerOn(name, "dig +short +time=10 +tries=2 @127.0.0.1 -p 8600 hello.service.consul", replicas);
                expect(answer, name).to.deep.equal(replicas);
            }
            const viaResolver = await answerOn("gw-1", "getent ahostsv4 hello.service.consul | awk '{print $1}' | sort -u", replicas);
            expect(viaResolver, "gw-1 through /etc/resolv.conf").to.deep.equal(replicas);
        });

        it("resolves names outside .consul on every VM through the stack's resolvers, and .service.consul beside them", async () => {
            const replicas = helloReplicas().map(h => hosts[h].address).sort();
            for (const [name, host] of Object.entries<any>(hosts)) {
                // The lab's resolver answers with the hypervisor's address on the asking VM's VLAN.
                const bridge = `${host.address.split(".").slice(0, 3).join(".")}.1`;
                const answer = await answerOn(name, "getent ahostsv4 objects.lab.nordfleet.internal | awk '{print $1}' | sort -u", [bridge]);
                expect(answer, `${name} resolves the object store`).to.deep.equal([bridge]);
                if (host.vlan === "platform") {
                    expect(await answerOn(name, "getent ahostsv4 hello.service.consul | awk '{print $1}' | sort -u", replicas),
                        `${name} resolves hello.service.consul`).to.deep.equal(replicas);
                }
            }
            // A name in no zone is answered, not left to time out: NXDOMAIN or REFUSED, at once.
            const nowhere = await fleet.onGuest("app-1", "dig +time=3 +tries=1 no-such-name.example | grep -o 'status: [A-Z]*'");
            expect(nowhere.stdout.trim()).to.match(/^status: (NXDOMAIN|REFUSED)$/);
        });

        it("refuses its API without a token", async () => {
            const r = await fleet.onGuest("app-1", `curl -sS -o /dev/null -w '%{http_code}' --cacert ${CONSUL}/tls/ca.pem ` +
                `--cert ${CONSUL}/tls/agent.pem --key ${CONSUL}/tls/agent-key.pem https://127.0.0.1:8501/v1/kv/anything`);
            expect(r.stdout).to.equal("403");
            // Without a token only what DNS needs is readable: no key, no ACL, no registration.
            const tokens = await fleet.onGuest("app-1", consulCli("acl token list"));
            expect(tokens.status).to.not.equal(0);
            expect(tokens.stderr).to.match(/Permission denied|ACL not found|403/);
            const put = await fleet.onGuest("app-1", consulCli("kv put probe 1"));
            expect(put.status).to.not.equal(0);
        });
    });

    describe("data", () => {
        const psql = (sql: string) => `cd / && runuser -u postgres -- psql -X -qAt -h /run/postgresql -d hello -c "${sql}"`;

        it("refuses RabbitMQ's guest user", async () => {
            const r = await fleet.onGuest("mq-1", "rabbitmqctl authenticate_user guest guest");
            expect(r.status).to.not.equal(0);
        });

        it("archives WAL to the S3 store, reached by name over TLS (pgbackrest check)", async () => {
            const conf = await fleet.mustOnGuest("db-1", "grep -E '^repo1-(type|s3-endpoint|storage-ca-file)=' /etc/nordfleet/postgres/current/pgbackrest.conf");
            expect(conf).to.include("repo1-type=s3").and.include("repo1-s3-endpoint=objects.lab.nordfleet.internal")
                .and.include("repo1-storage-ca-file=");
            const check = await fleet.onGuest("db-1", "cd / && runuser -u postgres -- pgbackrest --config=/etc/nordfleet/postgres/current/pgbackrest.conf --stanza=db-1 check 2>&1");
            expect(check.status, check.stdout + check.stderr).to.equal(0);
            const archiver = await fleet.mustOnGuest("db-1", psql("select archived_count > 0, failed_count from pg_stat_archiver").replace("-d hello", "-d postgres"));
            expect(archiver.trim(), "pg_stat_archiver: archived something, failures").to.match(/^t\|\d+$/);
        });

        it("runs weekly full and daily differential backups that never start a stopped server", async () => {
            const timers = await fleet.mustOnGuest("db-1", "systemctl is-enabled nordfleet-pg-backup-full.timer nordfleet-pg-backup-diff.timer; " +
                "systemctl show -p Requisite -p IOSchedulingClass nordfleet-pg-backup@diff.service");
            expect(timers.split("\n")).to.include.members(["enabled", "Requisite=nordfleet-postgres.service", "IOSchedulingClass=3"]);
        });

        it("comes back by itself when the postmaster is killed, with backends at oom_score_adj 0, and the services reconnect", async () => {
            const mainPid = async () => (await fleet.mustOnGuest("db-1", "systemctl show -p MainPID --value nordfleet-postgres.service")).trim();
            const before = await mainPid();
            const scores = await fleet.mustOnGuest("db-1", `cat /proc/${before}/oom_score_adj; ` +
                `for c in $(pgrep -P ${before}); do cat /proc/$c/oom_score_adj; done | sort -u`);
            expect(scores.trim().split("\n"), "postmaster, then its children").to.deep.equal(["-1000", "0"]);
            await fleet.mustOnGuest("db-1", `kill -9 ${before}`);
            let after = "0";
            for (let i = 0; i < 120 && (after === "0" || after === before); i++) {
                await sleep(1000);
                after = await mainPid();
            }
            expect(after, "a new postmaster").to.not.be.oneOf(["0", before]);
            expect((await fleet.mustOnGuest("db-1", "systemctl show -p NRestarts --value nordfleet-postgres.service")).trim()).to.not.equal("0");
            let status = 0;
            for (let i = 0; i < 60 && status !== 200; i++) {
                status = get("/hello/").status;
                if (status !== 200) {
                    await sleep(2000);
                }
            }
            expect(status, "hello answers from its database again through the gateway").to.equal(200);
        });

        it("bounds a stopped consumer's queue: at the cap its publisher gets nacks, and other vhosts keep flowing", async () => {
            const publish = (envFile: string, exchange: string, count: number) => `python3 - <<'PY'
import pika, shlex, ssl, urllib.parse
env = dict(l.split("=", 1) for l in shlex.split(open("${envFile}").read(), comments=True) if "=" in l)
params = pika.URLParameters(env["AMQP_URL"])
params.ssl_options = pika.SSLOptions(ssl.create_default_context(cafile=env["AMQP_CA"]), server_hostname=params.host)
channel = pika.BlockingConnection(params).channel()
channel.confirm_delivery()
acked = nacked = 0
for i in range(${count}):
    try:
        channel.basic_publish("${exchange}", "probe", b"{}", pika.BasicProperties(delivery_mode=2))
        acked += 1
    except pika.exceptions.NackError:
        nacked += 1
print(acked, nacked)
PY`;
            const cap = 200; // audit's queueMaxLength in Pulumi.lab.yaml
            const depth = async () => Number((await fleet.mustOnGuest("mq-1",
                "rabbitmqctl -q list_queues -p hello name messages | awk '$1 == \"audit.hello\" {print $2}'")).trim());
            await fleet.mustOnGuest("app-1", "systemctl stop nordfleet-audit.service");
            try {
                const [acked, nacked] = (await fleet.mustOnGuest("app-1",
                    publish("/etc/nordfleet/service-hello/current/service.env", "hello.events", cap + 50))).trim().split(" ").map(Number);
                console.log(`      ${acked} confirmed, ${nacked} refused; audit.hello holds ${await depth()}`);
                expect(await depth(), "the queue stops at its cap").to.equal(cap);
                expect(nacked, "publishes past the cap are refused").to.be.at.least(50);
                const [auditAcked] = (await fleet.mustOnGuest("app-1",
                    publish("/etc/nordfleet/service-audit/current/service.env", "audit.events", 10))).trim().split(" ").map(Number);
                expect(auditAcked, "audit's own vhost still takes its events").to.equal(10);
            } finally {
                await fleet.mustOnGuest("app-1", "systemctl start nordfleet-audit.service");
            }
            let left = cap;
            for (let i = 0; i < 90 && left > 0; i++) {
                await sleep(2000);
                left = await depth();
            }
            expect(left, "audit drains its queue once it runs again").to.equal(0);
        });

        it("restores a dropped table from a backup", async () => {
            await fleet.mustOnGuest("db-1", psql("drop table if exists restore_probe; create table restore_probe as select generate_series(1, 500) as n"));
            await fleet.mustOnGuest("db-1", "systemctl start nordfleet-pg-backup@full.service");
            await fleet.mustOnGuest("db-1", psql("drop table restore_probe"));
            await fleet.mustOnGuest("db-1", "/etc/nordfleet/postgres/current/restore.sh --backup");
            expect((await fleet.mustOnGuest("db-1", psql("select count(*) from restore_probe"))).trim()).to.equal("500");
        });

        it("fails pulumi up on a setting PostgreSQL rejects, with its message, and keeps serving on the live config", async () => {
            const live = await fleet.mustOnGuest("db-1", "readlink /etc/nordfleet/postgres/current");
            const variant = writeLabStackVariant("bad-postgres", config => {
                config["nordfleet:postgres"] = { settings: { work_mem: "lots" } };
            });
            const r = labPulumi(["up", "--yes", "--skip-preview"], variant);
            expect(r.status).to.not.equal(0);
            expect(r.output).to.contain('invalid value for parameter "work_mem"');
            expect(await fleet.mustOnGuest("db-1", "readlink /etc/nordfleet/postgres/current")).to.equal(live);
            expect((await fleet.mustOnGuest("db-1", psql("show work_mem"))).trim()).to.not.equal("lots");
            // The service's own query path, through the gateway.
            const answer = get("/hello/");
            expect(answer.status, answer.body).to.equal(200);
            expect(JSON.parse(answer.body).db.visits).to.be.a("number");
        });
    });

    describe("a gateway update nginx rejects", () => {
        it("fails pulumi up with nginx's message, while clients polling every 100 ms see no failure", async () => {
            // A certificate and a key that do not belong together: valid config, refused by nginx -t.
            for (const name of ["a", "b"]) {
                const r = spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", path.join(tmp, `${name}.key`), "-out", path.join(tmp, `${name}.pem`), "-subj", `/CN=${serverName}`,
                    "-days", "1"], { encoding: "utf8" });
                expect(r.status, r.stderr).to.equal(0);
            }
            const variant = writeLabStackVariant("bad-gateway", config => {
                config["nordfleet:gateway"] = { tls: { certFile: path.join(tmp, "a.pem"), keyFile: path.join(tmp, "b.key") } };
            });
            const failures: string[] = [];
            let polls = 0;
            let updating = true;
            const update = labPulumiAsync(["up", "--yes", "--skip-preview"], variant).finally(() => { updating = false; });
            while (updating) {
                polls++;
                const r = await curlAsync(["-o", "/dev/null", "-w", "%{http_code}", `https://${serverName}/healthz`]);
                if (r !== "200") {
                    failures.push(r);
                }
                await sleep(100);
            }
            const result = await update;
            console.log(`      ${polls} polls during the failed update, ${failures.length} failed`);
            expect(result.status).to.not.equal(0);
            expect(result.output).to.match(/key values mismatch|SSL_CTX_use_PrivateKey/);
            expect(failures).to.deep.equal([]);
            // The old certificate, from the internal CA, is still what the gateway serves.
            expect(get("/healthz").status).to.equal(200);
        });
    });
});
