/**
 * The private VLAN address plan. Every value is derived from stable config (a host's
 * own name and its own static address), never from a host's position in a list, so
 * adding or removing a host never renumbers or re-MACs another.
 */
import * as crypto from "crypto";
import { Vlan } from "../../config/types";
import { bridgeAddress, formatIpv4, parseCidr } from "../../config/validate/addresses";

export interface VlanPlan {
    name: string;
    id: number;
    cidr: string;
    prefix: number;
    /** Bridge that carries the VLAN on every hypervisor. */
    bridge: string;
    /** The hypervisor's own address on the bridge, used as the guests' next hop to nothing but the VLAN. */
    bridgeAddress: string;
}

export function planVlan(vlan: Vlan): VlanPlan {
    const cidr = parseCidr(vlan.cidr)!;
    return {
        name: vlan.name,
        id: vlan.id,
        cidr: vlan.cidr,
        prefix: cidr.prefix,
        bridge: `br${vlan.id}`,
        bridgeAddress: formatIpv4(bridgeAddress(cidr)),
    };
}

/**
 * A locally administered unicast MAC derived from the host name and NIC role, so a
 * rebuilt VM keeps its MAC and cloud-init can match its NICs by it.
 */
export function stableMac(hostName: string, nic: "private" | "public"): string {
    const digest = crypto.createHash("sha256").update(`${hostName}/${nic}`).digest();
    const bytes = [0x52, 0x54, digest[0], digest[1], digest[2], digest[3]];
    return bytes.map(b => b.toString(16).padStart(2, "0")).join(":");
}

/**
 * A name-based UUID for the libvirt domain: redefining the domain (to apply a change)
 * must present the same UUID, or libvirt refuses it as a second domain of that name.
 */
export function stableUuid(hostName: string): string {
    const hex = crypto.createHash("sha256").update(`nordfleet-domain/${hostName}`).digest("hex");
    // RFC 4122 layout: version 5 (name-based), variant 10xx.
    const variant = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** Serial a data volume shows inside the guest (/dev/disk/by-id/virtio-<serial>); at most 20 bytes. */
export function volumeSerial(hostName: string, diskName: string): string {
    const digest = crypto.createHash("sha256").update(`${hostName}/${diskName}`).digest("hex").slice(0, 6);
    return `nf-${diskName.slice(0, 10)}-${digest}`.slice(0, 20);
}
