/** How the gateway routes to a service and how a service runs: versions, traffic, artifacts, the gateway itself. */
import * as path from "path";
import { BALANCES, HostSpec, ServiceSpec, VERSION_NAMES } from "../types";
import { isDnsName, Problems, show, validateAbsolutePath, validateInteger } from "./common";

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
