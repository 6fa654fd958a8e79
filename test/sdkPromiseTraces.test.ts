import { expect } from "chai";
import { spawnSync } from "child_process";
import * as path from "path";

/**
 * Runs, in a process of its own (the wrap is for the life of the process), a program
 * that wraps the SDK's debuggablePromise and tags a promise through the runtime's own
 * reference to the module, then prints what the tag holds.
 */
function tagOnePromise(env: NodeJS.ProcessEnv): { trace: string; id: number; limitAfter: number; limitBefore: number } {
    const program = `
        require("ts-node/register/transpile-only");
        const { skipPromiseStackTraces } = require("./sdk/promiseTraces");
        skipPromiseStackTraces();
        skipPromiseStackTraces();
        const limitBefore = Error.stackTraceLimit;
        const debuggable = require("@pulumi/pulumi/runtime/debuggable");
        // The SDK tags the promise it is given and returns one chained to it.
        const p = Promise.resolve(1);
        debuggable.debuggablePromise(p, "a test promise");
        console.log(JSON.stringify({ trace: p._debugStackTrace, id: p._debugId, limitAfter: Error.stackTraceLimit, limitBefore }));`;
    const r = spawnSync(process.execPath, ["-e", program],
        { cwd: path.join(__dirname, ".."), encoding: "utf8", env: { ...process.env, ...env } });
    expect(r.status, r.stderr).to.equal(0);
    return JSON.parse(r.stdout.trim());
}

describe("the SDK's promises without stack traces", function () {
    this.timeout(60_000);

    it("tags each promise with an empty trace, and leaves the trace limit as it was", () => {
        const tag = tagOnePromise({ PULUMI_DEBUG_PROMISE_LEAKS: "" });
        expect(tag.trace).to.equal("Error");
        expect(tag.id).to.be.a("number");
        expect(tag.limitAfter).to.equal(tag.limitBefore).and.to.be.greaterThan(0);
    });

    it("keeps the traces when PULUMI_DEBUG_PROMISE_LEAKS asks for them", () => {
        const tag = tagOnePromise({ PULUMI_DEBUG_PROMISE_LEAKS: "1" });
        expect(tag.trace).to.match(/^Error\n\s+at /);
    });
});
