/**
 * A hypervisor prepared over SSH: libvirt answering, an image pool and an NVMe-backed
 * data pool, one bridge per VLAN, the base image present.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { Site } from "../../config/sites";
import { Hypervisor, SshSettings } from "../../config/types";
import { Connection, hypervisorConnection } from "./connection";
import { VlanPlan } from "./network";
import { readTemplate, shellAssignments } from "../render";

export interface HypervisorHostArgs {
    /** The hypervisor as the stack declares it: its address, pinned host key, site and pools. */
    hypervisor: Hypervisor;
    /** How nordfleet logs in, and how long it waits for an sshd. */
    ssh: SshSettings;
    /** The VLANs it bridges, one bridge each. */
    vlans: VlanPlan[];
    /** File name of the base image its image pool must hold. */
    baseImage: string;
    /** The run agent's socket, when it holds the hypervisors' key; without one the operator's SSH agent is used. */
    agentSocket?: pulumi.Input<string>;
    /** The sites the stack declares beside the built-in ones (nordfleet:sites). */
    declaredSites?: Site[];
}

/**
 * The inputs that tell the residency policy where a component places data: the site,
 * and the stack's own site declarations, so that the policy judges it against the same
 * catalogue as the loader.
 */
export function placementInputs(site: string, declaredSites: Site[]): Record<string, unknown> {
    return declaredSites.length > 0 ? { site, declaredSites } : { site };
}

/** The idempotent script that readies a hypervisor; it holds no secret. */
export function prepareHypervisorScript(hv: Hypervisor, vlans: VlanPlan[], baseImage: string): string {
    return shellAssignments({
        IMAGE_POOL: hv.imagePoolPath,
        NVME_POOL: hv.nvmePoolPath,
        BASE_IMAGE: baseImage,
        UPLINK: hv.uplink ?? "",
        // id:bridge-address/prefix for each VLAN
        VLANS: vlans.map(v => `${v.id}:${v.bridgeAddress}/${v.prefix}`).join(" "),
    }) + readTemplate("hypervisor/prepare.sh");
}

/** The script that removes what prepare left (bridges, pool definitions), never a volume. */
export function releaseHypervisorScript(hv: Hypervisor, vlans: VlanPlan[]): string {
    return shellAssignments({
        UPLINK: hv.uplink ?? "",
        VLANS: vlans.map(v => `${v.id}:${v.bridgeAddress}/${v.prefix}`).join(" "),
    }) + readTemplate("hypervisor/release.sh");
}

export class HypervisorHost extends pulumi.ComponentResource {
    /** How nordfleet reaches this hypervisor, and through it the guests. */
    public readonly connection: Connection;
    /** Finishes once the hypervisor is ready to define domains. */
    public readonly ready: pulumi.Output<string>;
    public readonly spec: Hypervisor;
    public readonly declaredSites: Site[];

    constructor(name: string, args: HypervisorHostArgs, opts?: pulumi.ComponentResourceOptions) {
        const declaredSites = args.declaredSites ?? [];
        super("nordfleet:compute:HypervisorHost", name, placementInputs(args.hypervisor.site, declaredSites), opts);
        this.spec = args.hypervisor;
        this.declaredSites = declaredSites;
        this.connection = hypervisorConnection(args.hypervisor, args.ssh, args.agentSocket);

        const prepare = new command.remote.Command(`${name}-prepare`, {
            connection: this.connection,
            create: "bash -s",
            stdin: prepareHypervisorScript(args.hypervisor, args.vlans, args.baseImage),
            // Domains depend on this command, so the engine deletes it after them.
            delete: `bash -s <<'NORDFLEET_RELEASE'\n${releaseHypervisorScript(args.hypervisor, args.vlans)}NORDFLEET_RELEASE\n`,
        }, { parent: this });

        this.ready = prepare.stdout;
        this.registerOutputs({ ready: this.ready });
    }
}
