/**
 * Consul: 3 or 5 servers (1 in a lab) and an agent on every other VM, pushed as
 * releases of the role "consul" (see release.ts and templates/consul/hooks.sh).
 *
 * Baseline: gossip encryption, mutual TLS with verify_incoming, verify_outgoing and
 * verify_server_hostname, ACLs with default deny, no script checks, the HTTP API
 * only over HTTPS on 127.0.0.1. Agents get their certificates from the fleet's
 * internal CA (not auto_encrypt), so the CA key stays in the stack and every
 * listener, the HTTPS API included, speaks the same CA's certificates.
 *
 * DNS: the agent answers on 127.0.0.1:8600; a dnsmasq on 127.0.0.1:53 (the only
 * nameserver in /etc/resolv.conf) forwards `.consul` to it, so `NAME.service.consul`
 * (and `NAME`, through the search domain) resolves for every process.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { FleetConfig, HostSpec, ServiceSpec } from "../../config/types";
import { Connection } from "../compute/connection";
import { InternalCa } from "../pki/internalCa";
import { liveRelease, ReleaseFile, RoleRelease } from "./release";
import { HostLedger } from "./hostLedger";
import { readTemplate, renderTemplate } from "../render";
import { deriveBase64, deriveUuid, secretSeed } from "../pki/secretSeed";

export const CONSUL_ROLE = "consul";
export const CONSUL_HOOKS = "consul/hooks.sh";
/** The policy of the token used for requests without one (DNS). */
export const DNS_POLICY = "nordfleet-dns";
/** Consul's built-in policy that allows everything. */
export const GLOBAL_MANAGEMENT_POLICY_ID = "00000000-0000-0000-0000-000000000001";

/** The live consul release on every member (see release.ts). */
const CONSUL_LIVE = liveRelease(CONSUL_ROLE);
const CONSUL_OWNED = "root:consul";
const ROOT_ONLY = "root:root";

/** A Consul datacenter name (letters, digits, `-`, `_`) from the stack's name. */
export function consulDatacenter(stack: string): string {
    const dc = stack.toLowerCase().replace(/[^a-z0-9_-]+/g, "-").replace(/^-+|-+$/g, "");
    return dc === "" ? "dc1" : dc;
}

/** The servers' VLAN addresses, in config order: every agent's retry_join. */
export function consulServerAddresses(config: FleetConfig): string[] {
    return config.hosts.filter(h => h.role === "consul-server").map(h => h.address);
}

/** What a certificate must name: servers answer to server.<dc>.consul, agents never do. */
export function consulCertificateNames(host: HostSpec, datacenter: string) {
    const kind = host.role === "consul-server" ? "server" : "client";
    return {
        commonName: `${host.name}.${kind}.${datacenter}.consul`,
        dnsNames: [`${kind}.${datacenter}.consul`, `${host.name}.${kind}.${datacenter}.consul`, "localhost"],
        ipAddresses: ["127.0.0.1", host.address],
    };
}

const hcl = (value: string) => JSON.stringify(value);

export interface AgentConfigContext {
    datacenter: string;
    node: string;
    address: string;
    server: boolean;
    /** Number of servers; a server waits for that many before electing a leader. */
    serverCount: number;
    serverAddresses: string[];
    gossipKey: string;
    /**
     * Raft's timing scale on servers: 1 in prod (HashiCorp's production advice; the default
     * 5 makes a leader failover five times slower), 5 where servers are emulated and slow.
     */
    raftMultiplier: number;
}

export function renderAgentConfig(ctx: AgentConfigContext): string {
    return renderTemplate("consul/agent.hcl.hbs", {
        datacenter: hcl(ctx.datacenter),
        nodeName: hcl(ctx.node),
        server: ctx.server,
        bootstrapExpect: ctx.serverCount,
        address: hcl(ctx.address),
        retryJoin: ctx.serverAddresses.map(hcl),
        gossipKey: hcl(ctx.gossipKey),
        raftMultiplier: ctx.raftMultiplier,
    });
}

export function renderTlsConfig(datacenter: string): string {
    return renderTemplate("consul/tls.hcl.hbs", { dc: datacenter });
}

export interface AclTokens {
    /** Servers only. */
    initialManagement?: string;
    agentRecovery: string;
    agent: string;
    default: string;
}

export function renderAclConfig(tokens: AclTokens): string {
    return renderTemplate("consul/acl.hcl.hbs", {
        initialManagement: tokens.initialManagement === undefined ? false : hcl(tokens.initialManagement),
        agentRecovery: hcl(tokens.agentRecovery),
        agent: hcl(tokens.agent),
        default: hcl(tokens.default),
    });
}

export const HEALTH_INTERVAL = "5s";
export const HEALTH_TIMEOUT = "2s";
export const HEALTH_FAILURES_BEFORE_CRITICAL = 3;

/**
 * A service's registration on the agent of the host it runs on: its VLAN address and
 * port, an HTTP check of its health path, and the token that may register it.
 */
export function renderServiceDefinition(service: ServiceSpec, address: string, token: string): string {
    return renderTemplate("consul/service.hcl.hbs", {
        name: hcl(service.name),
        address: hcl(address),
        port: service.port,
        token: hcl(token),
        checkId: hcl(`${service.name}-http`),
        checkName: hcl(`HTTP GET ${service.healthPath}`),
        checkUrl: hcl(`http://${address}:${service.port}${service.healthPath}`),
        interval: hcl(HEALTH_INTERVAL),
        timeout: hcl(HEALTH_TIMEOUT),
        failuresBeforeCritical: HEALTH_FAILURES_BEFORE_CRITICAL,
    });
}

/** The release file that registers `service` (mode 0640: it holds the service's token). */
export function serviceRegistrationFile(service: ServiceSpec, address: string, token: string): ReleaseFile {
    return { path: `service-${service.name}.hcl`, mode: "0640", owner: CONSUL_OWNED,
        content: renderServiceDefinition(service, address, token) };
}

export function renderDnsmasqConfig(upstreams: string[] = []): string {
    return renderTemplate("consul/dnsmasq.conf.hbs", { upstreams });
}

/** Secrets of the whole cluster, as plain strings once resolved. */
export interface ConsulSecrets {
    gossipKey: string;
    managementToken: string;
    dnsToken: string;
    /** Per node. */
    agentTokens: Record<string, string>;
    /** Per node: lets root on that node use its agent's API even without servers. */
    recoveryTokens: Record<string, string>;
    /** Per service. */
    serviceTokens: Record<string, string>;
}

/** Every secret of the cluster, each derived from the cluster's seed under its own label. */
export function deriveConsulSecrets(seed: string, nodes: string[], services: string[]): ConsulSecrets {
    const perName = (kind: string, names: string[]) =>
        Object.fromEntries(names.map(n => [n, deriveUuid(seed, `consul/${kind}/${n}`)]));
    return {
        gossipKey: deriveBase64(seed, "consul/gossip-key", 32),
        managementToken: deriveUuid(seed, "consul/management-token"),
        dnsToken: deriveUuid(seed, "consul/dns-token"),
        agentTokens: perName("agent-token", nodes),
        recoveryTokens: perName("recovery-token", nodes),
        serviceTokens: perName("service-token", services),
    };
}

/**
 * What the first server creates in Consul once a leader exists: the DNS policy, the
 * management token (which the initial one already is, unless the secrets were
 * rotated), the default (DNS) token, every agent's token (a node identity) and every
 * service's registration token (a service identity). Each token is a request body and
 * its secret alone, so the hooks can test whether it exists with `-token-file`.
 */
export function aclSeedFiles(datacenter: string, secrets: ConsulSecrets): ReleaseFile[] {
    const token = (id: string, secret: string, body: object): ReleaseFile[] => [
        { path: `acl/seed/${id}.json`, mode: "0600", owner: ROOT_ONLY, content: JSON.stringify({ SecretID: secret, ...body }) + "\n" },
        { path: `acl/seed/${id}.secret`, mode: "0600", owner: ROOT_ONLY, content: secret },
    ];
    const sorted = (r: Record<string, string>) => Object.entries(r).sort(([a], [b]) => a.localeCompare(b));
    return [
        { path: `acl/seed/${DNS_POLICY}.rules`, mode: "0600", owner: ROOT_ONLY, content: renderTemplate("consul/dns-policy.rules.hbs", {}) },
        ...token("management", secrets.managementToken, {
            Description: "nordfleet: management", Policies: [{ ID: GLOBAL_MANAGEMENT_POLICY_ID }] }),
        ...token("dns", secrets.dnsToken, {
            Description: "nordfleet: requests without a token (DNS)", Policies: [{ Name: DNS_POLICY }] }),
        ...sorted(secrets.agentTokens).flatMap(([node, secret]) => token(`agent-${node}`, secret, {
            Description: `nordfleet: agent of ${node}`, NodeIdentities: [{ NodeName: node, Datacenter: datacenter }] })),
        ...sorted(secrets.serviceTokens).flatMap(([service, secret]) => token(`service-${service}`, secret, {
            Description: `nordfleet: registers ${service}`, ServiceIdentities: [{ ServiceName: service }] })),
    ];
}

/**
 * The first server's extra files: the ACL seed, the gossip key every member should
 * use (`keyring/primary.json`, an API request body) and the tool that moves the
 * cluster to it and retires what a rotation replaced (templates/consul/secrets.py).
 */
export function seederFiles(datacenter: string, secrets: ConsulSecrets): ReleaseFile[] {
    return [
        ...aclSeedFiles(datacenter, secrets),
        { path: "keyring/primary.json", mode: "0600", owner: ROOT_ONLY, content: JSON.stringify({ Key: secrets.gossipKey }) + "\n" },
        { path: SECRETS_TOOL, mode: "0700", owner: ROOT_ONLY, content: readTemplate("consul/secrets.py") },
    ];
}

/** Where the seeder's release keeps templates/consul/secrets.py. */
export const SECRETS_TOOL = "bin/secrets.py";

export interface NodeCertificate {
    caPem: string;
    certPem: string;
    keyPem: string;
}

export interface NodeReleaseContext {
    config: FleetConfig;
    datacenter: string;
    host: HostSpec;
    secrets: ConsulSecrets;
    tls: NodeCertificate;
    /** The server that creates the ACL policies and tokens (the first in config order). */
    seedsAcl: boolean;
    /** Where names outside `.consul` go (see `resolversFor`); none: only `.consul` resolves. */
    resolvers?: string[];
}

/** Every file of one node's consul release. */
export function consulReleaseFiles(ctx: NodeReleaseContext): ReleaseFile[] {
    const { config, datacenter, host, secrets } = ctx;
    const server = host.role === "consul-server";
    const services = host.services.map(name => {
        const spec = config.services.find(s => s.name === name);
        if (spec === undefined) {
            throw new Error(`consul: host ${host.name} runs service "${name}", which nordfleet:services does not declare`);
        }
        return serviceRegistrationFile(spec, host.address, secrets.serviceTokens[name]);
    });
    return [
        { path: "agent.hcl", mode: "0640", owner: CONSUL_OWNED, content: renderAgentConfig({
            datacenter, node: host.name, address: host.address, server, serverCount: config.consulServers,
            serverAddresses: consulServerAddresses(config), gossipKey: secrets.gossipKey,
            raftMultiplier: config.environment === "prod" ? 1 : 5 }) },
        { path: "tls.hcl", mode: "0644", content: renderTlsConfig(datacenter) },
        { path: "acl.hcl", mode: "0640", owner: CONSUL_OWNED, content: renderAclConfig({
            initialManagement: server ? secrets.managementToken : undefined,
            agentRecovery: secrets.recoveryTokens[host.name],
            agent: secrets.agentTokens[host.name],
            default: secrets.dnsToken }) },
        { path: "dns.hcl", mode: "0644", content: renderTemplate("consul/dns.hcl.hbs", {}) },
        ...services,
        { path: "tls/ca.pem", mode: "0644", content: ctx.tls.caPem },
        { path: "tls/agent.pem", mode: "0644", content: ctx.tls.certPem },
        { path: "tls/agent-key.pem", mode: "0640", owner: CONSUL_OWNED, content: ctx.tls.keyPem },
        { path: "acl/recovery.token", mode: "0600", owner: ROOT_ONLY, content: secrets.recoveryTokens[host.name] },
        ...(server ? [{ path: "acl/management.token", mode: "0600", owner: ROOT_ONLY, content: secrets.managementToken }] : []),
        ...(ctx.seedsAcl ? seederFiles(datacenter, secrets) : []),
        { path: "systemd/consul.service", mode: "0644", content: renderTemplate("consul/consul.service.hbs", {}) },
        { path: "systemd/nordfleet-consul-dns.service", mode: "0644", content: renderTemplate("consul/consul-dns.service.hbs", {}) },
        { path: "dnsmasq.conf", mode: "0644", content: renderDnsmasqConfig(ctx.resolvers) },
        { path: "resolv.conf", mode: "0644", content: renderTemplate("consul/resolv.conf.hbs", {}) },
    ];
}

/** Plain variables of the hooks. Software emulation starts guests far slower. */
export function consulHookVars(host: HostSpec, config: FleetConfig): Record<string, string | number> {
    return { CONSUL_NODE: host.name, CONSUL_WAIT_SECONDS: config.environment === "lab" ? 300 : 120 };
}

export interface ConsulMember {
    host: HostSpec;
    connection: Connection;
    /** Changes when the guest is rebuilt (see RoleRelease). */
    machine: pulumi.Input<string>;
    /** Where its releases' file digests are recorded, on its hypervisor. */
    ledger: HostLedger;
    /** The resolvers its local resolver forwards names outside `.consul` to. */
    resolvers: string[];
}

export interface ConsulClusterArgs {
    /** The whole stack config: the datacenter's servers, services and raft timing. */
    config: FleetConfig;
    /** Issues every member's TLS certificate. */
    ca: InternalCa;
    /** Every VM that runs a Consul server or agent, servers included. */
    members: ConsulMember[];
}

export class ConsulCluster extends pulumi.ComponentResource {
    public readonly datacenter: string;
    public readonly serverAddresses: string[];
    /** For operators (secret). */
    public readonly managementToken: pulumi.Output<string>;
    /** Per service, the token that registers it (secret). */
    public readonly serviceTokens: pulumi.Output<Record<string, string>>;
    /** Per member, its release. */
    public readonly releases: Record<string, RoleRelease> = {};
    /**
     * The servers' releases: once they are done, the servers have a leader and every
     * ACL token exists. Whatever needs Consul puts them in its `dependsOn`.
     */
    public readonly serverReleases: RoleRelease[] = [];

    constructor(name: string, args: ConsulClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nordfleet:platform:ConsulCluster", name, {}, opts);
        const { config, ca, members } = args;
        this.datacenter = consulDatacenter(pulumi.getStack());
        this.serverAddresses = consulServerAddresses(config);
        const servers = members.filter(m => m.host.role === "consul-server");
        const missing = config.hosts.filter(h => h.role === "consul-server" && !servers.some(m => m.host.name === h.name));
        if (missing.length > 0) {
            throw new Error(`consul: the servers ${missing.map(h => h.name).join(", ")} are not among the cluster's members`);
        }

        const memberNames = members.map(m => m.host.name);
        const serviceNames = config.services.map(s => s.name);
        const secrets = secretSeed(`${name}-secret-seed`, this)
            .apply(seed => deriveConsulSecrets(seed, memberNames, serviceNames));
        this.managementToken = pulumi.secret(secrets.apply(s => s.managementToken));
        this.serviceTokens = pulumi.secret(secrets.apply(s => s.serviceTokens));

        const seeder = this.serverAddresses.length > 0 ? config.hosts.find(h => h.role === "consul-server")!.name : undefined;
        const release = (member: ConsulMember, dependsOn: pulumi.Resource[]) => {
            const { host } = member;
            const cert = ca.issue(`${name}-${host.name}-tls`,
                { ...consulCertificateNames(host, this.datacenter), clientAuth: true }, this);
            const files = pulumi.all([secrets, ca.certPem, cert.certPem, cert.privateKeyPem]).apply(
                ([s, caPem, certPem, keyPem]) => consulReleaseFiles({
                    config, datacenter: this.datacenter, host, secrets: s,
                    tls: { caPem, certPem, keyPem }, seedsAcl: host.name === seeder, resolvers: member.resolvers,
                }));
            return new RoleRelease(`${name}-${host.name}`, {
                connection: member.connection,
                ledger: member.ledger,
                role: CONSUL_ROLE,
                hooks: CONSUL_HOOKS,
                files: pulumi.secret(files),
                vars: consulHookVars(host, config),
                machine: member.machine,
            }, { parent: this, dependsOn });
        };
        for (const member of servers) {
            const r = release(member, []);
            this.serverReleases.push(r);
            this.releases[member.host.name] = r;
        }
        for (const member of members.filter(m => m.host.role !== "consul-server")) {
            this.releases[member.host.name] = release(member, this.serverReleases.map(r => r.applied));
        }
        if (seeder !== undefined) {
            // Once every member runs this release's secrets: deletes what a rotation replaced.
            new command.remote.Command(`${name}-retire-replaced-secrets`, {
                connection: servers.find(m => m.host.name === seeder)!.connection,
                create: `python3 ${CONSUL_LIVE}/${SECRETS_TOOL} retire`,
                // The release's digest: not a secret, and an unknown secret here breaks a preview.
                triggers: [this.releases[seeder].release],
            }, { parent: this, dependsOn: Object.values(this.releases).map(r => r.applied) });
        }
        this.registerOutputs({
            datacenter: this.datacenter,
            serverAddresses: this.serverAddresses,
            managementToken: this.managementToken,
            serviceTokens: this.serviceTokens,
        });
    }

    /**
     * What a release on HOST waits for: the host's own Consul release (which waits for the
     * servers), or the servers' where the host is no member. Not the whole cluster: a
     * component in `dependsOn` is stored as every resource under it.
     */
    public readyFor(host: string): pulumi.Resource[] {
        const own = this.releases[host];
        return (own !== undefined ? [own] : this.serverReleases).map(r => r.applied);
    }
}
