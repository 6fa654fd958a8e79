import { expect } from "chai";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { RESPONSE_NOT_LOGGED, SDK_DEBUG_LOG_VARIABLE, withoutRpcResponse } from "../sdk/debugLog";

const RUNTIME = path.join(__dirname, "..", "node_modules", "@pulumi", "pulumi", "runtime");

/** Every debug message the SDK's runtime logs when an RPC finishes, as its source writes it. */
function rpcFinishedTemplates(): string[] {
    return fs.readdirSync(RUNTIME).filter(f => f.endsWith(".js"))
        .flatMap(f => fs.readFileSync(path.join(RUNTIME, f), "utf8").match(/log\.debug\(`[^`]*RPC finished:[^)]*\)/g) ?? []);
}

describe("the SDK's debug log: off unless asked for, then without RPC responses", function () {
    this.timeout(60_000);
    it("cuts the response off every message the SDK logs when an RPC finishes", () => {
        const templates = rpcFinishedTemplates();
        expect(templates.length, "RPC messages found in @pulumi/pulumi/runtime").to.be.greaterThan(5);
        for (const template of templates) {
            // The message as the SDK would build it, every interpolation a would-be secret.
            const message = template.replace(/^log\.debug\(/, "").replace(/\)$/, "").replace(/`\s*\+\s*`/g, "")
                .replace(/`/g, "").replace(/\$\{[^}]+\}/g, "s3cr3t");
            expect(message, template).to.include(", resp: s3cr3t");
            expect(withoutRpcResponse(message), template).to.match(new RegExp(`${RESPONSE_NOT_LOGGED.replace(/[<>]/g, ".")}$`))
                .and.not.match(/resp: s3cr3t/);
        }
    });

    it("keeps the call, its target and its error", () => {
        expect(withoutRpcResponse("RegisterResource RPC finished: resource:db[random:index/randomPassword:RandomPassword]; " +
            "err: Error: boom, resp: urn:pulumi:lab::nordfleet::x,pw-value"))
            .to.equal("RegisterResource RPC finished: resource:db[random:index/randomPassword:RandomPassword]; err: Error: boom" +
                RESPONSE_NOT_LOGGED);
    });

    it("leaves every other message alone", () => {
        for (const message of ["RegisterResource RPC prepared: t=x, name=y", "a note, resp: kept", "Invoke RPC finished: no response"]) {
            expect(withoutRpcResponse(message)).to.equal(message);
        }
    });

    /** What reaches the SDK's own logger in a process where index.ts's call was made with this environment. */
    const loggedBy = (env: NodeJS.ProcessEnv): string[] => {
        // In a process of its own: the wrap is for the life of the process.
        const program = `
            require("ts-node/register/transpile-only");
            const log = require("@pulumi/pulumi/log");
            const seen = [];
            log.debug = m => { seen.push(m); return Promise.resolve(); };
            const { limitSdkDebugLog } = require("./sdk/debugLog");
            limitSdkDebugLog();
            limitSdkDebugLog();
            // The runtime's own reference to the module, as resource.js holds it.
            require("@pulumi/pulumi/runtime/resource");
            const sent = require("@pulumi/pulumi").log.debug("ReadResource RPC finished: r; err: null, resp: pw-value");
            sent.then(() => console.log(JSON.stringify(seen)));`;
        const r = spawnSync(process.execPath, ["-e", program], { cwd: path.join(__dirname, ".."), encoding: "utf8", env });
        expect(r.status, r.stderr).to.equal(0);
        return JSON.parse(r.stdout.trim());
    };

    it("sends the SDK's runtime trace nowhere by default", () => {
        const env = { ...process.env };
        delete env[SDK_DEBUG_LOG_VARIABLE];
        expect(loggedBy(env)).to.deep.equal([]);
    });

    it(`sends it without responses when ${SDK_DEBUG_LOG_VARIABLE} is set`, () => {
        expect(loggedBy({ ...process.env, [SDK_DEBUG_LOG_VARIABLE]: "1" }))
            .to.deep.equal([`ReadResource RPC finished: r; err: null${RESPONSE_NOT_LOGGED}`]);
    });
});
