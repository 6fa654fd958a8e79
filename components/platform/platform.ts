/**
 * The microservices platform on the fleet's VMs, each piece pushed over SSH as a
 * release: every VM's baseline (sysctl, limits, firewall) and Consul agent, the Consul
 * servers, a PostgreSQL per database host, RabbitMQ, the services themselves, and the
 * API gateway in front of them. All TLS comes from one internal CA.
 */
import * as pulumi from "@pulumi/pulumi";
import { LoadedFleet, SuppliedMaterial } from "../../config/load";
import { HostSpec, ServiceSpec } from "../../config/types";
import { ApiGateway } from "./apiGateway";
import { resolversFor } from "../../config/dns";
import { consulMemberHosts, databasePlacement } from "../../config/placement";
import { ConsulCluster } from "./consulCluster";
import { Fleet } from "../fleet";
import { HostBaseline } from "./hostBaseline";
import { InternalCa } from "../pki/internalCa";
import { DatabaseConnection, DataHost, PostgresDatabase, serviceClientAddresses } from "./postgresDatabase";
import { RabbitMq } from "./rabbitMq";
import { RELEASE_DIR, ServiceRelease, ServiceRunSpec } from "./serviceRelease";

export interface PlatformArgs {
    /** The validated stack config, its placement and what the operator supplied. */
    loaded: LoadedFleet;
    /** The VMs the platform goes on. */
    fleet: Fleet;
}

/**
 * What other teams read about one service (the contract's `services`): where its data
 * is, never its credentials, which reach only the service's own hosts.
 */
export interface ServiceOutput {
    consulName: string;
    database?: { endpoint: string; name: string; user: string };
    amqp?: { vhost: string; endpoint: string };
}

export class Platform extends pulumi.ComponentResource {
    public readonly ca: InternalCa;
    public readonly gateways: ApiGateway[] = [];
    public readonly consul: ConsulCluster;
    public readonly databases: Record<string, DatabaseConnection> = {};
    public readonly broker?: RabbitMq;
    private readonly databaseServers: PostgresDatabase[] = [];

    constructor(name: string, args: PlatformArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nordfleet:platform:Platform", name, {}, opts);
        const { config } = args.loaded;
        const { fleet } = args;
        const member = (host: HostSpec) => ({
            host,
            connection: fleet.instances[host.name].connection,
            machine: fleet.instances[host.name].machineId,
            ledger: fleet.instances[host.name].ledger,
        });
        const dataHost = (host: HostSpec): DataHost => ({ ...member(host), volumeSerials: fleet.instances[host.name].volumeSerials });
        const after = (...deps: pulumi.Input<pulumi.Resource>[]) => ({ parent: this, dependsOn: deps });

        this.ca = new InternalCa(`${name}-ca`,
            { organization: "nordfleet", renewBeforeDays: config.certificates.renewBeforeDays }, { parent: this });

        // The firewall first: nothing listens on a VM before its baseline is in place.
        const baselines: Record<string, HostBaseline> = {};
        for (const host of config.hosts) {
            baselines[host.name] = new HostBaseline(`${name}-${host.name}-baseline`, {
                ...member(host), config, vlans: fleet.vlans,
            }, after(fleet.instances[host.name].booted));
        }
        const baselineOf = (host: HostSpec) => baselines[host.name].applied;

        this.consul = new ConsulCluster(`${name}-consul`, {
            config, ca: this.ca, members: consulMemberHosts(config).map(host => ({
                ...member(host), resolvers: resolversFor(host, config, args.loaded.placement),
            })),
        }, after(...Object.values(baselines).map(b => b.applied)));

        const placement = databasePlacement(config);
        const clients = serviceClientAddresses(config);
        const databaseServers = config.hosts.filter(h => h.role === "postgres");
        for (const host of databaseServers) {
            const pg = new PostgresDatabase(`${name}-${host.name}-postgres`, {
                server: dataHost(host), config, services: placement[host.name], clients, ca: this.ca,
                backupCaPem: args.loaded.supplied.backupCaPem,
                backupCredentials: backupCredentials(args.loaded.supplied),
            }, after(baselineOf(host)));
            Object.assign(this.databases, pg.databases);
            this.databaseServers.push(pg);
        }

        const brokerHosts = config.hosts.filter(h => h.role === "rabbitmq");
        if (brokerHosts.length > 0 && config.services.some(s => s.queue)) {
            this.broker = new RabbitMq(`${name}-rabbitmq`, {
                nodes: brokerHosts.map(dataHost), config, ca: this.ca,
            }, after(...brokerHosts.map(baselineOf)));
        }

        // A service rolls out one host at a time, in the order of the hosts: a release
        // that fails its check stops the rollout there, and the hosts after it keep
        // serving what they had. Different services roll out side by side.
        const serviceReleases: ServiceRelease[] = [];
        for (const service of config.services.filter(s => s.artifact)) {
            let previous: ServiceRelease[] = [];
            for (const host of config.hosts.filter(h => h.role === "service" && h.services.includes(service.name))) {
                const release = new ServiceRelease(`${name}-${host.name}-${service.name}`, {
                    ...member(host),
                    service: service as ServiceRunSpec,
                    env: this.platformEnv(service),
                    caCertPem: this.ca.certPem,
                    checkSeconds: service.healthCheckSeconds,
                }, after(baselineOf(host), ...this.consul.readyFor(host.name), ...this.dataServicesOf(service), ...previous));
                serviceReleases.push(release);
                previous = [release];
            }
        }

        for (const host of config.hosts.filter(h => h.role === "gateway")) {
            this.gateways.push(new ApiGateway(`${name}-${host.name}-gateway`, {
                ...member(host), ca: this.ca, config, suppliedTls: args.loaded.supplied.gatewayTls,
            }, after(baselineOf(host), ...serviceReleases)));
        }
        this.registerOutputs({ ca: this.ca.certPem, gateways: this.gateways.map(g => g.url) });
    }

    /**
     * What a service waits for: the database server that holds its database and the
     * broker, whose releases must be live before a replica's health check (which queries
     * its database) can pass. Only those: a component in `dependsOn` is stored as every
     * resource under it, so depending on more would grow each service's state with the fleet.
     */
    private dataServicesOf(service: ServiceSpec): pulumi.Resource[] {
        return [
            ...this.databaseServers.filter(pg => service.database && service.name in pg.databases),
            ...(service.queue && this.broker ? [this.broker] : []),
        ];
    }

    /** What the platform hands a service: its database, its broker, its Consul token (secrets). */
    private platformEnv(service: ServiceSpec): pulumi.Output<Record<string, string>> {
        const env: Record<string, pulumi.Input<string>> = {
            CONSUL_HTTP_TOKEN: this.consul.serviceTokens.apply(t => t[service.name]),
            // Requests arrive with the route's prefix: the service may strip it.
            GATEWAY_PATH: service.gatewayPath,
        };
        const db = this.databases[service.name];
        if (service.database && db) {
            env.DATABASE_URL = pulumi.interpolate
                `postgresql://${db.user}:${db.password}@${db.endpoint}/${db.database}?sslmode=verify-full&sslrootcert=${CA_FILE}`;
        }
        if (service.queue && this.broker) {
            env.AMQP_URL = this.broker.urls[service.name];
            env.AMQP_CA = CA_FILE;
        }
        for (const source of service.consumes ?? []) {
            if (this.broker?.eventUrls?.[service.name]?.[source]) {
                env.EVENTS_AMQP_URL = this.broker.eventUrls[service.name][source];
            }
        }
        return pulumi.secret(pulumi.all(env));
    }

    /** Per service: its Consul name, database and broker endpoints, for the stack outputs (no credential). */
    public serviceOutputs(config: LoadedFleet["config"]): Record<string, ServiceOutput> {
        return Object.fromEntries(config.services.map(s => {
            const db = this.databases[s.name];
            const out: ServiceOutput = { consulName: `${s.name}.service.consul` };
            if (s.database && db) {
                out.database = { endpoint: db.endpoint, name: db.database, user: db.user };
            }
            if (s.queue && this.broker) {
                out.amqp = { vhost: s.name, endpoint: this.broker.endpoints[0] };
            }
            return [s.name, out];
        }));
    }
}

/** The s3 backup bucket's keys, as secrets from here on. */
function backupCredentials({ backupCredentials: keys }: SuppliedMaterial) {
    return keys === undefined ? undefined
        : { accessKeyId: pulumi.secret(keys.accessKeyId), secretAccessKey: pulumi.secret(keys.secretAccessKey) };
}

/** The CA file inside each instance's release tree (see serviceReleaseFiles). */
const CA_FILE = `${RELEASE_DIR}/ca.pem`;
