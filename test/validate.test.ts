import { expect } from "chai";
import { validateAddressInVlan, validateCidr, validateVlanId, validateVlans } from "../config/validate/addresses";
import { validateHostName } from "../config/validate/common";
import { validateCertificates, validateConsulServers, validatePublicAddress, validateServices, validateSsh } from "../config/validate/fleet";
import { validatePostgres } from "../config/validate/postgres";
import { validateAllowedCountries, validateEndpoint, validateKnownBackend, validateSiteDeclarations, validateSite } from "../config/validate/residency";
import { validateGateway, validateServiceRouting, validateTraffic } from "../config/validate/routing";
import { EEA_COUNTRIES } from "../config/sites";
import { HostSpec, ServiceSpec } from "../config/types";

const EEA = EEA_COUNTRIES;
const NORDIC_PROD_SITES = "oslo-1 (NO), oslo-2 (NO), bergen-1 (NO), stockholm-1 (SE), stockholm-2 (SE), " +
    "helsinki-1 (FI), copenhagen-1 (DK), reykjavik-1 (IS), frankfurt-1 (DE), amsterdam-1 (NL), dublin-1 (IE)";

describe("validators", () => {
    describe("validateSite", () => {
        const cases: [unknown, ReadonlySet<string>, "lab" | "prod", string[]][] = [
            ["oslo-1", EEA, "prod", []],
            ["stockholm-1", new Set(["NO", "SE"]), "prod", []],
            ["lab", EEA, "lab", []],
            ["ashburn-1", EEA, "prod", [`f: "ashburn-1" is in US, outside the allowed countries (${[...EEA].join(", ")}); ` +
                `use one of: ${NORDIC_PROD_SITES}`]],
            ["london-1", new Set(["NO"]), "prod", [`f: "london-1" is in GB, outside the allowed countries (NO); ` +
                `use one of: oslo-1 (NO), oslo-2 (NO), bergen-1 (NO)`]],
            ["zurich-1", new Set(["NO"]), "prod", [`f: "zurich-1" is in CH, outside the allowed countries (NO); ` +
                `use one of: oslo-1 (NO), oslo-2 (NO), bergen-1 (NO)`]],
            ["stockholm-1", new Set(["NO"]), "prod", [`f: "stockholm-1" is in SE, outside the allowed countries (NO); ` +
                `use one of: oslo-1 (NO), oslo-2 (NO), bergen-1 (NO)`]],
            ["lab", new Set(["NO"]), "prod", [`f: "lab" is the local lab, allowed only in a lab stack; ` +
                `use one of: oslo-1 (NO), oslo-2 (NO), bergen-1 (NO)`]],
            ["mars-1", new Set(["IS"]), "prod", [`f: "mars-1" is not a known site; use one of: reykjavik-1 (IS)`]],
            [42, new Set(["IS"]), "lab", [`f: 42 is not a known site; use one of: reykjavik-1 (IS), lab (local)`]],
        ];
        for (const [site, countries, env, expected] of cases) {
            it(`${JSON.stringify(site)} in ${[...countries].length} countries (${env})`, () => {
                expect(validateSite("f", site, countries, env)).to.deep.equal(expected);
            });
        }
    });

    describe("validateEndpoint", () => {
        const NO = new Set(["NO"]);
        const cases: [unknown, string[]][] = [
            [{ url: "s3://backups?endpoint=objects.osl.example.net", site: "oslo-1" }, []],
            [{ url: "https://backups.example.net", site: "bergen-1" }, []],
            [{ url: "ftp://backups.example.net", site: "oslo-1" }, [`f.url: "ftp://backups.example.net" is not a URL ` +
                `nordfleet can use here; use one starting with s3:// or https://`]],
            [{ url: "s3://backups" }, [`f.site: undefined is not a known site; use one of: oslo-1 (NO), oslo-2 (NO), bergen-1 (NO)`]],
            [{ url: "s3://backups", site: "zurich-1" }, [`f.site: "zurich-1" is in CH, outside the allowed countries (NO); ` +
                `use one of: oslo-1 (NO), oslo-2 (NO), bergen-1 (NO)`]],
            ["s3://backups", [`f: "s3://backups" is not an endpoint; use { url: "s3://...", site: "oslo-1" }`]],
        ];
        for (const [endpoint, expected] of cases) {
            it(JSON.stringify(endpoint), () => {
                expect(validateEndpoint("f", endpoint, ["s3", "https"], NO, "prod")).to.deep.equal(expected);
            });
        }
    });

    describe("validateKnownBackend", () => {
        const declared = { url: "s3://state?endpoint=objects.osl.example.net", site: "oslo-1" };
        it("accepts a run on the declared backend, or one whose backend is not known", () => {
            expect(validateKnownBackend(declared, declared.url)).to.deep.equal([]);
            expect(validateKnownBackend(declared, undefined)).to.deep.equal([]);
            expect(validateKnownBackend(undefined, "file:///tmp/state")).to.deep.equal([]);
        });
        it("refuses a run whose state would go elsewhere", () => {
            expect(validateKnownBackend(declared, "s3://us-east-bucket")).to.deep.equal([
                `nordfleet:stateBackend.url: "s3://state?endpoint=objects.osl.example.net" is not where this run keeps its ` +
                `state (PULUMI_BACKEND_URL is "s3://us-east-bucket"); point the CLI at the declared backend or declare ` +
                `the one in use, with its site`]);
        });
    });

    describe("validateAllowedCountries", () => {
        const cases: [unknown, string[]][] = [
            [["NO"], []],
            [["NO", "SE", "IS", "LI"], []],
            [["NO", "GB"], [`f: ["GB"] is not in the EEA; a stack may only narrow residency to EEA countries: ${[...EEA].join(", ")}`]],
            [["CH", "US"], [`f: ["CH","US"] are not in the EEA; a stack may only narrow residency to EEA countries: ${[...EEA].join(", ")}`]],
            [[], [`f: [] must be a non-empty list of EEA country codes, e.g. ["NO", "SE"]`]],
            ["NO", [`f: "NO" must be a non-empty list of EEA country codes, e.g. ["NO", "SE"]`]],
        ];
        for (const [value, expected] of cases) {
            it(JSON.stringify(value), () => expect(validateAllowedCountries("f", value)).to.deep.equal(expected));
        }
    });

    describe("validateHostName (RFC 1123)", () => {
        const bad = (v: unknown) => [`f: ${JSON.stringify(v)} is not a valid host name; use 1-63 lower-case letters, ` +
            `digits and hyphens, starting and ending with a letter or digit (RFC 1123)`];
        const cases: [unknown, string[]][] = [
            ["gw-1", []], ["a", []], ["x".repeat(63), []],
            ["x".repeat(64), bad("x".repeat(64))], ["-gw", bad("-gw")], ["gw-", bad("gw-")],
            ["GW1", bad("GW1")], ["gw_1", bad("gw_1")], ["gw.1", bad("gw.1")], ["", bad("")], [undefined, bad(undefined)],
        ];
        for (const [value, expected] of cases) {
            it(JSON.stringify(value) ?? "undefined", () => expect(validateHostName("f", value)).to.deep.equal(expected));
        }
    });

    describe("validateVlanId", () => {
        const bad = (v: unknown) => [`f: ${JSON.stringify(v)} is out of range; use a whole number from 1 to 4094`];
        const cases: [unknown, string[]][] = [[1, []], [4094, []], [0, bad(0)], [4095, bad(4095)], [1.5, bad(1.5)], ["110", bad("110")]];
        for (const [value, expected] of cases) {
            it(JSON.stringify(value), () => expect(validateVlanId("f", value)).to.deep.equal(expected));
        }
    });

    describe("validateCidr", () => {
        const bad = (v: unknown) => [`f: ${JSON.stringify(v)} is not a usable IPv4 network; use the network address ` +
            `with a prefix from /8 to /30, e.g. "10.20.0.0/24"`];
        const cases: [unknown, string[]][] = [
            ["10.110.0.0/24", []], ["10.0.0.0/8", []], ["192.168.4.0/30", []],
            ["10.110.0.1/24", bad("10.110.0.1/24")], ["10.110.0.0/31", bad("10.110.0.0/31")],
            ["10.110.0.0", bad("10.110.0.0")], ["300.1.0.0/16", bad("300.1.0.0/16")], ["10.01.0.0/16", bad("10.01.0.0/16")],
        ];
        for (const [value, expected] of cases) {
            it(JSON.stringify(value), () => expect(validateCidr("f", value)).to.deep.equal(expected));
        }
    });

    describe("validateAddressInVlan", () => {
        const vlan = { name: "platform", id: 110, cidr: "10.110.0.0/24" };
        const bad = (v: unknown) => [`f: ${JSON.stringify(v)} is not a usable address of VLAN "platform" (10.110.0.0/24); ` +
            `use one from 10.110.0.2 to 10.110.0.254 (10.110.0.1 is the hypervisor's bridge)`];
        const cases: [unknown, string[]][] = [
            ["10.110.0.2", []], ["10.110.0.254", []],
            ["10.110.0.1", bad("10.110.0.1")], ["10.110.0.255", bad("10.110.0.255")], ["10.110.0.0", bad("10.110.0.0")],
            ["10.111.0.5", bad("10.111.0.5")], ["gw", bad("gw")],
        ];
        for (const [value, expected] of cases) {
            it(JSON.stringify(value), () => expect(validateAddressInVlan("f", value, vlan)).to.deep.equal(expected));
        }
    });

    describe("validatePublicAddress", () => {
        const host = (role: string, publicAddress: unknown) => ({ name: "gw-1", role, publicAddress } as unknown as HostSpec);
        const bad = (v: unknown) => [`f: ${JSON.stringify(v)} is not an IPv4 address with a prefix; write it like "203.0.113.10/24"`];
        const cases: [string, unknown, string[]][] = [
            ["gateway", "203.0.113.10/24", []], ["gateway", "10.198.0.10/30", []],
            ["gateway", "203.0.113.10", bad("203.0.113.10")], ["gateway", "203.0.113.300/24", bad("203.0.113.300/24")],
            ["gateway", "203.0.113.10/31", bad("203.0.113.10/31")], ["gateway", 42, bad(42)],
            ["service", "203.0.113.10/24", [`f: only hosts with role "gateway" have a public NIC; remove it from "gw-1"`]],
        ];
        for (const [role, value, expected] of cases) {
            it(`${role} ${JSON.stringify(value)}`, () => expect(validatePublicAddress("f", host(role, value))).to.deep.equal(expected));
        }
    });

    describe("validateVlans", () => {
        it("refuses duplicate ids and overlapping networks", () => {
            expect(validateVlans("v", [
                { name: "a", id: 10, cidr: "10.0.0.0/16" },
                { name: "b", id: 10, cidr: "10.0.4.0/24" },
            ])).to.deep.equal([
                `v: the id 10 is used more than once; give every VLAN its own id`,
                `v[1].cidr: "10.0.4.0/24" overlaps "10.0.0.0/16" of VLAN "a"; give every VLAN its own network`,
            ]);
        });
        it("refuses an empty list", () => {
            expect(validateVlans("v", [])).to.deep.equal([`v: no VLANs are declared; add one with a name, id (1-4094) and cidr`]);
        });
    });

    describe("validateConsulServers", () => {
        const cases: [number, "lab" | "prod", string[]][] = [
            [3, "prod", []], [5, "prod", []], [1, "lab", []], [3, "lab", []],
            [1, "prod", [`f: 1 Consul servers cannot keep a safe quorum; declare 3 or 5 hosts with role "consul-server" ` +
                `(1 is allowed only in a lab stack)`]],
            [4, "prod", [`f: 4 Consul servers cannot keep a safe quorum; declare 3 or 5 hosts with role "consul-server" ` +
                `(1 is allowed only in a lab stack)`]],
            [2, "lab", [`f: 2 Consul servers cannot keep a safe quorum; declare 1 or 3 or 5 hosts with role "consul-server"`]],
        ];
        for (const [count, env, expected] of cases) {
            it(`${count} in ${env}`, () => expect(validateConsulServers("f", count, env)).to.deep.equal(expected));
        }
    });

    describe("validateServices", () => {
        const svc = (over: Partial<ServiceSpec>): ServiceSpec => ({
            name: "orders", port: 8081, gatewayPath: "/orders/", replicas: 1, healthPath: "/healthz", healthCheckSeconds: 90,
            database: false, queue: false, balance: "least_conn", connectTimeoutMs: 1000, readTimeoutMs: 5000,
            rateLimitPerSecond: 50, rateLimitBurst: 100, maxBodyMb: 1, ...over,
        });
        it("accepts distinct services", () => {
            expect(validateServices("s", [svc({}), svc({ name: "pay", port: 8082, gatewayPath: "/pay/" })])).to.deep.equal([]);
        });
        it("refuses duplicate names and ports and overlapping paths", () => {
            expect(validateServices("s", [svc({}), svc({ gatewayPath: "/orders/v2/" })])).to.deep.equal([
                `s: the name "orders" is used more than once; give every service its own name`,
                `s: the port 8081 is used by more than one service; give every service its own port`,
                `s[1].gatewayPath: "/orders/v2/" overlaps "/orders/" of service "orders"; give every service a path ` +
                `prefix no other one starts with`,
            ]);
        });
        it("refuses a health check window no release could start in", () => {
            expect(validateServices("s", [svc({ healthCheckSeconds: 0 })])).to.deep.equal([
                `s[0].healthCheckSeconds: 0 is out of range; use a whole number from 5 to 3600`,
            ]);
        });
        it("refuses zero replicas and a path without slashes", () => {
            expect(validateServices("s", [svc({ replicas: 0, gatewayPath: "orders" })])).to.deep.equal([
                `s[0].replicas: 0 is out of range; use a whole number from 1 to 100`,
                `s[0].gatewayPath: "orders" is not a valid path; use a lower-case prefix that starts and ends with "/", e.g. "/orders/"`,
            ]);
        });
    });
    describe("validateServiceRouting", () => {
        const svc = (over: Partial<ServiceSpec>): ServiceSpec => ({
            name: "orders", port: 8081, gatewayPath: "/orders/", replicas: 1, healthPath: "/healthz", healthCheckSeconds: 90,
            database: false, queue: false, balance: "least_conn", connectTimeoutMs: 1000, readTimeoutMs: 5000,
            rateLimitPerSecond: 50, rateLimitBurst: 100, maxBodyMb: 1, ...over,
        });
        const host = (name: string, services: string[]): HostSpec => ({
            name, role: "service", vlan: "platform", address: "10.110.0.30", vcpus: 1, memoryMb: 512, rootDiskGb: 10,
            dataDisks: [], services,
        });
        const hosts = [host("app-1", ["orders"]), host("app-2", ["orders"]), host("app-3", [])];
        const cases: [string, Partial<ServiceSpec>, string[]][] = [
            ["defaults", {}, []],
            ["round_robin and ip_hash", { balance: "ip_hash" }, []],
            ["an unknown balancing method", { balance: "random" as any },
                [`s[0].balance: "random" is not a balancing method; use one of: least_conn, round_robin, ip_hash`]],
            ["timeouts, limits and body size out of range",
                { connectTimeoutMs: 0, readTimeoutMs: 1.5, rateLimitPerSecond: 0, rateLimitBurst: -1, maxBodyMb: 0 }, [
                    `s[0].connectTimeoutMs: 0 is out of range; use a whole number from 1 to 60000`,
                    `s[0].readTimeoutMs: 1.5 is out of range; use a whole number from 1 to 3600000`,
                    `s[0].rateLimitPerSecond: 0 is out of range; use a whole number from 1 to 100000`,
                    `s[0].rateLimitBurst: -1 is out of range; use a whole number from 0 to 100000`,
                    `s[0].maxBodyMb: 0 is out of range; use a whole number from 1 to 10240`,
                ]],
            ["blue and green on other ports of the same hosts",
                { versions: { blue: { port: 8081 }, green: { port: 9081 } }, traffic: { blue: 90, green: 10 } }, []],
            ["blue and green on the same port of other hosts",
                { versions: { blue: { port: 8081, hosts: ["app-1"] }, green: { port: 8081, hosts: ["app-2"] } }, traffic: "green" }, []],
            ["a version with weight 0", { versions: { blue: { port: 8081 }, green: { port: 9081 } }, traffic: { blue: 0, green: 100 } }, []],
            ["blue and green on the same port and host",
                { versions: { blue: { port: 8081 }, green: { port: 8081, hosts: ["app-2"] } }, traffic: "blue" },
                [`s[0].versions.green: port 8081 on ["app-2"] is also blue's; give green another port or other hosts`]],
            ["traffic without versions", { traffic: "green" },
                [`s[0].traffic: "green" needs versions; add versions: { blue: { port }, green: { port } } or remove traffic`]],
            ["a split that does not add up to 100",
                { versions: { blue: { port: 8081 }, green: { port: 9081 } }, traffic: { blue: 90, green: 20 } },
                [`s[0].traffic: {"blue":90,"green":20} is not a traffic setting; use "blue", "green" or ` +
                    `{ blue: N, green: M } with whole percentages that add up to 100`]],
            ["a missing version, an unknown one and a host that does not run the service",
                { versions: { blue: { port: 8081, hosts: ["app-3"] }, red: { port: 9081 } } as any, traffic: "blue" }, [
                    `s[0].versions.red: is not a version; use blue and green`,
                    `s[0].versions.blue.hosts[0]: "app-3" does not run "orders"; use hosts whose services list it: app-1, app-2`,
                    `s[0].versions.green: undefined is missing or not a map; give both blue and green, e.g. green: { port: 8081 }`,
                ]],
            ["an empty host list and a bad port",
                { versions: { blue: { port: 80, hosts: [] }, green: { port: 9081 } }, traffic: "blue" }, [
                    `s[0].versions.blue.port: 80 is out of range; use a whole number from 1024 to 65535`,
                    `s[0].versions.blue.hosts: [] names no host; list at least one of: app-1, app-2`,
                ]],
        ];
        for (const [title, over, expected] of cases) {
            it(title, () => expect(validateServiceRouting("s", [svc(over)], hosts)).to.deep.equal(expected));
        }
    });

    describe("validateTraffic", () => {
        const bad = (v: unknown) => [`f: ${JSON.stringify(v)} is not a traffic setting; use "blue", "green" or ` +
            `{ blue: N, green: M } with whole percentages that add up to 100`];
        const cases: [unknown, string[]][] = [
            ["blue", []], ["green", []], [{ blue: 100, green: 0 }, []], [{ blue: 37, green: 63 }, []],
            ["red", bad("red")], [{ blue: 50 }, bad({ blue: 50 })], [{ blue: 50.5, green: 49.5 }, bad({ blue: 50.5, green: 49.5 })],
            [{ blue: 110, green: -10 }, bad({ blue: 110, green: -10 })], [{ blue: 50, green: 50, red: 0 }, bad({ blue: 50, green: 50, red: 0 })],
            [[50, 50], bad([50, 50])],
        ];
        for (const [value, expected] of cases) {
            it(JSON.stringify(value), () => expect(validateTraffic("f", value)).to.deep.equal(expected));
        }
    });

    describe("validateGateway", () => {
        const cases: [unknown, string[]][] = [
            [{}, []],
            [{ serverName: "api.nordfleet.no", tls: { certFile: "/etc/nordfleet/api.crt", keyFile: "/etc/nordfleet/api.key" } }, []],
            [{ serverName: "API.example.no" }, [`g.serverName: "API.example.no" is not a DNS name; use lower-case labels ` +
                `joined by dots, e.g. "api.example.no"`]],
            [{ tls: { certFile: "certs/api.crt" } }, [
                `g.tls.certFile: "certs/api.crt" is not a plain absolute path; use one like "/var/lib/nordfleet/images"`,
                `g.tls.keyFile: undefined is not a plain absolute path; use one like "/var/lib/nordfleet/images"`,
            ]],
            [{ tls: "letsencrypt" }, [
                `g.tls: "letsencrypt" is not a map; use { certFile: /abs/cert.pem, keyFile: /abs/key.pem } or leave tls ` +
                `out to have the internal CA issue the certificate`,
            ]],
            ["api.example.no", [`g: "api.example.no" is not a map; use { serverName?, tls?: { certFile, keyFile } }`]],
        ];
        for (const [value, expected] of cases) {
            it(JSON.stringify(value), () => expect(validateGateway("g", value)).to.deep.equal(expected));
        }
    });

    describe("validateSsh", () => {
        const ssh = { user: "root", port: 22, dialErrorLimit: 60, hypervisorDialErrorLimit: 10, perDialTimeout: 10, bootTimeout: 300 };
        it("accepts the defaults", () => expect(validateSsh("s", ssh)).to.deep.equal([]));
        it("names each dial limit out of range", () => {
            expect(validateSsh("s", { ...ssh, dialErrorLimit: 0, hypervisorDialErrorLimit: 2.5 })).to.deep.equal([
                "s.dialErrorLimit: 0 is out of range; use a whole number from 1 to 1000",
                "s.hypervisorDialErrorLimit: 2.5 is out of range; use a whole number from 1 to 1000",
            ]);
        });
        it("names a boot timeout too short for any guest to boot in", () => {
            expect(validateSsh("s", { ...ssh, bootTimeout: 5 })).to.deep.equal([
                "s.bootTimeout: 5 is out of range; use a whole number from 30 to 7200",
            ]);
        });
    });

    describe("validateCertificates", () => {
        it("accepts a renewal window of up to half a certificate's life", () => {
            expect(validateCertificates("c", { renewBeforeDays: 180 })).to.deep.equal([]);
            expect(validateCertificates("c", {})).to.deep.equal([]);
        });
        it("names a window out of range and a value that is no map", () => {
            expect(validateCertificates("c", { renewBeforeDays: 365 })).to.deep.equal([
                "c.renewBeforeDays: 365 is out of range; use a whole number from 1 to 180"]);
            expect(validateCertificates("c", 30)).to.deep.equal(["c: 30 is not a map; use { renewBeforeDays: N }"]);
        });
    });

    describe("validateSiteDeclarations", () => {
        const tampere = { id: "tampere-1", city: "Tampere", country: "FI" };
        const cases: [unknown, string[]][] = [
            [[], []],
            [[tampere, { id: "trondheim-1", city: "Trondheim", country: "NO", provider: "Midt DC" }], []],
            [[{ ...tampere, country: "CH" }], []],
            [[tampere, { ...tampere, city: "Tampere II" }], [`s: the id "tampere-1" is declared more than once; give every site its own id`]],
            [[{ ...tampere, id: "oslo-1" }], [`s[0].id: "oslo-1" is a built-in site (Oslo, NO); use it without declaring it, or pick another id`]],
            [[{ ...tampere, id: "Tampere 1" }], [`s[0].id: "Tampere 1" is not a site id; use lower-case letters, digits and "-", e.g. "tampere-1"`]],
            [[{ ...tampere, country: "fin" }], [`s[0].country: "fin" is not an ISO 3166-1 alpha-2 code; use one such as "FI" or "NO"`]],
            [[{ ...tampere, country: "XX" }], [`s[0].country: "XX" is not an ISO 3166-1 alpha-2 code; use one such as "FI" or "NO"`]],
            [[{ ...tampere, country: "EU" }], [`s[0].country: "EU" is not an ISO 3166-1 alpha-2 code; use one such as "FI" or "NO"`]],
            [[{ ...tampere, city: " " }], [`s[0].city: " " is empty; name the city the data centre is in`]],
            [[{ ...tampere, provider: "" }], [`s[0].provider: "" is empty; name who runs the data centre, or leave it out`]],
            [["tampere-1"], [`s[0]: "tampere-1" is not a site; use { id, city, country, provider? }`]],
            [{ tampere: tampere }, [`s: {"tampere":{"id":"tampere-1","city":"Tampere","country":"FI"}} is not a list; ` +
                `use [{ id: "tampere-1", city: "Tampere", country: "FI", provider?: "..." }]`]],
        ];
        for (const [value, expected] of cases) {
            it(JSON.stringify(value), () => expect(validateSiteDeclarations("s", value)).to.deep.equal(expected));
        }
    });

    describe("validatePostgres", () => {
        const valueHint = `use a number, true/false or a one-line string such as "16MB"`;
        const cases: [unknown, string[]][] = [
            [{}, []],
            [{ settings: { work_mem: "16MB", max_connections: 200, jit: false, "auto_explain.log_min_duration": "1s" } }, []],
            [{ settings: { "Work-Mem": "16MB" } }, [`p.settings.Work-Mem: is not a PostgreSQL setting name; use lower-case ` +
                `words joined by "_", e.g. work_mem`]],
            [{ settings: { listen_addresses: "*" } }, [`p.settings.listen_addresses: is set by nordfleet (the cluster's files, ` +
                `TLS, listening and WAL archiving depend on it); remove it`]],
            [{ settings: { work_mem: "16MB\nssl = off" } }, [`p.settings.work_mem: "16MB\\nssl = off" is not a setting value; ${valueHint}`]],
            [{ settings: { shared_buffers: ["1GB"] } }, [`p.settings.shared_buffers: ["1GB"] is not a setting value; ${valueHint}`]],
            [{ settings: "work_mem=16MB" }, [`p.settings: "work_mem=16MB" is not a map; use { NAME: VALUE }, e.g. { work_mem: "16MB" }`]],
            [{ backup: { full: "Sun *-*-* 01:00:00", differential: "daily", retentionDays: 30 } }, []],
            [{ backup: { full: "Sun 01:00\nExecStart=/bin/sh" } }, [`p.backup.full: "Sun 01:00\\nExecStart=/bin/sh" is not a ` +
                `systemd calendar expression; use one such as "Sun *-*-* 01:00:00" or "daily" (see systemd.time(7))`]],
            [{ backup: { retentionDays: 0 } }, [`p.backup.retentionDays: 0 is out of range; use a whole number from 1 to 3650`]],
            [[], [`p: [] is not a map; use { settings: { work_mem: "16MB", ... } }`]],
        ];
        for (const [value, expected] of cases) {
            it(JSON.stringify(value), () => expect(validatePostgres("p", value)).to.deep.equal(expected));
        }
    });
});
