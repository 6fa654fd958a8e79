import { expect } from "chai";
import { planVlan, stableMac, stableUuid, volumeSerial } from "../components/compute/network";

describe("address plan", () => {
    it("puts each VLAN on its own bridge with the hypervisor on the first address", () => {
        expect(planVlan({ name: "platform", id: 110, cidr: "10.110.0.0/22" })).to.deep.equal({
            name: "platform", id: 110, cidr: "10.110.0.0/22", prefix: 22, bridge: "br110", bridgeAddress: "10.110.0.1",
        });
    });

    it("derives MACs, UUIDs and volume serials from names alone, so other hosts never change them", () => {
        expect(stableMac("app-1", "private")).to.equal(stableMac("app-1", "private"));
        expect(stableMac("app-1", "private")).to.not.equal(stableMac("app-1", "public"));
        expect(stableMac("app-1", "private")).to.match(/^52:54(:[0-9a-f]{2}){4}$/);
        expect(stableUuid("app-1")).to.equal(stableUuid("app-1"));
        expect(stableUuid("app-1")).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        expect(stableUuid("app-1")).to.not.equal(stableUuid("app-2"));
        expect(volumeSerial("pg-1", "orders")).to.match(/^nf-orders-[0-9a-f]{6}$/);
        expect(volumeSerial("pg-1", "a-very-long-disk-name").length).to.be.at.most(20);
    });
});
