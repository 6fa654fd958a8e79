/**
 * The baseline every guest gets, whatever its role: kernel tuning for many concurrent
 * connections and kernel hardening (each value only ever moved one way), open-file
 * limits for the fleet's daemons, no core dumps, no modules for protocols, filesystems
 * and buses a VM never uses, sshd's algorithms and its hardening, and a default-drop
 * nftables firewall that opens exactly what the host's role serves. Pushed as the
 * "baseline" release (see release.ts).
 */
import * as pulumi from "@pulumi/pulumi";
import { FleetConfig, HostSpec, Role, ServiceSpec } from "../../config/types";
import { Connection } from "../compute/connection";
import { VlanPlan } from "../compute/network";
import { ReleaseFile, ReleaseOptions, RoleRelease } from "./release";
import { HostLedger } from "./hostLedger";
import { readTemplate, renderTemplate } from "../render";

export const BASELINE_ROLE = "baseline";
export const BASELINE_HOOKS = "baseline/hooks.sh";

/** Where guests are reached: guestConnection always dials port 22. */
export const SSH_PORT = 22;

/** Open files per process for the fleet's daemons; equal to the kernel's default fs.nr_open ceiling. */
export const NOFILE_LIMIT = 1048576;

/** Units that get a LimitNOFILE drop-in; one for a unit a host does not run is never read. */
export const NOFILE_UNITS = ["nginx.service", "nordfleet-postgres.service", "rabbitmq-server.service", "consul.service"];

/** Consul agent ports every guest listens on for itself only (HTTP/HTTPS API, gRPC, DNS). */
export const CONSUL_LOCAL_PORTS = [8500, 8501, 8502, 8600];
/** Ports a role's daemons listen on whether or not the firewall opens them (a single RabbitMQ node's epmd and distribution). */
const ROLE_LOCAL_PORTS: Partial<Record<Role, number[]>> = { rabbitmq: [4369, 25672] };

export type Proto = "tcp" | "udp";

/** One opening in a host's firewall; everything not listed is dropped. */
export interface FirewallRule {
    port: number;
    proto: Proto;
    /** Source addresses or CIDRs allowed, or "any" (the gateway's public ports only). */
    from: string[] | "any";
    why: string;
}

/**
 * How the hooks combine a wanted value with the kernel's current one, so that a value
 * only ever moves one way: `max` (integers, raised), `range` ("LOW HIGH", widened at
 * both ends), `ports` (a port list, united with what is reserved already) or
 * `rank V1 V2 ...` (values in the order they may move: a later one replaces an earlier
 * one, never the reverse; an unlisted current value is kept).
 */
export type SysctlMerge = "max" | "range" | "ports" | `rank ${string}`;

export interface SysctlSetting {
    key: string;
    value: string;
    merge: SysctlMerge;
    why: string;
}

export interface BaselineContext {
    host: string;
    role: Role;
    sysctl: SysctlSetting[];
    rules: FirewallRule[];
    /** The rules as nft statements, in order. */
    nftRules: { statement: string; why: string }[];
    nofile: number;
    units: string[];
    sshPort: number;
}

/** The wanted values; the hooks apply each only where it raises the kernel's own. */
export function sysctlSettings(reservedPorts: number[]): SysctlSetting[] {
    return [
        { key: "net.ipv4.tcp_tw_reuse", value: "1", merge: "rank 0 2 1",
          why: "reuse TIME-WAIT sockets for new outgoing connections to any peer (the kernel's 2 is loopback only)" },
        { key: "net.ipv4.ip_local_reserved_ports", value: compressPorts(reservedPorts), merge: "ports",
          why: "ports this host listens on are never handed out as ephemeral ports by the wider range below" },
        { key: "net.ipv4.ip_local_port_range", value: "1024 65535", merge: "range",
          why: "about 64k ephemeral ports per peer for the gateway's upstreams and the services' pools (default 28k)" },
        { key: "net.core.somaxconn", value: "65535", merge: "max",
          why: "ceiling of every listen() backlog, so nginx and postgres can queue connection bursts" },
        { key: "net.ipv4.tcp_max_syn_backlog", value: "8192", merge: "max",
          why: "half-open connections held per listener before SYN cookies take over" },
        { key: "net.core.netdev_max_backlog", value: "16384", merge: "max",
          why: "packets queued per CPU when virtio-net delivers faster than a small guest's vCPUs drain them" },
        { key: "net.netfilter.nf_conntrack_max", value: "262144", merge: "max",
          why: "connections the firewall tracks at once; past it new ones are dropped (3072 by default on a 384 MB VM, " +
               "which a gateway with 200 clients filled)" },
        { key: "net.netfilter.nf_conntrack_buckets", value: "65536", merge: "max",
          why: "hash buckets of that table, a quarter of its size, so a lookup stays short when it is full" },
        { key: "fs.file-max", value: "2097152", merge: "max",
          why: "system-wide open files: room for 1M-fd daemons on a host that runs several" },
    ];
}

const sysctlBoth = (key: string, value: string, merge: SysctlMerge, why: string): SysctlSetting[] =>
    ["all", "default"].map(scope => ({ key: key.replace("*", scope), value, merge, why }));

/**
 * Kernel hardening: settings a host serving the network never needs looser, each only
 * ever made stricter (an operator's stricter or unlisted value is kept).
 */
export function hardeningSysctlSettings(): SysctlSetting[] {
    return [
        { key: "kernel.kptr_restrict", value: "2", merge: "rank 0 1 2",
          why: "kernel addresses hidden from every user, so an exploit cannot read where to aim" },
        { key: "kernel.yama.ptrace_scope", value: "1", merge: "rank 0 1",
          why: "a process may only trace its own descendants: a compromised daemon cannot read a sibling's memory" },
        { key: "fs.protected_fifos", value: "2", merge: "rank 0 1 2",
          why: "no writing to another user's FIFO in a sticky world-writable directory such as /tmp" },
        { key: "fs.protected_regular", value: "2", merge: "rank 0 1 2",
          why: "no writing to another user's file in a sticky world-writable directory such as /tmp" },
        { key: "fs.suid_dumpable", value: "0", merge: "rank 1 2 0",
          why: "no core dumps of processes that changed privileges: they may hold keys and passwords" },
        { key: "dev.tty.ldisc_autoload", value: "0", merge: "rank 1 0",
          why: "an unprivileged user cannot load a TTY line discipline module, a recurring source of kernel exploits" },
        { key: "net.core.bpf_jit_harden", value: "2", merge: "rank 0 1 2",
          why: "constants blinded in JIT-compiled BPF for every user, against JIT spraying" },
        ...sysctlBoth("net.ipv4.conf.*.accept_redirects", "0", "rank 1 0",
            "routes come from the VLAN's plan, never from an ICMP redirect"),
        ...sysctlBoth("net.ipv6.conf.*.accept_redirects", "0", "rank 1 0",
            "routes come from the VLAN's plan, never from an ICMP redirect"),
        ...sysctlBoth("net.ipv4.conf.*.send_redirects", "0", "rank 1 0",
            "a guest is not a router: it never tells a peer to route elsewhere"),
        ...sysctlBoth("net.ipv4.conf.*.log_martians", "1", "rank 0 1",
            "packets with impossible source addresses are logged: on a private VLAN they mean spoofing or a misconfiguration"),
    ];
}

/** Sorted, deduplicated, runs of consecutive ports as "a-b": the kernel's own list syntax. */
export function compressPorts(ports: number[]): string {
    const sorted = [...new Set(ports)].sort((a, b) => a - b);
    const parts: string[] = [];
    for (let i = 0; i < sorted.length;) {
        let j = i;
        while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) {
            j++;
        }
        parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
        i = j + 1;
    }
    return parts.join(",");
}

function vlanOf(host: HostSpec, vlans: VlanPlan[]): VlanPlan {
    const vlan = vlans.find(v => v.name === host.vlan);
    if (!vlan) {
        throw new Error(`host ${host.name}: VLAN ${JSON.stringify(host.vlan)} is not in the plan`);
    }
    return vlan;
}

const both = (port: number, from: string[], why: string): FirewallRule[] =>
    (["tcp", "udp"] as Proto[]).map(proto => ({ port, proto, from, why }));

/** Addresses of service hosts that run at least one service matching `uses`. */
function clientsOf(config: FleetConfig, uses: (s: ServiceSpec) => boolean): string[] {
    const names = new Set(config.services.filter(uses).map(s => s.name));
    return config.hosts
        .filter(h => h.role === "service" && h.services.some(s => names.has(s)))
        .map(h => h.address)
        .sort();
}

/** A blue/green version listens on its own port, on the service's hosts unless it names its own. */
interface VersionPorts {
    versions?: Record<string, { port: number; hosts?: string[] }>;
}

/** The ports a service listens on on one host: its own, and each of its versions' that runs there. */
export function servicePorts(service: ServiceSpec & VersionPorts, hostName: string): { port: number; label: string }[] {
    const versions = Object.entries(service.versions ?? {})
        .filter(([, v]) => v.hosts === undefined || v.hosts.includes(hostName))
        .map(([name, v]) => ({ port: v.port, label: ` (${name})` }));
    return [{ port: service.port, label: "" }, ...versions.filter(v => v.port !== service.port)];
}

function roleRules(host: HostSpec, config: FleetConfig, vlan: VlanPlan): FirewallRule[] {
    const cidr = [vlan.cidr];
    switch (host.role) {
        case "gateway":
            return [
                { port: 80, proto: "tcp", from: "any", why: "HTTP to the API gateway (redirects to HTTPS)" },
                { port: 443, proto: "tcp", from: "any", why: "HTTPS to the API gateway" },
            ];
        case "consul-server":
            return [
                // Its HTTPS API and DNS listen on loopback only (client_addr): nothing to open.
                { port: 8300, proto: "tcp", from: cidr, why: "Consul server RPC from agents" },
            ];
        case "service":
            return config.services
                .filter(s => host.services.includes(s.name))
                .flatMap(s => servicePorts(s, host.name)
                    .map(p => ({ port: p.port, proto: "tcp" as Proto, from: cidr, why: `service ${s.name}${p.label}` })));
        case "postgres": {
            const clients = clientsOf(config, s => s.database);
            return clients.length === 0 ? [] : [
                { port: 5432, proto: "tcp", from: clients, why: "PostgreSQL from hosts of services with a database" },
            ];
        }
        case "rabbitmq": {
            const clients = clientsOf(config, s => s.queue);
            const peers = config.hosts.filter(h => h.role === "rabbitmq" && h.name !== host.name).map(h => h.address).sort();
            return [
                ...(clients.length === 0 ? [] : [
                    { port: 5671, proto: "tcp" as Proto, from: clients, why: "AMQPS from hosts of services with a queue" },
                ]),
                ...(peers.length === 0 ? [] : [
                    { port: 4369, proto: "tcp" as Proto, from: peers, why: "epmd, for RabbitMQ clustering" },
                    { port: 25672, proto: "tcp" as Proto, from: peers, why: "RabbitMQ inter-node traffic" },
                ]),
            ];
        }
    }
}

/**
 * Every port a host accepts connections on, from whom and why. SSH is open to the
 * hypervisor's bridge address only: guests are reached through it as a jump host.
 */
export function firewallRules(host: HostSpec, config: FleetConfig, vlans: VlanPlan[]): FirewallRule[] {
    const vlan = vlanOf(host, vlans);
    const rules = [
        { port: SSH_PORT, proto: "tcp" as Proto, from: [vlan.bridgeAddress], why: "SSH from the hypervisor (the jump host)" },
        ...both(8301, [vlan.cidr], "Consul LAN gossip"),
        ...roleRules(host, config, vlan),
    ];
    const seen = new Set<string>();
    return rules.filter(r => {
        const key = `${r.port}/${r.proto}/${r.from}`;
        return seen.has(key) ? false : (seen.add(key), true);
    });
}

/** One rule as nft statements: one per address family among its sources. */
export function nftStatements(rule: FirewallRule): string[] {
    const match = `${rule.proto} dport ${rule.port} accept`;
    if (rule.from === "any") {
        return [match];
    }
    const v6 = rule.from.filter(a => a.includes(":"));
    const v4 = rule.from.filter(a => !a.includes(":"));
    return [["ip", v4], ["ip6", v6]]
        .filter(([, list]) => list.length > 0)
        .map(([family, list]) => `${family} saddr { ${(list as string[]).join(", ")} } ${match}`);
}

export function baselineContext(host: HostSpec, config: FleetConfig, vlans: VlanPlan[]): BaselineContext {
    const rules = firewallRules(host, config, vlans);
    for (const r of rules) {
        if (/["\n]/.test(r.why) || r.why.length > 120) {
            throw new Error(`firewall rule ${r.port}/${r.proto}: the reason must be one line under 120 characters without quotes`);
        }
    }
    const listening = [...rules.map(r => r.port), ...CONSUL_LOCAL_PORTS, ...(ROLE_LOCAL_PORTS[host.role] ?? [])]
        .filter(p => p >= 1024);
    return {
        host: host.name,
        role: host.role,
        sysctl: [...sysctlSettings(listening), ...hardeningSysctlSettings()],
        rules,
        nftRules: rules.flatMap(r => nftStatements(r).map(statement => ({ statement, why: r.why }))),
        nofile: NOFILE_LIMIT,
        units: NOFILE_UNITS,
        sshPort: SSH_PORT,
    };
}

/** Files of the baseline release that are the same on every host; the hooks put each in place. */
export const BASELINE_STATIC_FILES = ["sshd-crypto.conf", "sshd-hardening.conf", "modprobe.conf", "coredump.conf",
    "journald.conf"];

/** Every file of the baseline release, paths relative to the release tree. */
export function renderBaselineFiles(ctx: BaselineContext): ReleaseFile[] {
    const dropIn = renderTemplate("baseline/limits.conf.hbs", { ...ctx, systemdDropIn: true });
    return [
        { path: "sysctl.conf", mode: "0644", content: renderTemplate("baseline/sysctl.conf.hbs", ctx) },
        { path: "nftables.conf", mode: "0644", content: renderTemplate("baseline/nftables.conf.hbs", ctx) },
        { path: "limits.conf", mode: "0644", content: renderTemplate("baseline/limits.conf.hbs", { ...ctx, systemdDropIn: false }) },
        ...ctx.units.map(unit => ({ path: `systemd/${unit}.d/60-nordfleet.conf`, mode: "0644", content: dropIn })),
        ...BASELINE_STATIC_FILES.map(file => ({ path: file, mode: "0644", content: readTemplate(`baseline/${file}`) })),
    ];
}

/** The whole script the guest runs, for tests and for review. */
export function baselineHooks(): string {
    return readTemplate(BASELINE_HOOKS);
}

export interface HostBaselineArgs {
    /** The VM as the stack declares it. */
    host: HostSpec;
    /** The whole stack config: what listens where decides the firewall. */
    config: FleetConfig;
    /** The stack's VLANs, with their addresses, for the firewall's rules. */
    vlans: VlanPlan[];
    /** The guest, through its hypervisor, host key pinned. */
    connection: Connection;
    /** Changes when the guest is rebuilt, so a new machine gets the baseline again. */
    machine: pulumi.Input<string>;
    /** Where its releases' file digests are recorded, on its hypervisor. */
    ledger: HostLedger;
}

/** The type HostBaseline had as a component, which its resources' aliases still name. */
const FORMER_COMPONENT_TYPE = "nordfleet:platform:HostBaseline";

/**
 * A guest's baseline: its release of the baseline role, declared under `parent` (the
 * platform). Not a component of its own, for the reason a release is not one
 * (release.ts); stacks made before keep its resources through their aliases.
 */
export class HostBaseline {
    /** The digest of the baseline release the guest runs. */
    public readonly release: pulumi.Output<string>;
    /** What the host's firewall lets in. */
    public readonly firewall: FirewallRule[];
    /** The command that applies it: what must wait for the baseline waits for this. */
    public readonly applied: pulumi.Resource;

    /** @param opts the platform as `parent`; `dependsOn`, what the release waits for (the guest booted) */
    constructor(name: string, args: HostBaselineArgs, opts: Omit<ReleaseOptions, "formerParent">) {
        const ctx = baselineContext(args.host, args.config, args.vlans);
        this.firewall = ctx.rules;
        const release = new RoleRelease(`${name}-release`, {
            connection: args.connection,
            ledger: args.ledger,
            role: BASELINE_ROLE,
            hooks: BASELINE_HOOKS,
            files: renderBaselineFiles(ctx),
            vars: { SSH_PORT: ctx.sshPort },
            machine: args.machine,
        }, { ...opts, formerParent: pulumi.createUrn(name, FORMER_COMPONENT_TYPE, opts.parent) });
        this.release = release.release;
        this.applied = release.applied;
    }
}
