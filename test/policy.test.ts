import { expect } from "chai";
import { recorded, settle, valueOf } from "./mocks";
import { Fleet } from "../components/fleet";
import { EEA_COUNTRIES } from "../config/sites";
import { DEFAULT_RESIDENCY_CONFIG, placementsIn, residencyViolations } from "../policy/residency";
import { loadStackFile } from "../render/stackConfig";

// The policy SDK's own wrapper of resource inputs during a preview (internal to the SDK, so untyped).
const { unknownCheckingProxy, unknownObjectValue, unknownStringValue } = require("@pulumi/policy/proxy") as {
    unknownCheckingProxy: <T>(inputs: T) => T; unknownObjectValue: unknown; unknownStringValue: unknown;
};

const NORDIC = { allowedCountries: ["NO", "SE"], allowLabSite: false };
const NORWAY = { allowedCountries: ["NO"], allowLabSite: false };
const HV = "nordfleet:compute:HypervisorHost";
const FLEET = "nordfleet:fleet:Fleet";

describe("residency policy", () => {
    describe("residencyViolations", () => {
        const cases: [string, string, Record<string, unknown>, typeof NORDIC, string[]][] = [
            ["an EEA hypervisor", HV, { site: "oslo-1" }, DEFAULT_RESIDENCY_CONFIG, []],
            ["a hypervisor in the US", HV, { site: "ashburn-1" }, DEFAULT_RESIDENCY_CONFIG,
                [`site: "ashburn-1" is in US, outside the allowed countries (${[...EEA_COUNTRIES].join(", ")}); use one of: ` +
                    `oslo-1 (NO), oslo-2 (NO), bergen-1 (NO), stockholm-1 (SE), stockholm-2 (SE), helsinki-1 (FI), ` +
                    `copenhagen-1 (DK), reykjavik-1 (IS), frankfurt-1 (DE), amsterdam-1 (NL), dublin-1 (IE)`]],
            ["a European site outside the EEA", HV, { site: "zurich-1" }, NORDIC,
                [`site: "zurich-1" is in CH, outside the allowed countries (NO, SE); use one of: oslo-1 (NO), oslo-2 (NO), ` +
                    `bergen-1 (NO), stockholm-1 (SE), stockholm-2 (SE)`]],
            ["Sweden when the stack is narrowed to Norway", "nordfleet:compute:KvmInstance",
                { site: "stockholm-1", hypervisor: "sto-hv1" }, NORWAY,
                [`site: "stockholm-1" is in SE, outside the allowed countries (NO); use one of: oslo-1 (NO), oslo-2 (NO), bergen-1 (NO)`]],
            ["a backup target in the UK", FLEET,
                { backup: { url: "s3://b", site: "london-1" }, mirrors: { apt: { url: "https://m", site: "oslo-1" } } }, NORWAY,
                [`backup.site: "london-1" is in GB, outside the allowed countries (NO); use one of: oslo-1 (NO), oslo-2 (NO), bergen-1 (NO)`]],
            ["a DNS resolver in the UK", FLEET, { dns: { resolvers: [{ address: "10.110.0.2", site: "london-1" }] } }, NORWAY,
                [`dns.resolvers[0].site: "london-1" is in GB, outside the allowed countries (NO); use one of: oslo-1 (NO), ` +
                    `oslo-2 (NO), bergen-1 (NO)`]],
            ["the lab outside a lab stack", HV, { site: "lab" }, NORWAY,
                [`site: "lab" is the local lab, allowed only in a lab stack; use one of: oslo-1 (NO), oslo-2 (NO), bergen-1 (NO)`]],
            ["the lab in a lab stack", HV, { site: "lab" }, { ...NORWAY, allowLabSite: true }, []],
            ["a placing component that names no site", HV, {}, NORDIC,
                [`${HV} places data but its inputs name no site; declare it with the site of its hypervisor ` +
                    `(is PULUMI_NODEJS_SKIP_COMPONENT_INPUTS set?)`]],
            ["a resource that places nothing", "command:remote:Command", { create: "true" }, NORDIC, []],
            ["a site the stack declares in an allowed country", HV,
                { site: "tampere-1", declaredSites: [{ id: "tampere-1", city: "Tampere", country: "FI" }] }, DEFAULT_RESIDENCY_CONFIG, []],
            ["a site the stack declares outside the allowed countries", HV,
                { site: "tampere-1", declaredSites: [{ id: "tampere-1", city: "Tampere", country: "CH" }] }, NORDIC,
                [`site: "tampere-1" is in CH, outside the allowed countries (NO, SE); use one of: oslo-1 (NO), oslo-2 (NO), ` +
                    `bergen-1 (NO), stockholm-1 (SE), stockholm-2 (SE)`]],
            ["a declaration that re-defines a built-in site", HV,
                { site: "zurich-1", declaredSites: [{ id: "zurich-1", city: "Zurich", country: "NO" }] }, NORDIC,
                [`declaredSites[0].id: "zurich-1" is a built-in site (Zurich, CH); use it without declaring it, or pick another id`]],
            ["a policy config that widens past the EEA", HV, { site: "zurich-1" }, { allowedCountries: ["NO", "CH"], allowLabSite: false },
                [`policy config allowedCountries: ["CH"] is not in the EEA; a stack may only narrow residency to EEA countries: ` +
                    `${[...EEA_COUNTRIES].join(", ")}`]],
        ];
        for (const [what, type, inputs, config, expected] of cases) {
            it(what, () => {
                expect(residencyViolations(type, inputs, config)).to.deep.equal(expected);
            });
        }
    });

    it("walks past values the engine only knows during the update, as the policy SDK hands them over in a preview", () => {
        const inputs = unknownCheckingProxy({
            site: "oslo-1", privateKeyPem: unknownStringValue,
            nested: [{ site: "london-1" }, unknownObjectValue], later: { site: unknownStringValue },
        });
        expect(placementsIn(inputs)).to.deep.equal([
            { path: "site", site: "oslo-1" }, { path: "nested[0].site", site: "london-1" },
            { path: "later.site", site: "(not known until the update)" },
        ]);
    });

    it("finds every site in nested inputs with its path", () => {
        expect(placementsIn({ a: [{ site: "x" }, { b: { site: "y" } }], site: "z" })).to.deep.equal([
            { path: "a[0].site", site: "x" }, { path: "a[1].b.site", site: "y" }, { path: "site", site: "z" },
        ]);
    });

    describe("on the inputs the program really declares (mocked engine)", () => {
        const violationsOf = (prefix: string, config: typeof NORDIC) => recorded
            .filter(r => r.name.startsWith(prefix))
            .flatMap(r => residencyViolations(r.type, r.inputs, config).map(v => `${r.name}: ${v}`));

        before(async () => {
            recorded.length = 0;
            const prod = loadStackFile("prod");
            await valueOf(new Fleet("ok", prod).deployPublicKey);
            // A code path that skipped config validation: the policy must still stop it.
            const moved = loadStackFile("prod");
            moved.config.hypervisors[2] = { ...moved.config.hypervisors[2], site: "ashburn-1" };
            await valueOf(new Fleet("moved", moved).deployPublicKey);
            await settle();
        });

        it("passes the prod stack, whose every placing component names its site", () => {
            const placing = recorded.filter(r => r.name.startsWith("ok") && [HV, "nordfleet:compute:KvmInstance"].includes(r.type));
            expect(placing).to.have.length(3 + 10);
            expect(violationsOf("ok", NORDIC)).to.deep.equal([]);
            expect(placementsIn(recorded.find(r => r.name === "ok")!.inputs).map(p => p.path).sort()).to.deep.equal([
                "backup.site", "dns.resolvers[0].site", "dns.resolvers[1].site", "dns.resolvers[2].site", "mirrors.apt.site",
                "mirrors.artifacts.site", "stateBackend.site"]);
        });

        it("refuses the hypervisor moved to the US and every VM placed on it", () => {
            const violations = violationsOf("moved", NORDIC);
            expect(violations.map(v => v.split(":")[0]).sort()).to.deep.equal(
                ["moved-app-3", "moved-consul-3", "moved-gw-2", "moved-sto-hv1"]);
            expect(violations[0]).to.match(/site: "ashburn-1" is in US, outside the allowed countries \(NO, SE\)/);
        });
    });
});
