import { expect } from "chai";
import { databasePlacement } from "../config/placement";
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { isSecretValue, recorded, settle, valueOf, mockLedger, releaseScriptOf } from "./mocks";
import { ConfigError, parseFleetConfig, RawConfig } from "../config/load";
import { BackupSchedule, FleetConfig, HostSpec } from "../config/types";
import {
    backupRepo, pgMemory, pgWal, PostgresDatabase, postgresReleaseFiles, postgresVars, renderPgHba,
    renderRolesSql, scramVerifier, scramVerifierWithSalt, serviceClientAddresses,
} from "../components/platform/postgresDatabase";
import { InternalCa } from "../components/pki/internalCa";
import { labConfig } from "./fixtures";

/**
 * The shared mocks give no value to a RandomPassword's result or a certificate's PEM;
 * these components compute from them, so the test supplies recognisable ones.
 */
export function fillGeneratedValues(): void {
    const monitor: any = (pulumi.runtime as any).getMonitor?.() ?? require("@pulumi/pulumi/runtime/settings").getMonitor();
    if (!monitor?.mocks || monitor.mocks.nordfleetFilled) {
        return;
    }
    const inner = monitor.mocks;
    monitor.mocks = {
        nordfleetFilled: true,
        call: (args: any) => inner.call(args),
        newResource: (args: any) => {
            const r = inner.newResource(args);
            if (args.type === "random:index/randomPassword:RandomPassword") {
                r.state.result = `pw${Buffer.from(args.name).toString("hex")}`.slice(0, args.inputs.length);
            }
            if (/^tls:index\/(locallySignedCert|selfSignedCert):/.test(args.type)) {
                r.state.certPem = `-----BEGIN CERTIFICATE-----\n${args.name}\n-----END CERTIFICATE-----\n`;
            }
            return r;
        },
    };
}

/** The raw stack config the tests start from: three services, one postgres host. */
function rawConfig(): RawConfig {
    const raw: RawConfig = labConfig();
    raw.services = [
        { name: "orders", port: 8081, replicas: 1, database: true, queue: true },
        { name: "catalog", port: 8082, replicas: 1, database: true },
        { name: "web", port: 8083, replicas: 1 },
    ];
    raw.hosts = [
        ...(raw.hosts as any[]).filter(h => h.role !== "postgres" && h.role !== "service"),
        { name: "app-1", role: "service", vlan: "platform", address: "10.110.0.30", memoryMb: 512, services: ["orders", "catalog", "web"] },
        { name: "app-2", role: "service", vlan: "platform", address: "10.110.0.31", memoryMb: 512, services: ["orders"] },
        { name: "pg-1", role: "postgres", vlan: "platform", address: "10.110.0.40", memoryMb: 2048,
          dataDisks: [{ name: "pgdata", sizeGb: 2 }] },
    ];
    raw.backup = { url: "s3://nordfleet-backups?endpoint=objects.sto.nordfleet.internal&region=stockholm", site: "stockholm-1" };
    raw.dns = { resolvers: [{ address: "10.110.0.2", site: "stockholm-1" }] };
    return raw;
}

/** A parsed config; `mutate` runs after parsing, for what the loader does not accept (a file:// backup). */
function config(mutate: (c: FleetConfig) => void = () => undefined): FleetConfig {
    const parsed = parseFleetConfig(rawConfig()).config;
    mutate(parsed);
    return parsed;
}

const hostOf = (c: FleetConfig, name: string) => c.hosts.find(h => h.name === name)!;

describe("postgres: SCRAM verifiers", () => {
    it("match the RFC 7677 exchange for user/pencil", () => {
        // RFC 7677 section 3: the client's proof must verify against the StoredKey we compute.
        const verifier = scramVerifierWithSalt("pencil", Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64"), 4096);
        const [, keys] = verifier.split("$").slice(1);
        const [storedKey, serverKey] = keys.split(":").map(k => Buffer.from(k, "base64"));
        const nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        const authMessage = `n=user,r=rOprNGfwEbeRWgbNEkqO,r=${nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=${nonce}`;
        const proof = Buffer.from("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "base64");
        const signature = crypto.createHmac("sha256", storedKey).update(authMessage).digest();
        const clientKey = Buffer.from(proof.map((b, i) => b ^ signature[i]));
        expect(crypto.createHash("sha256").update(clientKey).digest().equals(storedKey)).to.equal(true);
        expect(crypto.createHmac("sha256", serverKey).update(authMessage).digest("base64"))
            .to.equal("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    });

    it("are stable for a password and role, differ across roles, and never contain the password", () => {
        const v = scramVerifier("Secret123Secret123", "orders");
        expect(v).to.match(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/);
        expect(scramVerifier("Secret123Secret123", "orders")).to.equal(v);
        expect(scramVerifier("Secret123Secret123", "catalog")).to.not.equal(v);
        expect(v).to.not.contain("Secret123");
        expect(() => scramVerifier("pässword", "orders")).to.throw("printable ASCII");
    });
});

describe("postgres: mapping and rendering", () => {
    it("puts every database on the single postgres host, and admits each service only from its hosts", () => {
        const c = config();
        expect(databasePlacement(c)).to.deep.equal({ "pg-1": ["orders", "catalog"] });
        expect(serviceClientAddresses(c)).to.deep.include({ orders: ["10.110.0.30", "10.110.0.31"], catalog: ["10.110.0.30"] });
    });

    describe("with two postgres hosts", () => {
        const twoHosts = (pg1: string[] | undefined, pg2: string[] | undefined) => {
            const raw = rawConfig();
            const hosts = raw.hosts as any[];
            const pg1Host = hosts.find(h => h.name === "pg-1");
            hosts.push({ ...pg1Host, name: "pg-2", address: "10.110.0.41", databases: pg2 });
            pg1Host.databases = pg1;
            return raw;
        };

        it("places each service's database on the host whose databases name it", () => {
            const { config: c } = parseFleetConfig(twoHosts(["orders"], ["catalog"]));
            expect(databasePlacement(c)).to.deep.equal({ "pg-1": ["orders"], "pg-2": ["catalog"] });
        });

        it("refuses a database on no host, on two, or one that is not a service's", () => {
            expect(() => parseFleetConfig(twoHosts(["orders"], undefined))).to.throw(
                `database placement: service "catalog" has database: true but its database is on no postgres host; ` +
                `list it in the databases of exactly one postgres host`);
            expect(() => parseFleetConfig(twoHosts(["orders", "catalog"], ["orders", "web"]))).to.throw(
                `service "orders" has database: true but its database is on 2 postgres hosts (pg-1, pg-2); ` +
                `list it in the databases of exactly one postgres host; ` +
                `postgres host "pg-2" lists "web", which is not a service with database: true`);
        });

        it("refuses databases on a host that is not a postgres host, and an unknown name", () => {
            const raw = twoHosts(["orders"], ["catalog", "billing"]);
            (raw.hosts as any[]).find(h => h.name === "app-2").databases = ["orders"];
            expect(() => parseFleetConfig(raw)).to.throw(ConfigError).with.property("problems").that.includes.members([
                `nordfleet:hosts[3].databases: only hosts with role "postgres" hold databases; remove it from "app-2"`,
                `nordfleet:hosts[5].databases[1]: "billing" is not a declared service; use one of: orders, catalog`,
            ]);
        });
    });

    it("renders pg_hba: superuser by peer, hostssl scram per service host, everything else rejected", () => {
        expect(renderPgHba({ orders: ["10.110.0.30", "10.110.0.31"], catalog: ["10.110.0.30"] }).split("\n").filter(l => l && !l.startsWith("#")))
            .to.deep.equal([
                "local   all       postgres                 peer",
                "local   all       all                      reject",
                'hostssl "catalog" "catalog" 10.110.0.30/32 scram-sha-256',
                'hostssl "orders" "orders" 10.110.0.30/32 scram-sha-256',
                'hostssl "orders" "orders" 10.110.0.31/32 scram-sha-256',
                "host    all       all   0.0.0.0/0          reject",
                "host    all       all   ::/0               reject",
            ]);
    });

    it("creates roles and databases idempotently, quoting names and sending only the verifier", () => {
        const sql = renderRolesSql([{ name: "order-api", verifier: "SCRAM-SHA-256$4096:abc$def:ghi" }]);
        expect(sql).to.contain(`SELECT format('CREATE ROLE %I', 'order-api') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'order-api')\n\\gexec`);
        expect(sql).to.contain(`ALTER ROLE "order-api" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD 'SCRAM-SHA-256$4096:abc$def:ghi';`);
        expect(sql).to.contain(`REVOKE ALL ON DATABASE "order-api" FROM PUBLIC;`);
        expect(sql.indexOf("SET log_statement = 'none'")).to.be.lessThan(sql.indexOf("ALTER ROLE"));
    });

    it("sizes memory from the host", () => {
        expect(pgMemory(2048, 100)).to.deep.equal({ sharedBuffersMb: 512, effectiveCacheSizeMb: 1536, maintenanceWorkMemMb: 128, workMemMb: 5 });
        expect(pgMemory(512, 100)).to.deep.equal({ sharedBuffersMb: 128, effectiveCacheSizeMb: 384, maintenanceWorkMemMb: 32, workMemMb: 2 });
    });

    it("sizes WAL, checkpoints and archiving from the data volume and the CPUs (the lab's db-1 and prod's pg-1)", () => {
        expect(pgWal(2, 1)).to.deep.equal({ maxWalSizeMb: 256, minWalSizeMb: 80, checkpointTimeout: "5min",
                                            archiveQueueMaxMb: 409, processMax: 1 });
        expect(pgWal(500, 8)).to.deep.equal({ maxWalSizeMb: 16384, minWalSizeMb: 4096, checkpointTimeout: "15min",
                                              archiveQueueMaxMb: 102400, processMax: 2 });
    });

    it("renders the derived values, the backup schedule and the production settings at two VM sizes", () => {
        const render = (sizeGb: number, vcpus: number, backup?: BackupSchedule) => {
            const host = { ...hostOf(config(), "pg-1"), vcpus, dataDisks: [{ name: "pgdata", sizeGb, protect: true }] };
            const files = postgresReleaseFiles({
                host, dataSerial: "s", services: [], clients: {}, verifiers: {}, backup,
                tls: { certPem: "C", keyPem: "K", caPem: "A" }, repo: { type: "posix", path: "/b" }, cipherPass: "x",
            });
            return Object.fromEntries(files.map(f => [f.path, f.content]));
        };
        const small = render(2, 1);
        expect(small["postgresql.conf"]).to.contain("max_wal_size = 256MB\nmin_wal_size = 80MB\ncheckpoint_timeout = 5min\n")
            .and.contain("wal_compression = lz4").and.contain("idle_in_transaction_session_timeout = '10min'")
            .and.contain("shared_preload_libraries = 'pg_stat_statements'");
        expect(small["pgbackrest.conf"]).to.contain("repo1-retention-full-type=time\nrepo1-retention-full=14\n")
            .and.contain("archive-async=y\nspool-path=/var/spool/pgbackrest\narchive-push-queue-max=409MB\nprocess-max=1\n");
        expect(small["systemd/nordfleet-pg-backup-full.timer"]).to.contain("OnCalendar=Sun *-*-* 01:00:00\n")
            .and.contain("Unit=nordfleet-pg-backup@full.service");
        expect(small["systemd/nordfleet-pg-backup-diff.timer"]).to.contain("OnCalendar=Mon..Sat *-*-* 01:00:00\n")
            .and.contain("Unit=nordfleet-pg-backup@diff.service");
        expect(small["systemd/nordfleet-pg-backup@.service"]).to.contain("Requisite=nordfleet-postgres.service")
            .and.contain("IOSchedulingClass=idle").and.contain("--type=%i backup");
        expect(small["systemd/nordfleet-pg-backup@.service"]).not.to.contain("Requires=");
        expect(small["systemd/nordfleet-postgres.service"]).to.contain("Restart=on-failure")
            .and.contain("OOMScoreAdjust=-1000\nEnvironment=PG_OOM_ADJUST_FILE=/proc/self/oom_score_adj\nEnvironment=PG_OOM_ADJUST_VALUE=0");

        const large = render(500, 8, { full: "daily", differential: "*-*-* 13:00:00", retentionDays: 30 });
        expect(large["postgresql.conf"]).to.contain("max_wal_size = 16384MB\nmin_wal_size = 4096MB\ncheckpoint_timeout = 15min\n");
        expect(large["pgbackrest.conf"]).to.contain("repo1-retention-full=30\n").and.contain("archive-push-queue-max=102400MB\nprocess-max=2\n");
        expect(large["systemd/nordfleet-pg-backup-full.timer"]).to.contain("OnCalendar=daily\n");
        expect(large["systemd/nordfleet-pg-backup-diff.timer"]).to.contain("OnCalendar=*-*-* 13:00:00\n");
    });

    it("maps the backup endpoint to a pgBackRest repository", () => {
        expect(backupRepo({ url: "s3://nordfleet-backups?endpoint=objects.sto.nordfleet.internal&region=stockholm&s3ForcePathStyle=true", site: "stockholm-1" }))
            .to.deep.equal({ type: "s3", path: "/pgbackrest",
                s3: { bucket: "nordfleet-backups", endpoint: "objects.sto.nordfleet.internal", region: "stockholm", uriStyle: "path" } });
        expect(backupRepo({ url: "s3://b/db/pg/?endpoint=e&region=r", site: "oslo-1" }).path).to.equal("/db/pg");
        expect(backupRepo({ url: "file:///var/lib/nordfleet/backup", site: "lab" })).to.deep.equal({ type: "posix", path: "/var/lib/nordfleet/backup" });
        expect(() => backupRepo({ url: "https://backup.example/x", site: "oslo-1" }))
            .to.throw(`nordfleet:backup.url: "https://backup.example/x": pgBackRest needs an s3:// or file:// repository`);
        expect(() => backupRepo({ url: "s3://b?region=r", site: "oslo-1" })).to.throw("needs a bucket, ?endpoint= and &region=");
        expect(() => backupRepo(undefined)).to.throw("nordfleet:backup is not set");
    });

    it("renders the stack's settings last, quoted as postgresql.conf wants, and sizes work_mem by their max_connections", () => {
        const conf = postgresReleaseFiles({
            host: hostOf(config(), "pg-1"), dataSerial: "s", services: [], clients: {}, verifiers: {},
            tls: { certPem: "C", keyPem: "K", caPem: "A" }, repo: { type: "posix", path: "/b" }, cipherPass: "x",
            settings: { max_connections: 400, search_path: "'$user', public", jit: false, "app.note": "C:\\temp" },
        }).find(f => f.path === "postgresql.conf")!.content;
        const tail = conf.slice(conf.indexOf("# The stack's own settings")).split("\n").slice(1, 5);
        expect(tail).to.deep.equal(["max_connections = 400", "search_path = '''$user'', public'", "jit = false",
            "app.note = 'C:\\\\temp'"]);
        expect(conf).to.contain(`work_mem = ${pgMemory(512, 400).workMemMb}MB`);
    });

    it("renders a release whose files point at the live tree and keep secrets from other users", () => {
        const c = config();
        const host = hostOf(c, "pg-1");
        const files = postgresReleaseFiles({
            host, dataSerial: "nf0123", services: ["orders", "catalog"], clients: serviceClientAddresses(c),
            verifiers: { orders: "SCRAM-o", catalog: "SCRAM-c" }, tls: { certPem: "CERT", keyPem: "KEY", caPem: "CA" },
            repo: { type: "posix", path: "/var/lib/nordfleet/backup" }, cipherPass: "cipher-secret",
        });
        const by = Object.fromEntries(files.map(f => [f.path, f]));
        const conf = by["postgresql.conf"].content;
        expect(conf).to.contain("listen_addresses = 'localhost,10.110.0.40'");
        expect(conf).to.contain("data_directory = '/var/lib/nordfleet/pgdata/15/main'");
        expect(conf).to.contain("hba_file = '/etc/nordfleet/postgres/current/pg_hba.conf'");
        expect(conf).to.contain("archive_command = 'pgbackrest --config=/etc/nordfleet/postgres/current/pgbackrest.conf --stanza=pg-1 archive-push %p'");
        expect(conf).to.contain("shared_buffers = 512MB");
        expect(by["tls/server.key"]).to.include({ mode: "0600", owner: "postgres:postgres" });
        expect(by["pgbackrest.conf"]).to.include({ mode: "0640", owner: "root:postgres" });
        expect(by["pgbackrest.conf"].content).to.contain("repo1-type=posix\nrepo1-path=/var/lib/nordfleet/backup\n");
        expect(by["roles.sql"].mode).to.equal("0600");
        expect(by["systemd/nordfleet-postgres.service"].content)
            .to.contain("ExecStart=/usr/lib/postgresql/15/bin/postgres -c config_file=/etc/nordfleet/postgres/current/postgresql.conf");
        expect(conf).to.not.contain("The stack's own settings");
        expect(postgresVars(host, "nf0123", ["orders", "catalog"])).to.include({ DATA_SERIAL: "nf0123", DATABASES: "orders catalog", ADDRESS: "10.110.0.40" });
    });
});

describe("PostgresDatabase component (mocked)", () => {
    before(fillGeneratedValues);

    function build(c: FleetConfig, host: HostSpec, extra: Partial<ConstructorParameters<typeof PostgresDatabase>[1]> = {}) {
        const ca = new InternalCa("ca", { organization: "nordfleet" });
        return new PostgresDatabase("db-pg-1", {
            server: { host, connection: { host: host.address, user: "root" }, machine: "m-1", volumeSerials: { pgdata: "nfpg1" },
                      ledger: mockLedger(host.name) },
            config: c, services: databasePlacement(c)["pg-1"], clients: serviceClientAddresses(c), ca, ...extra,
        });
    }

    it("creates a password per service, a backup cipher, a certificate and one release, all children of the component", async () => {
        const c = config(c => { c.backup = { url: "file:///var/lib/nordfleet/backup", site: "lab" }; });
        recorded.length = 0;
        const db = build(c, hostOf(c, "pg-1"));
        const orders = db.databases.orders;
        expect(orders).to.include({ endpoint: "10.110.0.40:5432", host: "10.110.0.40", port: 5432, database: "orders", user: "orders" });
        expect(await valueOf(orders.password)).to.match(/^pw/);
        expect(await valueOf(db.release)).to.match(/^[0-9a-f]{16}$/);
        await settle();
        const mine = recorded.filter(r => r.name.startsWith("db-pg-1"));
        expect(mine.map(r => `${r.type} ${r.name}`)).to.include.members([
            "random:index/randomPassword:RandomPassword db-pg-1-orders-password",
            "random:index/randomPassword:RandomPassword db-pg-1-catalog-password",
            "random:index/randomPassword:RandomPassword db-pg-1-backup-cipher",
            "tls:index/locallySignedCert:LocallySignedCert db-pg-1-tls-cert",
            "command:remote:CopyToRemote db-pg-1-release-bundle",
            "command:remote:Command db-pg-1-release-apply",
        ]);
        const apply = recorded.find(r => r.name === "db-pg-1-release-apply")!;
        expect(isSecretValue(apply.inputs.stdin)).to.equal(true);
        const script = releaseScriptOf(apply.inputs);
        const password = await valueOf(orders.password);
        expect(script).to.contain("'nf_file' 'roles.sql'");
        expect(script).to.not.contain(password);
        expect(JSON.stringify(apply.inputs.create)).to.not.contain(password);
        const roles = script.split("\n").find(l => l.startsWith("'nf_file' 'roles.sql'"))!.split(" ")[4].replace(/'/g, "");
        expect(Buffer.from(roles, "base64").toString()).to.contain(scramVerifier(password, "orders"));
    });

    it("refuses a host without a pgdata disk, and an s3 repository without credentials", () => {
        const c = config(c => { c.backup = { url: "s3://b?endpoint=e&region=r", site: "stockholm-1" }; });
        const host = hostOf(c, "pg-1");
        const ca = new InternalCa("ca2", { organization: "nordfleet" });
        const args = { config: c, services: ["orders"], clients: {}, ca };
        expect(() => new PostgresDatabase("x1", { ...args, server: { host, connection: { host: "h" }, machine: "m", ledger: mockLedger(host.name, "hv"), volumeSerials: { data: "s" } } }))
            .to.throw(`postgres host "pg-1" needs a data disk named "pgdata" for the cluster`);
        expect(() => new PostgresDatabase("x2", { ...args, server: { host, connection: { host: "h" }, machine: "m", ledger: mockLedger(host.name, "hv"), volumeSerials: { pgdata: "s" } } }))
            .to.throw("PostgresDatabase x2: an s3:// backup repository needs backupCredentials");
    });
});
