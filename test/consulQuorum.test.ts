/**
 * Consul's quorum across sites: a site whose loss alone takes the servers' majority is
 * refused in a prod stack unless the config accepts it, and warned of in a lab stack.
 */
import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { ConfigError, parseFleetConfig, RawConfig } from "../config/load";
import { consulSiteSpread } from "../config/placement";
import { HostSpec, Hypervisor } from "../config/types";
import { labConfig } from "./fixtures";

function prodRaw(): RawConfig {
    const file = yaml.load(fs.readFileSync(path.join(__dirname, "..", "Pulumi.prod.yaml"), "utf8")) as { config: Record<string, unknown> };
    return Object.fromEntries(Object.entries(file.config)
        .filter(([key]) => key.startsWith("nordfleet:")).map(([key, value]) => [key.slice("nordfleet:".length), value]));
}

/** The prod stack with consul-2 pinned beside consul-1, in oslo-1. */
function prodWithTwoServersInOslo1(): RawConfig {
    const raw = prodRaw();
    raw.hosts = (raw.hosts as any[]).map(h => (h.name === "consul-2" ? { ...h, hypervisor: "osl-hv1" } : h));
    return raw;
}

function problemsOf(raw: RawConfig): string[] {
    try {
        parseFleetConfig(raw);
    } catch (e) {
        if (e instanceof ConfigError) {
            return e.problems;
        }
        throw e;
    }
    return [];
}

describe("Consul's quorum across sites", () => {
    const server = (name: string, hypervisor: string) => ({ name, role: "consul-server", hypervisor } as HostSpec);
    const hv = (name: string, site: string) => ({ name, site } as Hypervisor);

    it("finds the site whose loss alone leaves fewer servers than the quorum", () => {
        const hypervisors = [hv("a1", "oslo-1"), hv("a2", "oslo-1"), hv("b1", "stockholm-1"), hv("c1", "oslo-2")];
        const place = (pairs: [string, string][]) => new Map(pairs);
        // Three servers over two sites: the site that holds two takes the quorum with it.
        const two = consulSiteSpread([server("s1", "a1"), server("s2", "a2"), server("s3", "b1")],
            place([["s1", "a1"], ["s2", "a2"], ["s3", "b1"]]), hypervisors);
        expect(two).to.deep.equal({
            servers: 3, quorum: 2, critical: ["oslo-1"],
            bySite: [{ site: "oslo-1", servers: 2 }, { site: "stockholm-1", servers: 1 }],
        });
        // One per site over three sites: any one site may go.
        expect(consulSiteSpread([server("s1", "a1"), server("s2", "c1"), server("s3", "b1")],
            place([["s1", "a1"], ["s2", "c1"], ["s3", "b1"]]), hypervisors).critical).to.deep.equal([]);
        // Five servers, 2-2-1 over three sites: losing two leaves three, the quorum.
        const five = [server("s1", "a1"), server("s2", "a2"), server("s3", "b1"), server("s4", "b1"), server("s5", "c1")];
        expect(consulSiteSpread(five, place(five.map(s => [s.name, s.hypervisor!])), hypervisors).critical).to.deep.equal([]);
        // Five, 3-2 over two sites: the three are the quorum.
        const fiveTwoSites = five.map(s => (s.name === "s5" ? { ...s, hypervisor: "a1" } : s));
        expect(consulSiteSpread(fiveTwoSites, place(fiveTwoSites.map(s => [s.name, s.hypervisor!])), hypervisors).critical)
            .to.deep.equal(["oslo-1"]);
    });

    it("passes the prod stack as declared: one server in each of three sites", () => {
        const loaded = parseFleetConfig(prodRaw());
        expect(loaded.warnings).to.deep.equal([]);
    });

    it("refuses a prod stack whose one site holds the quorum, naming the field, the spread and both fixes", () => {
        const problems = problemsOf(prodWithTwoServersInOslo1());
        expect(problems).to.have.length(1);
        expect(problems[0]).to.match(/^nordfleet:hosts: the 3 Consul server\(s\) stand 2 in oslo-1, 1 in stockholm-1/)
            .and.contain("Raft needs 2 of 3 running: losing oslo-1 alone loses the quorum")
            .and.contain("Place a server in another site")
            .and.contain('nordfleet:consulQuorumLossAccepted: ["oslo-1"]');
    });

    it("lets a prod stack accept that loss, for the site named, and no other", () => {
        expect(problemsOf({ ...prodWithTwoServersInOslo1(), consulQuorumLossAccepted: ["oslo-1"] })).to.deep.equal([]);
        expect(problemsOf({ ...prodWithTwoServersInOslo1(), consulQuorumLossAccepted: ["stockholm-1"] })).to.deep.equal([
            ...problemsOf(prodWithTwoServersInOslo1()),
            'nordfleet:consulQuorumLossAccepted: "stockholm-1": losing it does not lose the Consul quorum ' +
                "(servers: 2 in oslo-1, 1 in stockholm-1); remove it",
        ]);
    });

    it("refuses an acceptance that no longer holds, so it cannot hide a later change", () => {
        expect(problemsOf({ ...prodRaw(), consulQuorumLossAccepted: ["oslo-1"] })).to.deep.equal([
            'nordfleet:consulQuorumLossAccepted: "oslo-1": losing it does not lose the Consul quorum ' +
                "(servers: 1 in oslo-1, 1 in oslo-2, 1 in stockholm-1); remove it",
        ]);
    });

    it("warns a lab stack that spans sites, and says nothing of a lab on one site", () => {
        expect(parseFleetConfig(labConfig()).warnings).to.deep.equal([]);
        const raw = labConfig();
        const [first] = raw.hypervisors as any[];
        raw.hypervisors = [first, { ...first, name: "hv-b", site: "oslo-1", address: "10.199.0.2" }];
        raw.hosts = [...(raw.hosts as any[]).map(h => (h.name === "consul-1" ? { ...h, hypervisor: "hv-a" } : h)),
            { name: "consul-2", role: "consul-server", vlan: "platform", address: "10.110.0.21", memoryMb: 512, hypervisor: "hv-a" },
            { name: "consul-3", role: "consul-server", vlan: "platform", address: "10.110.0.22", memoryMb: 512, hypervisor: "hv-b" }];
        const loaded = parseFleetConfig(raw);
        expect(loaded.warnings).to.have.length(1);
        expect(loaded.warnings[0]).to.match(/^nordfleet:hosts: the 3 Consul server\(s\) stand 2 in lab, 1 in oslo-1/);
    });
});
