/**
 * One KVM instance: a libvirt domain on a qcow2 overlay of the base image, data
 * volumes from the NVMe pool with stable serials, and a cloud-init NoCloud seed
 * carrying its name, static VLAN address, the deploy key and a host key nordfleet
 * generated, so the guest's identity is pinned before it first boots. Once it has
 * booted, the seed is swapped for one without the host's private key.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as tls from "@pulumi/tls";
import { FleetConfig, HostSpec, Hypervisor, SshSettings } from "../../config/types";
import { guestConnection } from "./connection";
import { FirstBootDns } from "../../config/dns";
import { baselineGuestFiles, digestsOf, PushedFileDigest, recordedGuestFiles } from "./guestFiles";
import { HostLedger, ledgerDir } from "../platform/hostLedger";
import { instanceKeyOf, releaseKeyOf, sealedScript } from "../platform/releaseBundle";
import { HypervisorHost, placementInputs } from "./hypervisorHost";
import { stableMac, stableUuid, VlanPlan, volumeSerial } from "./network";
import { readTemplate, renderTemplate, shellAssignments, shellQuote } from "../render";

export interface KvmInstanceArgs {
    /** The VM as the stack declares it. */
    host: HostSpec;
    /** The VLAN its NIC joins (its bridge on the hypervisor). */
    vlan: VlanPlan;
    /** Where it runs: the domain is defined there, and the guest reached through it. */
    hypervisor: HypervisorHost;
    /** File name of the base image its root disk is an overlay on. */
    baseImage: string;
    /** How nordfleet logs in, and how long it waits for the guest's sshd. */
    ssh: SshSettings;
    /** The socket of the run's SSH agent, which holds the deploy key nordfleet logs in with. */
    agentSocket: pulumi.Input<string>;
    /** The key the guest accepts for root (the deploy key's public half). */
    deployPublicKey: pulumi.Input<string>;
    /** Direct kernel boot, for base images without a boot loader. */
    boot?: DirectBoot;
    /** Debian mirror for the guest's apt sources (the stack's residency-checked mirror). */
    aptMirror?: string;
    /** The resolvers its first boot writes into /etc/resolv.conf (see `firstBootDns`). */
    dns?: FirstBootDns;
    /** Create the domain only once this has finished: the hypervisor's limit on boots at once. */
    bootAfter?: pulumi.Resource;
}

export interface DirectBoot {
    kernel: string;
    initrd: string;
}

/** The stack's direct kernel boot files, if it names them. */
export function directKernelBoot(config: FleetConfig): DirectBoot | undefined {
    return config.baseKernel && config.baseInitrd ? { kernel: config.baseKernel, initrd: config.baseInitrd } : undefined;
}

/**
 * The guest kernel's command line for a direct kernel boot. Under software emulation
 * (`qemu`) every vCPU's TSC is computed from the same host clock, so it is synchronized
 * and steady; but the kernel cannot tell, and once a vCPU waits for a host core its
 * checks declare the TSC unstable and fall back to the HPET. Each clock read then
 * becomes a system call and an emulated device access, which every guest process pays
 * (systemd, Consul, Erlang): `tsc=reliable` keeps the TSC. On KVM the guest uses
 * kvm-clock and needs nothing.
 */
export function kernelCommandLine(accelerator: "kvm" | "qemu"): string {
    const args = ["root=/dev/vda", "rw", "console=ttyS0", "net.ifnames=0"];
    return (accelerator === "qemu" ? [...args, "tsc=reliable"] : args).join(" ");
}

export interface DomainContext {
    name: string;
    uuid: string;
    role: string;
    domainType: "kvm" | "qemu";
    hostCpu: boolean;
    memoryMb: number;
    vcpus: number;
    vlan: VlanPlan;
    privateMac: string;
    publicBridge?: string;
    publicMac: string;
    osDisk: string;
    seedIso: string;
    consoleLog: string;
    kernel?: string;
    initrd?: string;
    cmdline: string;
    dataDisks: { path: string; target: string; serial: string }[];
    /** Digests of the files pushed into the guest, recorded in the domain's metadata. */
    /** The guest's first-boot resolvers (see KvmInstanceArgs). */
    dns?: FirstBootDns;
    pushedFiles: PushedFileDigest[];
}

/** Everything the libvirt domain of `host` on hypervisor `hv` is rendered from. */
export function domainContext(host: HostSpec, vlan: VlanPlan, hv: Hypervisor, boot?: DirectBoot,
                              dns?: FirstBootDns): DomainContext {
    const dir = `${hv.imagePoolPath}/${host.name}`;
    return {
        name: host.name,
        uuid: stableUuid(host.name),
        role: host.role,
        domainType: hv.accelerator,
        hostCpu: hv.accelerator === "kvm",
        memoryMb: host.memoryMb,
        vcpus: host.vcpus,
        vlan,
        privateMac: stableMac(host.name, "private"),
        // Only gateways face the outside world.
        publicBridge: host.role === "gateway" ? hv.publicBridge : undefined,
        publicMac: stableMac(host.name, "public"),
        osDisk: `${dir}/os.qcow2`,
        seedIso: `${dir}/seed.iso`,
        consoleLog: `${dir}/console.log`,
        kernel: boot && `${hv.imagePoolPath}/${boot.kernel}`,
        initrd: boot && `${hv.imagePoolPath}/${boot.initrd}`,
        cmdline: kernelCommandLine(hv.accelerator),
        dataDisks: host.dataDisks.map((d, i) => ({
            path: `${hv.nvmePoolPath}/${host.name}-${d.name}.qcow2`,
            target: `vd${String.fromCharCode("b".charCodeAt(0) + i)}`,
            serial: volumeSerial(host.name, d.name),
        })),
        dns,
        pushedFiles: digestsOf(recordedGuestFiles(dns)),
    };
}

export function renderDomainXml(ctx: DomainContext): string {
    return renderTemplate("kvm/domain.xml.hbs", ctx);
}

export interface InstanceKeys {
    hostPrivateKey: string;
    hostPublicKey: string;
    deployPublicKey: string;
}

export interface InstanceScriptArgs {
    /** The VM as the stack declares it. */
    host: HostSpec;
    /** The VLAN its NIC joins. */
    vlan: VlanPlan;
    /** Its domain's details: disks, NICs, boot (see domainContext). */
    ctx: DomainContext;
    /** The login the guest's seed sets up. */
    ssh: SshSettings;
    /** File name of the base image in imagePool. */
    baseImage: string;
    /** Folder of the base image and root disks on the hypervisor. */
    imagePool: string;
    /** Folder of the data volumes on the hypervisor. */
    nvmePool: string;
    /** The guest's host key pair and the deploy key it accepts (the private host key is secret). */
    keys: InstanceKeys;
    /** Debian mirror for the guest's apt sources. */
    aptMirror?: string;
}

/**
 * The files the hypervisor-side scripts carry, each in a base64 variable, by variable
 * name and the file's name (what `npm run render` writes it as).
 */
export const EMBEDDED_FILES = {
    DOMAIN_XML: "domain.xml",
    USER_DATA: "user-data",
    USER_DATA_AFTER_BOOT: "user-data-after-boot",
    META_DATA: "meta-data",
    NETWORK_CONFIG: "network-config",
    RETIRE_SEED: "retire-seed.sh",
} as const;

function embed(files: Partial<Record<keyof typeof EMBEDDED_FILES, string>>): Record<string, string> {
    return Object.fromEntries(Object.entries(files).map(([v, text]) => [v, Buffer.from(text).toString("base64")]));
}

function locationVars(host: HostSpec, imagePool: string, nvmePool: string) {
    return {
        NAME: host.name,
        IMAGE_POOL: imagePool,
        NVME_POOL: nvmePool,
        DATA_DISKS: host.dataDisks.map(d => `${d.name}:${d.sizeGb}`).join(" "),
    };
}

type SeedArgs = Omit<InstanceScriptArgs, "baseImage" | "imagePool" | "nvmePool" | "keys"> & {
    keys: Omit<InstanceKeys, "hostPrivateKey"> & { hostPrivateKey?: string };
};

/**
 * The cloud-init NoCloud seed: host name, static VLAN address, deploy key and pinned host
 * key. `userDataAfterBoot` is the same without the host's private key: the seed the guest
 * keeps once its first boot installed the key.
 */
export function renderSeed(a: SeedArgs) {
    const userData = (hostPrivateKey?: string) => renderTemplate("cloud-init/user-data.hbs", {
        name: a.host.name, sshUser: a.ssh.user, isRoot: a.ssh.user === "root",
        authorizedKey: a.keys.deployPublicKey.trim(), hostPrivateKey,
        hostPublicKey: a.keys.hostPublicKey.trim(), aptMirror: a.aptMirror, files: baselineGuestFiles(a.ctx.dns),
    });
    return {
        userData: userData(a.keys.hostPrivateKey),
        userDataAfterBoot: userData(),
        metaData: renderTemplate("cloud-init/meta-data.hbs", { instanceId: a.host.name, name: a.host.name }),
        networkConfig: renderTemplate("cloud-init/network-config.hbs", {
            address: a.host.address, prefix: a.vlan.prefix, privateMac: a.ctx.privateMac,
            publicBridge: a.ctx.publicBridge, publicMac: a.ctx.publicMac, publicAddress: a.host.publicAddress,
        }),
    };
}

/** The hypervisor-side script that creates or updates the domain (contains the host key: secret). */
export function applyInstanceScript(a: InstanceScriptArgs): string {
    const seed = renderSeed(a);
    return shellAssignments({
        ...locationVars(a.host, a.imagePool, a.nvmePool),
        BASE_IMAGE: a.baseImage,
        ROOT_GB: a.host.rootDiskGb,
        ...embed({
            DOMAIN_XML: renderDomainXml(a.ctx), USER_DATA: seed.userData,
            RETIRE_SEED: retireSeedScript(a.host, a.imagePool, seed),
        }),
        ...seedAfterBootVars(seed),
        ...bootWatchVars(a.host, a.ssh),
    }) + readTemplate("kvm/seed.sh") + readTemplate("kvm/boot-watch.sh") + readTemplate("kvm/apply.sh");
}

/** What boot-watch.sh waits for: the guest's sshd, for as long as the stack allows a boot. */
export function bootWatchVars(host: HostSpec, ssh: SshSettings) {
    return { GUEST_ADDRESS: host.address, SSH_PORT: ssh.port, BOOT_TIMEOUT: ssh.bootTimeout };
}

function seedAfterBootVars(seed: ReturnType<typeof renderSeed>) {
    return {
        ...embed({ USER_DATA_AFTER_BOOT: seed.userDataAfterBoot, META_DATA: seed.metaData, NETWORK_CONFIG: seed.networkConfig }),
    };
}

/**
 * The hypervisor-side script run once the guest has booted: its seed is swapped for one
 * without the host's private key. Holds no secret. The apply script leaves it beside the
 * domain, so its command is one short line.
 */
export function retireSeedScript(host: HostSpec, imagePool: string, seed: ReturnType<typeof renderSeed>): string {
    return shellAssignments({ NAME: host.name, IMAGE_POOL: imagePool, ...seedAfterBootVars(seed) }) +
        readTemplate("kvm/seed.sh") + readTemplate("kvm/retire-seed.sh");
}

/** Where the apply script leaves the retire script. */
export const retireSeedPath = (host: HostSpec, imagePool: string) => `${imagePool}/${host.name}/retire-seed.sh`;

/** The hypervisor-side script that removes the domain, keeping protected data volumes. */
export function removeInstanceScript(host: HostSpec, imagePool: string, nvmePool: string): string {
    return shellAssignments({
        ...locationVars(host, imagePool, nvmePool),
        PROTECTED_DISKS: host.dataDisks.filter(d => d.protect).map(d => d.name).join(" "),
        LEDGER: ledgerDir(host.name),
    }) + readTemplate("kvm/remove.sh");
}

export class KvmInstance extends pulumi.ComponentResource {
    public readonly name: string;
    private readonly resourceName: string;
    public readonly privateAddress: string;
    /** The guest's SSH host key, pinned in every connection to it. */
    public readonly hostKey: pulumi.Output<string>;
    /** Serial of each data volume, as the guest sees it under /dev/disk/by-id/virtio-<serial>. */
    public readonly volumeSerials: Record<string, string>;
    /** How to reach the guest: through its hypervisor, host key pinned. */
    public readonly connection: command.types.input.remote.ConnectionArgs;
    /** Where the releases on this guest are recorded: its hypervisor. */
    public readonly ledger: HostLedger;
    /** Finishes once the guest answers SSH and cloud-init is done. */
    public readonly ready: pulumi.Output<string>;
    /** Changes whenever the domain is rebuilt: what is pushed into the guest goes again. */
    public readonly machineId: pulumi.Output<string>;
    /** Finishes once the guest has booted: what a guest waiting for its turn to boot depends on. */
    public readonly booted: pulumi.Resource;

    constructor(name: string, args: KvmInstanceArgs, opts?: pulumi.ComponentResourceOptions) {
        const { host, hypervisor } = args;
        const hv = hypervisor.spec;
        super("nordfleet:compute:KvmInstance", name,
            { ...placementInputs(hv.site, hypervisor.declaredSites), hypervisor: hv.name }, opts);
        this.name = host.name;
        this.resourceName = name;
        this.privateAddress = host.address;

        const hostKey = new tls.PrivateKey(`${name}-host-key`, { algorithm: "ED25519" }, { parent: this });
        this.hostKey = hostKey.publicKeyOpenssh.apply(k => k.trim());

        const ctx = domainContext(host, args.vlan, hv, args.boot, args.dns);
        this.volumeSerials = Object.fromEntries(host.dataDisks.map((d, i) => [d.name, ctx.dataDisks[i].serial]));

        // The seed carries the host's private key: the apply script travels sealed.
        const applyScript = pulumi.all([hostKey.privateKeyOpenssh, this.hostKey, args.deployPublicKey])
            .apply(([hostPrivateKey, hostPublicKey, deployPublicKey]) => applyInstanceScript({
                host, vlan: args.vlan, ctx, ssh: args.ssh, baseImage: args.baseImage,
                imagePool: hv.imagePoolPath, nvmePool: hv.nvmePoolPath,
                keys: { hostPrivateKey, hostPublicKey, deployPublicKey }, aptMirror: args.aptMirror,
            }));
        // Named for the guest: the hypervisor keeps the bundles of all its guests side by side.
        const sealed = sealedScript(`${name}-domain-bundle`, {
            connection: hypervisor.connection, host: host.name, role: `instance-${host.name}`, script: applyScript,
            key: pulumi.secret(hostKey.privateKeyOpenssh.apply(k => instanceKeyOf(host.name, k))),
        }, { parent: this, dependsOn: [hypervisor] });
        const removeScript = removeInstanceScript(host, hv.imagePoolPath, hv.nvmePoolPath);

        const domain = new command.remote.Command(`${name}-domain`, {
            connection: hypervisor.connection,
            create: sealed.create,
            stdin: sealed.stdin,
            delete: `bash -s <<'NORDFLEET_REMOVE'\n${removeScript}NORDFLEET_REMOVE\n`,
            logging: "stderr",
        }, {
            parent: this, dependsOn: args.bootAfter === undefined ? [sealed.upload] : [sealed.upload, args.bootAfter],
            // The new domain has the old one's name: the old must go first, or removing it
            // would remove the new one (its protected volumes stay either way).
            deleteBeforeReplace: true,
        });

        // The guest's release bundles are sealed with a key derived from its own host key:
        // secret, new with a new machine, and nothing to generate or keep besides.
        const releaseKey = pulumi.secret(hostKey.privateKeyOpenssh.apply(k => releaseKeyOf(host.name, k)));
        this.ledger = new HostLedger(hypervisor.connection, host.name, releaseKey);
        this.connection = guestConnection(hypervisor.connection, host.address, this.hostKey, args.ssh, args.agentSocket);

        const sshReady = new command.remote.Command(`${name}-ssh-ready`, {
            connection: this.connection,
            create: "cloud-init status --wait >/dev/null 2>&1; hostname",
            // A rebuilt domain is a new machine: wait for it again.
            triggers: [domain.id],
        }, { parent: this, dependsOn: [domain] });

        // The seed carried the host's private key: once the guest has it, the seed goes.
        new command.remote.Command(`${name}-seed-retired`, {
            connection: hypervisor.connection,
            create: `bash ${shellQuote(retireSeedPath(host, hv.imagePoolPath))}`,
            triggers: [domain.id],
            logging: "stderr",
        }, { parent: this, dependsOn: [sshReady] });

        this.booted = sshReady;
        this.ready = sshReady.stdout.apply(s => s.trim());
        this.machineId = pulumi.all([domain.id, sshReady.id]).apply(([d]) => d);
        this.registerOutputs({ hostKey: this.hostKey, ready: this.ready });
    }

    /**
     * Declares the guest's release ledger under `parent`; once every release on it is
     * declared. Not under this instance: what waits for the instance (its releases) would
     * wait for its ledger, which waits for them.
     */
    public writeLedger(parent: pulumi.Resource): void {
        this.ledger.write(`${this.resourceName}-ledger`, parent);
    }
}
