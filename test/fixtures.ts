/** A small, valid raw config that tests vary one field at a time. */
import { RawConfig } from "../config/load";

/** A real ed25519 public key, as a hypervisor's pinned host key. */
export const LAB_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBgNgjkZkUdr8gjGakuidkaQwTSbVC8yE0LSSxCuTKRs";

export function labConfig(): RawConfig {
    return {
        environment: "lab",
        ssh: { user: "root", port: 22, dialErrorLimit: 5, hypervisorDialErrorLimit: 3, perDialTimeout: 5, bootTimeout: 300 },
        hypervisors: [
            { name: "hv-a", site: "lab", address: "10.199.0.1", accelerator: "qemu", hostKey: LAB_HOST_KEY,
              capacity: { vcpus: 8, memoryMb: 8192, nvmeGb: 100 } },
        ],
        vlans: [
            { name: "platform", id: 110, cidr: "10.110.0.0/24" },
            { name: "quarantine", id: 120, cidr: "10.120.0.0/24" },
        ],
        services: [{ name: "hello", port: 8081, replicas: 1 }],
        hosts: [
            { name: "gw-1", role: "gateway", vlan: "platform", address: "10.110.0.10", memoryMb: 512 },
            { name: "consul-1", role: "consul-server", vlan: "platform", address: "10.110.0.20", memoryMb: 512 },
            { name: "app-1", role: "service", vlan: "platform", address: "10.110.0.30", memoryMb: 512,
              services: ["hello"], dataDisks: [{ name: "scratch", sizeGb: 1 }] },
            { name: "pg-1", role: "postgres", vlan: "platform", address: "10.110.0.40", memoryMb: 512,
              dataDisks: [{ name: "pgdata", sizeGb: 2 }] },
            { name: "probe-1", role: "service", vlan: "quarantine", address: "10.120.0.40", memoryMb: 384 },
        ],
    };
}
