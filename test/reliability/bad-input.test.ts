/**
 * The bad-input corpus (badConfigs.ts) through the real `pulumi preview`: every broken
 * config fails before a single resource is declared, with a message that names the
 * field, and never with a stack trace. Prints one line per config.
 */
import { expect } from "chai";
import * as fs from "fs";
import * as yaml from "js-yaml";
import { CliResult, repoFile, ScratchProject } from "../engine/harness";
import { BAD_CONFIGS, BadConfig } from "./badConfigs";

/** Previews at once: each is a node process of its own, and these machines have two cores. */
const WORKERS = 2;

interface Outcome {
    bad: BadConfig;
    result: CliResult;
    seconds: number;
}

describe("bad input through the real pulumi preview", function () {
    this.timeout(30 * 60 * 1000);
    let project: ScratchProject;
    const outcomes: Outcome[] = [];

    before(async () => {
        project = new ScratchProject();
        // A stack per worker: the preview of one does not wait for the other's lock.
        const stacks = Array.from({ length: WORKERS }, (_, i) => `bad-${i}`);
        for (const stack of stacks) {
            project.initStack(stack, repoFile("Pulumi.lab.yaml"));
        }
        let next = 0;
        await Promise.all(stacks.map(async stack => {
            // The stack file as initStack left it (with its salt and a readable key file).
            const doc = yaml.load(fs.readFileSync(project.file(`Pulumi.${stack}.yaml`), "utf8")) as any;
            while (next < BAD_CONFIGS.length) {
                const bad = BAD_CONFIGS[next++];
                const variant = structuredClone(doc);
                bad.edit(variant.config);
                const file = project.file(`Pulumi.${stack}.variant.yaml`);
                fs.writeFileSync(file, yaml.dump(variant, { lineWidth: 200 }));
                const started = Date.now();
                const result = await project.pulumiAsync("preview", "--stack", stack, "--config-file", file);
                outcomes.push({ bad, result, seconds: (Date.now() - started) / 1000 });
            }
        }));
        outcomes.sort((a, b) => BAD_CONFIGS.indexOf(a.bad) - BAD_CONFIGS.indexOf(b.bad));
        for (const { bad, result, seconds } of outcomes) {
            const message = result.output.split("\n").find(l => l.includes(bad.field))?.trim() ?? "(field not named)";
            console.log(`      ${seconds.toFixed(1).padStart(5)} s  ${bad.name}\n               ${message}`);
        }
    });
    after(() => project?.remove());

    it(`has at least 40 broken configs, each refused (${BAD_CONFIGS.length} here)`, () => {
        expect(BAD_CONFIGS.length).to.be.at.least(40);
        const accepted = outcomes.filter(o => o.result.status === 0).map(o => o.bad.name);
        expect(accepted, "configs pulumi preview accepted").to.deep.equal([]);
        expect(outcomes).to.have.length(BAD_CONFIGS.length);
    });

    it("names the field in the program's own error, for every one", () => {
        const unnamed = outcomes.filter(o => !/nordfleet config is invalid/.test(o.result.output) || !o.result.output.includes(o.bad.field))
            .map(o => `${o.bad.name}: expected "${o.bad.field}" in:\n${o.result.output}`);
        expect(unnamed).to.deep.equal([]);
    });

    it("prints no stack trace, for any of them", () => {
        const traced = outcomes.filter(o => /\n\s+at \S.*:\d+:\d+\)?\n/.test(o.result.output)).map(o => o.bad.name);
        expect(traced).to.deep.equal([]);
    });

    it("declares no resource but the stack itself, for any of them", () => {
        const declaring = outcomes.filter(o => /^\s*[+~-]+\s+(?!pulumi:pulumi:Stack\b)[\w-]+:[\w-]+:\w+/m.test(o.result.output))
            .map(o => `${o.bad.name}:\n${o.result.output}`);
        expect(declaring).to.deep.equal([]);
    });
});
