/**
 * What a consuming team builds from nordfleet's outputs: an SSH config that reaches
 * every VM through its hypervisor, and known_hosts lines pinning each VM's host key.
 */

/** The part of contract version 2 this consumer reads (see contract/outputs.schema.json). */
export interface FleetOutputs {
    contractVersion: string;
    sites: { hypervisor: string; site: string; address: string }[];
    hosts: Record<string, { role: string; address: string; hypervisor: string; hostKey: string }>;
}

export const UNDERSTOOD_CONTRACT = "2";

export function checkContract(version: string): void {
    if (version !== UNDERSTOOD_CONTRACT) {
        throw new Error(`the nordfleet stack speaks output contract ${JSON.stringify(version)}, this program ` +
            `understands ${JSON.stringify(UNDERSTOOD_CONTRACT)}; update it to the new contract (see nordfleet's docs/outputs.md)`);
    }
}

export function sshConfig(fleet: FleetOutputs, user: string): string {
    const jumpHosts = new Map(fleet.sites.map(s => [s.hypervisor, s.address]));
    return Object.entries(fleet.hosts).map(([name, h]) =>
        `Host ${name}\n  HostName ${h.address}\n  User ${user}\n  ProxyJump ${user}@${jumpHosts.get(h.hypervisor)}\n` +
        `  HostKeyAlias ${name}\n  StrictHostKeyChecking yes\n`).join("\n");
}

export function knownHosts(fleet: FleetOutputs): string {
    return Object.entries(fleet.hosts).map(([name, h]) => `${name} ${h.hostKey}\n`).join("");
}

export function addressesOfRole(fleet: FleetOutputs, role: string): string[] {
    return Object.values(fleet.hosts).filter(h => h.role === role).map(h => h.address);
}
