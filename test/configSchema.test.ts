import { expect } from "chai";
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import Ajv from "ajv";
import { ConfigError, parseFleetConfig, RawConfig } from "../config/load";
import { CONFIG_KEYS, CONFIG_SCHEMA, nearestKey, unknownKeyProblems } from "../config/configSchema";
import { REFERENCE_FILE, renderConfigReference } from "../config/reference";
import { labConfig } from "./fixtures";

const ROOT = path.join(__dirname, "..");

/** Nested typos, each refused with its full path and the key it most likely meant. */
export const NESTED_TYPOS: [string, (raw: any) => void, string][] = [
    ["a hypervisor's hostkey", raw => { raw.hypervisors[0].hostkey = raw.hypervisors[0].hostKey; delete raw.hypervisors[0].hostKey; },
        "nordfleet:hypervisors[0].hostkey: unknown key; did you mean hostKey?"],
    ["a hypervisor's capacity.memMb", raw => { raw.hypervisors[0].capacity.memMb = 1; },
        "nordfleet:hypervisors[0].capacity.memMb: unknown key; did you mean memoryMb?"],
    ["a host's dataDisk", raw => { raw.hosts[3].dataDisk = [] },
        "nordfleet:hosts[3].dataDisk: unknown key; did you mean dataDisks?"],
    ["a data disk's protected", raw => { raw.hosts[3].dataDisks[0].protected = true; },
        "nordfleet:hosts[3].dataDisks[0].protected: unknown key; did you mean protect?"],
    ["a service's ratelimitPerSecond", raw => { raw.services[0].ratelimitPerSecond = 5; },
        "nordfleet:services[0].ratelimitPerSecond: unknown key; did you mean rateLimitPerSecond?"],
    ["a service version's host", raw => { raw.services[0].versions = { blue: { port: 8081, host: ["app-1"] } }; },
        "nordfleet:services[0].versions.blue.host: unknown key; did you mean hosts?"],
    ["a traffic split's gren", raw => { raw.services[0].traffic = { blue: 50, gren: 50 }; },
        "nordfleet:services[0].traffic.gren: unknown key; did you mean green?"],
    ["an artifact's sha", raw => { raw.services[0].artifact = { url: "https://a/b.tgz", sha: "x" }; },
        "nordfleet:services[0].artifact.sha: unknown key; did you mean sha256?"],
    ["a VLAN's cdir", raw => { raw.vlans[0].cdir = "10.110.0.0/24"; },
        "nordfleet:vlans[0].cdir: unknown key; did you mean cidr?"],
    ["the ssh keyfile", raw => { raw.ssh.keyfile = "/root/.ssh/id"; },
        "nordfleet:ssh.keyfile: unknown key; did you mean keyFile?"],
    ["the backup's cafile", raw => { raw.backup = { url: "file:///srv/b", site: "lab", cafile: "/ca.pem" }; },
        "nordfleet:backup.cafile: unknown key; did you mean caFile?"],
    ["a mirror's sites", raw => { raw.mirrors = { apt: { url: "https://m/debian", sites: "lab" } }; },
        "nordfleet:mirrors.apt.sites: unknown key; did you mean site?"],
    ["the gateway's tls certfile", raw => { raw.gateway = { tls: { certfile: "/c.pem", keyFile: "/k.pem" } }; },
        "nordfleet:gateway.tls.certfile: unknown key; did you mean certFile?"],
    ["postgres backup's retention", raw => { raw.postgres = { backup: { retentionDay: 7 } }; },
        "nordfleet:postgres.backup.retentionDay: unknown key; did you mean retentionDays?"],
    ["a resolver's adress", raw => { raw.dns = { resolvers: [{ adress: "10.110.0.1", site: "lab" }] }; },
        "nordfleet:dns.resolvers[0].adress: unknown key; did you mean address?"],
    ["a site's countrycode", raw => { raw.sites = [{ id: "tampere-1", city: "Tampere", countrycode: "FI" }]; },
        "nordfleet:sites[0].countrycode: unknown key; did you mean country?"],
    ["a top-level hostz", raw => { raw.hostz = []; }, "nordfleet:hostz: unknown key; did you mean hosts?"],
];

describe("config schema (config/schema.json)", () => {
    it("is a valid JSON Schema", () => {
        expect(() => new Ajv({ strict: false }).compile(CONFIG_SCHEMA)).to.not.throw();
    });

    it("accepts both stack files of the project, at every depth", () => {
        for (const stack of ["prod", "lab"]) {
            const config = (yaml.load(fs.readFileSync(path.join(ROOT, `Pulumi.${stack}.yaml`), "utf8")) as any).config;
            const raw = Object.fromEntries(Object.entries(config).filter(([k]) => k.startsWith("nordfleet:"))
                .map(([k, v]) => [k.slice("nordfleet:".length), v]));
            expect(unknownKeyProblems(raw), stack).to.deep.equal([]);
        }
    });

    for (const [what, edit, message] of NESTED_TYPOS) {
        it(`refuses ${what}, naming its path and the nearest known key`, () => {
            const raw = labConfig() as any;
            edit(raw);
            let problems: string[] = [];
            try {
                parseFleetConfig(raw as RawConfig);
            } catch (e) {
                problems = (e as ConfigError).problems;
            }
            expect(problems).to.include(message);
        });
    }

    it("lists the known keys when no key is close to a typo", () => {
        expect(unknownKeyProblems({ vlans: [{ name: "a", id: 1, cidr: "10.0.0.0/24", colour: "red" }] })).to.deep.equal(
            ["nordfleet:vlans[0].colour: unknown key; use one of: name, id, cidr"]);
        expect(nearestKey("zzzzzz", ["hosts", "vlans"])).to.equal(undefined);
    });

    it("leaves free-form maps free: a service's env and PostgreSQL's settings", () => {
        expect(unknownKeyProblems({ services: [{ name: "a", env: { ANY_NAME: "x" } }], postgres: { settings: { work_mem: "4MB" } } }))
            .to.deep.equal([]);
    });

    it("is what Pulumi.yaml's comments and docs/config.md document, key for key", () => {
        const project = fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8");
        const documented = [...project.matchAll(/^# nordfleet:([A-Za-z]+)/gm)].map(m => m[1]);
        expect([...documented].sort()).to.deep.equal([...CONFIG_KEYS].sort());
        expect(fs.readFileSync(REFERENCE_FILE, "utf8"), "docs/config.md is current (npm run docs:config)")
            .to.equal(renderConfigReference());
        expect(renderConfigReference()).to.include("| `hostKeyFile` | string |").and.include("| `capacity.memoryMb` | integer |");
    });
});
