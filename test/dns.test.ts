import { expect } from "chai";
import { endpointHost, firstBootDns, resolversFor, validateDns, validateNamesResolvable } from "../config/dns";
import { parseFleetConfig } from "../config/load";
import { FleetConfig, HostSpec } from "../config/types";
import { renderDnsmasqConfig } from "../components/platform/consulCluster";
import { baselineGuestFiles, recordedGuestFiles } from "../components/compute/guestFiles";
import { backupRepo, postgresReleaseFiles } from "../components/platform/postgresDatabase";
import { labConfig } from "./fixtures";

const VLANS = [
    { name: "platform", id: 110, cidr: "10.110.0.0/24" },
    { name: "quarantine", id: 120, cidr: "10.120.0.0/24" },
];
const HOSTS = [{ name: "db-1", role: "postgres", vlan: "platform", address: "10.110.0.40" }] as HostSpec[];
const NO_SE = new Set(["NO", "SE"]);

describe("name resolution on the guests", () => {
    describe("validateDns", () => {
        const cases: [string, unknown, string[]][] = [
            ["a resolver per site", { resolvers: [{ address: "10.110.0.2", site: "oslo-1" }, { address: "10.110.0.3", site: "stockholm-1" }] }, []],
            ["none at all", { resolvers: [] }, []],
            ["a list, not a map", [{ address: "10.110.0.2", site: "oslo-1" }],
                [`d: [{"address":"10.110.0.2","site":"oslo-1"}] is not a map; use { resolvers: [{ address: "10.110.0.2", site: "oslo-1" }] }`]],
            ["no resolvers list", {},
                [`d.resolvers: undefined is not a list; write one { address, site } per resolver, each starting with "- " in YAML`]],
            ["a name, not an address", { resolvers: [{ address: "dns.oslo.example", site: "oslo-1" }] },
                [`d.resolvers[0].address: "dns.oslo.example" is not an IPv4 address; give the resolver's address, e.g. "10.110.0.2"`]],
            ["an address off every VLAN", { resolvers: [{ address: "192.0.2.53", site: "oslo-1" }] },
                [`d.resolvers[0].address: "192.0.2.53" is on none of the stack's VLANs (10.110.0.0/24, 10.120.0.0/24); ` +
                    `guests have no route off their VLAN, so give the resolver's address on a VLAN it serves`]],
            ["a host's address", { resolvers: [{ address: "10.110.0.40", site: "oslo-1" }] },
                [`d.resolvers[0].address: "10.110.0.40" is the address of host "db-1"; a resolver needs an address of its own`]],
            ["the same resolver twice", { resolvers: [{ address: "10.110.0.2", site: "oslo-1" }, { address: "10.110.0.2", site: "oslo-1" }] },
                [`d.resolvers[1].address: "10.110.0.2" is listed twice; keep one entry per resolver`]],
            ["a resolver in the UK", { resolvers: [{ address: "10.110.0.2", site: "london-1" }] },
                [`d.resolvers[0].site: "london-1" is in GB, outside the allowed countries (NO, SE); use one of: ` +
                    `oslo-1 (NO), oslo-2 (NO), bergen-1 (NO), stockholm-1 (SE), stockholm-2 (SE)`]],
        ];
        for (const [name, dns, expected] of cases) {
            it(name, () => {
                expect(validateDns("d", dns, VLANS, HOSTS, NO_SE, "prod")).to.deep.equal(expected);
            });
        }
    });

    describe("resolversFor", () => {
        const config = {
            vlans: VLANS,
            hypervisors: [{ name: "osl", site: "oslo-1" }, { name: "sto", site: "stockholm-1" }],
            dns: { resolvers: [
                { address: "10.110.0.3", site: "stockholm-1" }, { address: "10.110.0.2", site: "oslo-1" },
                { address: "10.120.0.2", site: "oslo-1" },
            ] },
        } as unknown as FleetConfig;
        const host = (name: string, vlan: string) => ({ name, vlan }) as HostSpec;
        const placement = new Map([["a", "osl"], ["b", "sto"], ["c", "osl"]]);

        it("gives a host the resolvers on its VLAN, its own site's first", () => {
            expect(resolversFor(host("a", "platform"), config, placement)).to.deep.equal(["10.110.0.2", "10.110.0.3"]);
            expect(resolversFor(host("b", "platform"), config, placement)).to.deep.equal(["10.110.0.3", "10.110.0.2"]);
            expect(resolversFor(host("c", "quarantine"), config, placement)).to.deep.equal(["10.120.0.2"]);
        });
    });

    describe("names the guests must resolve", () => {
        const base = () => parseFleetConfig({
            ...labConfig(),
            backup: { url: "s3://b?endpoint=objects.lab.example:9000&region=r", site: "lab" },
            backupCredentials: { accessKeyId: "a", secretAccessKey: "b" },
            dns: { resolvers: [{ address: "10.110.0.1", site: "lab" }] },
        }).config;

        it("finds the host an endpoint is dialled at", () => {
            expect(endpointHost({ url: "s3://b?endpoint=objects.lab.example:9000&region=r", site: "lab" })).to.equal("objects.lab.example");
            expect(endpointHost({ url: "https://apt.osl.example/debian", site: "oslo-1" })).to.equal("apt.osl.example");
            expect(endpointHost({ url: "file:///var/lib/nordfleet/backup", site: "lab" })).to.equal(undefined);
        });

        it("accepts a backup store by name where the database's VLAN has a resolver", () => {
            expect(validateNamesResolvable("f", base())).to.deep.equal([]);
        });

        it("refuses a backup store or a mirror by name on a VLAN without a resolver, naming the hosts", () => {
            const c = { ...base(), dns: { resolvers: [] }, mirrors: { apt: { url: "https://apt.lab.example/debian", site: "lab" } } };
            expect(validateNamesResolvable("f", c)).to.deep.equal([
                `f: pg-1 on VLAN "platform" must resolve "objects.lab.example" (nordfleet:backup.url, where WAL and backups go), ` +
                    `but no resolver serves that VLAN; add a resolver with an address in 10.110.0.0/24, e.g. "10.110.0.254", ` +
                    `or give the endpoint by address`,
                `f: gw-1, consul-1, app-1, pg-1 on VLAN "platform" must resolve "apt.lab.example" (nordfleet:mirrors.apt.url, ` +
                    `where packages come from), but no resolver serves that VLAN; add a resolver with an address in ` +
                    `10.110.0.0/24, e.g. "10.110.0.254", or give the endpoint by address`,
                `f: probe-1 on VLAN "quarantine" must resolve "apt.lab.example" (nordfleet:mirrors.apt.url, where packages ` +
                    `come from), but no resolver serves that VLAN; add a resolver with an address in 10.120.0.0/24, e.g. ` +
                    `"10.120.0.254", or give the endpoint by address`,
            ]);
        });

        it("needs no resolver for an endpoint given by address", () => {
            const c = { ...base(), dns: { resolvers: [] },
                        backup: { url: "s3://b?endpoint=10.110.0.5&region=r", site: "lab" } };
            expect(validateNamesResolvable("f", c)).to.deep.equal([]);
        });
    });

    describe("what the guests are given", () => {
        it("the Consul member's local resolver forwards all but .consul to the resolvers, in order", () => {
            const conf = renderDnsmasqConfig(["10.110.0.2", "10.110.0.3"]);
            expect(conf).to.include("server=/consul/127.0.0.1#8600\nstrict-order\nserver=10.110.0.2\nserver=10.110.0.3\n");
            expect(conf).to.include("no-resolv");
            expect(renderDnsmasqConfig([])).not.to.match(/^server=\d/m);
        });

        it("every guest gets its resolvers at first boot; a Consul member's file is then its Consul release's", () => {
            const loaded = parseFleetConfig({ ...labConfig(), dns: { resolvers: [{ address: "10.120.0.1", site: "lab" }, { address: "10.110.0.1", site: "lab" }] } });
            const host = (name: string) => loaded.config.hosts.find(h => h.name === name)!;
            const probe = firstBootDns(host("probe-1"), loaded.config, loaded.placement);
            const app = firstBootDns(host("app-1"), loaded.config, loaded.placement);
            expect(probe).to.deep.equal({ resolvers: ["10.120.0.1"], handedToConsul: false });
            expect(app).to.deep.equal({ resolvers: ["10.110.0.1"], handedToConsul: true });
            const files = baselineGuestFiles(probe);
            expect(files.map(f => f.path)).to.deep.equal(["/etc/ssh/sshd_config.d/10-nordfleet.conf", "/etc/resolv.conf"]);
            expect(files[1].content).to.match(/^nameserver 10\.120\.0\.1$/m);
            expect(baselineGuestFiles(app).map(f => f.path)).to.include("/etc/resolv.conf");
            // The doctor checks the first boot's resolv.conf only where it stays the first boot's.
            expect(recordedGuestFiles(probe).map(f => f.path)).to.include("/etc/resolv.conf");
            expect(recordedGuestFiles(app).map(f => f.path)).to.deep.equal(["/etc/ssh/sshd_config.d/10-nordfleet.conf"]);
            expect(baselineGuestFiles(undefined).map(f => f.path)).to.deep.equal(["/etc/ssh/sshd_config.d/10-nordfleet.conf"]);
        });

        it("pgBackRest dials the store by name, on the URL's port, and checks it against the stack's CA", () => {
            const repo = backupRepo({ url: "s3://b?endpoint=objects.lab.example:9000&region=r&s3ForcePathStyle=true", site: "lab" },
                "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n");
            expect(repo.s3).to.include({ endpoint: "objects.lab.example", port: 9000, uriStyle: "path" });
            const host = { name: "db-1", role: "postgres", vlan: "platform", address: "10.110.0.40", vcpus: 2, memoryMb: 1024,
                           rootDiskGb: 10, services: [], dataDisks: [{ name: "pgdata", sizeGb: 2, protect: true }] } as HostSpec;
            const files = postgresReleaseFiles({
                host, dataSerial: "nf-pgdata", services: [], clients: {}, verifiers: {}, cipherPass: "<cipher>",
                tls: { certPem: "<cert>", keyPem: "<key>", caPem: "<ca>" },
                repo: { ...repo, s3: { ...repo.s3!, accessKeyId: "<id>", secretAccessKey: "<secret>" } },
            });
            const conf = files.find(f => f.path === "pgbackrest.conf")!.content;
            expect(files.find(f => f.path === "tls/backup-ca.crt")?.content).to.include("BEGIN CERTIFICATE");
            expect(conf).to.include("repo1-s3-endpoint=objects.lab.example\nrepo1-storage-port=9000\n" +
                "repo1-storage-ca-file=/etc/nordfleet/postgres/current/tls/backup-ca.crt\n");
            const plain = backupRepo({ url: "s3://b?endpoint=s3.example&region=r", site: "lab" });
            expect(plain.s3).not.to.have.property("port");
            expect(plain.s3).not.to.have.property("caPem");
        });
    });
});

