/**
 * The exposure matrix of the lab fleet: every TCP listener on every VM (as `ss` on the
 * VM lists it), probed from the public side of the gateway (nmap, from the lab
 * namespace's address on the public bridge), from a VM on another VLAN and from a VM of
 * each role on the platform VLAN (a connect() of each listener, from the VM). What
 * answers must be exactly what the design allows: the firewall rules nordfleet derives
 * from the stack's config, and only within a VLAN (the hypervisor routes nothing).
 */
import { expect } from "chai";
import { spawnSync } from "child_process";
import { firewallRules, FirewallRule } from "../../components/platform/hostBaseline";
import { planVlan } from "../../components/compute/network";
import { parseCidr, parseIpv4 } from "../../config/validate/addresses";
import { loadStackFile } from "../../render/stackConfig";
import { LabFleet, labOutputs } from "../lab/labStack";

/** A TCP listener's address and port from `ss -Hltn`, loopback ones left out. */
export function listeners(ss: string): { address: string; port: number }[] {
    return ss.split("\n").filter(Boolean).map(line => {
        const local = line.trim().split(/\s+/)[3];
        const i = local.lastIndexOf(":");
        return { address: local.slice(0, i).replace(/^\[|\]$/g, "").replace(/%.*$/, ""), port: Number(local.slice(i + 1)) };
    }).filter(l => !/^(127\.|::1$)/.test(l.address));
}

function admits(from: string[] | "any", source: string): boolean {
    if (from === "any") {
        return true;
    }
    const address = parseIpv4(source)!;
    return from.some(f => {
        const cidr = f.includes("/") ? parseCidr(f) : undefined;
        return cidr ? address >= cidr.network && address < cidr.network + 2 ** (32 - cidr.prefix) : f === source;
    });
}

describe("the exposure matrix of the lab fleet", function () {
    this.timeout(30 * 60 * 1000);
    const config = loadStackFile("lab").config;
    const vlans = config.vlans.map(planVlan);
    const spec = (name: string) => config.hosts.find(h => h.name === name)!;
    const rules = new Map<string, FirewallRule[]>(config.hosts.map(h => [h.name, firewallRules(h, config, vlans)]));
    let fleet: LabFleet;
    let outputs: Record<string, any>;
    /** Per VM: the ports that listen on every address or on its private one. */
    const ports = new Map<string, number[]>();
    const matrix: [string, string, string][] = [];

    before(async () => {
        outputs = labOutputs();
        fleet = new LabFleet(outputs);
        await Promise.all(config.hosts.map(async h => {
            const found = listeners(await fleet.mustOnGuest(h.name, "ss -Hltn"))
                .filter(l => ["0.0.0.0", "::", "*", h.address].includes(l.address)).map(l => l.port);
            ports.set(h.name, [...new Set(found)].sort((a, b) => a - b));
        }));
    });
    after(() => {
        fleet?.close();
        console.log("\n      exposure matrix (TCP ports that answer)");
        const width = Math.max(4, ...matrix.map(([from]) => from.length));
        console.log(`      ${"from".padEnd(width)} ${"to".padEnd(10)} open`);
        for (const [from, to, open] of matrix) {
            console.log(`      ${from.padEnd(width)} ${to.padEnd(10)} ${open || "-"}`);
        }
    });

    const allowed = (source: { address: string; vlan?: string }, target: string, port: number) =>
        (source.vlan === undefined || source.vlan === spec(target).vlan)
        && rules.get(target)!.some(r => r.port === port && r.proto === "tcp" && admits(r.from, source.address));

    it("finds the VMs' listeners", () => {
        expect(ports.get("gw-1")).to.include.members([22, 80, 443]);
        expect(ports.get("db-1")).to.include(5432);
        expect(ports.get("mq-1")).to.include(5671);
    });

    it("from the public side, only what the gateway serves to anyone answers (nmap)", () => {
        const gateway = config.hosts.find(h => h.role === "gateway")!;
        const address = gateway.publicAddress!.split("/")[0];
        const probed = ports.get(gateway.name)!;
        const r = spawnSync("nmap", ["-Pn", "-n", "-sT", "--max-retries", "2", "-p", probed.join(","), "-oG", "-", address],
            { encoding: "utf8", timeout: 300_000 });
        expect(r.status, r.stderr).to.equal(0);
        const open = [...r.stdout.matchAll(/(\d+)\/open\/tcp/g)].map(m => Number(m[1])).sort((a, b) => a - b);
        const expected = probed.filter(p => rules.get(gateway.name)!.some(rule => rule.port === p && rule.from === "any"));
        matrix.push(["public side (nmap)", gateway.name, open.join(" ")]);
        expect(expected).to.deep.equal([80, 443]);
        expect(open).to.deep.equal(expected);
    });

    it("from a VM on another VLAN and from a VM of each role on the platform VLAN, exactly what the firewall rules allow", async () => {
        const platform = config.hosts.filter(h => h.vlan === "platform");
        const others = config.hosts.filter(h => h.vlan !== "platform").slice(0, 1);
        const roles = new Map<string, string>();
        platform.forEach(h => roles.has(h.role) || roles.set(h.role, h.name));
        const sources = [...others.map(h => h.name), ...roles.values()];
        const results = await Promise.all(sources.map(async from => {
            const targets = platform.filter(t => t.name !== from)
                .flatMap(t => ports.get(t.name)!.map(port => ({ target: t.name, port, probe: `${t.address}:${port}` })));
            const open = new Set(await fleet.openFrom(from, targets.map(t => t.probe)));
            return { from, targets, open };
        }));
        const wrong: string[] = [];
        for (const { from, targets, open } of results) {
            const source = { address: spec(from).address, vlan: spec(from).vlan };
            for (const target of platform.filter(t => t.name !== from)) {
                const mine = targets.filter(t => t.target === target.name);
                matrix.push([`${from} (${spec(from).role}, ${spec(from).vlan})`, target.name,
                    mine.filter(t => open.has(t.probe)).map(t => t.port).join(" ")]);
                for (const t of mine) {
                    const want = allowed(source, t.target, t.port);
                    if (open.has(t.probe) !== want) {
                        wrong.push(`${from} -> ${t.target}:${t.port} is ${open.has(t.probe) ? "open" : "closed"}, the design says ${want ? "open" : "closed"}`);
                    }
                }
            }
        }
        expect(wrong).to.deep.equal([]);
        // The design itself: PostgreSQL only from the hosts of services with a database.
        const dbClients = results.filter(r => r.open.has(`${spec("db-1").address}:5432`)).map(r => r.from);
        const withDatabase = (name: string) => spec(name).services.some(s => config.services.find(x => x.name === s)?.database);
        expect(dbClients.filter(name => !withDatabase(name))).to.deep.equal([]);
    });
});
