/**
 * RabbitMQ on the rabbitmq hosts: one node or a cluster (classic peer discovery, one
 * Erlang cookie), AMQPS only, and per service with `queue: true` a vhost of its own and a
 * user of its own.
 *
 * Least privilege, and the event topology the platform declares (services declare none):
 * - service P owns vhost P. Its user may configure, write and read only P's own names
 *   ("^P\." in P's vhost: its exchange P.events and any P.* queue it wants), so it can
 *   neither read nor delete the queues its consumers read from, and has no tags.
 * - a service C that `consumes` P gets a durable queue "C.P" in P's vhost, bound to
 *   P.events for every routing key, and may only read that queue there (configure and
 *   write "^$").
 * A vhost per service keeps each service's resources apart from the others'; the name
 * patterns keep consumers and producers apart inside one. Passwords reach the node only as
 * salted SHA-256 hashes in a definitions file, never as plaintext or on a command line.
 */
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { FleetConfig, HostSpec } from "../../config/types";
import { InternalCa } from "../pki/internalCa";
import { DATA_VOLUME_SCRIPT, DataHost } from "./postgresDatabase";
import { liveRelease, ReleaseFile, RoleRelease } from "./release";
import { derived, encodeUriComponent } from "../placeholder";
import { readTemplate, renderTemplate } from "../render";

export const AMQPS_PORT = 5671;
const LIVE = liveRelease("rabbitmq");
/** The data disk (in the host's `dataDisks`) that holds the node's message store, if it has one. */
export const MQ_DATA_DISK = "mnesia";
const MNESIA_DIR = "/var/lib/rabbitmq/mnesia";
/** A node under software emulation takes about 90 s to boot: allow twice that. */
const START_WAIT_SECONDS = 180;
/**
 * How long systemd lets the node start. The package's 600 s is less than an emulated node
 * on a busy hypervisor can take; a node that never starts still fails, after this.
 */
export const SYSTEMD_START_TIMEOUT_SECONDS = 1800;

/**
 * RabbitMQ's rabbit_password_hashing_sha256: base64(salt || sha256(salt || password)) with
 * a 4-byte salt. The salt is derived from the password and user, so the release stays the
 * same from one run to the next.
 */
export function rabbitPasswordHash(password: string, user: string): string {
    return derived([password], `rabbitmq-hash-of-${user}`, () => {
        const salt = crypto.createHmac("sha256", password).update(`nordfleet-rabbit-salt:${user}`).digest().subarray(0, 4);
        const digest = crypto.createHash("sha256").update(Buffer.concat([salt, Buffer.from(password, "utf8")])).digest();
        return Buffer.concat([salt, digest]).toString("base64");
    });
}

export interface BrokerService {
    name: string;
    passwordHash: string;
    /** Producers whose events this service reads. */
    consumes: string[];
    /** Messages each of its queues holds at most (the service's queueMaxLength). */
    queueMaxLength?: number;
}

/** A consumer queue's bound when the service sets none: a stopped consumer never fills the node's disk. */
export const DEFAULT_QUEUE_MAX_LENGTH = 100000;

const quoteRe = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const own = (name: string) => `^${quoteRe(name)}\\..*`;
const exact = (name: string) => `^${quoteRe(name)}$`;

/**
 * Users, vhosts, permissions, each producer's exchange and each consumer's queue, in
 * RabbitMQ's definitions format, which the release imports into the running node.
 */
export function renderDefinitions(services: BrokerService[]): string {
    const names = new Set(services.map(s => s.name));
    const maxLength = new Map(services.map(s => [s.name, s.queueMaxLength ?? DEFAULT_QUEUE_MAX_LENGTH]));
    const edges = services.flatMap(c => c.consumes.map(p => {
        if (!names.has(p)) {
            throw new Error(`service "${c.name}" consumes events of "${p}", which has no vhost on the broker (queue: true)`);
        }
        return { consumer: c.name, producer: p, queue: `${c.name}.${p}` };
    }));
    return JSON.stringify({
        users: services.map(s => ({ name: s.name, password_hash: s.passwordHash,
            hashing_algorithm: "rabbit_password_hashing_sha256", tags: [], limits: {} })),
        vhosts: services.map(s => ({ name: s.name })),
        permissions: [
            ...services.map(s => ({ user: s.name, vhost: s.name, configure: own(s.name), write: own(s.name), read: own(s.name) })),
            ...edges.map(e => ({ user: e.consumer, vhost: e.producer, configure: "^$", write: "^$", read: exact(e.queue) })),
        ],
        exchanges: services.map(s => ({ name: `${s.name}.events`, vhost: s.name, type: "topic", durable: true,
            auto_delete: false, internal: false, arguments: {} })),
        queues: edges.map(e => ({ name: e.queue, vhost: e.producer, durable: true, auto_delete: false,
            arguments: { "x-queue-type": "classic" } })),
        bindings: edges.map(e => ({ source: `${e.producer}.events`, vhost: e.producer, destination: e.queue,
            destination_type: "queue", routing_key: "#", arguments: {} })),
        // A policy, not queue arguments: it changes on a live queue. At the cap the broker
        // nacks the publish (publishers with confirms see it) instead of growing the queue
        // until the disk alarm blocks every publisher of every vhost.
        policies: edges.map(e => ({ vhost: e.producer, name: `nordfleet-bound-${e.queue}`, pattern: exact(e.queue),
            "apply-to": "queues", priority: 10,
            definition: { "max-length": maxLength.get(e.consumer), overflow: "reject-publish" } })),
    }, null, 2) + "\n";
}

/** amqps://user:password@host:5671/vhost, every part percent-encoded. */
export function amqpsUrl(user: string, password: string, host: string, vhost: string): string {
    return `amqps://${encodeURIComponent(user)}:${encodeUriComponent(password)}@${host}:${AMQPS_PORT}/${encodeURIComponent(vhost)}`;
}

export interface RabbitMqReleaseInput {
    host: HostSpec;
    /** Every node of the cluster, this one included. */
    nodes: HostSpec[];
    services: BrokerService[];
    cookie: string;
    tls: { certPem: string; keyPem: string; caPem: string };
    /** The node's message store is on its own volume (the "mnesia" data disk). */
    hasDataVolume?: boolean;
}

/**
 * The broker unit's drop-in: the start timeout and, with a data volume, a start that
 * waits for it: a broker started on an empty mnesia on the root disk would come up with
 * no users, vhosts or queues.
 */
export function renderUnitDropIn(hasDataVolume: boolean): string {
    return (hasDataVolume ? `[Unit]\nRequiresMountsFor=${MNESIA_DIR}\n\n` : "") +
        `[Service]\nTimeoutStartSec=${SYSTEMD_START_TIMEOUT_SECONDS}\n`;
}

/** Every file of one node's release. */
export function rabbitMqReleaseFiles(p: RabbitMqReleaseInput): ReleaseFile[] {
    const ctx = {
        hostName: p.host.name, address: p.host.address, port: AMQPS_PORT, live: LIVE, memoryMb: p.host.memoryMb,
        cluster: p.nodes.length > 1, peers: p.nodes.map((n, i) => ({ index: i + 1, name: n.name })),
    };
    return [
        { path: "rabbitmq.conf", mode: "0644", content: renderTemplate("rabbitmq/rabbitmq.conf.hbs", ctx) },
        { path: "rabbitmq-env.conf", mode: "0644", content: renderTemplate("rabbitmq/rabbitmq-env.conf.hbs", ctx) },
        { path: "enabled_plugins", mode: "0644", content: "[].\n" },
        { path: "unit-dropin.conf", mode: "0644", content: renderUnitDropIn(p.hasDataVolume ?? false) },
        ...["validate.erl", "definitions.erl", "status.erl"].map(name =>
            ({ path: name, mode: "0644", content: readTemplate(`rabbitmq/${name}`) })),
        { path: "tls/server.crt", mode: "0644", content: p.tls.certPem },
        { path: "tls/server.key", mode: "0600", owner: "rabbitmq:rabbitmq", content: p.tls.keyPem },
        { path: "tls/ca.crt", mode: "0644", content: p.tls.caPem },
        { path: "erlang.cookie", mode: "0400", content: p.cookie },
        { path: "definitions.json", mode: "0640", owner: "root:rabbitmq",
          content: renderDefinitions(p.services) },
        { path: "data-volume.sh", mode: "0755", content: readTemplate(DATA_VOLUME_SCRIPT) },
    ];
}

/**
 * The plain variables the hooks read (no secrets). `dataSerial`: the serial of the host's
 * "mnesia" volume, which then holds /var/lib/rabbitmq/mnesia; without one, the root disk does.
 */
export function rabbitMqVars(host: HostSpec, nodes: HostSpec[], services: string[],
                             dataSerial = ""): Record<string, string | number> {
    return {
        DATA_SERIAL: dataSerial, DISK_DIR: "/dev/disk/by-id", FSTAB: "/etc/fstab", MNESIA: MNESIA_DIR,
        NODE: `rabbit@${host.name}`, ADDRESS: host.address, PORT: AMQPS_PORT, VHOSTS: [...services].sort().join(" "),
        PEERS: nodes.map(n => `${n.name}=${n.address}`).join(" "),
        ENV_FILE: "/etc/rabbitmq/rabbitmq-env.conf", COOKIE: "/var/lib/rabbitmq/.erlang.cookie", HOSTS_FILE: "/etc/hosts",
        WAIT: START_WAIT_SECONDS, UNIT_DROPIN: "/etc/systemd/system/rabbitmq-server.service.d/nordfleet.conf",
    };
}

export interface RabbitMqArgs {
    /** The rabbitmq hosts: one node, or the members of one cluster. */
    nodes: DataHost[];
    /** The whole stack config: the services with a queue, and their limits. */
    config: FleetConfig;
    /** Issues the nodes' TLS certificates. */
    ca: InternalCa;
}

export class RabbitMq extends pulumi.ComponentResource {
    /** Per service with `queue: true`: amqps://user:password@node:5671/vhost on the first node (secret). */
    public readonly urls: Record<string, pulumi.Output<string>>;
    /** Per consumer, per producer it consumes: the URL of the producer's vhost as the consumer (secret). */
    public readonly eventUrls: Record<string, Record<string, pulumi.Output<string>>>;
    /** Every node's AMQPS endpoint, host:port. */
    public readonly endpoints: string[];
    /** Digest of the live release on each node. */
    public readonly releases: Record<string, pulumi.Output<string>>;

    constructor(name: string, args: RabbitMqArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nordfleet:platform:RabbitMq", name, { nodes: args.nodes.map(n => n.host.name) }, opts);
        if (args.nodes.length === 0) {
            throw new Error(`RabbitMq ${name}: needs at least one host with role rabbitmq`);
        }
        const nodes = args.nodes.map(n => n.host);
        const brokerServices = args.config.services.filter(s => s.queue);
        const services = brokerServices.map(s => s.name);
        const passwords = Object.fromEntries(services.map(svc => [svc, new random.RandomPassword(`${name}-${svc}-password`,
            { length: 32, special: false }, { parent: this }).result]));
        const cookie = new random.RandomPassword(`${name}-erlang-cookie`, { length: 32, special: false }, { parent: this });
        const definitions = pulumi.all(passwords).apply(pw => brokerServices.map(s => ({
            name: s.name, passwordHash: rabbitPasswordHash(pw[s.name], s.name), consumes: s.consumes ?? [],
            queueMaxLength: s.queueMaxLength,
        })));

        this.releases = Object.fromEntries(args.nodes.map(node => {
            const host = node.host;
            const tls = args.ca.issue(`${name}-${host.name}-tls`,
                { commonName: host.name, dnsNames: [host.name], ipAddresses: [host.address] }, this);
            const files = pulumi.secret(pulumi.all([definitions, cookie.result, tls.certPem, tls.privateKeyPem, args.ca.certPem])
                .apply(([defs, c, certPem, keyPem, caPem]) => rabbitMqReleaseFiles({
                    host, nodes, services: defs, cookie: c, tls: { certPem, keyPem, caPem },
                    hasDataVolume: node.volumeSerials[MQ_DATA_DISK] !== undefined,
                })));
            const release = new RoleRelease(`${name}-${host.name}-release`, {
                connection: node.connection, ledger: node.ledger, role: "rabbitmq", hooks: "rabbitmq/hooks.sh",
                files, vars: rabbitMqVars(host, nodes, services, node.volumeSerials[MQ_DATA_DISK]), machine: node.machine,
            }, { parent: this });
            return [host.name, release.release];
        }));

        this.endpoints = nodes.map(n => `${n.address}:${AMQPS_PORT}`);
        this.urls = Object.fromEntries(services.map(svc => [svc,
            pulumi.secret(passwords[svc].apply(p => amqpsUrl(svc, p, nodes[0].address, svc)))]));
        this.eventUrls = Object.fromEntries(brokerServices.map(c => [c.name, Object.fromEntries((c.consumes ?? []).map(p => [p,
            pulumi.secret(passwords[c.name].apply(pw => amqpsUrl(c.name, pw, nodes[0].address, p)))]))]));
        this.registerOutputs({ urls: this.urls, eventUrls: this.eventUrls, endpoints: this.endpoints, releases: this.releases });
    }
}
