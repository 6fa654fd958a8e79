/**
 * Every file nordfleet pushes, per host, rendered by the same functions the components
 * use. Keys are generated at deploy time, so they appear here as named placeholders:
 * the output holds no secret and is byte-identical from run to run.
 */
import { prepareHypervisorScript, releaseHypervisorScript } from "../components/hypervisorHost";
import { directKernelBoot, domainContext, removeInstanceScript, renderDomainXml, renderSeed } from "../components/kvmInstance";
import { planVlan } from "../components/network";
import { firstBootDns } from "../config/dns";
import { LoadedFleet } from "../config/load";

/** Relative path (host/file) -> content. */
export type RenderedFiles = Map<string, string>;

export function renderFleetFiles({ config, placement }: LoadedFleet): RenderedFiles {
    const files: RenderedFiles = new Map();
    const vlans = config.vlans.map(planVlan);
    for (const hv of config.hypervisors) {
        files.set(`${hv.name}/prepare-hypervisor.sh`, prepareHypervisorScript(hv, vlans, config.baseImage));
        files.set(`${hv.name}/release-hypervisor.sh`, releaseHypervisorScript(hv, vlans));
    }
    for (const host of config.hosts) {
        const hv = config.hypervisors.find(h => h.name === placement.get(host.name))!;
        const vlan = vlans.find(v => v.name === host.vlan)!;
        const ctx = domainContext(host, vlan, hv, directKernelBoot(config), firstBootDns(host, config, placement));
        const seed = renderSeed({
            host, vlan, ctx, ssh: config.ssh, aptMirror: config.mirrors.apt?.url,
            keys: {
                hostPrivateKey: `<secret: ed25519 host key of ${host.name}, generated at deploy time>`,
                hostPublicKey: `<ed25519 public host key of ${host.name}>`,
                deployPublicKey: "<ed25519 public deploy key of the fleet>",
            },
        });
        files.set(`${host.name}/libvirt/domain.xml`, renderDomainXml(ctx));
        files.set(`${host.name}/cloud-init/user-data`, seed.userData);
        files.set(`${host.name}/cloud-init/meta-data`, seed.metaData);
        files.set(`${host.name}/cloud-init/network-config`, seed.networkConfig);
        files.set(`${host.name}/remove-instance.sh`, removeInstanceScript(host, hv.imagePoolPath, hv.nvmePoolPath));
    }
    return files;
}
