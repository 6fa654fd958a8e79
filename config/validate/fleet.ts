/** The fleet's shape: SSH, hypervisors and their capacity and host keys, hosts, Consul servers, services. */
import { Site, SITES } from "../sites";
import { validatePublicKey } from "../sshKeys";
import { Capacity, Environment, HostSpec, Hypervisor, ROLES, ServiceSpec, SshSettings, Vlan } from "../types";
import { parseIpv4, validateAddressInVlan } from "./addresses";
import { duplicates, Problems, show, validateAbsolutePath, validateHostName, validateInteger, validatePath } from "./common";
import { validateSite } from "./residency";
import { ConsulSiteSpread } from "../placement";

export function validateSsh(field: string, ssh: SshSettings): Problems {
    return [
        ...(typeof ssh.user === "string" && /^[a-z_][a-z0-9_-]{0,31}$/.test(ssh.user) ? []
            : [`${field}.user: ${show(ssh.user)} is not a valid login name; use a POSIX user name such as "root" or "deploy"`]),
        ...validateInteger(`${field}.port`, ssh.port, 1, 65535),
        ...validateInteger(`${field}.dialErrorLimit`, ssh.dialErrorLimit, 1, 1000),
        ...validateInteger(`${field}.hypervisorDialErrorLimit`, ssh.hypervisorDialErrorLimit, 1, 1000),
        ...validateInteger(`${field}.perDialTimeout`, ssh.perDialTimeout, 1, 600),
        ...validateInteger(`${field}.bootTimeout`, ssh.bootTimeout, 30, 7200),
        ...(ssh.keyFile === undefined ? [] : validateAbsolutePath(`${field}.keyFile`, ssh.keyFile)),
    ];
}

/** Leaf certificates live 365 days: a window of up to half of that leaves each one most of its life. */
export function validateCertificates(field: string, raw: unknown): Problems {
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
        return [`${field}: ${show(raw)} is not a map; use { renewBeforeDays: N }`];
    }
    const days = (raw as { renewBeforeDays?: unknown }).renewBeforeDays;
    return days === undefined ? [] : validateInteger(`${field}.renewBeforeDays`, days, 1, 180);
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
            ...validateInteger(`${at}.healthCheckSeconds`, s.healthCheckSeconds, 5, 3600),
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

/**
 * Raft keeps Consul writable while a majority of its servers run. A site whose loss alone
 * leaves fewer is refused in a prod stack unless `acceptedField` names it; a lab stack
 * that spans sites gets a warning. Stale acceptances are refused, so one cannot hide a
 * later change of placement.
 */
export function validateConsulSiteSpread(field: string, acceptedField: string, spread: ConsulSiteSpread,
                                         accepted: readonly string[], environment: Environment, sitesInUse: number):
    { problems: Problems; warnings: string[] } {
    const stand = spread.bySite.map(s => `${s.servers} in ${s.site}`).join(", ");
    const unaccepted = spread.critical.filter(site => !accepted.includes(site));
    const lost = unaccepted.map(site => `${field}: the ${spread.servers} Consul server(s) stand ${stand}, and Raft needs ` +
        `${spread.quorum} of ${spread.servers} running: losing ${site} alone loses the quorum, and Consul stops answering ` +
        `writes (service registrations, ACL changes) until it returns. Place a server in another site (three sites holding ` +
        `one each lose any one site and keep the quorum), or accept that loss: ${acceptedField}: [${JSON.stringify(site)}]`);
    const stale = accepted.filter(site => !spread.critical.includes(site)).map(site => `${acceptedField}: ` +
        `${JSON.stringify(site)}: losing it does not lose the Consul quorum (servers: ${stand}); remove it`);
    if (environment === "prod") {
        return { problems: [...lost, ...stale], warnings: [] };
    }
    return { problems: stale, warnings: sitesInUse > 1 ? lost : [] };
}
