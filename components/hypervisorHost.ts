/**
 * A hypervisor prepared over SSH: libvirt answering, an image pool and an NVMe-backed
 * data pool, one bridge per VLAN, the base image present.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { Hypervisor, SshSettings } from "../config/types";
import { Connection, hypervisorConnection } from "./connection";
import { VlanPlan } from "./network";
import { readTemplate, shellAssignments } from "./render";

export interface HypervisorHostArgs {
    hypervisor: Hypervisor;
    ssh: SshSettings;
    vlans: VlanPlan[];
    baseImage: string;
    /** Key for the hypervisor's sshd; without one the SSH agent is used. */
    privateKey?: pulumi.Input<string>;
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

    constructor(name: string, args: HypervisorHostArgs, opts?: pulumi.ComponentResourceOptions) {
        // The site is an input so that the residency policy sees where data is placed.
        super("nordfleet:compute:HypervisorHost", name, { site: args.hypervisor.site }, opts);
        this.spec = args.hypervisor;
        this.connection = hypervisorConnection(args.hypervisor, args.ssh, args.privateKey);

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
