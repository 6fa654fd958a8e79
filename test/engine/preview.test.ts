import { expect } from "chai";
import { repoFile, ScratchProject } from "./harness";

describe("pulumi preview on the real engine", function () {
    this.timeout(15 * 60 * 1000);
    let project: ScratchProject;

    beforeEach(() => { project = new ScratchProject(); });
    afterEach(() => project.remove());

    it("refuses a hypervisor outside the EEA before declaring any resource", () => {
        const config = repoFile("Pulumi.prod.yaml")
            .replace("site: stockholm-1\n      address:", "site: ashburn-1\n      address:");
        project.initStack("outside", config);

        const result = project.pulumi("preview", "--stack", "outside");

        expect(result.status, result.output).to.not.equal(0);
        expect(result.output).to.include(
            `nordfleet:hypervisors[2].site: "ashburn-1" is in US, outside the allowed countries (NO, SE); ` +
            `use one of: oslo-1 (NO), oslo-2 (NO), bergen-1 (NO), stockholm-1 (SE), stockholm-2 (SE)`);
        const state = JSON.parse(project.mustPulumi("stack", "export", "--stack", "outside"));
        expect(state.deployment.resources ?? []).to.deep.equal([]);
    });

    it("refuses a run whose state would go somewhere other than the declared backend", () => {
        project.initStack("prod", repoFile("Pulumi.prod.yaml"), { declaredBackend: true });

        const result = project.pulumi("preview", "--stack", "prod");

        expect(result.status, result.output).to.not.equal(0);
        expect(result.output).to.include(`nordfleet:stateBackend.url: "s3://nordfleet-state?endpoint=`);
        expect(result.output).to.include(`is not where this run keeps its state (PULUMI_BACKEND_URL is "${project.backendUrl}")`);
        expect(result.output).to.not.match(/\n\s+at /, "no stack trace");
    });

    for (const stack of ["prod", "lab"]) {
        it(`previews the ${stack} stack and lists the planned resources`, () => {
            project.initStack(stack, repoFile(`Pulumi.${stack}.yaml`));
            const output = project.mustPulumi("preview", "--stack", stack, "--diff");
            expect(output).to.match(/nordfleet:fleet:Fleet/);
            expect(output).to.match(/command:remote:Command/);
            expect(output).to.match(/\+ \d+ to create/);
        });
    }

    it("boots the lab's guests two at a time in the engine's graph, each after the one two places before it", () => {
        project.initStack("lab", repoFile("Pulumi.lab.yaml"));
        const out = project.mustPulumi("preview", "--stack", "lab", "--json");
        const plan = JSON.parse(out.slice(out.indexOf("{"), out.lastIndexOf("\n}") + 2));
        const short = (urn: string) => urn.split("::").pop()!;
        const deps = new Map<string, string[]>(plan.steps.map((s: any) =>
            [short(s.urn), (s.newState?.dependencies ?? []).map(short)]));
        const booted = (host: string) => {
            const name = `nordfleet-${host}-domain`;
            expect(deps.has(name), `${name} among ${[...deps.keys()].join(" ")}`).to.equal(true);
            return deps.get(name)!.filter(d => d.endsWith("-ssh-ready"));
        };
        // Pulumi.lab.yaml lists consul-1, mq-1, db-1, gw-1, app-1, app-2, probe-1 and sets maxConcurrentBoots: 2.
        expect([booted("consul-1"), booted("mq-1")]).to.deep.equal([[], []]);
        expect(booted("db-1")).to.deep.equal(["nordfleet-consul-1-ssh-ready"]);
        expect(booted("probe-1")).to.deep.equal(["nordfleet-app-1-ssh-ready"]);
    });
});
