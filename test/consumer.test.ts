import { expect } from "chai";
import { addressesOfRole, checkContract, FleetOutputs, knownHosts, sshConfig } from "../examples/consumer/inventory";

const fleet: FleetOutputs = {
    contractVersion: "1",
    sites: [{ hypervisor: "osl-hv1", site: "oslo-1", address: "hv1.osl.example.net" }],
    hosts: {
        "gw-1": { role: "gateway", address: "10.110.0.10", hypervisor: "osl-hv1", hostKey: "ssh-ed25519 AAAAgw" },
        "app-1": { role: "service", address: "10.110.1.10", hypervisor: "osl-hv1", hostKey: "ssh-ed25519 AAAAapp" },
    },
};

describe("consumer example's inventory", () => {
    it("reaches every VM through its hypervisor with its host key pinned", () => {
        expect(sshConfig(fleet, "root")).to.equal(
            "Host gw-1\n  HostName 10.110.0.10\n  User root\n  ProxyJump root@hv1.osl.example.net\n  HostKeyAlias gw-1\n" +
            "  StrictHostKeyChecking yes\n\nHost app-1\n  HostName 10.110.1.10\n  User root\n  ProxyJump root@hv1.osl.example.net\n" +
            "  HostKeyAlias app-1\n  StrictHostKeyChecking yes\n");
        expect(knownHosts(fleet)).to.equal("gw-1 ssh-ed25519 AAAAgw\napp-1 ssh-ed25519 AAAAapp\n");
        expect(addressesOfRole(fleet, "service")).to.deep.equal(["10.110.1.10"]);
    });

    it("refuses an output contract it does not understand", () => {
        expect(() => checkContract("2")).to.not.throw();
        expect(() => checkContract("1")).to.throw(`the nordfleet stack speaks output contract "1", this program understands "2"`);
    });
});
