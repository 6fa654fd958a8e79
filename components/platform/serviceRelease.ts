/**
 * The platform's services on service VMs. Each service (or each version of it, for
 * blue/green) is one systemd unit, `nordfleet-<instance>.service`, shipped as a
 * release of role `service-<instance>` (components/platform/release.ts):
 *
 *   /etc/nordfleet/service-<instance>/current/
 *       nordfleet-<instance>.service   the unit (linked into /etc/systemd/system)
 *       service.env                    0600 root:root: every variable, secrets included
 *       service                        the service's name
 *       app/...                        the program, shipped inside the release, or
 *       artifact.url, artifact.sha256  where the hooks fetch it from and what it must hash to
 *
 * systemd reads the EnvironmentFile as root before it drops to the service's user, so
 * the secrets reach the process environment while the user cannot read the file (and
 * /proc/<pid>/environ is readable by that user and root only). The service runs as a
 * dedicated system user, `nf-<service>`, rather than DynamicUser: a stable uid owns
 * anything a later release ships for it and appears the same in every log, and it
 * needs no nss-systemd in the image. Versions of one service share that user.
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { DEFAULT_HEALTH_CHECK_SECONDS, HostSpec, ServiceSpec, ServiceVersion, VERSION_NAMES, VersionName } from "../../config/types";
import { Connection } from "../compute/connection";
import { liveRelease, ReleaseFile, RoleRelease } from "./release";
import { HostLedger } from "./hostLedger";
import { readTemplate, renderTemplate, shellAssignments } from "../render";

/** The project root: inline artifacts are paths relative to it. */
export const PROJECT_DIR = path.join(__dirname, "..", "..");

/**
 * Where a service's program comes from.
 * - `inline`: a file or folder of this project, shipped inside the release (the lab's
 *   demo services). `entry` is the file to run, relative to the folder; for a single
 *   file it defaults to that file.
 * - `url` + `sha256`: one executable on the artifact mirror, fetched by the host at
 *   release time and refused unless it hashes to `sha256`.
 */
export type Artifact =
    | { inline: string; entry?: string }
    | { url: string; sha256: string };

/** A version (blue or green) as the fleet declares it, plus what it runs. */
export interface ServiceRunVersion extends ServiceVersion {
    /** Defaults to the service's artifact: a new version usually brings a new one. */
    artifact?: Artifact;
    /** Merged over the service's env. */
    env?: Record<string, string>;
}

/** What running a service needs on top of the fleet's ServiceSpec. */
export interface ServiceRunSpec extends Omit<ServiceSpec, "versions"> {
    artifact: Artifact;
    /** Arguments after the program. */
    args?: string[];
    /** Plain settings; the platform's secrets arrive separately. */
    env?: Record<string, string>;
    /** Percent of one CPU (200 = two CPUs). */
    cpuQuota?: number;
    memoryMb?: number;
    /** Blue/green: each version runs as its own unit on its own port. */
    versions?: Record<VersionName, ServiceRunVersion>;
}

export const DEFAULT_CPU_QUOTA = 100;
export const DEFAULT_MEMORY_MB = 256;

/** Variables the platform sets itself; a service's own env may not name them. */
export const PLATFORM_ENV = ["PORT", "BIND", "DATABASE_URL", "AMQP_URL", "AMQP_CA",
    "EVENTS_AMQP_URL", "CONSUL_HTTP_ADDR", "CONSUL_HTTP_TOKEN"] as const;

/** One unit on one host: the service itself, or one version of it. */
export interface ServiceInstance {
    /** `hello`, or `hello-blue` for a version. */
    instance: string;
    service: string;
    version?: string;
    port: number;
    artifact: Artifact;
    args: string[];
    env: Record<string, string>;
    cpuQuota: number;
    memoryMb: number;
    healthPath: string;
}

export const unitName = (instance: string) => `nordfleet-${instance}.service`;
export const serviceRole = (instance: string) => `service-${instance}`;
export const serviceUser = (service: string) => `nf-${service}`;

/**
 * The units a service runs on one of its hosts: the service itself, or each version
 * whose hosts include this one (a version without hosts runs on all the service's hosts).
 */
export function serviceInstances(spec: ServiceRunSpec, host: string): ServiceInstance[] {
    const base = {
        service: spec.name,
        args: spec.args ?? [],
        cpuQuota: spec.cpuQuota ?? DEFAULT_CPU_QUOTA,
        memoryMb: spec.memoryMb ?? DEFAULT_MEMORY_MB,
        healthPath: spec.healthPath,
    };
    const versions = spec.versions;
    if (versions === undefined) {
        return [{ ...base, instance: spec.name, port: spec.port, artifact: spec.artifact, env: { ...spec.env } }];
    }
    return VERSION_NAMES
        .filter(name => versions[name].hosts?.includes(host) ?? true)
        .map(name => ({
            ...base,
            instance: `${spec.name}-${name}`,
            version: name,
            port: versions[name].port,
            artifact: versions[name].artifact ?? spec.artifact,
            env: { ...spec.env, ...versions[name].env },
        }));
}

/** The program's path inside the release tree. */
export function artifactEntry(artifact: Artifact): string {
    if ("url" in artifact) {
        return `app/${path.posix.basename(new URL(artifact.url).pathname) || "service"}`;
    }
    return `app/${artifact.entry ?? path.basename(artifact.inline)}`;
}

/** Quotes one ExecStart word: systemd expands `%` specifiers and `$` variables, so both are doubled. */
export function systemdWord(word: string): string {
    const escaped = word.replace(/%/g, "%%").replace(/\$/g, "$$$$");
    return /^[A-Za-z0-9_./:=,+@-]+$/.test(escaped) ? escaped : `"${escaped.replace(/(["\\])/g, "\\$1")}"`;
}

export function renderServiceUnit(inst: ServiceInstance): string {
    const live = liveRelease(serviceRole(inst.instance));
    return renderTemplate("service/unit.service.hbs", {
        instance: inst.instance,
        user: serviceUser(inst.service),
        execStart: [`${live}/${artifactEntry(inst.artifact)}`, ...inst.args].map(systemdWord).join(" "),
        envFile: `${live}/service.env`,
        cpuQuota: inst.cpuQuota,
        memoryMb: inst.memoryMb,
        memoryHighMb: Math.floor(inst.memoryMb * 0.9),
    });
}

/** A value inside double quotes of a systemd EnvironmentFile, where \ " $ and ` are escaped. */
export function envFileValue(value: string): string {
    if (/[\n\r\0]/.test(value)) {
        throw new Error("an environment value cannot hold a line break or NUL");
    }
    return value.replace(/([\\"$`])/g, "\\$1");
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Every variable of one instance: where it listens, its own settings, then the
 * platform's (database, broker, Consul). A service setting that collides with the
 * platform's is refused rather than silently overridden.
 */
export function serviceEnvironment(inst: ServiceInstance, host: HostSpec,
                                   platform: Record<string, string>): Record<string, string> {
    for (const name of Object.keys(inst.env)) {
        if (!ENV_NAME.test(name)) {
            throw new Error(`service ${inst.service}: env name "${name}" is not a valid variable name`);
        }
        if ((PLATFORM_ENV as readonly string[]).includes(name) || name in platform) {
            throw new Error(`service ${inst.service}: env "${name}" is set by the platform; remove it from the service's env`);
        }
    }
    for (const name of Object.keys(platform)) {
        if (!ENV_NAME.test(name)) {
            throw new Error(`service ${inst.service}: platform env name "${name}" is not a valid variable name`);
        }
    }
    // The platform names files of the release (the CA) by RELEASE_DIR: each instance has its own.
    const live = liveRelease(serviceRole(inst.instance));
    const resolved = Object.fromEntries(Object.entries(platform).map(([k, v]) => [k, v.split(RELEASE_DIR).join(live)]));
    return { PORT: String(inst.port), BIND: host.address, ...inst.env, ...resolved };
}

/** Stands for an instance's live release folder in the platform's env values. */
export const RELEASE_DIR = "${RELEASE_DIR}";

export function renderServiceEnv(instance: string, env: Record<string, string>): string {
    const entries = Object.keys(env).sort().map(name => ({ name, value: envFileValue(env[name]) }));
    return renderTemplate("service/service.env.hbs", { instance, entries });
}

/** The files of an artifact, as they sit in the release tree. */
export function artifactFiles(artifact: Artifact, projectDir: string = PROJECT_DIR): ReleaseFile[] {
    if ("url" in artifact) {
        return [
            { path: "artifact.url", mode: "0644", content: `${artifact.url}\n` },
            { path: "artifact.sha256", mode: "0644", content: `${artifact.sha256}  ${artifactEntry(artifact)}\n` },
        ];
    }
    const source = path.resolve(projectDir, artifact.inline);
    const entry = artifactEntry(artifact);
    const names = fs.statSync(source).isDirectory()
        ? fs.readdirSync(source).filter(n => fs.statSync(path.join(source, n)).isFile()).sort()
        : [path.basename(source)];
    const dir = fs.statSync(source).isDirectory() ? source : path.dirname(source);
    const files = names.map(n => ({
        path: `app/${n}`,
        mode: `app/${n}` === entry ? "0755" : "0644",
        content: fs.readFileSync(path.join(dir, n), "utf8"),
    }));
    if (!files.some(f => f.path === entry)) {
        throw new Error(`artifact ${artifact.inline} has no file ${entry.slice(4)} to run`);
    }
    return files;
}

/** Every file of one instance's release. `env` is the complete environment. */
export function serviceReleaseFiles(inst: ServiceInstance, env: Record<string, string>, program: ReleaseFile[],
                                    caCertPem?: string): ReleaseFile[] {
    return [
        { path: unitName(inst.instance), mode: "0644", content: renderServiceUnit(inst) },
        { path: "service", mode: "0644", content: `${inst.service}\n` },
        { path: "service.env", mode: "0600", owner: "root:root", content: renderServiceEnv(inst.instance, env) },
        ...program,
        ...(caCertPem === undefined ? [] : [{ path: "ca.pem", mode: "0644", content: caCertPem }]),
    ];
}

/** Plain variables the hooks read (no secrets). */
export function serviceReleaseVars(inst: ServiceInstance, host: HostSpec,
                                   checkSeconds: number = DEFAULT_HEALTH_CHECK_SECONDS): Record<string, string | number> {
    return {
        UNIT: unitName(inst.instance),
        SERVICE: inst.service,
        PORT: inst.port,
        SERVICE_USER: serviceUser(inst.service),
        ENTRY: artifactEntry(inst.artifact),
        HEALTH_URL: `http://${host.address}:${inst.port}${inst.healthPath}`,
        CHECK_TRIES: checkSeconds,
    };
}

/** A service instance's release hooks, after the walk over its sibling instances they share with the prune step. */
export const SERVICE_HOOKS = ["service/instances.sh", "service/hooks.sh"];

/** The script that retires a service's instances the config no longer names. */
export function pruneScript(service: string, keep: string[]): string {
    return shellAssignments({ SERVICE: service, KEEP: keep.join(" ") })
        + readTemplate("service/instances.sh") + readTemplate("service/prune.sh");
}

export interface ServiceReleaseArgs {
    /** The service and how it runs (its artifact, versions, limits). */
    service: ServiceRunSpec;
    /** The service VM as the stack declares it. */
    host: HostSpec;
    /** How to reach the guest (through its hypervisor, host key pinned). */
    connection: Connection;
    /** Changes when the guest is rebuilt. */
    machine: pulumi.Input<string>;
    /** Where its releases' file digests are recorded, on its hypervisor. */
    ledger: HostLedger;
    /** The platform's variables (DATABASE_URL, AMQP_URL, CONSUL_HTTP_TOKEN...); secret values allowed. */
    env: pulumi.Input<Record<string, pulumi.Input<string>>>;
    /** The internal CA, shipped as ca.pem in the release for clients that verify TLS (AMQP_CA, sslrootcert). */
    caCertPem?: pulumi.Input<string>;
    /** Seconds the health check may take (the service's healthCheckSeconds; 90 by default). */
    checkSeconds?: number;
}

/** Where one instance answers, for the gateway. */
export interface ServiceEndpoint {
    instance: string;
    version?: string;
    address: string;
    port: number;
}

export class ServiceRelease extends pulumi.ComponentResource {
    /** Unit names on the host. */
    public readonly units: string[];
    public readonly endpoints: ServiceEndpoint[];
    /** Live release digest per instance. */
    public readonly releases: Record<string, pulumi.Output<string>> = {};

    constructor(name: string, args: ServiceReleaseArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nordfleet:platform:ServiceRelease", name, { service: args.service.name, host: args.host.name }, opts);
        const instances = serviceInstances(args.service, args.host.name);
        const platformEnv = pulumi.output(args.env);
        const ca = args.caCertPem === undefined ? pulumi.output<string | undefined>(undefined) : pulumi.output(args.caCertPem);
        const applied: pulumi.Resource[] = [];
        for (const inst of instances) {
            const program = artifactFiles(inst.artifact);
            const files = pulumi.secret(pulumi.all([platformEnv, ca]).apply(([env, caPem]) =>
                serviceReleaseFiles(inst, serviceEnvironment(inst, args.host, env), program, caPem)));
            const release = new RoleRelease(inst.version ? `${name}-release-${inst.version}` : `${name}-release`, {
                connection: args.connection,
                ledger: args.ledger,
                role: serviceRole(inst.instance),
                hooks: SERVICE_HOOKS,
                files,
                vars: serviceReleaseVars(inst, args.host, args.checkSeconds),
                machine: args.machine,
            }, { parent: this });
            this.releases[inst.instance] = release.release;
            applied.push(release.applied);
        }
        const keep = instances.map(i => i.instance);
        new command.remote.Command(`${name}-prune`, {
            connection: args.connection,
            create: "bash -s",
            stdin: pruneScript(args.service.name, keep),
            triggers: [args.machine, keep.join(" ")],
        }, { parent: this, dependsOn: applied });
        this.units = instances.map(i => unitName(i.instance));
        this.endpoints = instances.map(i => ({ instance: i.instance, version: i.version, address: args.host.address, port: i.port }));
        this.registerOutputs({ units: this.units, endpoints: this.endpoints, releases: this.releases });
    }
}
