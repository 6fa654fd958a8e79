/** IPv4 addresses and CIDRs: parsing, and the checks of VLANs and the addresses in them. */
import { Vlan } from "../types";
import { duplicates, Problems, show, validateHostName, validateInteger } from "./common";

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
