/**
 * Placement: which hypervisor runs each host. Pinned hosts stay where they are
 * pinned; the rest are spread so that hosts of one role (the Consul servers, the
 * replicas of a service) land on different hypervisors where there is more than one.
 * A fleet that does not fit the declared capacity is refused.
 */
import { FleetConfig, HostSpec, Hypervisor } from "./types";

export type Placement = Map<string, string>;

interface Usage {
    vcpus: number;
    memoryMb: number;
    nvmeGb: number;
}

function hostDemand(host: HostSpec): Usage {
    const dataGb = host.dataDisks.reduce((sum, d) => sum + d.sizeGb, 0);
    return { vcpus: host.vcpus, memoryMb: host.memoryMb, nvmeGb: host.rootDiskGb + dataGb };
}

/** The group a host is spread within: the same role and, for service hosts, the same services. */
function spreadGroup(host: HostSpec): string {
    return host.role === "service" ? `service:${[...host.services].sort().join(",")}` : host.role;
}

/** Returns host name -> hypervisor name, or throws listing every hypervisor that is over capacity. */
export function placeHosts(hosts: HostSpec[], hypervisors: Hypervisor[]): Placement {
    const placement: Placement = new Map();
    const used = new Map<string, Usage>(hypervisors.map(h => [h.name, { vcpus: 0, memoryMb: 0, nvmeGb: 0 }]));
    const groupCount = new Map<string, number>();

    const assign = (host: HostSpec, hypervisor: string) => {
        placement.set(host.name, hypervisor);
        const u = used.get(hypervisor)!;
        const d = hostDemand(host);
        u.vcpus += d.vcpus;
        u.memoryMb += d.memoryMb;
        u.nvmeGb += d.nvmeGb;
        const key = `${spreadGroup(host)}@${hypervisor}`;
        groupCount.set(key, (groupCount.get(key) ?? 0) + 1);
    };

    hosts.filter(h => h.hypervisor !== undefined).forEach(h => assign(h, h.hypervisor!));

    // Unpinned hosts in declaration order: the hypervisor with the fewest hosts of the
    // same group wins, then the one with the most free memory, then declaration order.
    // Each host sees only the hosts declared before it, so appending a host never moves
    // another. Production stacks should still pin hosts, which makes placement explicit.
    for (const host of hosts.filter(h => h.hypervisor === undefined)) {
        const group = spreadGroup(host);
        const ranked = hypervisors
            .map((hv, index) => ({
                name: hv.name,
                index,
                sameGroup: groupCount.get(`${group}@${hv.name}`) ?? 0,
                freeMemory: hv.capacity.memoryMb - used.get(hv.name)!.memoryMb,
            }))
            .sort((a, b) => a.sameGroup - b.sameGroup || b.freeMemory - a.freeMemory || a.index - b.index);
        assign(host, ranked[0].name);
    }

    const over = hypervisors.flatMap(hv => {
        const u = used.get(hv.name)!;
        const c = hv.capacity;
        return [
            u.vcpus > c.vcpus ? `${u.vcpus} vCPUs of ${c.vcpus}` : "",
            u.memoryMb > c.memoryMb ? `${u.memoryMb} MB memory of ${c.memoryMb}` : "",
            u.nvmeGb > c.nvmeGb ? `${u.nvmeGb} GB NVMe of ${c.nvmeGb}` : "",
        ].filter(Boolean).map(what => `hypervisor ${JSON.stringify(hv.name)} would need ${what}`);
    });
    if (over.length) {
        throw new Error(`nordfleet:hosts: the fleet does not fit the declared capacity: ${over.join("; ")}. ` +
            `Add a hypervisor, raise its nordfleet:hypervisors[].capacity, or shrink the hosts.`);
    }
    return placement;
}

/** An agent joins through the servers: Consul's members are the VMs on a VLAN with a Consul server. */
export function consulMemberHosts(config: { hosts: HostSpec[] }): HostSpec[] {
    const vlans = new Set(config.hosts.filter(h => h.role === "consul-server").map(h => h.vlan));
    return config.hosts.filter(h => vlans.has(h.vlan));
}

/**
 * Which services' databases each postgres host serves: the host's `services` when it
 * names them, otherwise every service with `database: true` when there is exactly one
 * postgres host. Every database must land on exactly one host.
 */
export function databasePlacement(config: FleetConfig): Record<string, string[]> {
    const pgHosts = config.hosts.filter(h => h.role === "postgres");
    const wanted = config.services.filter(s => s.database).map(s => s.name);
    const placement: Record<string, string[]> = Object.fromEntries(pgHosts.map(h =>
        [h.name, h.databases ? [...h.databases] : pgHosts.length === 1 ? [...wanted] : []]));
    const problems: string[] = [];
    for (const svc of wanted) {
        const on = Object.keys(placement).filter(h => placement[h].includes(svc));
        if (on.length !== 1) {
            problems.push(`service "${svc}" has database: true but its database is on ${on.length === 0
                ? "no postgres host" : `${on.length} postgres hosts (${on.join(", ")})`}; list it in the databases of exactly one postgres host`);
        }
    }
    for (const [host, svcs] of Object.entries(placement)) {
        for (const svc of svcs.filter(s => !wanted.includes(s))) {
            problems.push(`postgres host "${host}" lists "${svc}", which is not a service with database: true`);
        }
    }
    if (problems.length > 0) {
        throw new Error(`database placement: ${problems.join("; ")}`);
    }
    return placement;
}

/** How the Consul servers stand across sites, and which single site's loss takes their quorum. */
export interface ConsulSiteSpread {
    servers: number;
    /** Raft's quorum: a majority of the servers. */
    quorum: number;
    /** Servers per site, most first. */
    bySite: { site: string; servers: number }[];
    /** The sites whose loss alone leaves fewer servers than the quorum. */
    critical: string[];
}

export function consulSiteSpread(hosts: HostSpec[], placement: Placement, hypervisors: Hypervisor[]): ConsulSiteSpread {
    const siteOf = new Map(hypervisors.map(hv => [hv.name, hv.site]));
    const servers = hosts.filter(h => h.role === "consul-server");
    const counts = new Map<string, number>();
    for (const host of servers) {
        const site = siteOf.get(placement.get(host.name)!)!;
        counts.set(site, (counts.get(site) ?? 0) + 1);
    }
    const quorum = Math.floor(servers.length / 2) + 1;
    const bySite = [...counts].map(([site, n]) => ({ site, servers: n }))
        .sort((a, b) => b.servers - a.servers || a.site.localeCompare(b.site));
    return {
        servers: servers.length, quorum, bySite,
        critical: bySite.filter(s => servers.length - s.servers < quorum).map(s => s.site),
    };
}
