/**
 * The validated, typed shape of a stack's `nordfleet:*` config. Pulumi.yaml documents
 * every key; `loadFleetConfig` turns raw config into this or refuses it.
 */

export const ROLES = ["gateway", "consul-server", "service", "postgres", "rabbitmq"] as const;
export type Role = typeof ROLES[number];

export type Environment = "lab" | "prod";

export interface SshSettings {
    /** User nordfleet logs in as on hypervisors and guests. */
    user: string;
    port: number;
    /** How many failed dials a command tolerates while a fresh VM boots. */
    dialErrorLimit: number;
    /** Seconds each dial may take. */
    perDialTimeout: number;
    /**
     * Private key file for the hypervisors. Without it, nordfleet uses the SSH agent
     * (SSH_AUTH_SOCK). Guests are always reached with the deploy key nordfleet generates.
     */
    keyFile?: string;
}

export interface Capacity {
    vcpus: number;
    memoryMb: number;
    nvmeGb: number;
}

export interface Hypervisor {
    name: string;
    site: string;
    /** Address nordfleet reaches the hypervisor's sshd on. */
    address: string;
    /** Pinned SSH host key of the hypervisor ("ssh-ed25519 AAAA..."). */
    hostKey?: string;
    /** NIC that carries the VLANs as 802.1Q tags; absent on a host-only lab hypervisor. */
    uplink?: string;
    /** Bridge that gives gateway VMs their public NIC. */
    publicBridge?: string;
    capacity: Capacity;
    /** "kvm" where guests really run accelerated, "qemu" (software emulation) elsewhere. */
    accelerator: "kvm" | "qemu";
    /** Directory of the storage pool holding base images and OS overlays. */
    imagePoolPath: string;
    /** Directory of the NVMe-backed storage pool holding data volumes. */
    nvmePoolPath: string;
}

export interface Vlan {
    name: string;
    id: number;
    cidr: string;
}

export interface DataDisk {
    name: string;
    sizeGb: number;
    /** Kept by `pulumi destroy` (and named in its output). Defaults to true on database hosts. */
    protect: boolean;
}

export interface HostSpec {
    name: string;
    role: Role;
    vlan: string;
    /** Static address on the VLAN. Addresses never move when other hosts come or go. */
    address: string;
    vcpus: number;
    memoryMb: number;
    rootDiskGb: number;
    dataDisks: DataDisk[];
    /** Pin to a hypervisor; otherwise placement spreads hosts of a role across hypervisors. */
    hypervisor?: string;
    /** For service hosts: which services run there. */
    services: string[];
}

export interface ServiceSpec {
    name: string;
    port: number;
    /** Path prefix on the API gateway, e.g. "/orders/". */
    gatewayPath: string;
    replicas: number;
    healthPath: string;
    database: boolean;
    queue: boolean;
}

/**
 * Somewhere outside the fleet that data is sent to or fetched from. The site says
 * where it physically is, and must satisfy the same residency rule as a hypervisor.
 */
export interface Endpoint {
    url: string;
    site: string;
}

export interface Mirrors {
    /** Debian package mirror the guests install from. */
    apt?: Endpoint;
    /** Where service builds are fetched from. */
    artifacts?: Endpoint;
}

export interface FleetConfig {
    environment: Environment;
    /** Countries where data may live, narrowed from the EEA by the stack. */
    allowedCountries: string[];
    ssh: SshSettings;
    /** File name of the base OS image in every hypervisor's image pool. */
    baseImage: string;
    /**
     * Kernel and initrd (file names in the image pool) for direct kernel boot, for base
     * images that carry no boot loader, such as the lab's. Absent: boot from the disk.
     */
    baseKernel?: string;
    baseInitrd?: string;
    hypervisors: Hypervisor[];
    vlans: Vlan[];
    hosts: HostSpec[];
    services: ServiceSpec[];
    /** Number of Consul servers: 3 or 5, or 1 in a lab stack. */
    consulServers: number;
    /** Where database backups are sent. */
    backup?: Endpoint;
    mirrors: Mirrors;
    /** Where the stack's state lives; required in prod, so its residency is checked too. */
    stateBackend?: Endpoint;
}
