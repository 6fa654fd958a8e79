import { expect } from "chai";
import { ConfigError, parseFleetConfig } from "../config/load";
import { placeHosts } from "../config/placement";
import { EEA_COUNTRIES } from "../config/sites";
import { labConfig } from "./fixtures";

const EEA_LIST = [...EEA_COUNTRIES].join(", ");
const EEA_SITES = "oslo-1 (NO), oslo-2 (NO), bergen-1 (NO), stockholm-1 (SE), stockholm-2 (SE), helsinki-1 (FI), " +
    "copenhagen-1 (DK), reykjavik-1 (IS), frankfurt-1 (DE), amsterdam-1 (NL), dublin-1 (IE)";

function problemsOf(raw: Record<string, unknown>): string[] {
    try {
        parseFleetConfig(raw);
    } catch (e) {
        expect(e).to.be.instanceOf(ConfigError);
        return (e as ConfigError).problems;
    }
    return [];
}

describe("parseFleetConfig", () => {
    it("accepts the lab fixture and fills in defaults", () => {
        const { config } = parseFleetConfig(labConfig());
        expect(config.consulServers).to.equal(1);
        expect(config.services[0]).to.deep.include({ gatewayPath: "/hello/", healthPath: "/healthz" });
        expect(config.hosts.find(h => h.name === "pg-1")!.dataDisks[0].protect).to.equal(true);
        expect(config.hosts.find(h => h.name === "app-1")!.dataDisks[0].protect).to.equal(false);
    });

    it("refuses a hypervisor outside the EEA, naming the field and the allowed sites", () => {
        const raw = labConfig();
        raw.environment = "prod";
        raw.allowedCountries = ["NO"];
        raw.stateBackend = { url: "s3://state", site: "oslo-1" };
        (raw.hypervisors as any[])[0].site = "ashburn-1";
        (raw.hosts as any[]).splice(1, 0,
            { name: "consul-2", role: "consul-server", vlan: "platform", address: "10.110.0.21" },
            { name: "consul-3", role: "consul-server", vlan: "platform", address: "10.110.0.22" });
        expect(problemsOf(raw)).to.deep.equal([
            `nordfleet:hypervisors[0].site: "ashburn-1" is in US, outside the allowed countries (NO); ` +
            `use one of: oslo-1 (NO), oslo-2 (NO), bergen-1 (NO)`,
        ]);
    });

    it("reports every problem at once, including misspelt keys", () => {
        const raw = labConfig();
        raw.hostz = [];
        (raw.hosts as any[])[1].address = "10.110.0.10";
        (raw.hosts as any[])[2].role = "webserver";
        expect(problemsOf(raw)).to.deep.equal([
            `nordfleet:hostz: unknown key; did you mean hosts?`,
            `nordfleet:hosts: the address "10.110.0.10" is given to more than one host; give every host its own address`,
            `nordfleet:hosts[2].role: "webserver" is not a role; use one of: gateway, consul-server, service, postgres, rabbitmq`,
            `nordfleet:hosts[2].services: only hosts with role "service" run services; move ["hello"] to a service host ` +
            `or set role to "service"`,
        ]);
    });

    it("names a list given as something else before what its emptiness would cause", () => {
        const raw = labConfig();
        raw.hosts = { "gw-1": {} };
        raw.vlans = "platform";
        const problems = problemsOf(raw);
        expect(problems.slice(0, 2)).to.deep.equal([
            `nordfleet:vlans: "platform" is not a list; write one item per entry, each starting with "- " in YAML`,
            `nordfleet:hosts: {"gw-1":{}} is not a list; write one item per entry, each starting with "- " in YAML`,
        ]);
    });

    it("holds every endpoint to the residency rule and requires a prod stack to declare its state backend", () => {
        const raw = labConfig();
        raw.environment = "prod";
        (raw.hypervisors as any[])[0].site = "oslo-1";
        (raw.hosts as any[]).splice(1, 0,
            { name: "consul-2", role: "consul-server", vlan: "platform", address: "10.110.0.21" },
            { name: "consul-3", role: "consul-server", vlan: "platform", address: "10.110.0.22" });
        raw.backup = { url: "s3://backups?endpoint=s3.london.example&region=eu-west-2", site: "london-1" };
        raw.mirrors = { apt: { url: "https://deb.example.net/debian", site: "zurich-1" }, pypi: {} };
        expect(problemsOf(raw)).to.deep.equal([
            `nordfleet:mirrors.pypi: unknown key; use one of: apt, artifacts`,
            `nordfleet:backup.site: "london-1" is in GB, outside the allowed countries (${EEA_LIST}); use one of: ${EEA_SITES}`,
            `nordfleet:stateBackend: is not set; a prod stack must say where its state lives so its residency is checked, ` +
            `e.g. { url: "s3://nordfleet-state?endpoint=s3.oslo-1.example.net", site: "oslo-1" }`,
            `nordfleet:mirrors.apt.site: "zurich-1" is in CH, outside the allowed countries (${EEA_LIST}); use one of: ${EEA_SITES}`,
        ]);
    });

    it("refuses an s3 backup URL without its bucket's endpoint and region, before anything is declared", () => {
        const raw = labConfig();
        raw.backup = { url: "s3://backups?endpoint=s3.lab.example", site: "lab" };
        expect(problemsOf(raw)).to.deep.equal([`nordfleet:backup.url: "s3://backups?endpoint=s3.lab.example" has no ` +
            `&region=R; pgBackRest needs all three: use s3://BUCKET?endpoint=HOST&region=R`]);
    });

    describe("a site the stack declares (nordfleet:sites)", () => {
        const withOwnSite = (country: string) => {
            const raw = labConfig();
            raw.environment = "prod";
            raw.stateBackend = { url: "s3://state", site: "oslo-1" };
            raw.sites = [{ id: "tampere-1", city: "Tampere", country, provider: "Pohjola DC" }];
            (raw.hypervisors as any[])[0].site = "tampere-1";
            raw.backup = { url: "s3://backups?endpoint=s3.tampere.example&region=tre", site: "tampere-1" };
            raw.dns = { resolvers: [{ address: "10.110.0.2", site: "tampere-1" }] };
            // One hypervisor, so one site: its loss is the whole fleet's, and the stack says it accepts that.
            raw.consulQuorumLossAccepted = ["tampere-1"];
            (raw.hosts as any[]).splice(1, 0,
                { name: "consul-2", role: "consul-server", vlan: "platform", address: "10.110.0.21" },
                { name: "consul-3", role: "consul-server", vlan: "platform", address: "10.110.0.22" });
            return raw;
        };

        it("places hypervisors and endpoints there when it is in an allowed country", () => {
            const { config } = parseFleetConfig({ ...withOwnSite("FI"), backupCredentials: { accessKeyId: "a", secretAccessKey: "b" } });
            expect(config.hypervisors[0].site).to.equal("tampere-1");
            expect(config.sites).to.deep.equal([{ id: "tampere-1", city: "Tampere", country: "FI", provider: "Pohjola DC" }]);
        });

        it("refuses it, naming it, when its country is outside the allowed ones", () => {
            const problems = problemsOf({ ...withOwnSite("CH"), backupCredentials: { accessKeyId: "a", secretAccessKey: "b" } });
            expect(problems).to.deep.equal([
                `nordfleet:hypervisors[0].site: "tampere-1" is in CH, outside the allowed countries (${EEA_LIST}); use one of: ${EEA_SITES}`,
                `nordfleet:dns.resolvers[0].site: "tampere-1" is in CH, outside the allowed countries (${EEA_LIST}); use one of: ${EEA_SITES}`,
                `nordfleet:backup.site: "tampere-1" is in CH, outside the allowed countries (${EEA_LIST}); use one of: ${EEA_SITES}`,
            ]);
        });
    });

    it("refuses a broker volume that cannot hold the free disk RabbitMQ keeps (its memory), naming the size to give", () => {
        const raw = labConfig();
        (raw.hosts as any[]).push({ name: "mq-1", role: "rabbitmq", vlan: "platform", address: "10.110.0.50", memoryMb: 1024,
            dataDisks: [{ name: "mnesia", sizeGb: 1 }] });
        expect(problemsOf(raw)).to.deep.equal([`nordfleet:hosts[5].dataDisks[0].sizeGb: 1 GB is too small for a broker ` +
            `with 1024 MB of memory: RabbitMQ keeps that much disk free; give the mnesia volume at least 2 GB`]);
    });

    it("refuses a fleet that does not fit its hypervisors", () => {
        const raw = labConfig();
        (raw.hypervisors as any[])[0].capacity = { vcpus: 2, memoryMb: 1024, nvmeGb: 20 };
        expect(problemsOf(raw)).to.deep.equal([
            `nordfleet:hosts: the fleet does not fit the declared capacity: hypervisor "hv-a" would need 5 vCPUs of 2; ` +
            `hypervisor "hv-a" would need 2432 MB memory of 1024; hypervisor "hv-a" would need 53 GB NVMe of 20. ` +
            `Add a hypervisor, raise its nordfleet:hypervisors[].capacity, or shrink the hosts.`,
        ]);
    });

    it("refuses more replicas than hosts running the service", () => {
        const raw = labConfig();
        (raw.services as any[])[0].replicas = 2;
        expect(problemsOf(raw)).to.deep.equal([
            `nordfleet:services: "hello" asks for 2 replica(s) but 1 service host(s) list it; add it to more hosts' ` +
            `services or lower replicas`,
        ]);
    });
});

describe("placeHosts", () => {
    const hv = (name: string) => ({
        name, site: "lab", address: name, accelerator: "qemu" as const, capacity: { vcpus: 16, memoryMb: 16384, nvmeGb: 500 },
        imagePoolPath: "/i", nvmePoolPath: "/n",
    });
    const host = (name: string, role: any, services: string[] = []) => ({
        name, role, vlan: "v", address: "", vcpus: 1, memoryMb: 1024, rootDiskGb: 10, dataDisks: [], services,
    });

    it("spreads Consul servers and a service's replicas across hypervisors", () => {
        const placement = placeHosts([
            host("c1", "consul-server"), host("c2", "consul-server"), host("c3", "consul-server"),
            host("a1", "service", ["orders"]), host("a2", "service", ["orders"]),
        ], [hv("h1"), hv("h2"), hv("h3")]);
        expect(new Set(["c1", "c2", "c3"].map(h => placement.get(h))).size).to.equal(3);
        expect(placement.get("a1")).to.not.equal(placement.get("a2"));
    });

    it("never moves an existing host when one is appended", () => {
        const hosts = [host("c1", "consul-server"), host("a1", "service", ["x"]), host("a2", "service", ["x"])];
        const before = placeHosts(hosts, [hv("h1"), hv("h2")]);
        const after = placeHosts([...hosts, host("a3", "service", ["x"])], [hv("h1"), hv("h2")]);
        for (const h of hosts) {
            expect(after.get(h.name)).to.equal(before.get(h.name));
        }
    });
});
