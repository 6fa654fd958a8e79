/**
 * The whole fleet: a deploy key, every hypervisor prepared, and every host as a KVM
 * instance on its VLAN, on the hypervisor placement chose for it.
 */
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { firstBootDns } from "../config/dns";
import { LoadedFleet } from "../config/load";
import { HypervisorHost } from "./compute/hypervisorHost";
import { directKernelBoot, KvmInstance } from "./compute/kvmInstance";
import { runAgentSocket, startRunAgent } from "./compute/runAgent";
import { planVlan, VlanPlan } from "./compute/network";

export interface HostOutput {
    role: string;
    address: string;
    vlan: string;
    hypervisor: string;
    /** The hypervisor's site. */
    site: string;
    hostKey: pulumi.Output<string>;
    volumeSerials: Record<string, string>;
}

/**
 * For each host whose first boot must wait, the host on the same hypervisor that must
 * answer SSH first: with a limit of N, a hypervisor's guests boot N at a time, in the
 * config's order.
 */
export function bootPredecessors(loaded: LoadedFleet): Map<string, string> {
    const waits = new Map<string, string>();
    for (const hv of loaded.config.hypervisors) {
        const limit = hv.maxConcurrentBoots;
        if (limit === undefined) {
            continue;
        }
        const guests = loaded.config.hosts.filter(h => loaded.placement.get(h.name) === hv.name).map(h => h.name);
        guests.slice(limit).forEach((name, i) => waits.set(name, guests[i]));
    }
    return waits;
}

export class Fleet extends pulumi.ComponentResource {
    public readonly hypervisors: Record<string, HypervisorHost> = {};
    public readonly instances: Record<string, KvmInstance> = {};
    public readonly vlans: VlanPlan[];
    public readonly deployPublicKey: pulumi.Output<string>;
    /** The key guests accept, for operators who need to log in by hand (secret). */
    public readonly deployPrivateKey: pulumi.Output<string>;

    constructor(name: string, private readonly loaded: LoadedFleet, opts?: pulumi.ComponentResourceOptions) {
        const { config, placement } = loaded;
        // Endpoints are inputs so that the residency policy sees where data is sent.
        super("nordfleet:fleet:Fleet", name, {
            stateBackend: config.stateBackend, backup: config.backup, mirrors: config.mirrors, dns: config.dns,
            ...(config.sites.length > 0 ? { declaredSites: config.sites } : {}),
        }, opts);

        const deployKey = new tls.PrivateKey(`${name}-deploy-key`, { algorithm: "ED25519" }, { parent: this });
        this.deployPublicKey = deployKey.publicKeyOpenssh.apply(k => k.trim());
        this.deployPrivateKey = pulumi.secret(deployKey.privateKeyOpenssh);

        const supplied = loaded.supplied.hypervisorKey;
        if (config.ssh.keyFile !== undefined && supplied === undefined) {
            throw new Error(`Fleet ${name}: nordfleet:ssh.keyFile is set, but the key was not read (supplied.hypervisorKey)`);
        }
        // The run's SSH agent holds every key nordfleet logs in with: no connection carries one.
        const agentSocket = pulumi.unsecret(this.deployPrivateKey.apply(deployKey => {
            const socket = runAgentSocket(pulumi.getStack());
            if (!pulumi.runtime.isDryRun()) {
                startRunAgent(socket, supplied === undefined ? [deployKey] : [deployKey, supplied]);
            }
            return socket;
        }));

        this.vlans = config.vlans.map(planVlan);
        for (const hv of config.hypervisors) {
            this.hypervisors[hv.name] = new HypervisorHost(`${name}-${hv.name}`, {
                hypervisor: hv,
                ssh: config.ssh,
                vlans: this.vlans,
                baseImage: config.baseImage,
                agentSocket: supplied === undefined ? undefined : agentSocket,
                declaredSites: config.sites,
            }, { parent: this });
        }

        const predecessors = bootPredecessors(loaded);
        for (const host of config.hosts) {
            const hypervisor = this.hypervisors[placement.get(host.name)!];
            const predecessor = predecessors.get(host.name);
            this.instances[host.name] = new KvmInstance(`${name}-${host.name}`, {
                host,
                vlan: this.vlans.find(v => v.name === host.vlan)!,
                hypervisor,
                baseImage: config.baseImage,
                ssh: config.ssh,
                agentSocket,
                deployPublicKey: this.deployPublicKey,
                boot: directKernelBoot(config),
                aptMirror: config.mirrors.apt?.url,
                dns: firstBootDns(host, config, placement),
                bootAfter: predecessor === undefined ? undefined : this.instances[predecessor].booted,
            }, { parent: this });
        }
        this.registerOutputs({ deployPublicKey: this.deployPublicKey });
    }

    /** What other teams may read: per host its role, address, placement and pinned host key. */
    public hostOutputs(): Record<string, HostOutput> {
        const { config, placement } = this.loaded;
        const siteOf = new Map(config.hypervisors.map(hv => [hv.name, hv.site]));
        return Object.fromEntries(config.hosts.map(h => [h.name, {
            role: h.role,
            address: h.address,
            vlan: h.vlan,
            hypervisor: placement.get(h.name)!,
            site: siteOf.get(placement.get(h.name)!)!,
            hostKey: this.instances[h.name].hostKey,
            volumeSerials: this.instances[h.name].volumeSerials,
        }]));
    }
}
