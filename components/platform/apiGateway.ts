/**
 * The API gateway: nginx on a gateway VM terminating TLS and routing each service's
 * path prefix to its upstream servers on the VLAN, with rate and body limits,
 * upstream keepalive and blue/green traffic splits. The config, certificate and key
 * travel as one release (components/platform/release.ts): nginx checks it before it goes live,
 * and the previous release comes back if the new one does not answer.
 */
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { FleetConfig, HostSpec, ServiceSpec, TrafficSplit, VERSION_NAMES, VersionName } from "../../config/types";
import { Connection } from "../compute/connection";
import { InternalCa } from "../pki/internalCa";
import { ReleaseFile, RoleRelease } from "./release";
import { HostLedger } from "./hostLedger";
import { derived } from "../placeholder";
import { renderTemplate } from "../render";

/** Mozilla "intermediate" (v5.7) suites, without the DHE ones, which would need a dhparam file. */
const INTERMEDIATE_CIPHERS = [
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

/** The gateway's release folder under /etc/nordfleet. */
export const GATEWAY_ROLE = "gateway";
/** Where the release tree keeps the TLS files, relative to nginx.conf. */
export const GATEWAY_TLS = { cert: "tls/server.crt", key: "tls/server.key", ca: "tls/ca.crt" } as const;

export interface UpstreamServer {
    address: string;
    port: number;
    weight: number;
}

export interface Upstream {
    name: string;
    /** nginx balancing directive; empty for round robin, nginx's default. */
    method: "" | "least_conn" | "ip_hash";
    servers: UpstreamServer[];
    /**
     * The servers again as backups that are never marked failed, so nginx still tries
     * them when all are marked failed at once. nginx allows no backup with ip_hash.
     */
    lastResort: boolean;
}

export interface Split {
    service: string;
    key: string;
    keyVariable: string;
    variable: string;
    buckets: { share: string; upstream: string }[];
}

export interface Route {
    service: string;
    path: string;
    zone: string;
    burst: number;
    maxBody: string;
    connectTimeout: string;
    readTimeout: string;
    nextUpstreamTimeout: string;
    /** An upstream name, or the split's variable that holds one. */
    target: string;
}

export interface GatewayContext {
    gatewayName: string;
    gatewayAddress: string;
    serverName: string;
    /** Fingerprint of the config and certificate; /healthz reports it so a check can tell the live config. */
    configId: string;
    pidFile: string;
    logDir: string;
    certFile: string;
    keyFile: string;
    workerConnections: number;
    rlimitNofile: number;
    /** Requests in progress one client address may have. */
    connectionsPerClient: number;
    /** Each public listener's queue of connections not yet accepted (the baseline's somaxconn). */
    listenBacklog: number;
    buffers: ProxyBuffers;
    sslCiphers: string;
    rateZones: { service: string; zone: string; rate: number }[];
    splits: Split[];
    upstreams: Upstream[];
    routes: Route[];
}

/** Where nginx keeps its pid and logs; Debian's, unless a test runs nginx beside the host's own. */
export interface GatewayPaths {
    pidFile: string;
    logDir: string;
}

export const DEBIAN_NGINX_PATHS: GatewayPaths = { pidFile: "/run/nginx.pid", logDir: "/var/log/nginx" };

export interface ProxyBuffers {
    memoryMb: number;
    headerKb: number;
    bufferKb: number;
    busyKb: number;
    perRequestKb: number;
}

/**
 * Upstream response buffers, from the VM's memory: 4 KiB buffers on a 1 GB gateway up
 * to 16 KiB from 4 GB, so 10000 requests in flight stay within a quarter of memory.
 */
export function proxyBuffers(memoryMb: number): ProxyBuffers {
    const bufferKb = Math.min(16, Math.max(4, 2 ** Math.floor(Math.log2(Math.max(1, memoryMb / 256)))));
    const headerKb = 2 * bufferKb;
    return { memoryMb, headerKb, bufferKb, busyKb: 2 * bufferKb, perRequestKb: headerKb + 4 * bufferKb };
}

/** The percent each version gets; "blue" and "green" send everything to one. */
export function trafficWeights(traffic: ServiceSpec["traffic"]): TrafficSplit {
    if (traffic === undefined || traffic === "blue") {
        return { blue: 100, green: 0 };
    }
    return traffic === "green" ? { blue: 0, green: 100 } : traffic;
}

const symbol = (name: string) => name.replace(/-/g, "_");

function servers(config: FleetConfig, service: ServiceSpec, port: number, hostNames?: string[]): UpstreamServer[] {
    const runners = config.hosts.filter(h => h.services.includes(service.name));
    const chosen = hostNames === undefined ? runners : runners.filter(h => hostNames.includes(h.name));
    return chosen.map(h => ({ address: h.address, port, weight: 1 }));
}

function upstream(name: string, s: ServiceSpec, servers: UpstreamServer[]): Upstream {
    const method: Upstream["method"] = s.balance === "round_robin" ? "" : s.balance;
    return { name, method, servers, lastResort: method !== "ip_hash" };
}

/** The upstreams of one service and what its location proxies to. */
function serviceUpstreams(config: FleetConfig, s: ServiceSpec): { upstreams: Upstream[]; target: string; split?: Split } {
    if (s.versions === undefined) {
        const name = `nf_${s.name}`;
        return { upstreams: [upstream(name, s, servers(config, s, s.port))], target: name };
    }
    const weights = trafficWeights(s.traffic);
    // A version at 0% gets no upstream at all, so nothing can reach it.
    const live = VERSION_NAMES.filter(v => weights[v] > 0);
    const upstreams = live.map((v: VersionName) =>
        upstream(`nf_${s.name}_${v}`, s, servers(config, s, s.versions![v].port, s.versions![v].hosts)));
    if (upstreams.length === 1) {
        return { upstreams, target: upstreams[0].name };
    }
    const variable = `nf_split_${symbol(s.name)}`;
    // ip_hash services keep a client on one version; others split per request.
    const key = s.balance === "ip_hash" ? "client address" : "request";
    return {
        upstreams,
        target: `$${variable}`,
        split: {
            service: s.name, key, keyVariable: s.balance === "ip_hash" ? "${remote_addr}" : "${request_id}", variable,
            buckets: [{ share: `${weights.blue}%`, upstream: upstreams[0].name }, { share: "*", upstream: upstreams[1].name }],
        },
    };
}

/** Everything nginx.conf says, from the validated config; configId is filled in by gatewayReleaseFiles. */
export function gatewayContext(config: FleetConfig, gatewayHost: HostSpec,
                               paths: GatewayPaths = DEBIAN_NGINX_PATHS): GatewayContext {
    const perService = config.services.map(s => ({ s, ...serviceUpstreams(config, s) }));
    return {
        gatewayName: gatewayHost.name,
        gatewayAddress: gatewayHost.address,
        serverName: config.gateway.serverName,
        configId: "",
        ...paths,
        certFile: GATEWAY_TLS.cert,
        keyFile: GATEWAY_TLS.key,
        workerConnections: 16384,
        rlimitNofile: 65536,
        // Above the lab's load test (200 connections from one address), far below a worker's share.
        connectionsPerClient: 512,
        listenBacklog: 65535,
        buffers: proxyBuffers(gatewayHost.memoryMb),
        sslCiphers: INTERMEDIATE_CIPHERS,
        rateZones: config.services.map(s => ({ service: s.name, zone: `nf_${s.name}`, rate: s.rateLimitPerSecond })),
        splits: perService.flatMap(p => (p.split ? [p.split] : [])),
        upstreams: perService.flatMap(p => p.upstreams),
        routes: perService.map(({ s, target }) => ({
            service: s.name,
            path: s.gatewayPath,
            zone: `nf_${s.name}`,
            burst: s.rateLimitBurst,
            maxBody: `${s.maxBodyMb}m`,
            connectTimeout: `${s.connectTimeoutMs}ms`,
            readTimeout: `${s.readTimeoutMs}ms`,
            nextUpstreamTimeout: `${s.connectTimeoutMs + s.readTimeoutMs}ms`,
            target,
        })),
    };
}

export function renderNginxConf(ctx: GatewayContext): string {
    return renderTemplate("gateway/nginx.conf.hbs", ctx);
}

export interface GatewayTlsMaterial {
    certPem: string;
    /** Secret: only ever inside the release's secret stdin. */
    keyPem: string;
    caPem: string;
}

/** The release tree: nginx.conf with its config id, and the TLS files it names. */
export function gatewayReleaseFiles(ctx: GatewayContext, tls: GatewayTlsMaterial): ReleaseFile[] {
    const configId = derived([tls.certPem], `gateway-config-id-${ctx.gatewayName}`, () => crypto.createHash("sha256")
        .update(renderNginxConf({ ...ctx, configId: "" })).update("\0").update(tls.certPem)
        .digest("hex").slice(0, 16));
    return [
        { path: "nginx.conf", mode: "0644", content: renderNginxConf({ ...ctx, configId }) },
        { path: GATEWAY_TLS.cert, mode: "0644", content: tls.certPem },
        { path: GATEWAY_TLS.key, mode: "0600", owner: "root:root", content: tls.keyPem },
        { path: GATEWAY_TLS.ca, mode: "0644", content: tls.caPem },
        { path: "logrotate.conf", mode: "0644", content: renderTemplate("gateway/logrotate.conf.hbs", ctx) },
        // maxsize is only looked at when logrotate runs: hourly, not Debian's daily.
        { path: "logrotate-hourly.conf", mode: "0644", content: "[Timer]\nOnCalendar=\nOnCalendar=hourly\nAccuracySec=1m\n" },
    ];
}

export interface ApiGatewayArgs {
    /** The gateway VM as the stack declares it. */
    host: HostSpec;
    /** How to reach the gateway VM (through its hypervisor, host key pinned). */
    connection: Connection;
    /** Changes when the VM is rebuilt, so a new machine gets the release again. */
    machine: pulumi.Input<string>;
    /** Where its releases' file digests are recorded, on its hypervisor. */
    ledger: HostLedger;
    /** Issues the gateway's certificate unless the stack supplies its own. */
    ca: InternalCa;
    /** The whole stack config: the services it routes to and the gateway settings. */
    config: FleetConfig;
    /** The stack's own certificate and key (`nordfleet:gateway.tls`, read by the loader). */
    suppliedTls?: { certPem: string; keyPem: string };
}

export class ApiGateway extends pulumi.ComponentResource {
    /** https://<public or VLAN address>/, known once the gateway serves the release. */
    public readonly url: pulumi.Output<string>;
    public readonly certPem: pulumi.Output<string>;
    /** Digest of the live release. */
    public readonly release: pulumi.Output<string>;

    constructor(name: string, args: ApiGatewayArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nordfleet:platform:ApiGateway", name, { host: args.host.name }, opts);
        const { config, host } = args;
        const supplied = args.suppliedTls;
        if (config.gateway.tls && !supplied) {
            throw new Error(`ApiGateway ${name}: nordfleet:gateway.tls is set, but its files were not read (suppliedTls)`);
        }
        let keyPem: pulumi.Output<string>;
        if (supplied) {
            this.certPem = pulumi.output(supplied.certPem);
            keyPem = pulumi.secret(supplied.keyPem);
        } else {
            const issued = args.ca.issue(`${name}-tls`, {
                commonName: config.gateway.serverName,
                dnsNames: [config.gateway.serverName],
                ipAddresses: [host.address, ...(host.publicAddress ? [host.publicAddress.split("/")[0]] : [])],
            }, this);
            this.certPem = issued.certPem;
            keyPem = issued.privateKeyPem;
        }
        const ctx = gatewayContext(config, host);
        const files = pulumi.secret(pulumi.all([this.certPem, keyPem, args.ca.certPem])
            .apply(([certPem, key, caPem]) => gatewayReleaseFiles(ctx, { certPem, keyPem: key, caPem })));
        const release = new RoleRelease(`${name}-release`, {
            connection: args.connection,
            ledger: args.ledger,
            role: GATEWAY_ROLE,
            hooks: "gateway/hooks.sh",
            files,
            machine: args.machine,
        }, { parent: this });
        this.release = release.release;
        // Where other teams reach it: the public side when the gateway has a fixed address there.
        const address = host.publicAddress?.split("/")[0] ?? host.address;
        // Known once the release is live.
        this.url = release.release.apply(() => `https://${address}/`);
        this.registerOutputs({ url: this.url, certPem: this.certPem, release: this.release });
    }
}
