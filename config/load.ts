/**
 * One typed loader for the whole stack config. It fills in defaults, runs every
 * validator and throws a single error listing every problem, so that `pulumi
 * preview` stops before any resource is declared.
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { dnsFrom, validateDns, validateNamesResolvable } from "./dns";
import { consulSiteSpread, databasePlacement, placeHosts, Placement } from "./placement";
import { unknownKeyProblems } from "./configSchema";
import { publicKeyOf, validatePublicKey } from "./sshKeys";
import { EEA_COUNTRIES, Site, siteCatalogue } from "./sites";
import {
    BackupEndpoint, Capacity, CertificateSettings, DEFAULT_BACKUP_SCHEDULE, DEFAULT_RENEW_BEFORE_DAYS, DEFAULT_HEALTH_CHECK_SECONDS, DataDisk, Endpoint, Environment, FleetConfig, GatewaySettings, HostSpec, Hypervisor, Mirrors, PostgresSettings, Role,
    ServiceSpec, SshSettings, Vlan,
} from "./types";
import { validateVlans } from "./validate/addresses";
import { Problems, validateFileName } from "./validate/common";
import { validateCertificates, validateConsulServers, validateConsulSiteSpread, validateHosts, validateHypervisors, validateServices, validateSsh } from "./validate/fleet";
import { validatePostgres } from "./validate/postgres";
import { validateAllowedCountries, validateEndpoint, validateKnownBackend, validateSiteDeclarations } from "./validate/residency";
import { validateGateway, validateServiceRouting } from "./validate/routing";

export class ConfigError extends Error {
    constructor(public readonly problems: Problems) {
        super(`nordfleet config is invalid (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
            problems.map(p => `  - ${p}`).join("\n"));
        this.name = "ConfigError";
    }
}

/** Raw config as Pulumi hands it over: key (without the "nordfleet:" prefix) -> parsed YAML value. */
export type RawConfig = Record<string, unknown>;

/** URL schemes each endpoint accepts. */
export const ENDPOINT_SCHEMES = {
    // pgBackRest's repository types; file:// (a folder on the database host) in a lab only.
    backup: ["s3", "file"],
    apt: ["https", "http"],
    artifacts: ["https", "s3"],
    stateBackend: ["s3", "azblob", "gs", "https", "file"],
} as const;

const MIRROR_KINDS = ["apt", "artifacts"] as const;

type Obj = Record<string, any>;

const asList = (value: unknown): Obj[] => (Array.isArray(value) ? value : []);

/** The settings that are lists of items; one given as anything else would read as empty. */
const LIST_KEYS = ["hypervisors", "vlans", "services", "hosts", "consulQuorumLossAccepted"] as const;

function notListProblems(raw: RawConfig): string[] {
    return LIST_KEYS.filter(key => raw[key] !== undefined && !Array.isArray(raw[key])).map(key =>
        `nordfleet:${key}: ${JSON.stringify(raw[key])} is not a list; write one item per entry, each starting with "- " in YAML`);
}

function hypervisorFrom(raw: Obj): Hypervisor {
    const capacity: Obj = raw.capacity ?? {};
    return {
        name: raw.name,
        site: raw.site,
        address: raw.address,
        hostKey: raw.hostKey,
        hostKeyFile: raw.hostKeyFile,
        uplink: raw.uplink,
        publicBridge: raw.publicBridge,
        capacity: { vcpus: capacity.vcpus, memoryMb: capacity.memoryMb, nvmeGb: capacity.nvmeGb } as Capacity,
        accelerator: raw.accelerator ?? "kvm",
        maxConcurrentBoots: raw.maxConcurrentBoots,
        imagePoolPath: raw.imagePoolPath ?? "/var/lib/nordfleet/images",
        nvmePoolPath: raw.nvmePoolPath ?? "/var/lib/nordfleet/nvme",
    };
}

function hostFrom(raw: Obj): HostSpec {
    return {
        name: raw.name,
        role: raw.role as Role,
        vlan: raw.vlan,
        address: raw.address,
        vcpus: raw.vcpus ?? 1,
        memoryMb: raw.memoryMb ?? 1024,
        rootDiskGb: raw.rootDiskGb ?? 10,
        dataDisks: asList(raw.dataDisks).map(d => ({
            name: d.name,
            sizeGb: d.sizeGb,
            protect: d.protect ?? raw.role === "postgres",
        } as DataDisk)),
        hypervisor: raw.hypervisor,
        services: Array.isArray(raw.services) ? raw.services : [],
        databases: Array.isArray(raw.databases) ? raw.databases : undefined,
        publicAddress: raw.publicAddress,
    };
}

function serviceFrom(raw: Obj): ServiceSpec {
    return {
        name: raw.name,
        port: raw.port,
        gatewayPath: raw.gatewayPath ?? `/${raw.name}/`,
        replicas: raw.replicas ?? 1,
        healthPath: raw.healthPath ?? "/healthz",
        healthCheckSeconds: raw.healthCheckSeconds ?? DEFAULT_HEALTH_CHECK_SECONDS,
        database: raw.database ?? false,
        queue: raw.queue ?? false,
        balance: raw.balance ?? "least_conn",
        connectTimeoutMs: raw.connectTimeoutMs ?? 1000,
        readTimeoutMs: raw.readTimeoutMs ?? 5000,
        rateLimitPerSecond: raw.rateLimitPerSecond ?? 50,
        rateLimitBurst: raw.rateLimitBurst ?? 100,
        maxBodyMb: raw.maxBodyMb ?? 1,
        versions: raw.versions === undefined ? undefined : versionsFrom(raw.versions, raw.port),
        traffic: raw.traffic ?? (raw.versions === undefined ? undefined : "blue"),
        artifact: raw.artifact,
        args: raw.args,
        env: raw.env,
        cpuQuota: raw.cpuQuota,
        memoryMb: raw.memoryMb,
        consumes: raw.consumes ?? [],
        queueMaxLength: raw.queueMaxLength,
    };
}

/** A version's port defaults to the service's; anything but a map is left for the validator to name. */
function versionsFrom(raw: unknown, servicePort: unknown): ServiceSpec["versions"] {
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
        return raw as ServiceSpec["versions"];
    }
    return Object.fromEntries(Object.entries(raw as Obj).map(([name, v]) => [name,
        typeof v === "object" && v !== null && !Array.isArray(v) ? { ...v, port: v.port ?? servicePort } : v,
    ])) as ServiceSpec["versions"];
}

/** The gateway's name defaults to one under the environment's internal domain. */
function gatewayFrom(raw: unknown, environment: Environment): GatewaySettings {
    const g = (typeof raw === "object" && raw !== null ? raw : {}) as Obj;
    return { serverName: g.serverName ?? `gateway.${environment}.nordfleet.internal`, tls: g.tls };
}

/**
 * What the operator supplies beside the stack's plain config: the files it names and
 * its secret values. Only the loaders read them (`npm run render` puts placeholders in
 * their place), so no component touches a file or a secret config key.
 */
export interface SuppliedMaterial {
    /** The key of `nordfleet:ssh.keyFile` (secret). */
    hypervisorKey?: string;
    /** The files of `nordfleet:gateway.tls` (the key is secret). */
    gatewayTls?: { certPem: string; keyPem: string };
    /** The certificate of `nordfleet:backup.caFile`. */
    backupCaPem?: string;
    /** `nordfleet:backupCredentials` (secret). */
    backupCredentials?: { accessKeyId: string; secretAccessKey: string };
}

export interface LoadedFleet {
    config: FleetConfig;
    placement: Placement;
    supplied: SuppliedMaterial;
    /** What the config allows but a user should hear of at every preview (the program logs them). */
    warnings: string[];
}

/**
 * Pure: raw config in, validated config and placement out (or a ConfigError naming every
 * problem). Nothing is read from files: `supplied` is empty.
 */
export function parseFleetConfig(raw: RawConfig): LoadedFleet {
    const problems: Problems = [];
    problems.push(...unknownKeyProblems(raw));
    problems.push(...notListProblems(raw));

    const environment = (raw.environment ?? "prod") as Environment;
    if (environment !== "lab" && environment !== "prod") {
        problems.push(`nordfleet:environment: ${JSON.stringify(environment)} is not an environment; use "prod" or "lab"`);
    }
    const allowedCountries = (raw.allowedCountries ?? [...EEA_COUNTRIES]) as string[];
    problems.push(...validateAllowedCountries("nordfleet:allowedCountries", allowedCountries));
    const allowed = new Set(Array.isArray(allowedCountries) ? allowedCountries : []);
    const siteProblems = raw.sites === undefined ? [] : validateSiteDeclarations("nordfleet:sites", raw.sites);
    problems.push(...siteProblems);
    const declaredSites = siteProblems.length === 0 ? asList(raw.sites) as Site[] : [];
    const sites = siteCatalogue(declaredSites);

    const sshRaw: Obj = (raw.ssh as Obj) ?? {};
    const ssh: SshSettings = {
        user: sshRaw.user ?? "root",
        port: sshRaw.port ?? 22,
        dialErrorLimit: sshRaw.dialErrorLimit ?? 60,
        hypervisorDialErrorLimit: sshRaw.hypervisorDialErrorLimit ?? 10,
        perDialTimeout: sshRaw.perDialTimeout ?? 10,
        bootTimeout: sshRaw.bootTimeout ?? 300,
        keyFile: sshRaw.keyFile,
    };
    const hypervisors = asList(raw.hypervisors).map(hypervisorFrom);
    const vlans = asList(raw.vlans).map(v => ({ name: v.name, id: v.id, cidr: v.cidr } as Vlan));
    const services = asList(raw.services).map(serviceFrom);
    const hosts = asList(raw.hosts).map(hostFrom);
    const baseImage = (raw.baseImage as string) ?? "debian-12-nordfleet.qcow2";
    const baseKernel = raw.baseKernel as string | undefined;
    const baseInitrd = raw.baseInitrd as string | undefined;

    problems.push(
        ...validateSsh("nordfleet:ssh", ssh),
        ...validateHypervisors("nordfleet:hypervisors", hypervisors, allowed, environment, sites),
        ...validateVlans("nordfleet:vlans", vlans),
        ...validateServices("nordfleet:services", services),
        ...validateHosts("nordfleet:hosts", hosts, vlans, hypervisors, services),
        ...validateServiceRouting("nordfleet:services", services, hosts),
        ...(raw.gateway === undefined ? [] : validateGateway("nordfleet:gateway", raw.gateway)),
        ...(raw.postgres === undefined ? [] : validatePostgres("nordfleet:postgres", raw.postgres)),
        ...(raw.certificates === undefined ? [] : validateCertificates("nordfleet:certificates", raw.certificates)),
        ...(raw.dns === undefined ? [] : validateDns("nordfleet:dns", raw.dns, vlans, hosts, allowed, environment, sites)),
    );
    const gateway = gatewayFrom(raw.gateway, environment);
    problems.push(
        ...validateFileName("nordfleet:baseImage", baseImage, "debian-12-nordfleet.qcow2"),
        ...(baseKernel === undefined ? [] : validateFileName("nordfleet:baseKernel", baseKernel, "vmlinuz-nordfleet")),
        ...(baseInitrd === undefined ? [] : validateFileName("nordfleet:baseInitrd", baseInitrd, "initrd-nordfleet.img")),
    );
    const endpoints = parseEndpoints(raw, allowed, environment, sites);
    problems.push(...endpoints.problems);
    const dns = dnsFrom(raw.dns);
    if (problems.length === 0) {
        problems.push(...validateNamesResolvable("nordfleet:dns.resolvers", { dns, vlans, hosts, ...endpoints }));
    }
    if ((baseKernel === undefined) !== (baseInitrd === undefined)) {
        problems.push(`nordfleet:baseInitrd: direct kernel boot needs both baseKernel and baseInitrd; set both or neither`);
    }

    const consulServers = hosts.filter(h => h.role === "consul-server").length;
    problems.push(...validateConsulServers("nordfleet:hosts", consulServers, environment));
    for (const svc of services) {
        const running = hosts.filter(h => h.services.includes(svc.name)).length;
        if (running < svc.replicas) {
            problems.push(`nordfleet:services: ${JSON.stringify(svc.name)} asks for ${svc.replicas} replica(s) but ` +
                `${running} service host(s) list it; add it to more hosts' services or lower replicas`);
        }
    }
    if (problems.length) {
        throw new ConfigError(problems);
    }

    const config: FleetConfig = {
        environment, allowedCountries, ssh, baseImage, baseKernel, baseInitrd, hypervisors, vlans, hosts, services, consulServers,
        backup: endpoints.backup, mirrors: endpoints.mirrors, stateBackend: endpoints.stateBackend, gateway, dns,
        sites: declaredSites,
        certificates: {
            renewBeforeDays: (raw.certificates as Partial<CertificateSettings> | undefined)?.renewBeforeDays ?? DEFAULT_RENEW_BEFORE_DAYS,
        },
        postgres: {
            settings: { ...((raw.postgres as PostgresSettings | undefined)?.settings ?? {}) },
            backup: { ...DEFAULT_BACKUP_SCHEDULE, ...((raw.postgres as Partial<PostgresSettings> | undefined)?.backup ?? {}) },
        },
    };
    let placement: Placement;
    try {
        placement = placeHosts(hosts, hypervisors);
        databasePlacement(config);
    } catch (e) {
        throw new ConfigError([(e as Error).message]);
    }
    const quorum = validateConsulSiteSpread("nordfleet:hosts", "nordfleet:consulQuorumLossAccepted",
        consulSiteSpread(hosts, placement, hypervisors), asList(raw.consulQuorumLossAccepted) as unknown[] as string[], environment,
        new Set(hypervisors.map(hv => hv.site)).size);
    if (quorum.problems.length) {
        throw new ConfigError(quorum.problems);
    }
    if (services.some(s => s.database) && !config.backup) {
        throw new ConfigError([`nordfleet:backup: is not set, but services keep databases; PostgreSQL archives its ` +
            `WAL and nightly backups there: set { url: "s3://BUCKET?endpoint=HOST&region=R", site }`]);
    }
    return { config, placement, supplied: {}, warnings: quorum.warnings };
}

/** pgBackRest's S3 repository needs the bucket, the endpoint and the region in the URL. */
function s3RepositoryProblems(backup: BackupEndpoint | undefined): Problems {
    if (typeof backup?.url !== "string" || !backup.url.startsWith("s3://")) {
        return [];
    }
    let url: URL;
    try {
        url = new URL(backup.url);
    } catch {
        return [];
    }
    const missing = [!url.hostname && "a bucket", !url.searchParams.get("endpoint") && "?endpoint=HOST",
        !url.searchParams.get("region") && "&region=R"].filter((m): m is string => !!m);
    return missing.length === 0 ? [] : [`nordfleet:backup.url: ${JSON.stringify(backup.url)} has no ${missing.join(", ")}; ` +
        `pgBackRest needs all three: use s3://BUCKET?endpoint=HOST&region=R`];
}

/** Every place outside the fleet that data goes to or comes from, each held to the residency rule. */
function parseEndpoints(raw: RawConfig, allowed: ReadonlySet<string>, environment: Environment, sites: readonly Site[]) {
    const problems: Problems = [];
    const check = (field: string, value: unknown, schemes: readonly string[]): Endpoint | undefined => {
        if (value === undefined) {
            return undefined;
        }
        problems.push(...validateEndpoint(field, value, schemes, allowed, environment, sites));
        return value as Endpoint;
    };
    const backup = check("nordfleet:backup", raw.backup, ENDPOINT_SCHEMES.backup) as BackupEndpoint | undefined;
    if (backup?.caFile !== undefined && !(typeof backup.caFile === "string" && path.isAbsolute(backup.caFile))) {
        problems.push(`nordfleet:backup.caFile: ${JSON.stringify(backup.caFile)} is not an absolute path; give the PEM ` +
            `file of the CA that signed the object store's certificate, or leave caFile out for a publicly trusted one`);
    }
    problems.push(...s3RepositoryProblems(backup));
    if (backup && environment !== "lab" && String(backup.url).startsWith("file:")) {
        problems.push(`nordfleet:backup.url: ${JSON.stringify(backup.url)} keeps backups on the database host itself, ` +
            `which only a lab stack may do; use an s3:// bucket in an allowed country`);
    }
    const stateBackend = check("nordfleet:stateBackend", raw.stateBackend, ENDPOINT_SCHEMES.stateBackend);
    if (stateBackend === undefined && environment === "prod") {
        problems.push(`nordfleet:stateBackend: is not set; a prod stack must say where its state lives so its ` +
            `residency is checked, e.g. { url: "s3://nordfleet-state?endpoint=s3.oslo-1.example.net", site: "oslo-1" }`);
    }
    const mirrorsRaw = (raw.mirrors ?? {}) as Obj;
    const mirrors: Mirrors = {};
    if (typeof mirrorsRaw !== "object" || Array.isArray(mirrorsRaw)) {
        problems.push(`nordfleet:mirrors: ${JSON.stringify(mirrorsRaw)} is not a map; use { apt: {...}, artifacts: {...} }`);
    } else {
        for (const kind of MIRROR_KINDS) {
            mirrors[kind] = check(`nordfleet:mirrors.${kind}`, mirrorsRaw[kind], ENDPOINT_SCHEMES[kind]);
        }
    }
    return { problems, backup, mirrors, stateBackend };
}

/**
 * Reads the current stack's `nordfleet:*` config (every key, so a misspelt one is
 * reported), validates it, and checks what it names on this machine.
 */
export function loadFleetConfig(): LoadedFleet {
    const raw: RawConfig = {};
    for (const [key, text] of Object.entries(pulumi.runtime.allConfig())) {
        if (key.startsWith("nordfleet:")) {
            raw[key.slice("nordfleet:".length)] = parseConfigValue(text);
        }
    }
    const loaded = parseFleetConfig(raw);
    // Secrets are checked here, not by the pure parser: `render` reads stack files without them.
    const credentials = raw.backupCredentials as Obj | undefined;
    if (loaded.config.backup?.url.startsWith("s3:")
        && (typeof credentials?.accessKeyId !== "string" || typeof credentials?.secretAccessKey !== "string")) {
        throw new ConfigError([`nordfleet:backupCredentials: is not set, but the backup target is an s3:// bucket; set ` +
            `the bucket's keys as secrets: pulumi config set --secret --path nordfleet:backupCredentials.accessKeyId ID ` +
            `(and .secretAccessKey)`]);
    }
    const backendProblems = validateKnownBackend(loaded.config.stateBackend, process.env.PULUMI_BACKEND_URL);
    if (backendProblems.length) {
        throw new ConfigError(backendProblems);
    }
    const keyFile = loaded.config.ssh.keyFile;
    if (keyFile !== undefined && !fs.existsSync(keyFile)) {
        throw new ConfigError([`nordfleet:ssh.keyFile: ${JSON.stringify(keyFile)} does not exist; ` +
            `point keyFile at the hypervisors' login key, or leave it out to use your SSH agent (SSH_AUTH_SOCK)`]);
    }
    const missingArtifacts = loaded.config.services.filter(svc => svc.artifact && "inline" in svc.artifact
        && !fs.existsSync(path.join(__dirname, "..", svc.artifact.inline)));
    if (missingArtifacts.length) {
        throw new ConfigError(missingArtifacts.map(svc => `nordfleet:services: ${JSON.stringify(svc.name)} ships ` +
            `${JSON.stringify((svc.artifact as { inline: string }).inline)}, which is not in the project; give a path ` +
            `relative to the project root, or a { url, sha256 } artifact`));
    }
    checkSuppliedFiles(loaded.config);
    const config = withHostKeysFromFiles(loaded.config, file => fs.readFileSync(file, "utf8"));
    return { ...loaded, config, supplied: readSupplied(config, credentials) };
}

/**
 * The config with each hypervisor's hostKeyFile read into its hostKey, checked as a key.
 * `npm run render` gives placeholders instead, with `check` off.
 */
export function withHostKeysFromFiles(config: FleetConfig, read: (file: string, field: string) => string,
                                      check = true): FleetConfig {
    const problems: Problems = [];
    const hypervisors = config.hypervisors.map((hv, i) => {
        if (hv.hostKeyFile === undefined) {
            return hv;
        }
        const field = `nordfleet:hypervisors[${i}].hostKeyFile`;
        const text = read(hv.hostKeyFile, field);
        if (!check) {
            return { ...hv, hostKey: text };
        }
        const hostKey = publicKeyOf(text);
        problems.push(...validatePublicKey(field, hostKey,
            `${JSON.stringify(hv.hostKeyFile)} must hold the hypervisor's SSH host public key (its ssh_host_ed25519_key.pub)`));
        return { ...hv, hostKey };
    });
    if (problems.length) {
        throw new ConfigError(problems);
    }
    return { ...config, hypervisors };
}

function readSupplied(config: FleetConfig, credentials: Obj | undefined): SuppliedMaterial {
    const read = (file: string) => fs.readFileSync(file, "utf8");
    const tls = config.gateway.tls;
    return {
        hypervisorKey: config.ssh.keyFile === undefined ? undefined : read(config.ssh.keyFile),
        gatewayTls: tls === undefined ? undefined : { certPem: read(tls.certFile), keyPem: read(tls.keyFile) },
        backupCaPem: config.backup?.caFile === undefined ? undefined : read(config.backup.caFile),
        backupCredentials: config.backup?.url.startsWith("s3:")
            ? { accessKeyId: credentials!.accessKeyId as string, secretAccessKey: credentials!.secretAccessKey as string }
            : undefined,
    };
}

function checkSuppliedFiles(config: FleetConfig): void {
    const unreadableKeys = config.hypervisors.map((hv, i) => [hv, i] as const)
        .filter(([hv]) => hv.hostKeyFile !== undefined && !isReadable(hv.hostKeyFile));
    if (unreadableKeys.length) {
        throw new ConfigError(unreadableKeys.map(([hv, i]) => `nordfleet:hypervisors[${i}].hostKeyFile: ` +
            `${JSON.stringify(hv.hostKeyFile)} cannot be read; put the hypervisor's SSH host public key there` +
            `${config.environment === "lab" ? " (lab/up writes the lab's)" : ""}, or give it inline as hostKey`));
    }
    const backupCa = config.backup?.caFile;
    if (backupCa !== undefined && !isReadable(backupCa)) {
        throw new ConfigError([`nordfleet:backup.caFile: ${JSON.stringify(backupCa)} cannot be read; put the object ` +
            `store's CA certificate (PEM) there${config.environment === "lab" ? " (lab/up writes the lab's)" : ""}, ` +
            `or leave caFile out for a publicly trusted certificate`]);
    }
    const tlsFiles = config.gateway.tls;
    const unreadable = tlsFiles === undefined ? [] : (["certFile", "keyFile"] as const).filter(k => !isReadable(tlsFiles[k]));
    if (unreadable.length) {
        throw new ConfigError(unreadable.map(k => `nordfleet:gateway.tls.${k}: ${JSON.stringify(tlsFiles![k])} cannot be ` +
            `read; put the PEM file there, or leave gateway.tls out to have the internal CA issue the certificate`));
    }
}

function isReadable(file: string): boolean {
    try {
        fs.accessSync(file, fs.constants.R_OK);
        return fs.statSync(file).isFile();
    } catch {
        return false;
    }
}

/** Structured values arrive as JSON text, plain strings as themselves. */
function parseConfigValue(text: string): unknown {
    try {
        return JSON.parse(text);
    } catch {
        return text;
    }
}
