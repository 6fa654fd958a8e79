/**
 * Pure validators of stack config. Each returns the problems it found as messages
 * that name the field, the bad value and the fix; an empty list means "valid".
 * `loadFleetConfig` runs all of them before a single resource is declared.
 */
import * as path from "path";
import { validatePublicKey } from "./sshKeys";
import { allowedSites, describeSites, EEA_COUNTRIES, findSite, Site, SITES } from "./sites";
import {
    BALANCES, Capacity, Endpoint, Environment, HostSpec, Hypervisor, ROLES, ServiceSpec, SshSettings, Vlan, VERSION_NAMES,
} from "./types";

export type Problems = string[];

export const show = (value: unknown): string => JSON.stringify(value);

// ---------------------------------------------------------------- addresses

export interface Cidr {
    network: number;
    prefix: number;
}

export function parseIpv4(text: string): number | undefined {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
    if (!m) {
        return undefined;
    }
    const octets = m.slice(1).map(Number);
    if (octets.some(o => o > 255) || m.slice(1).some(o => o.length > 1 && o.startsWith("0"))) {
        return undefined;
    }
    return octets.reduce((acc, o) => acc * 256 + o, 0);
}

export function formatIpv4(value: number): string {
    return [24, 16, 8, 0].map(shift => Math.floor(value / 2 ** shift) % 256).join(".");
}

export function parseCidr(text: string): Cidr | undefined {
    const [addr, prefixText, ...rest] = text.split("/");
    if (rest.length || prefixText === undefined || !/^\d{1,2}$/.test(prefixText)) {
        return undefined;
    }
    const address = parseIpv4(addr);
    const prefix = Number(prefixText);
    if (address === undefined || prefix > 30 || prefix < 8) {
        return undefined;
    }
    const size = 2 ** (32 - prefix);
    if (address % size !== 0) {
        return undefined;
    }
    return { network: address, prefix };
}

/** First and last usable host address of a CIDR (network and broadcast excluded). */
export function usableRange(cidr: Cidr): [number, number] {
    return [cidr.network + 1, cidr.network + 2 ** (32 - cidr.prefix) - 2];
}

/** The VLAN's router/bridge address on the hypervisor: the first usable address. */
export function bridgeAddress(cidr: Cidr): number {
    return cidr.network + 1;
}

// ---------------------------------------------------------------- scalar checks

const RFC1123_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function validateHostName(field: string, name: unknown): Problems {
    if (typeof name !== "string" || !RFC1123_LABEL.test(name)) {
        return [`${field}: ${show(name)} is not a valid host name; use 1-63 lower-case letters, digits and ` +
            `hyphens, starting and ending with a letter or digit (RFC 1123)`];
    }
    return [];
}

export function validateInteger(field: string, value: unknown, min: number, max: number): Problems {
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
        return [`${field}: ${show(value)} is out of range; use a whole number from ${min} to ${max}`];
    }
    return [];
}

export function validateVlanId(field: string, id: unknown): Problems {
    return validateInteger(field, id, 1, 4094);
}

export function validateCidr(field: string, cidr: unknown): Problems {
    if (typeof cidr !== "string" || parseCidr(cidr) === undefined) {
        return [`${field}: ${show(cidr)} is not a usable IPv4 network; use the network address with a ` +
            `prefix from /8 to /30, e.g. "10.20.0.0/24"`];
    }
    return [];
}

// ---------------------------------------------------------------- residency

export function validateAllowedCountries(field: string, countries: unknown): Problems {
    if (!Array.isArray(countries) || countries.length === 0) {
        return [`${field}: ${show(countries)} must be a non-empty list of EEA country codes, e.g. ["NO", "SE"]`];
    }
    const outside = countries.filter(c => typeof c !== "string" || !EEA_COUNTRIES.has(c));
    if (outside.length) {
        return [`${field}: ${show(outside)} ${outside.length === 1 ? "is" : "are"} not in the EEA; a stack may ` +
            `only narrow residency to EEA countries: ${[...EEA_COUNTRIES].join(", ")}`];
    }
    return [];
}

/**
 * `nordfleet:sites`: a team's own data centres, added to the built-in catalogue. Any
 * country code may be declared; whether data may go there is still decided by the
 * allowed countries when a hypervisor or endpoint names the site.
 */
export function validateSiteDeclarations(field: string, sites: unknown): Problems {
    if (!Array.isArray(sites)) {
        return [`${field}: ${show(sites)} is not a list; use [{ id: "tampere-1", city: "Tampere", country: "FI", provider?: "..." }]`];
    }
    const problems: Problems = duplicates(sites.map(s => s?.id).filter(id => typeof id === "string")).map(id =>
        `${field}: the id ${show(id)} is declared more than once; give every site its own id`);
    sites.forEach((s, i) => {
        const at = `${field}[${i}]`;
        if (typeof s !== "object" || s === null || Array.isArray(s)) {
            problems.push(`${at}: ${show(s)} is not a site; use { id, city, country, provider? }`);
            return;
        }
        const builtIn = typeof s.id === "string" ? findSite(s.id) : undefined;
        if (typeof s.id !== "string" || !/^[a-z][a-z0-9-]{0,62}$/.test(s.id)) {
            problems.push(`${at}.id: ${show(s.id)} is not a site id; use lower-case letters, digits and "-", e.g. "tampere-1"`);
        } else if (builtIn) {
            problems.push(`${at}.id: ${show(s.id)} is a built-in site (${builtIn.city}, ${builtIn.country}); ` +
                `use it without declaring it, or pick another id`);
        }
        if (typeof s.city !== "string" || s.city.trim() === "") {
            problems.push(`${at}.city: ${show(s.city)} is empty; name the city the data centre is in`);
        }
        if (typeof s.country !== "string" || !isCountryCode(s.country)) {
            problems.push(`${at}.country: ${show(s.country)} is not an ISO 3166-1 alpha-2 code; use one such as "FI" or "NO"`);
        }
        if (s.provider !== undefined && (typeof s.provider !== "string" || s.provider.trim() === "")) {
            problems.push(`${at}.provider: ${show(s.provider)} is empty; name who runs the data centre, or leave it out`);
        }
    });
    return problems;
}

// ICU's region names (Node ships them) know every assigned ISO 3166-1 code; these few
// regions it also names are not countries.
const REGION_NAMES = new Intl.DisplayNames(["en"], { type: "region", fallback: "none" });
const NOT_COUNTRIES = new Set(["EU", "EZ", "UN", "ZZ", "QO"]);

function isCountryCode(code: string): boolean {
    return /^[A-Z]{2}$/.test(code) && !NOT_COUNTRIES.has(code) && REGION_NAMES.of(code) !== undefined;
}

export function validateSite(field: string, site: unknown, allowedCountries: ReadonlySet<string>,
                             environment: Environment, sites: readonly Site[] = SITES): Problems {
    const allowed = allowedSites(allowedCountries, environment === "lab", sites);
    if (typeof site === "string" && allowed.some(s => s.id === site)) {
        return [];
    }
    const known = typeof site === "string" ? findSite(site, sites) : undefined;
    const why = known === undefined ? "is not a known site"
        : known.lab ? "is the local lab, allowed only in a lab stack"
            : `is in ${known.country}, outside the allowed countries (${[...allowedCountries].join(", ")})`;
    return [`${field}: ${show(site)} ${why}; use one of: ${describeSites(allowed)}`];
}

/**
 * An endpoint data goes to or comes from: a URL with one of `schemes`, at a site the
 * stack may use. A URL alone cannot say where its bytes live, so the site is mandatory.
 */
export function validateEndpoint(field: string, endpoint: unknown, schemes: readonly string[],
                                 allowedCountries: ReadonlySet<string>, environment: Environment,
                                 sites: readonly Site[] = SITES): Problems {
    if (typeof endpoint !== "object" || endpoint === null || Array.isArray(endpoint)) {
        return [`${field}: ${show(endpoint)} is not an endpoint; use { url: "${schemes[0]}://...", site: "oslo-1" }`];
    }
    const { url, site } = endpoint as Partial<Endpoint>;
    const scheme = typeof url === "string" ? /^([a-z][a-z0-9+.-]*):\/\/[^\s]+$/.exec(url)?.[1] : undefined;
    return [
        ...(scheme !== undefined && schemes.includes(scheme) ? []
            : [`${field}.url: ${show(url)} is not a URL nordfleet can use here; use one starting with ` +
                `${schemes.map(s => `${s}://`).join(" or ")}`]),
        ...validateSite(`${field}.site`, site, allowedCountries, environment, sites),
    ];
}

/**
 * The state backend the CLI was pointed at, where the program can know it: the CLI
 * passes its environment on, so a PULUMI_BACKEND_URL set for the run is visible here.
 */
export function validateKnownBackend(stateBackend: Endpoint | undefined, backendUrl: string | undefined): Problems {
    if (stateBackend === undefined || backendUrl === undefined || backendUrl === stateBackend.url) {
        return [];
    }
    return [`nordfleet:stateBackend.url: ${show(stateBackend.url)} is not where this run keeps its state ` +
        `(PULUMI_BACKEND_URL is ${show(backendUrl)}); point the CLI at the declared backend or declare ` +
        `the one in use, with its site`];
}

// ---------------------------------------------------------------- compound checks

export function validateSsh(field: string, ssh: SshSettings): Problems {
    return [
        ...(typeof ssh.user === "string" && /^[a-z_][a-z0-9_-]{0,31}$/.test(ssh.user) ? []
            : [`${field}.user: ${show(ssh.user)} is not a valid login name; use a POSIX user name such as "root" or "deploy"`]),
        ...validateInteger(`${field}.port`, ssh.port, 1, 65535),
        ...validateInteger(`${field}.dialErrorLimit`, ssh.dialErrorLimit, 1, 1000),
        ...validateInteger(`${field}.hypervisorDialErrorLimit`, ssh.hypervisorDialErrorLimit, 1, 1000),
        ...validateInteger(`${field}.perDialTimeout`, ssh.perDialTimeout, 1, 600),
        ...(ssh.keyFile === undefined ? [] : validateAbsolutePath(`${field}.keyFile`, ssh.keyFile)),
    ];
}

export function validateCapacity(field: string, capacity: Capacity): Problems {
    return [
        ...validateInteger(`${field}.vcpus`, capacity.vcpus, 1, 1024),
        ...validateInteger(`${field}.memoryMb`, capacity.memoryMb, 256, 16 * 1024 * 1024),
        ...validateInteger(`${field}.nvmeGb`, capacity.nvmeGb, 1, 1024 * 1024),
    ];
}

export function validateHypervisors(field: string, hypervisors: Hypervisor[], allowedCountries: ReadonlySet<string>,
                                    environment: Environment, sites: readonly Site[] = SITES): Problems {
    if (hypervisors.length === 0) {
        return [`${field}: no hypervisors are declared; add at least one with a name, site and address`];
    }
    return [
        ...duplicates(hypervisors.map(h => h.name)).map(n =>
            `${field}: the name ${show(n)} is used more than once; give every hypervisor its own name`),
        ...hypervisors.flatMap((h, i) => [
            ...validateHostName(`${field}[${i}].name`, h.name),
            ...validateSite(`${field}[${i}].site`, h.site, allowedCountries, environment, sites),
            ...(typeof h.address === "string" && h.address.length > 0 ? []
                : [`${field}[${i}].address: ${show(h.address)} is empty; give the address nordfleet reaches its sshd on`]),
            ...validateCapacity(`${field}[${i}].capacity`, h.capacity),
            ...validateHypervisorHostKey(`${field}[${i}]`, h),
            ...(h.accelerator === "kvm" || h.accelerator === "qemu" ? []
                : [`${field}[${i}].accelerator: ${show(h.accelerator)} is not an accelerator; use "kvm", or "qemu" ` +
                    `for software emulation where guests do not run under KVM`]),
            ...(h.maxConcurrentBoots === undefined ? []
                : validateInteger(`${field}[${i}].maxConcurrentBoots`, h.maxConcurrentBoots, 1, 1024)),
            ...validateAbsolutePath(`${field}[${i}].imagePoolPath`, h.imagePoolPath),
            ...validateAbsolutePath(`${field}[${i}].nvmePoolPath`, h.nvmePoolPath),
        ]),
    ];
}

export function validateFileName(field: string, name: unknown, example: string): Problems {
    if (typeof name !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
        return [`${field}: ${show(name)} is not a file name; use the name of a file in each hypervisor's image ` +
            `pool, e.g. "${example}"`];
    }
    return [];
}

function validateAbsolutePath(field: string, path: unknown): Problems {
    if (typeof path !== "string" || !/^\/[A-Za-z0-9._/-]*$/.test(path) || path.includes("..")) {
        return [`${field}: ${show(path)} is not a plain absolute path; use one like "/var/lib/nordfleet/images"`];
    }
    return [];
}

export function validateVlans(field: string, vlans: Vlan[]): Problems {
    if (vlans.length === 0) {
        return [`${field}: no VLANs are declared; add one with a name, id (1-4094) and cidr`];
    }
    const problems: Problems = [
        ...duplicates(vlans.map(v => v.name)).map(n => `${field}: the name ${show(n)} is used more than once; give every VLAN its own name`),
        ...duplicates(vlans.map(v => v.id)).map(id => `${field}: the id ${id} is used more than once; give every VLAN its own id`),
        ...vlans.flatMap((v, i) => [
            ...validateHostName(`${field}[${i}].name`, v.name),
            ...validateVlanId(`${field}[${i}].id`, v.id),
            ...validateCidr(`${field}[${i}].cidr`, v.cidr),
        ]),
    ];
    const parsed = vlans.map(v => (typeof v.cidr === "string" ? parseCidr(v.cidr) : undefined));
    for (let a = 0; a < vlans.length; a++) {
        for (let b = a + 1; b < vlans.length; b++) {
            const ca = parsed[a];
            const cb = parsed[b];
            if (ca && cb && cidrsOverlap(ca, cb)) {
                problems.push(`${field}[${b}].cidr: ${show(vlans[b].cidr)} overlaps ${show(vlans[a].cidr)} of VLAN ` +
                    `${show(vlans[a].name)}; give every VLAN its own network`);
            }
        }
    }
    return problems;
}

function cidrsOverlap(a: Cidr, b: Cidr): boolean {
    const [aStart, aEnd] = [a.network, a.network + 2 ** (32 - a.prefix) - 1];
    const [bStart, bEnd] = [b.network, b.network + 2 ** (32 - b.prefix) - 1];
    return aStart <= bEnd && bStart <= aEnd;
}

export function validateHosts(field: string, hosts: HostSpec[], vlans: Vlan[], hypervisors: Hypervisor[],
                              services: ServiceSpec[]): Problems {
    const problems: Problems = [
        ...duplicates(hosts.map(h => h.name)).map(n => `${field}: the name ${show(n)} is used more than once; give every host its own name`),
        ...duplicates(hosts.map(h => h.address)).map(a =>
            `${field}: the address ${show(a)} is given to more than one host; give every host its own address`),
    ];
    hosts.forEach((host, i) => {
        const at = `${field}[${i}]`;
        problems.push(...validateHostName(`${at}.name`, host.name));
        if (!(ROLES as readonly string[]).includes(host.role)) {
            problems.push(`${at}.role: ${show(host.role)} is not a role; use one of: ${ROLES.join(", ")}`);
        }
        const vlan = vlans.find(v => v.name === host.vlan);
        if (!vlan) {
            problems.push(`${at}.vlan: ${show(host.vlan)} is not a declared VLAN; use one of: ${vlans.map(v => v.name).join(", ")}`);
        } else {
            problems.push(...validateAddressInVlan(`${at}.address`, host.address, vlan));
        }
        problems.push(
            ...validateInteger(`${at}.vcpus`, host.vcpus, 1, 64),
            ...validateInteger(`${at}.memoryMb`, host.memoryMb, 256, 1024 * 1024),
            ...validateInteger(`${at}.rootDiskGb`, host.rootDiskGb, 2, 2048),
            ...duplicates(host.dataDisks.map(d => d.name)).map(n =>
                `${at}.dataDisks: the name ${show(n)} is used more than once; give every data disk its own name`),
            ...host.dataDisks.flatMap((d, j) => [
                ...validateHostName(`${at}.dataDisks[${j}].name`, d.name),
                ...validateInteger(`${at}.dataDisks[${j}].sizeGb`, d.sizeGb, 1, 65536),
            ]),
        );
        if (host.hypervisor !== undefined && !hypervisors.some(h => h.name === host.hypervisor)) {
            problems.push(`${at}.hypervisor: ${show(host.hypervisor)} is not a declared hypervisor; use one of: ` +
                `${hypervisors.map(h => h.name).join(", ")}, or leave it out to let placement choose`);
        }
        host.services.forEach((s, j) => {
            if (!services.some(svc => svc.name === s)) {
                problems.push(`${at}.services[${j}]: ${show(s)} is not a declared service; use one of: ` +
                    `${services.map(svc => svc.name).join(", ") || "(none declared)"}`);
            }
        });
        if (host.role === "postgres" && !host.dataDisks.some(d => d.name === "pgdata")) {
            problems.push(`${at}.dataDisks: postgres host ${show(host.name)} has no data disk named "pgdata"; add ` +
                `{ name: pgdata, sizeGb: N }: its PostgreSQL cluster lives on that NVMe-backed volume`);
        }
        const mnesia = host.dataDisks.findIndex(d => d.name === "mnesia");
        if (host.role === "rabbitmq" && mnesia >= 0 && typeof host.memoryMb === "number"
            && host.dataDisks[mnesia].sizeGb * 1024 < 2 * host.memoryMb) {
            // The broker raises its free-disk alarm (blocking every publisher) below the VM's memory in free space.
            problems.push(`${at}.dataDisks[${mnesia}].sizeGb: ${show(host.dataDisks[mnesia].sizeGb)} GB is too small for a ` +
                `broker with ${host.memoryMb} MB of memory: RabbitMQ keeps that much disk free; give the mnesia volume at ` +
                `least ${Math.ceil(2 * host.memoryMb / 1024)} GB`);
        }
        if (host.publicAddress !== undefined) {
            problems.push(...validatePublicAddress(`${at}.publicAddress`, host));
        }
        if (host.services.length > 0 && host.role !== "service") {
            problems.push(`${at}.services: only hosts with role "service" run services; move ${show(host.services)} ` +
                `to a service host or set role to "service"${host.role === "postgres"
                    ? ` (a postgres host names the services whose databases it holds in databases)` : ""}`);
        }
        if (host.databases !== undefined && host.role !== "postgres") {
            problems.push(`${at}.databases: only hosts with role "postgres" hold databases; remove it from ${show(host.name)}`);
        }
        host.databases?.forEach((s, j) => {
            if (!services.some(svc => svc.name === s)) {
                problems.push(`${at}.databases[${j}]: ${show(s)} is not a declared service; use one of: ` +
                    `${services.filter(svc => svc.database).map(svc => svc.name).join(", ") || "(none with database: true)"}`);
            }
        });
    });
    return problems;
}

/** Only a gateway faces the outside, and its public address is an IPv4 address with a prefix. */
export function validatePublicAddress(field: string, host: HostSpec): Problems {
    if (host.role !== "gateway") {
        return [`${field}: only hosts with role "gateway" have a public NIC; remove it from ${show(host.name)}`];
    }
    const [address, prefix, ...rest] = String(host.publicAddress).split("/");
    if (typeof host.publicAddress !== "string" || rest.length || parseIpv4(address) === undefined
        || !/^\d{1,2}$/.test(prefix ?? "") || Number(prefix) < 8 || Number(prefix) > 30) {
        return [`${field}: ${show(host.publicAddress)} is not an IPv4 address with a prefix; write it like "203.0.113.10/24"`];
    }
    return [];
}

export function validateAddressInVlan(field: string, address: unknown, vlan: Vlan): Problems {
    const cidr = parseCidr(vlan.cidr);
    const value = typeof address === "string" ? parseIpv4(address) : undefined;
    if (!cidr) {
        return [];
    }
    const [first, last] = usableRange(cidr);
    if (value === undefined || value <= bridgeAddress(cidr) || value > last) {
        return [`${field}: ${show(address)} is not a usable address of VLAN ${show(vlan.name)} (${vlan.cidr}); use one from ` +
            `${formatIpv4(first + 1)} to ${formatIpv4(last)} (${formatIpv4(first)} is the hypervisor's bridge)`];
    }
    return [];
}

export function validateConsulServers(field: string, count: number, environment: Environment): Problems {
    const allowed = environment === "lab" ? [1, 3, 5] : [3, 5];
    if (!allowed.includes(count)) {
        return [`${field}: ${count} Consul servers cannot keep a safe quorum; declare ${allowed.join(" or ")} hosts ` +
            `with role "consul-server"${environment === "lab" ? "" : " (1 is allowed only in a lab stack)"}`];
    }
    return [];
}

export function validateServices(field: string, services: ServiceSpec[]): Problems {
    const problems: Problems = [
        ...duplicates(services.map(s => s.name)).map(n => `${field}: the name ${show(n)} is used more than once; give every service its own name`),
        ...duplicates(services.map(s => s.port)).map(p => `${field}: the port ${p} is used by more than one service; give every service its own port`),
    ];
    services.forEach((s, i) => {
        const at = `${field}[${i}]`;
        problems.push(
            ...validateHostName(`${at}.name`, s.name),
            ...validateInteger(`${at}.port`, s.port, 1024, 65535),
            ...validateInteger(`${at}.replicas`, s.replicas, 1, 100),
            ...validatePath(`${at}.gatewayPath`, s.gatewayPath, true),
            ...validatePath(`${at}.healthPath`, s.healthPath, false),
        );
    });
    for (let a = 0; a < services.length; a++) {
        for (let b = a + 1; b < services.length; b++) {
            const [pa, pb] = [services[a].gatewayPath, services[b].gatewayPath];
            if (typeof pa === "string" && typeof pb === "string" && (pa.startsWith(pb) || pb.startsWith(pa))) {
                problems.push(`${field}[${b}].gatewayPath: ${show(pb)} overlaps ${show(pa)} of service ` +
                    `${show(services[a].name)}; give every service a path prefix no other one starts with`);
            }
        }
    }
    return problems;
}

// ---------------------------------------------------------------- gateway routing

/**
 * What the API gateway needs of each service: a balancing method, timeouts, rate and
 * body limits, and for blue/green, two versions that can run side by side and a
 * traffic setting that names them.
 */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** What running a service needs: its program, settings, limits and the events it reads. */
export function validateServiceRun(at: string, s: ServiceSpec, services: ServiceSpec[]): Problems {
    const problems: Problems = [];
    const a = s.artifact as Record<string, unknown> | undefined;
    if (a !== undefined) {
        const inline = typeof a === "object" && a !== null && typeof a.inline === "string";
        const fetched = typeof a === "object" && a !== null && typeof a.url === "string";
        if (!inline && !fetched) {
            problems.push(`${at}.artifact: ${show(a)} is not an artifact; use { inline: "path/in/project", entry? } ` +
                `or { url: "https://...", sha256: "<64 hex>" }`);
        } else if (fetched && (!String(a.url).startsWith("https://") || !/^[0-9a-f]{64}$/.test(String(a.sha256)))) {
            problems.push(`${at}.artifact: ${show(a)} needs an https:// url and its sha256 as 64 lowercase hex digits`);
        } else if (inline && (path.isAbsolute(String(a.inline)) || String(a.inline).split("/").includes(".."))) {
            problems.push(`${at}.artifact.inline: ${show(a.inline)} is not a path inside the project; give it relative to the project`);
        }
    }
    if (s.args !== undefined && (!Array.isArray(s.args) || s.args.some(x => typeof x !== "string"))) {
        problems.push(`${at}.args: ${show(s.args)} is not a list of strings; write it like ["--verbose"]`);
    }
    if (s.env !== undefined) {
        if (typeof s.env !== "object" || s.env === null || Array.isArray(s.env)) {
            problems.push(`${at}.env: ${show(s.env)} is not a map; write it like { LOG_LEVEL: info }`);
        } else {
            for (const [k, v] of Object.entries(s.env)) {
                if (!ENV_NAME.test(k) || typeof v !== "string" || /[\r\n]/.test(v)) {
                    problems.push(`${at}.env.${k}: ${show(v)} is not a one-line string under a shell-style name; ` +
                        `use NAME: "value" with NAME of letters, digits and _`);
                }
            }
        }
    }
    if (s.cpuQuota !== undefined) {
        problems.push(...validateInteger(`${at}.cpuQuota`, s.cpuQuota, 1, 6400));
    }
    if (s.memoryMb !== undefined) {
        problems.push(...validateInteger(`${at}.memoryMb`, s.memoryMb, 16, 1024 * 1024));
    }
    (Array.isArray(s.consumes ?? []) ? s.consumes ?? [] : [s.consumes]).forEach((c, j) => {
        const source = services.find(x => x.name === c);
        if (!source || !source.queue || c === s.name) {
            problems.push(`${at}.consumes[${j}]: ${show(c)} is not another service with queue: true; name one of: ` +
                `${services.filter(x => x.queue && x.name !== s.name).map(x => x.name).join(", ") || "(none)"}`);
        }
    });
    if ((s.consumes ?? []).length && !s.queue) {
        problems.push(`${at}.consumes: ${show(s.name)} reads events but has no broker access; set queue: true`);
    }
    if (s.queueMaxLength !== undefined) {
        problems.push(...validateInteger(`${at}.queueMaxLength`, s.queueMaxLength, 1, 100_000_000));
    }
    return problems;
}

export function validateServiceRouting(field: string, services: ServiceSpec[], hosts: HostSpec[]): Problems {
    return services.flatMap((s, i) => {
        const at = `${field}[${i}]`;
        return [
            ...((BALANCES as readonly unknown[]).includes(s.balance) ? []
                : [`${at}.balance: ${show(s.balance)} is not a balancing method; use one of: ${BALANCES.join(", ")}`]),
            ...validateInteger(`${at}.connectTimeoutMs`, s.connectTimeoutMs, 1, 60000),
            ...validateInteger(`${at}.readTimeoutMs`, s.readTimeoutMs, 1, 3600000),
            ...validateInteger(`${at}.rateLimitPerSecond`, s.rateLimitPerSecond, 1, 100000),
            ...validateInteger(`${at}.rateLimitBurst`, s.rateLimitBurst, 0, 100000),
            ...validateInteger(`${at}.maxBodyMb`, s.maxBodyMb, 1, 10240),
            ...validateVersions(at, s, hosts),
            ...validateServiceRun(at, s, services),
        ];
    });
}

function validateVersions(at: string, s: ServiceSpec, hosts: HostSpec[]): Problems {
    if (s.versions === undefined) {
        return s.traffic === undefined ? [] : [`${at}.traffic: ${show(s.traffic)} needs versions; add ` +
            `versions: { blue: { port }, green: { port } } or remove traffic`];
    }
    if (typeof s.versions !== "object" || s.versions === null || Array.isArray(s.versions)) {
        return [`${at}.versions: ${show(s.versions)} is not a map; use { blue: { port?, hosts? }, green: { port?, hosts? } }`];
    }
    const runners = hosts.filter(h => h.services.includes(s.name)).map(h => h.name);
    const problems: Problems = [
        ...Object.keys(s.versions).filter(k => !(VERSION_NAMES as readonly string[]).includes(k)).map(k =>
            `${at}.versions.${k}: is not a version; use blue and green`),
        ...validateTraffic(`${at}.traffic`, s.traffic),
    ];
    const resolved: Partial<Record<string, { port: unknown; hosts: unknown[] }>> = {};
    for (const name of VERSION_NAMES) {
        const v = s.versions[name];
        if (typeof v !== "object" || v === null || Array.isArray(v)) {
            problems.push(`${at}.versions.${name}: ${show(v)} is missing or not a map; give both blue and green, ` +
                `e.g. ${name}: { port: ${s.port} }`);
            continue;
        }
        problems.push(...validateInteger(`${at}.versions.${name}.port`, v.port, 1024, 65535));
        const vHosts: unknown[] = v.hosts ?? runners;
        if (!Array.isArray(vHosts) || vHosts.length === 0) {
            problems.push(`${at}.versions.${name}.hosts: ${show(v.hosts)} names no host; list at least one of: ` +
                `${runners.join(", ") || "(no host lists the service)"}`);
            continue;
        }
        vHosts.forEach((h, j) => {
            if (typeof h !== "string" || !runners.includes(h)) {
                problems.push(`${at}.versions.${name}.hosts[${j}]: ${show(h)} does not run ${show(s.name)}; use hosts ` +
                    `whose services list it: ${runners.join(", ") || "(none)"}`);
            }
        });
        resolved[name] = { port: v.port, hosts: vHosts };
    }
    const [blue, green] = [resolved.blue, resolved.green];
    if (blue && green && blue.port === green.port) {
        const shared = green.hosts.filter(h => blue.hosts.includes(h));
        if (shared.length) {
            problems.push(`${at}.versions.green: port ${show(green.port)} on ${show(shared)} is also blue's; ` +
                `give green another port or other hosts`);
        }
    }
    return problems;
}

/** "blue", "green", or { blue: N, green: M } in whole percent adding up to 100. */
export function validateTraffic(field: string, traffic: unknown): Problems {
    if (traffic === undefined || (VERSION_NAMES as readonly unknown[]).includes(traffic)) {
        return [];
    }
    const split = traffic as Record<string, unknown>;
    const valid = typeof traffic === "object" && traffic !== null && !Array.isArray(traffic)
        && Object.keys(split).every(k => (VERSION_NAMES as readonly string[]).includes(k))
        && VERSION_NAMES.every(v => Number.isInteger(split[v]) && (split[v] as number) >= 0)
        && VERSION_NAMES.reduce((sum, v) => sum + (split[v] as number), 0) === 100;
    return valid ? [] : [`${field}: ${show(traffic)} is not a traffic setting; use "blue", "green" or ` +
        `{ blue: N, green: M } with whole percentages that add up to 100`];
}

export function validateGateway(field: string, gateway: unknown): Problems {
    if (typeof gateway !== "object" || gateway === null || Array.isArray(gateway)) {
        return [`${field}: ${show(gateway)} is not a map; use { serverName?, tls?: { certFile, keyFile } }`];
    }
    const g = gateway as Record<string, any>;
    const problems: Problems = [];
    if (g.serverName !== undefined && !isDnsName(g.serverName)) {
        problems.push(`${field}.serverName: ${show(g.serverName)} is not a DNS name; use lower-case labels ` +
            `joined by dots, e.g. "api.example.no"`);
    }
    if (g.tls !== undefined) {
        if (typeof g.tls !== "object" || g.tls === null || Array.isArray(g.tls)) {
            problems.push(`${field}.tls: ${show(g.tls)} is not a map; use { certFile: /abs/cert.pem, keyFile: /abs/key.pem } ` +
                `or leave tls out to have the internal CA issue the certificate`);
        } else {
            problems.push(
                ...validateAbsolutePath(`${field}.tls.certFile`, g.tls.certFile),
                ...validateAbsolutePath(`${field}.tls.keyFile`, g.tls.keyFile),
            );
        }
    }
    return problems;
}

/** postgresql.conf settings nordfleet itself sets to run, secure, archive and back up the cluster. */
export const MANAGED_PG_SETTINGS = [
    "data_directory", "hba_file", "ident_file", "external_pid_file", "config_file", "listen_addresses", "port",
    "unix_socket_directories", "password_encryption", "ssl", "ssl_cert_file", "ssl_key_file", "ssl_ca_file",
    "ssl_min_protocol_version", "wal_level", "archive_mode", "archive_command", "restore_command",
] as const;

const PG_SETTING_NAME = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$/;

/**
 * `nordfleet:postgres`: extra postgresql.conf settings for every postgres host. Names and
 * value types are checked here; whether PostgreSQL accepts a value is its own parser's
 * call, made on the host before the release goes live.
 */
export function validatePostgres(field: string, postgres: unknown): Problems {
    if (typeof postgres !== "object" || postgres === null || Array.isArray(postgres)) {
        return [`${field}: ${show(postgres)} is not a map; use { settings: { work_mem: "16MB", ... } }`];
    }
    const p = postgres as Record<string, any>;
    const problems: Problems = [];
    if (p.backup !== undefined) {
        problems.push(...validateBackupSchedule(`${field}.backup`, p.backup));
    }
    if (p.settings === undefined) {
        return problems;
    }
    if (typeof p.settings !== "object" || p.settings === null || Array.isArray(p.settings)) {
        return [...problems, `${field}.settings: ${show(p.settings)} is not a map; use { NAME: VALUE }, e.g. { work_mem: "16MB" }`];
    }
    for (const [name, value] of Object.entries(p.settings)) {
        if (!PG_SETTING_NAME.test(name)) {
            problems.push(`${field}.settings.${name}: is not a PostgreSQL setting name; use lower-case words joined by ` +
                `"_", e.g. work_mem`);
        } else if ((MANAGED_PG_SETTINGS as readonly string[]).includes(name)) {
            problems.push(`${field}.settings.${name}: is set by nordfleet (the cluster's files, TLS, listening and WAL ` +
                `archiving depend on it); remove it`);
        }
        const plain = typeof value === "number" ? Number.isFinite(value)
            : typeof value === "boolean" || (typeof value === "string" && !/[\n\r\0]/.test(value));
        if (!plain) {
            problems.push(`${field}.settings.${name}: ${show(value)} is not a setting value; use a number, true/false ` +
                `or a one-line string such as "16MB"`);
        }
    }
    return problems;
}

/** What a systemd calendar expression is made of ("Sun *-*-* 01:00:00", "daily", "Mon..Sat 02:30"). */
const ON_CALENDAR = /^[A-Za-z0-9*:,./~ +-]{1,100}$/;

/** `nordfleet:postgres.backup`: { full?, differential?, retentionDays? }. systemd checks each calendar on the host. */
export function validateBackupSchedule(field: string, backup: unknown): Problems {
    if (typeof backup !== "object" || backup === null || Array.isArray(backup)) {
        return [`${field}: ${show(backup)} is not a map; use { full: "Sun *-*-* 01:00:00", differential: ` +
            `"Mon..Sat *-*-* 01:00:00", retentionDays: 14 }`];
    }
    const b = backup as Record<string, unknown>;
    const problems: Problems = [];
    for (const key of ["full", "differential"]) {
        if (b[key] !== undefined && !(typeof b[key] === "string" && ON_CALENDAR.test(b[key] as string))) {
            problems.push(`${field}.${key}: ${show(b[key])} is not a systemd calendar expression; use one such as ` +
                `"Sun *-*-* 01:00:00" or "daily" (see systemd.time(7))`);
        }
    }
    if (b.retentionDays !== undefined) {
        problems.push(...validateInteger(`${field}.retentionDays`, b.retentionDays, 1, 3650));
    }
    return problems;
}

function isDnsName(name: unknown): boolean {
    return typeof name === "string" && name.length <= 253 && name.split(".").every(l => RFC1123_LABEL.test(l));
}

function validatePath(field: string, path: unknown, prefix: boolean): Problems {
    const pattern = prefix ? /^\/[a-z0-9._~-]+(\/[a-z0-9._~-]+)*\/$/ : /^\/[A-Za-z0-9._~\/-]*$/;
    if (typeof path !== "string" || !pattern.test(path)) {
        return [`${field}: ${show(path)} is not a valid path; use ${prefix
            ? "a lower-case prefix that starts and ends with \"/\", e.g. \"/orders/\""
            : "an absolute path such as \"/healthz\""}`];
    }
    return [];
}

function duplicates<T>(values: T[]): T[] {
    return [...new Set(values.filter((v, i) => values.indexOf(v) !== i))];
}

/**
 * Every hypervisor's SSH host key is pinned: given inline, or as the file of it (the
 * lab's is generated on the machine). Without one, any machine answering at its
 * address would get the fleet's keys.
 */
function validateHypervisorHostKey(field: string, h: Hypervisor): Problems {
    const scan = `ssh-keyscan -t ed25519 ${h.address}`;
    if (h.hostKey !== undefined && h.hostKeyFile !== undefined) {
        return [`${field}: has both hostKey and hostKeyFile; keep one`];
    }
    if (h.hostKeyFile !== undefined) {
        return validateAbsolutePath(`${field}.hostKeyFile`, h.hostKeyFile);
    }
    if (h.hostKey === undefined) {
        return [`${field}.hostKey: is not set, so the hypervisor's SSH host key would not be pinned; set it to the ` +
            `"TYPE BASE64" of \`${scan}\` (checked out of band), or hostKeyFile to a file holding it`];
    }
    return validatePublicKey(`${field}.hostKey`, h.hostKey, `use the "TYPE BASE64" part of \`${scan}\``);
}

