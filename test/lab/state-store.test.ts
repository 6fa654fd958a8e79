/**
 * The team's state on a real S3-compatible store, as prod keeps it: the lab's object
 * store (SeaweedFS, lab/zone.sh), reached by name over TLS with the state identity's
 * keys, exactly as lab/up points the engine at it. A small program of its own, in two
 * clones that share one stack, shows what the team relies on: one `pulumi up` at a time,
 * a killed run's lock and how to clear it, and a read-only key that can read the state
 * and not write it. Runs inside the lab namespace, once lab/up has run.
 */
import { expect } from "chai";
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { labIsUp, LAB_HOME } from "./labHost";
import { LAB_ENV, ROOT } from "./labStack";

const STACK = "lock-check";
const LOCKED = "the stack is currently locked by 1 lock(s)";

/** A clone of the small project: a command that holds the update open for `seconds`. */
function clone(dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: nordfleet-state-check\nruntime: nodejs\n" +
        "description: holds a pulumi up open on the lab's state store\n");
    fs.writeFileSync(path.join(dir, "index.js"), [
        'const pulumi = require("@pulumi/pulumi");',
        'const command = require("@pulumi/command");',
        "const config = new pulumi.Config();",
        'new command.local.Command("hold", { create: `sleep ${config.require("seconds")}`, triggers: [config.require("run")] });',
        "",
    ].join("\n"));
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
}

describe("the state on the lab's S3 object store", function () {
    this.timeout(10 * 60 * 1000);
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "nordfleet-state-"));
    const [first, second] = [path.join(work, "first"), path.join(work, "second")];
    // A stack of its own, with nothing secret in it.
    const env = { ...LAB_ENV, PULUMI_CONFIG_PASSPHRASE: "state-check", PULUMI_CONFIG_PASSPHRASE_FILE: undefined };
    const readerEnv = { ...env, AWS_SHARED_CREDENTIALS_FILE: `${LAB_HOME}/objects/state-reader-credentials.ini` };

    const pulumi = (dir: string, args: string[], withEnv: NodeJS.ProcessEnv = env) => {
        const r = spawnSync("pulumi", [...args, "--stack", STACK, "--non-interactive"],
            { cwd: dir, env: withEnv, encoding: "utf8", timeout: 5 * 60 * 1000 });
        return { status: r.status, output: `${r.stdout ?? ""}${r.stderr ?? ""}` };
    };
    const up = (dir: string, run: string, seconds: number, ...extra: string[]) =>
        pulumi(dir, ["up", "--yes", "--skip-preview", "-c", `run=${run}`, "-c", `seconds=${seconds}`, ...extra]);

    /** `pulumi up` in the background, resolved once it holds the stack's lock (it says "Updating"). */
    function upHoldingLock(dir: string, run: string, seconds: number): { child: ChildProcess; done: Promise<{ status: number | null; output: string }>; locked: Promise<void> } {
        const child = spawn("pulumi", ["up", "--yes", "--skip-preview", "-c", `run=${run}`, "-c", `seconds=${seconds}`,
            "--stack", STACK, "--non-interactive"], { cwd: dir, env, detached: true });
        let output = "";
        let onLocked: () => void = () => undefined;
        const locked = new Promise<void>(resolve => { onLocked = resolve; });
        const collect = (d: Buffer) => {
            output += d;
            if (/command:local:Command hold creating/.test(output)) {
                onLocked();
            }
        };
        child.stdout!.on("data", collect);
        child.stderr!.on("data", collect);
        const done = new Promise<{ status: number | null; output: string }>(resolve =>
            child.on("close", status => { onLocked(); resolve({ status, output }); }));
        return { child, done, locked };
    }

    const holdResource = (dir: string) => {
        const state = JSON.parse(pulumi(dir, ["stack", "export"]).output.replace(/^[^{]*/, ""));
        return (state.deployment.resources ?? []).find((r: any) => r.type === "command:local:Command");
    };

    before(function () {
        if (!labIsUp() || !fs.existsSync(env.AWS_SHARED_CREDENTIALS_FILE)) {
            throw new Error("the lab's object store is not up: run `bash lab/up` first");
        }
        clone(first);
        clone(second);
        const init = pulumi(first, ["stack", "init", "--secrets-provider", "passphrase"]);
        expect(init.status, init.output).to.equal(0);
        // The second clone shares the stack file, as a checkout of the same repository does.
        fs.copyFileSync(path.join(first, `Pulumi.${STACK}.yaml`), path.join(second, `Pulumi.${STACK}.yaml`));
    });

    after(() => {
        pulumi(first, ["cancel", "--yes"]);
        pulumi(first, ["destroy", "--yes", "--skip-preview"]);
        pulumi(first, ["stack", "rm", "--yes", "--force"]);
        fs.rmSync(work, { recursive: true, force: true });
    });

    it("refuses a second pulumi up while the first runs, naming the lock, and keeps the state whole", async () => {
        const running = upHoldingLock(first, "1", 20);
        await running.locked;
        const refused = up(second, "2", 1);
        const done = await running.done;

        expect(done.status, done.output).to.equal(0);
        expect(refused.status, refused.output).to.not.equal(0);
        expect(refused.output).to.include(LOCKED);
        expect(refused.output).to.match(/s3:\/\/nordfleet-state\/\.pulumi\/locks\/\S+ created by \S+@\S+ \(pid \d+\)/);
        console.log(`      ${refused.output.split("\n").filter(l => /locked|created by/.test(l)).join("\n      ")}`);
        // The state is the first run's, and the second clone sees nothing left to do.
        expect(holdResource(second).inputs.triggers).to.deep.equal(["1"]);
        const again = up(second, "1", 20, "--expect-no-changes");
        expect(again.status, again.output).to.equal(0);
    });

    it("leaves the lock of a killed pulumi up, which pulumi cancel clears; the next pulumi up converges", async () => {
        const running = upHoldingLock(first, "3", 120);
        await running.locked;
        process.kill(-running.child.pid!, "SIGKILL");
        await running.done;

        const refused = up(second, "4", 1);
        expect(refused.status, refused.output).to.not.equal(0);
        expect(refused.output).to.include(LOCKED);

        // What docs/operations.md tells an operator to do once no run is left.
        const cancel = pulumi(second, ["cancel", "--yes"]);
        expect(cancel.status, cancel.output).to.equal(0);
        const refresh = pulumi(second, ["refresh", "--yes", "--skip-preview", "--clear-pending-creates"]);
        expect(refresh.status, refresh.output).to.equal(0);
        const converged = up(second, "4", 1);
        expect(converged.status, converged.output).to.equal(0);
        expect(holdResource(first).inputs.triggers).to.deep.equal(["4"]);
        const again = up(first, "4", 1, "--expect-no-changes");
        expect(again.status, again.output).to.equal(0);
    });

    it("lets the state reader's key read the state and not write it", () => {
        const exported = pulumi(first, ["stack", "export"], readerEnv);
        expect(exported.status, exported.output).to.equal(0);
        expect(exported.output).to.include("command:local:Command");

        const preview = pulumi(first, ["preview", "-c", "run=4", "-c", "seconds=1"], readerEnv);
        expect(preview.status, preview.output).to.equal(0);

        const write = pulumi(first, ["up", "--yes", "--skip-preview", "-c", "run=5", "-c", "seconds=1"], readerEnv);
        expect(write.status, write.output).to.not.equal(0);
        expect(write.output).to.match(/AccessDenied|Access Denied|403/);
        expect(holdResource(first).inputs.triggers).to.deep.equal(["4"]);
    });
});
