/**
 * Every command a user runs, run as they would run it: `--help` prints the usage and
 * exits 0; a bad argument prints one line naming it, then the usage, and exits 2; no
 * stack trace either way.
 */
import { expect } from "chai";
import { spawnSync } from "child_process";
import * as path from "path";

const ROOT = path.join(__dirname, "..");

const COMMANDS: [string, string[]][] = [
    ["npm run render", ["npm", "run", "--silent", "render", "--"]],
    ["npm run doctor", ["npm", "run", "--silent", "doctor", "--"]],
    ["npm run lab:up", ["npm", "run", "--silent", "lab:up", "--"]],
    ["npm run lab:down", ["npm", "run", "--silent", "lab:down", "--"]],
    ["npm run bench:gateway", ["npm", "run", "--silent", "bench:gateway", "--"]],
    ["bench/gateway-conf.ts", ["node", "-r", "ts-node/register/transpile-only", "bench/gateway-conf.ts"]],
    ["npm run bench:scale", ["npm", "run", "--silent", "bench:scale", "--"]],
    ["npm run bench:converge", ["npm", "run", "--silent", "bench:converge", "--"]],
    ["npm run bench", ["npm", "run", "--silent", "bench", "--"]],
];

const run = (argv: string[]) => {
    const r = spawnSync(argv[0], argv.slice(1), { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};
const STACK_TRACE = /^\s+at .+[:(]\d+/m;

describe("commands behave like commands", function () {
    this.timeout(120_000);
    for (const [name, argv] of COMMANDS) {
        describe(name, () => {
            it("answers --help with its usage on stdout, exit 0", () => {
                const r = run([...argv, "--help"]);
                expect(r.status, r.stderr).to.equal(0);
                expect(r.stdout).to.match(/^usage: /);
                expect(r.stderr).to.equal("");
            });

            it("answers a bad argument with one line naming it, then the usage, exit 2, no stack trace", () => {
                const r = run([...argv, "--no-such-option"]);
                expect(r.status, r.stdout + r.stderr).to.equal(2);
                const [first, ...rest] = r.stderr.trimEnd().split("\n");
                expect(first).to.include("--no-such-option");
                expect(rest.join("\n")).to.match(/^usage: /m);
                expect(r.stdout + r.stderr).to.not.match(STACK_TRACE);
            });
        });
    }

    it("bench:scale names a VM count it cannot read", () => {
        const r = run(["npm", "run", "--silent", "bench:scale", "--", "--default-engine-up-to", "fifty"]);
        expect(r.status).to.equal(2);
        expect(r.stderr.split("\n")[0]).to.equal('bench:scale: --default-engine-up-to: "fifty" is not a number of VMs; e.g. 50, or 0 for none');
    });

    it("bench:scale names a size it cannot build, and the form it wants", () => {
        const r = run(["npm", "run", "--silent", "bench:scale", "--", "--sizes", "10x2,5x9"]);
        expect(r.status).to.equal(2);
        expect(r.stderr.split("\n")[0]).to.equal('bench:scale: --sizes: "5x9" is not VMSxHYPERVISORS with at least 8 VMs ' +
            "(gateways, Consul, data) and no more hypervisors than VMs; e.g. 50x5");
    });

    it("render names the stack files there are when given one that is not", () => {
        const r = run(["npm", "run", "--silent", "render", "--", "staging"]);
        expect(r.status).to.equal(2);
        expect(r.stderr.split("\n")[0]).to.equal("render: no stack file Pulumi.staging.yaml; use one of: lab, prod");
    });

    it("render reports a failure to write (an out-dir under a file) with its message, exit 1, no stack trace", () => {
        const r = run(["npm", "run", "--silent", "render", "--", "lab", "/dev/null/x"]);
        expect(r.status).to.equal(1);
        expect(r.stderr).to.match(/^render: /).and.not.match(STACK_TRACE);
    });
});
