/**
 * PostgreSQL on a postgres host: one cluster per host, one database and one role per
 * service whose database lives there, data on the host's "pgdata" volume, WAL archived
 * and nightly base backups sent to the stack's backup endpoint with pgBackRest.
 *
 * Why a shared cluster per host rather than a cluster per service: a cluster costs its
 * own shared_buffers, WAL, checkpointer, port, systemd unit and pgBackRest stanza, and a
 * database per service already gives each service its own owner, its own credentials and
 * pg_hba rules admitting only its own hosts. The price is that a pgBackRest restore
 * rewinds every database of the cluster together, and that services share the volume's
 * I/O and space; a service that needs its own restore point or its own disk gets a
 * postgres host of its own (the mapping below is per host, so that is a config change).
 */
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { BackupSchedule, DEFAULT_BACKUP_SCHEDULE, Endpoint, FleetConfig, HostSpec } from "../../config/types";
import { Connection } from "../compute/connection";
import { InternalCa } from "../pki/internalCa";
import { liveRelease, ReleaseFile, RoleRelease } from "./release";
import { HostLedger } from "./hostLedger";
import { derived } from "../placeholder";
import { readTemplate, renderTemplate } from "../render";

export const PG_MAJOR = 15;
export const PG_PORT = 5432;
/** The data disk (in the host's `dataDisks`) that holds the cluster. */
export const PG_DATA_DISK = "pgdata";
const LIVE = liveRelease("postgres");
/** Finds, formats (only when blank) and mounts a data volume; RabbitMQ's release carries it too. */
export const DATA_VOLUME_SCRIPT = "postgres/data-volume.sh";
const MOUNT = "/var/lib/nordfleet/pgdata";
/** The backup store's CA certificate in the release, where the stack names one. */
const BACKUP_CA_FILE = "tls/backup-ca.crt";

/** A data host as the fleet built it: what a release needs to reach and identify it. */
export interface DataHost {
    host: HostSpec;
    connection: Connection;
    /** Changes when the guest is rebuilt, so a new machine gets its release again. */
    machine: pulumi.Input<string>;
    /** Where its releases' file digests are recorded, on its hypervisor. */
    ledger: HostLedger;
    /** Serial of each data volume (KvmInstance.volumeSerials). */
    volumeSerials: Record<string, string>;
}

/** The VLAN addresses of the hosts that run each service: the only clients its database admits. */
export function serviceClientAddresses(config: FleetConfig): Record<string, string[]> {
    return Object.fromEntries(config.services.map(s =>
        [s.name, config.hosts.filter(h => h.services.includes(s.name) && h.role === "service").map(h => h.address)]));
}

export interface PgMemory {
    sharedBuffersMb: number;
    effectiveCacheSizeMb: number;
    maintenanceWorkMemMb: number;
    workMemMb: number;
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, Math.floor(v)));

/** The usual starting point: a quarter of memory for shared_buffers, three quarters assumed as cache. */
export function pgMemory(memoryMb: number, maxConnections: number): PgMemory {
    const sharedBuffersMb = clamp(memoryMb / 4, 32, 16384);
    return {
        sharedBuffersMb,
        effectiveCacheSizeMb: clamp(memoryMb * 3 / 4, 64, 1 << 20),
        maintenanceWorkMemMb: clamp(memoryMb / 16, 16, 2048),
        workMemMb: clamp((memoryMb - sharedBuffersMb) / (maxConnections * 3), 2, 64),
    };
}

/** WAL, checkpoints and archiving, sized from the data volume and the VM's CPUs. */
export interface PgWal {
    maxWalSizeMb: number;
    minWalSizeMb: number;
    checkpointTimeout: string;
    /**
     * pgBackRest's archive-push-queue-max: past it, while the repository cannot be
     * reached, WAL is dropped from the queue (the backup chain breaks) rather than
     * filling the volume and stopping the database. pg_wal stays under this plus
     * max_wal_size: about a quarter of the volume.
     */
    archiveQueueMaxMb: number;
    /** pgBackRest's processes for archiving and backups. */
    processMax: number;
}

export function pgWal(volumeGb: number, vcpus: number): PgWal {
    const maxWalSizeMb = clamp(volumeGb * 1024 / 16, 256, 16384);
    return {
        maxWalSizeMb,
        minWalSizeMb: clamp(maxWalSizeMb / 4, 80, 4096),
        // A large volume's cluster writes more between checkpoints: fewer, spread-out ones.
        checkpointTimeout: volumeGb >= 100 ? "15min" : "5min",
        archiveQueueMaxMb: clamp(volumeGb * 1024 / 5, 128, 1 << 20),
        // A quarter of the CPUs at most: backups and archiving must not starve queries.
        processMax: clamp(vcpus / 4, 1, 8),
    };
}

/**
 * A SCRAM-SHA-256 verifier as PostgreSQL stores it (RFC 5802/7677), so only the verifier
 * travels to the host. The salt is derived from the password and role, which keeps the
 * release (and its digest) the same from one run to the next.
 */
export function scramVerifier(password: string, role: string, iterations = 4096): string {
    return derived([password], `postgres-verifier-of-${role}`, () => {
        const salt = crypto.createHmac("sha256", password).update(`nordfleet-scram-salt:${role}`).digest().subarray(0, 16);
        return scramVerifierWithSalt(password, salt, iterations);
    });
}

export function scramVerifierWithSalt(password: string, salt: Buffer, iterations: number): string {
    if (!/^[\x21-\x7e]+$/.test(password)) {
        // Printable ASCII is unchanged by SASLprep, which this does not implement.
        throw new Error("scramVerifier: the password must be printable ASCII");
    }
    const salted = crypto.pbkdf2Sync(password, salt, iterations, 32, "sha256");
    const hmac = (key: Buffer, text: string) => crypto.createHmac("sha256", key).update(text).digest();
    const storedKey = crypto.createHash("sha256").update(hmac(salted, "Client Key")).digest();
    const serverKey = hmac(salted, "Server Key");
    return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

/** A postgresql.conf value: numbers and booleans bare, anything else a quoted string. */
export const pgConfValue = (v: string | number | boolean) =>
    typeof v === "string" ? `'${v.replace(/\\/g, "\\\\").replace(/'/g, "''")}'` : String(v);

const sqlLiteral = (s: string) => `'${s.replace(/'/g, "''")}'`;
const sqlIdent = (s: string) => `"${s.replace(/"/g, '""')}"`;

/** Idempotent SQL (psql, fed on stdin) that creates or updates each service's role and database. */
export function renderRolesSql(roles: { name: string; verifier: string }[]): string {
    return renderTemplate("postgres/roles.sql.hbs", {
        roles: roles.map(r => ({ literal: sqlLiteral(r.name), ident: sqlIdent(r.name), verifier: sqlLiteral(r.verifier) })),
    });
}

export interface PgHbaRule {
    database: string;
    user: string;
    address: string;
}

export function renderPgHba(clients: Record<string, string[]>): string {
    const rules: PgHbaRule[] = Object.entries(clients).sort(([a], [b]) => a.localeCompare(b))
        .flatMap(([svc, addrs]) => addrs.map(address => ({ database: svc, user: svc, address })));
    return renderTemplate("postgres/pg_hba.conf.hbs", { rules });
}

export interface BackupRepo {
    type: "s3" | "posix";
    path: string;
    s3?: {
        bucket: string;
        /** Host name (or address) only; a port given in the URL goes to `port`. */
        endpoint: string;
        port?: number;
        region: string;
        uriStyle: "path" | "host";
        /** PEM of the CA the store's certificate chains to (`nordfleet:backup.caFile`), if not a public one. */
        caPem?: string;
    } & Partial<BackupCredentials>;
}

export interface BackupCredentials {
    accessKeyId: string;
    secretAccessKey: string;
}

/**
 * The pgBackRest repository for the stack's backup endpoint:
 * `s3://BUCKET[/PREFIX]?endpoint=HOST&region=R[&s3ForcePathStyle=true]` or `file:///PATH`
 * (a directory on the database host itself, for the lab).
 */
export function backupRepo(backup: Endpoint | undefined, caPem?: string): BackupRepo {
    if (!backup) {
        throw new Error("nordfleet:backup is not set; PostgreSQL archives its WAL there. Set it to s3://BUCKET?endpoint=HOST&region=R, or file:///var/lib/nordfleet/backup in a lab stack");
    }
    const url = new URL(backup.url);
    if (url.protocol === "file:") {
        return { type: "posix", path: decodeURIComponent(url.pathname) };
    }
    if (url.protocol !== "s3:") {
        throw new Error(`nordfleet:backup.url: "${backup.url}": pgBackRest needs an s3:// or file:// repository`);
    }
    const endpoint = url.searchParams.get("endpoint");
    const region = url.searchParams.get("region");
    if (!url.hostname || !endpoint || !region) {
        throw new Error(`nordfleet:backup.url: "${backup.url}" needs a bucket, ?endpoint= and &region=`);
    }
    const [, host, port] = /^(.*?)(?::(\d+))?$/.exec(endpoint)!;
    return {
        type: "s3",
        path: url.pathname.length > 1 ? url.pathname.replace(/\/+$/, "") : "/pgbackrest",
        s3: { bucket: url.hostname, endpoint: host, ...(port === undefined ? {} : { port: Number(port) }), region,
              uriStyle: url.searchParams.get("s3ForcePathStyle") === "true" ? "path" : "host",
              ...(caPem === undefined ? {} : { caPem }) },
    };
}

export interface PostgresReleaseInput {
    host: HostSpec;
    dataSerial: string;
    services: string[];
    clients: Record<string, string[]>;
    /** Service name to SCRAM verifier. */
    verifiers: Record<string, string>;
    tls: { certPem: string; keyPem: string; caPem: string };
    repo: BackupRepo;
    cipherPass: string;
    /** Extra postgresql.conf settings (nordfleet:postgres.settings). */
    settings?: Record<string, string | number | boolean>;
    /** When backups run and how long they are kept (nordfleet:postgres.backup). */
    backup?: BackupSchedule;
}

const pgdataOf = () => `${MOUNT}/${PG_MAJOR}/main`;

/** The plain variables the hooks read (no secrets). */
export function postgresVars(host: HostSpec, dataSerial: string, services: string[]): Record<string, string | number> {
    return {
        PG_MAJOR, MOUNT, PGDATA: pgdataOf(), DATA_SERIAL: dataSerial, DISK_DIR: "/dev/disk/by-id", FSTAB: "/etc/fstab",
        STANZA: host.name, ADDRESS: host.address, PORT: PG_PORT, DATABASES: services.join(" "),
    };
}

/** Every file of one postgres host's release. */
export function postgresReleaseFiles(p: PostgresReleaseInput): ReleaseFile[] {
    const settings = p.settings ?? {};
    // Memory sizing divides work_mem between connections, so a stack's max_connections counts.
    const maxConnections = Number(settings.max_connections) > 0 ? Number(settings.max_connections) : 100;
    const stanza = p.host.name;
    const pgdata = pgdataOf();
    const volumeGb = p.host.dataDisks.find(d => d.name === PG_DATA_DISK)?.sizeGb ?? 0;
    const ctx = { hostName: p.host.name, pgMajor: PG_MAJOR, live: LIVE, mount: MOUNT, pgdata, stanza,
                  address: p.host.address, port: PG_PORT, maxConnections, memory: pgMemory(p.host.memoryMb, maxConnections),
                  wal: pgWal(volumeGb, p.host.vcpus), backup: p.backup ?? DEFAULT_BACKUP_SCHEDULE,
                  settings: Object.entries(settings).map(([name, value]) => ({ name, value: pgConfValue(value) })) };
    const clients = Object.fromEntries(p.services.map(s => [s, p.clients[s] ?? []]));
    return [
        { path: "postgresql.conf", mode: "0644", content: renderTemplate("postgres/postgresql.conf.hbs", ctx) },
        { path: "pg_hba.conf", mode: "0644", content: renderPgHba(clients) },
        { path: "pg_ident.conf", mode: "0644", content: "# no identity maps\n" },
        { path: "tls/server.crt", mode: "0644", content: p.tls.certPem },
        { path: "tls/server.key", mode: "0600", owner: "postgres:postgres", content: p.tls.keyPem },
        { path: "tls/ca.crt", mode: "0644", content: p.tls.caPem },
        ...(p.repo.s3?.caPem === undefined ? [] : [{ path: BACKUP_CA_FILE, mode: "0644", content: p.repo.s3.caPem }]),
        { path: "pgbackrest.conf", mode: "0640", owner: "root:postgres",
          content: renderTemplate("postgres/pgbackrest.conf.hbs", { ...ctx, repo: p.repo, cipherPass: p.cipherPass,
                                                                  backupCaFile: `${LIVE}/${BACKUP_CA_FILE}` }) },
        { path: "roles.sql", mode: "0600",
          content: renderRolesSql(p.services.map(name => ({ name, verifier: p.verifiers[name] }))) },
        { path: "restore.sh", mode: "0750", content: renderTemplate("postgres/restore.sh.hbs", ctx) },
        { path: "data-volume.sh", mode: "0755", content: readTemplate(DATA_VOLUME_SCRIPT) },
        { path: "systemd/nordfleet-postgres.service", mode: "0644",
          content: renderTemplate("postgres/nordfleet-postgres.service.hbs", ctx) },
        { path: "systemd/nordfleet-pg-backup@.service", mode: "0644",
          content: renderTemplate("postgres/nordfleet-pg-backup@.service.hbs", ctx) },
        ...(["full", "diff"] as const).map(type => ({ path: `systemd/nordfleet-pg-backup-${type}.timer`, mode: "0644",
            content: renderTemplate("postgres/nordfleet-pg-backup.timer.hbs", {
                type, what: type === "full" ? "Full" : "Differential",
                onCalendar: type === "full" ? ctx.backup.full : ctx.backup.differential }) })),
    ];
}

export interface PostgresDatabaseArgs {
    /** The database VM, with its data volume's serial. */
    server: DataHost;
    /** The whole stack config: the backup target and schedule, extra settings. */
    config: FleetConfig;
    /** Services whose database lives on this host (see `databasePlacement`). */
    services: string[];
    /** Addresses of each service's hosts (see `serviceClientAddresses`). */
    clients: Record<string, string[]>;
    /** Issues the server's TLS certificate. */
    ca: InternalCa;
    /** The object store's CA certificate (`nordfleet:backup.caFile`, read by the loader). */
    backupCaPem?: string;
    /** Keys for an s3:// backup repository (secrets). */
    backupCredentials?: { accessKeyId: pulumi.Input<string>; secretAccessKey: pulumi.Input<string> };
}

export interface DatabaseConnection {
    /** host:port */
    endpoint: string;
    host: string;
    port: number;
    database: string;
    user: string;
    /** Secret. */
    password: pulumi.Output<string>;
}

export class PostgresDatabase extends pulumi.ComponentResource {
    /** Per service: where and how to connect. */
    public readonly databases: Record<string, DatabaseConnection>;
    /** Digest of the live release, once the host runs it. */
    public readonly release: pulumi.Output<string>;

    constructor(name: string, args: PostgresDatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
        const { host } = args.server;
        super("nordfleet:platform:PostgresDatabase", name, { host: host.name }, opts);
        const dataSerial = args.server.volumeSerials[PG_DATA_DISK];
        if (!dataSerial) {
            throw new Error(`postgres host "${host.name}" needs a data disk named "${PG_DATA_DISK}" for the cluster`);
        }
        if (args.config.backup?.caFile !== undefined && args.backupCaPem === undefined) {
            throw new Error(`PostgresDatabase ${name}: nordfleet:backup.caFile is set, but it was not read (backupCaPem)`);
        }
        const repo = backupRepo(args.config.backup, args.backupCaPem);
        if (repo.s3 && !args.backupCredentials) {
            throw new Error(`PostgresDatabase ${name}: an s3:// backup repository needs backupCredentials (access key id and secret)`);
        }

        const passwords = Object.fromEntries(args.services.map(svc => [svc, new random.RandomPassword(`${name}-${svc}-password`,
            { length: 32, special: false }, { parent: this }).result]));
        const cipher = new random.RandomPassword(`${name}-backup-cipher`, { length: 48, special: false }, { parent: this });
        const tls = args.ca.issue(`${name}-tls`, { commonName: host.name, dnsNames: [host.name], ipAddresses: [host.address] }, this);

        const verifiers = pulumi.all(passwords).apply(pw =>
            Object.fromEntries(Object.entries(pw).map(([svc, p]) => [svc, scramVerifier(p, svc)])));
        const credentials = pulumi.output(args.backupCredentials ?? null);
        const files = pulumi.secret(pulumi.all([verifiers, tls.certPem, tls.privateKeyPem, args.ca.certPem, cipher.result, credentials])
            .apply(([v, certPem, keyPem, caPem, cipherPass, creds]) => postgresReleaseFiles({
                host, dataSerial, services: args.services, clients: args.clients, verifiers: v,
                tls: { certPem, keyPem, caPem }, cipherPass, settings: args.config.postgres.settings,
                backup: args.config.postgres.backup,
                repo: repo.s3 ? { ...repo, s3: { ...repo.s3, ...(creds as BackupCredentials) } } : repo,
            })));
        const roleRelease = new RoleRelease(`${name}-release`, {
            connection: args.server.connection, ledger: args.server.ledger, role: "postgres", hooks: "postgres/hooks.sh",
            files, vars: postgresVars(host, dataSerial, args.services), machine: args.server.machine,
        }, { parent: this });
        this.release = roleRelease.release;

        this.databases = Object.fromEntries(args.services.map(svc => [svc, {
            endpoint: `${host.address}:${PG_PORT}`, host: host.address, port: PG_PORT, database: svc, user: svc,
            password: pulumi.secret(passwords[svc]),
        }]));
        this.registerOutputs({ databases: this.databases, release: this.release });
    }
}
