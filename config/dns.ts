/**
 * Name resolution on the guests. Names under `.consul` are answered by the Consul
 * agent; every other name (the backup store, the apt mirror, the artifact store) goes
 * to the stack's resolvers. Guests have no route off their VLAN, so a resolver serves
 * the VLANs whose CIDR holds its address, and a guest asks its own site's first.
 */
import { consulMemberHosts, Placement } from "./placement";
import { Site, SITES } from "./sites";
import { DnsSettings, Endpoint, Environment, FleetConfig, HostSpec, Resolver, Role, Vlan } from "./types";
import { formatIpv4, parseCidr, parseIpv4, usableRange } from "./validate/addresses";
import { Problems, show } from "./validate/common";
import { validateSite } from "./validate/residency";


/** `nordfleet:dns`: `{ resolvers: [{ address, site }] }`, each address on a declared VLAN. */
export function validateDns(field: string, dns: unknown, vlans: Vlan[], hosts: HostSpec[],
                            allowedCountries: ReadonlySet<string>, environment: Environment,
                            sites: readonly Site[] = SITES): Problems {
    if (typeof dns !== "object" || dns === null || Array.isArray(dns)) {
        return [`${field}: ${show(dns)} is not a map; use { resolvers: [{ address: "10.110.0.2", site: "oslo-1" }] }`];
    }
    const problems: Problems = [];
    const resolvers = (dns as { resolvers?: unknown }).resolvers;
    if (!Array.isArray(resolvers)) {
        return [...problems, `${field}.resolvers: ${show(resolvers)} is not a list; write one ` +
            `{ address, site } per resolver, each starting with "- " in YAML`];
    }
    const seen = new Set<string>();
    resolvers.forEach((r, i) => {
        const at = `${field}.resolvers[${i}]`;
        if (typeof r !== "object" || r === null || Array.isArray(r)) {
            problems.push(`${at}: ${show(r)} is not a resolver; use { address: "10.110.0.2", site: "oslo-1" }`);
            return;
        }
        const { address, site } = r as Partial<Resolver>;
        problems.push(...validateResolverAddress(`${at}.address`, address, vlans, hosts));
        if (typeof address === "string" && seen.has(address)) {
            problems.push(`${at}.address: ${show(address)} is listed twice; keep one entry per resolver`);
        }
        seen.add(String(address));
        problems.push(...validateSite(`${at}.site`, site, allowedCountries, environment, sites));
    });
    return problems;
}

function validateResolverAddress(field: string, address: unknown, vlans: Vlan[], hosts: HostSpec[]): Problems {
    const value = typeof address === "string" ? parseIpv4(address) : undefined;
    if (value === undefined) {
        return [`${field}: ${show(address)} is not an IPv4 address; give the resolver's address, e.g. "10.110.0.2"`];
    }
    if (vlanOf(value, vlans) === undefined) {
        return [`${field}: ${show(address)} is on none of the stack's VLANs (${vlans.map(v => v.cidr).join(", ")}); ` +
            `guests have no route off their VLAN, so give the resolver's address on a VLAN it serves`];
    }
    const host = hosts.find(h => h.address === address);
    if (host !== undefined) {
        return [`${field}: ${show(address)} is the address of host ${show(host.name)}; a resolver needs an address of its own`];
    }
    return [];
}

/** The VLAN whose usable range holds the address, if any. */
function vlanOf(address: number, vlans: Vlan[]): Vlan | undefined {
    return vlans.find(v => {
        const cidr = parseCidr(String(v.cidr));
        if (cidr === undefined) {
            return false;
        }
        const [first, last] = usableRange(cidr);
        return address >= first && address <= last;
    });
}

/** The resolvers a host forwards to: those on its VLAN, its own site's first, then in the stack's order. */
export function resolversFor(host: HostSpec, config: Pick<FleetConfig, "dns" | "vlans" | "hypervisors">,
                             placement: Placement): string[] {
    const site = config.hypervisors.find(h => h.name === placement.get(host.name))?.site;
    const onVlan = config.dns.resolvers.filter(r => vlanOf(parseIpv4(r.address)!, config.vlans)?.name === host.vlan);
    return [...onVlan.filter(r => r.site === site), ...onVlan.filter(r => r.site !== site)].map(r => r.address);
}

/** What a guest's first boot does for name resolution. */
export interface FirstBootDns {
    /** Written into /etc/resolv.conf, so names outside the fleet resolve from the start (the apt mirror, say). */
    resolvers: string[];
    /**
     * A Consul member's Consul release then points resolv.conf at its own forwarding
     * resolver: the file is that release's from then on, not the first boot's.
     */
    handedToConsul: boolean;
}

export function firstBootDns(host: HostSpec, config: Pick<FleetConfig, "dns" | "vlans" | "hypervisors" | "hosts">,
                             placement: Placement): FirstBootDns {
    return {
        resolvers: resolversFor(host, config, placement),
        handedToConsul: consulMemberHosts(config).some(h => h.name === host.name),
    };
}

/** Where each role's guests send data by name: the endpoints a resolver must answer for them. */
interface NamedEndpoint {
    field: string;
    what: string;
    host: string;
    roles: readonly Role[] | "all";
}

/** The host part of an endpoint's URL as a guest dials it (an s3:// URL names its server in ?endpoint=). */
export function endpointHost(endpoint: Endpoint): string | undefined {
    try {
        const url = new URL(endpoint.url);
        if (url.protocol === "file:") {
            return undefined;
        }
        const host = url.protocol === "s3:" ? url.searchParams.get("endpoint") : url.hostname;
        return host?.replace(/:\d+$/, "") || undefined;
    } catch {
        return undefined;
    }
}

/**
 * Every guest that dials an endpoint by name needs a resolver on its VLAN: without one
 * the name does not resolve, and (for the backup store) WAL archiving stops until the
 * database's volume fills.
 */
export function validateNamesResolvable(field: string, config: Pick<FleetConfig, "dns" | "vlans" | "hosts" | "backup" | "mirrors">): Problems {
    const named: NamedEndpoint[] = [];
    const add = (endpoint: Endpoint | undefined, endpointField: string, what: string, roles: NamedEndpoint["roles"]) => {
        const host = endpoint === undefined ? undefined : endpointHost(endpoint);
        if (host !== undefined && parseIpv4(host) === undefined) {
            named.push({ field: endpointField, what, host, roles });
        }
    };
    add(config.backup, "nordfleet:backup.url", "where WAL and backups go", ["postgres"]);
    add(config.mirrors.apt, "nordfleet:mirrors.apt.url", "where packages come from", "all");
    add(config.mirrors.artifacts, "nordfleet:mirrors.artifacts.url", "where service builds come from", ["service"]);
    const problems: Problems = [];
    for (const vlan of config.vlans) {
        const served = config.dns.resolvers.some(r => vlanOf(parseIpv4(r.address) ?? -1, [vlan]) !== undefined);
        if (served) {
            continue;
        }
        for (const endpoint of named) {
            const needing = config.hosts.filter(h => h.vlan === vlan.name && (endpoint.roles === "all" || endpoint.roles.includes(h.role)));
            if (needing.length > 0) {
                const cidr = parseCidr(vlan.cidr);
                const example = cidr === undefined ? "an address on it" : `an address in ${vlan.cidr}, e.g. ${show(formatIpv4(usableRange(cidr)[1]))}`;
                problems.push(`${field}: ${needing.map(h => h.name).join(", ")} on VLAN ${show(vlan.name)} must resolve ` +
                    `${show(endpoint.host)} (${endpoint.field}, ${endpoint.what}), but no resolver serves that VLAN; add a ` +
                    `resolver with ${example}, or give the endpoint by address`);
            }
        }
    }
    return problems;
}

/** The loader's view: `nordfleet:dns` with its default (no resolvers). */
export function dnsFrom(raw: unknown): DnsSettings {
    const resolvers = (raw as { resolvers?: unknown } | undefined)?.resolvers;
    return { resolvers: Array.isArray(resolvers) ? resolvers as Resolver[] : [] };
}
