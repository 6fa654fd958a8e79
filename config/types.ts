/**
 * The validated, typed shape of a stack's `nordfleet:*` config. Pulumi.yaml documents
 * every key; `loadFleetConfig` turns raw config into this or refuses it.
 */
import { Site } from "./sites";

export const ROLES = ["gateway", "consul-server", "service", "postgres", "rabbitmq"] as const;
export type Role = typeof ROLES[number];

export type Environment = "lab" | "prod";

export interface SshSettings {
    /** User nordfleet logs in as on hypervisors and guests. */
    user: string;
    port: number;
    /** How many failed dials a command tolerates while a fresh VM boots. */
    dialErrorLimit: number;
    /**
     * The same for a hypervisor, directly or as the jump host to its guests. It is up
     * before nordfleet runs, so a few failures mean it is unreachable: fail fast.
     */
    hypervisorDialErrorLimit: number;
    /** Seconds each dial may take. */
    perDialTimeout: number;
    /**
     * Seconds a guest nordfleet starts has to answer SSH, seen from its hypervisor. One
     * that does not is started once more, then fails its step with its console's end.
     */
    bootTimeout: number;
    /**
     * Private key file for the hypervisors. Without it, nordfleet uses the SSH agent
     * (SSH_AUTH_SOCK). Guests are always reached with the deploy key nordfleet generates.
     */
    keyFile?: string;
}

export interface Capacity {
    vcpus: number;
    memoryMb: number;
    nvmeGb: number;
}

export interface Hypervisor {
    name: string;
    site: string;
    /** Address nordfleet reaches the hypervisor's sshd on. */
    address: string;
    /**
     * Pinned SSH host key of the hypervisor ("ssh-ed25519 AAAA..."). The loader sets it
     * from hostKeyFile when that is given instead.
     */
    hostKey?: string;
    /** A file holding the host key (an absolute path, e.g. a machine's ssh_host_ed25519_key.pub). */
    hostKeyFile?: string;
    /** NIC that carries the VLANs as 802.1Q tags; absent on a host-only lab hypervisor. */
    uplink?: string;
    /** Bridge that gives gateway VMs their public NIC. */
    publicBridge?: string;
    capacity: Capacity;
    /** "kvm" where guests really run accelerated, "qemu" (software emulation) elsewhere. */
    accelerator: "kvm" | "qemu";
    /**
     * How many of its guests boot at once; the next starts when one answers SSH. Absent:
     * no limit. Guests booting side by side on few cores each take longer than in turn.
     */
    maxConcurrentBoots?: number;
    /** Directory of the storage pool holding base images and OS overlays. */
    imagePoolPath: string;
    /** Directory of the NVMe-backed storage pool holding data volumes. */
    nvmePoolPath: string;
}

export interface Vlan {
    name: string;
    id: number;
    cidr: string;
}

export interface DataDisk {
    name: string;
    sizeGb: number;
    /** Kept by `pulumi destroy` (and named in its output). Defaults to true on database hosts. */
    protect: boolean;
}

export interface HostSpec {
    name: string;
    role: Role;
    vlan: string;
    /** Static address on the VLAN. Addresses never move when other hosts come or go. */
    address: string;
    vcpus: number;
    memoryMb: number;
    rootDiskGb: number;
    dataDisks: DataDisk[];
    /** Pin to a hypervisor; otherwise placement spreads hosts of a role across hypervisors. */
    hypervisor?: string;
    /** For service hosts: which services run there. */
    services: string[];
    /**
     * For postgres hosts: the services whose databases this one holds. With a single
     * postgres host it holds every one by default.
     */
    databases?: string[];
    /**
     * For gateways on a hypervisor with a public bridge: a static address on the public
     * NIC ("203.0.113.10/24"). Without it the public NIC asks DHCP.
     */
    publicAddress?: string;
}

/**
 * Days before a leaf certificate's expiry (365 days after issue) from which any pulumi up
 * issues it again. Two months: a stack applied at least monthly never comes close.
 */
export const DEFAULT_RENEW_BEFORE_DAYS = 60;

export interface CertificateSettings {
    /** Days before expiry from which a pulumi up renews a certificate the internal CA issued. */
    renewBeforeDays: number;
}

/** Seconds a release waits for its health check (guests under emulation start slowly). */
export const DEFAULT_HEALTH_CHECK_SECONDS = 90;

/** How the gateway spreads a route's requests over its upstream servers. */
export const BALANCES = ["least_conn", "round_robin", "ip_hash"] as const;
export type Balance = typeof BALANCES[number];

export const VERSION_NAMES = ["blue", "green"] as const;
export type VersionName = typeof VERSION_NAMES[number];

/** One deployable version of a service. Hosts default to every host whose services list it. */
export interface ServiceVersion {
    port: number;
    hosts?: string[];
}

/** Percent of a route's requests each version gets; the two add up to 100. */
export type TrafficSplit = Record<VersionName, number>;

/**
 * Where a service's program comes from: a file or folder of this project shipped in
 * the release (`inline`, relative to the project; `entry` is the file to run), or one
 * executable on the artifact mirror, checked against its sha256 on the host.
 */
export type Artifact =
    | { inline: string; entry?: string }
    | { url: string; sha256: string };

export interface ServiceSpec {
    name: string;
    port: number;
    /** Path prefix on the API gateway, e.g. "/orders/". */
    gatewayPath: string;
    replicas: number;
    healthPath: string;
    /** Seconds a new release has to pass its health check before it is undone. */
    healthCheckSeconds: number;
    database: boolean;
    queue: boolean;
    /** Gateway load balancing; least_conn unless the stack says otherwise. */
    balance: Balance;
    connectTimeoutMs: number;
    readTimeoutMs: number;
    /** Per client address, on this route. */
    rateLimitPerSecond: number;
    rateLimitBurst: number;
    maxBodyMb: number;
    /** Blue/green: without it the service's own hosts and port are the one upstream. */
    versions?: Record<VersionName, ServiceVersion>;
    /** Which version gets the traffic, as written: "blue", "green" or a split. */
    traffic?: VersionName | TrafficSplit;
    /** The program nordfleet runs; without it the team deploys the service itself. */
    artifact?: Artifact;
    args?: string[];
    /** Plain settings for the service; the platform's secrets are added separately. */
    env?: Record<string, string>;
    /** Percent of one CPU (200 = two CPUs). */
    cpuQuota?: number;
    memoryMb?: number;
    /** Services whose events this one reads from the broker (the loader defaults it to []). */
    consumes?: string[];
    /**
     * Messages each of this service's consumer queues holds at most; past it the broker
     * refuses new ones (publishers see nacks). Default 100000.
     */
    queueMaxLength?: number;
}

export interface GatewayTlsFiles {
    /** Absolute path of a PEM certificate (chain) for serverName. */
    certFile: string;
    /** Absolute path of its PEM private key. */
    keyFile: string;
}

export interface GatewaySettings {
    /** Host name the gateway's certificate is for. */
    serverName: string;
    /** A certificate the stack supplies; without it the internal CA issues one. */
    tls?: GatewayTlsFiles;
}

/** When pgBackRest backs a cluster up (systemd OnCalendar expressions) and for how long backups are kept. */
export interface BackupSchedule {
    full: string;
    differential: string;
    /** A point-in-time restore reaches back at least this many days. */
    retentionDays: number;
}

/** A full backup a week and a differential every other night, kept for two weeks. */
export const DEFAULT_BACKUP_SCHEDULE: BackupSchedule = {
    full: "Sun *-*-* 01:00:00",
    differential: "Mon..Sat *-*-* 01:00:00",
    retentionDays: 14,
};

export interface PostgresSettings {
    /** Extra postgresql.conf settings for every postgres host; they win over nordfleet's sizing. */
    settings: Record<string, string | number | boolean>;
    /** The backup schedule and retention (defaults filled in). */
    backup: BackupSchedule;
}

/**
 * Somewhere outside the fleet that data is sent to or fetched from. The site says
 * where it physically is, and must satisfy the same residency rule as a hypervisor.
 */
export interface Endpoint {
    url: string;
    site: string;
}

/**
 * A backup target: an endpoint, and where its TLS certificate is not signed by a
 * public CA (an object store behind the team's own CA), that CA's certificate.
 */
export interface BackupEndpoint extends Endpoint {
    /** Absolute path of the PEM CA certificate the store's TLS certificate chains to. */
    caFile?: string;
}

/**
 * A DNS resolver the guests forward every name outside `.consul` to. Guests have no
 * route off their VLAN, so a resolver serves the VLANs its address lies in; its site
 * is held to the residency rule, since every name a guest looks up is sent there.
 */
export interface Resolver {
    address: string;
    site: string;
}

export interface DnsSettings {
    /** In order of preference; a guest asks those of its own site first. */
    resolvers: Resolver[];
}

export interface Mirrors {
    /** Debian package mirror the guests install from. */
    apt?: Endpoint;
    /** Where service builds are fetched from. */
    artifacts?: Endpoint;
}

export interface FleetConfig {
    environment: Environment;
    /** Countries where data may live, narrowed from the EEA by the stack. */
    allowedCountries: string[];
    ssh: SshSettings;
    /** File name of the base OS image in every hypervisor's image pool. */
    baseImage: string;
    /**
     * Kernel and initrd (file names in the image pool) for direct kernel boot, for base
     * images that carry no boot loader, such as the lab's. Absent: boot from the disk.
     */
    baseKernel?: string;
    baseInitrd?: string;
    hypervisors: Hypervisor[];
    vlans: Vlan[];
    hosts: HostSpec[];
    services: ServiceSpec[];
    /** Number of Consul servers: 3 or 5, or 1 in a lab stack. */
    consulServers: number;
    /** Where database backups are sent. */
    backup?: BackupEndpoint;
    /** Where guests resolve names outside `.consul` (none by default). */
    dns: DnsSettings;
    mirrors: Mirrors;
    /** Where the stack's state lives; required in prod, so its residency is checked too. */
    stateBackend?: Endpoint;
    /** The API gateway's name and certificate source (defaults filled in). */
    gateway: GatewaySettings;
    /** When the internal CA's certificates are renewed (defaults filled in). */
    certificates: CertificateSettings;
    /** The sites the stack or project declares (nordfleet:sites), beside the built-in ones. */
    sites: Site[];
    /** PostgreSQL settings the stack adds (none by default). */
    postgres: PostgresSettings;
}
