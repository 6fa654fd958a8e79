/**
 * The repository's automation, read as GitHub reads it: Dependabot keeps every
 * dependency manifest and the workflow's actions current, with the Pulumi SDKs in one
 * group, and the pull-request workflow previews prod through pulumi/actions with the
 * base branch's policy pack. (actionlint, run by test/lint.sh, checks the workflow's
 * syntax and scripts.)
 */
import { expect } from "chai";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";

const ROOT = path.join(__dirname, "..");
const escapeRegExp = (text: string) => text.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
const readYaml = (file: string) => yaml.load(fs.readFileSync(path.join(ROOT, file), "utf8")) as any;

/** Every package.json of the project (outside node_modules) that declares dependencies. */
function manifestsWithDependencies(dir = ROOT): string[] {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap(entry => {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) {
            return entry.name === "node_modules" || entry.name.startsWith(".") ? [] : manifestsWithDependencies(full);
        }
        if (entry.name !== "package.json") {
            return [];
        }
        const pkg = JSON.parse(fs.readFileSync(full, "utf8"));
        return pkg.dependencies || pkg.devDependencies ? ["/" + path.relative(ROOT, dir).replace(/\\/g, "/")] : [];
    });
}

describe("repository automation", () => {
    const dependabot = readYaml(".github/dependabot.yml");
    const npm = dependabot.updates.filter((u: any) => u["package-ecosystem"] === "npm");

    it("Dependabot watches every npm manifest with dependencies, and the workflow's actions", () => {
        const watched = npm.map((u: any) => path.posix.normalize(u.directory));
        expect(manifestsWithDependencies().map(d => path.posix.normalize(d)).sort()).to.deep.equal(watched.sort());
        expect(dependabot.updates.map((u: any) => u["package-ecosystem"])).to.include("github-actions");
    });

    it("moves every @pulumi package of package.json in one group, and nothing else with them", () => {
        const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
        const names = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies });
        const root = npm.find((u: any) => u.directory === "/");
        const glob = (pattern: string) => new RegExp(`^${pattern.split("*").map(escapeRegExp).join(".*")}$`);
        const isDev = (name: string) => name in (pkg.devDependencies ?? {});
        // A dependency's groups, as Dependabot matches them: patterns, exclusions, dependency type.
        const groupsOf = (name: string) => Object.entries<any>(root.groups).filter(([, g]) =>
            (g.patterns ?? ["*"]).some((p: string) => glob(p).test(name)) &&
            !(g["exclude-patterns"] ?? []).some((p: string) => glob(p).test(name)) &&
            (g["dependency-type"] === undefined || (g["dependency-type"] === "development") === isDev(name)))
            .map(([group]) => group);
        expect(names.filter(n => n.startsWith("@pulumi/"))).to.include.members(["@pulumi/pulumi", "@pulumi/command", "@pulumi/random", "@pulumi/tls"]);
        for (const name of names) {
            const groups = groupsOf(name);
            expect(groups, name).to.have.length(1);
            expect(groups[0] === "pulumi", name).to.equal(name.startsWith("@pulumi/"));
        }
    });

    it("previews prod through pulumi/actions, with the base branch's policy pack and one pull-request comment", () => {
        const steps: any[] = readYaml(".github/workflows/preview.yml").jobs.preview.steps;
        const preview = steps.find(s => s.with?.command === "preview");
        expect(preview.uses).to.match(/^pulumi\/actions@v\d+$/);
        expect(preview.with).to.include({ "stack-name": "prod", "comment-on-pr": true, "edit-pr-comment": true });
        const base = steps.find(s => s.with?.path === "base");
        expect(base.with.ref).to.equal("${{ github.event.pull_request.base.sha }}");
        expect(path.posix.normalize(path.posix.join(preview.with["work-dir"], preview.with.policyPacks))).to.equal("base/policy");
    });

    it("previews without the engine's per-step snapshots, which a preview never writes", () => {
        const steps: any[] = readYaml(".github/workflows/preview.yml").jobs.preview.steps;
        const preview = steps.find(s => s.with?.command === "preview");
        expect(preview.env).to.include({ PULUMI_SKIP_CHECKPOINTS: "true" });
        expect(steps.filter(s => s.env?.PULUMI_SKIP_CHECKPOINTS !== undefined)).to.deep.equal([preview]);
    });
});
