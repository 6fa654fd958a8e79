import { expect } from "chai";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** Runs startRunAgent in a Node.js process of its own, which lists the agent's keys and exits. */
function runAgentIn(dir: string, keyFile: string): { listed: string; pid: number } {
    const program = `
        require("ts-node/register/transpile-only");
        const fs = require("fs");
        const { spawnSync } = require("child_process");
        const { startRunAgent } = require(${JSON.stringify(path.resolve("components/compute/runAgent"))});
        startRunAgent("agent/test.sock", [fs.readFileSync(${JSON.stringify(keyFile)}, "utf8")]);
        const listed = spawnSync("ssh-add", ["-l"], { env: { ...process.env, SSH_AUTH_SOCK: "agent/test.sock" }, encoding: "utf8" }).stdout;
        console.log(JSON.stringify({ listed, pid: Number(fs.readFileSync("agent/test.sock.pid", "utf8")) }));`;
    const r = spawnSync(process.execPath, ["-e", program], { cwd: dir, encoding: "utf8", env: {
        ...process.env, NODE_PATH: path.resolve("node_modules"), TS_NODE_PROJECT: path.resolve("tsconfig.json"),
    } });
    expect(r.status, r.stderr).to.equal(0);
    return JSON.parse(r.stdout.trim().split("\n").pop()!);
}

/** Whether a process still runs 2 s on (a zombie, gone but not yet reaped, does not): a signal takes a moment. */
function running(pid: number): boolean {
    const alive = () => fs.existsSync(`/proc/${pid}/stat`) &&
        fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0] !== "Z";
    for (let i = 0; i < 20 && alive(); i++) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
    return alive();
}

describe("the run's SSH agent", function () {
    this.timeout(60_000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nordfleet-agent-"));
    const keyFile = path.join(dir, "key");
    before(() => spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "nordfleet-test", "-f", keyFile]));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("holds the keys it is given, under a socket only its owner can reach, and is gone with its process", () => {
        const { listed, pid } = runAgentIn(dir, keyFile);
        expect(listed).to.include("nordfleet-test (ED25519)");
        expect(fs.statSync(path.join(dir, "agent")).mode & 0o777).to.equal(0o700);
        expect(running(pid), "the agent's process").to.equal(false);
        expect(fs.readdirSync(path.join(dir, "agent"))).to.deep.equal([]);
    });

    it("stops the agent a killed run left on the socket before starting its own", () => {
        fs.mkdirSync(path.join(dir, "agent"), { recursive: true, mode: 0o700 });
        const stale = spawnSync("ssh-agent", ["-s", "-a", path.join(dir, "agent/test.sock")], { encoding: "utf8" });
        const stalePid = Number(/SSH_AGENT_PID=(\d+)/.exec(stale.stdout)![1]);
        fs.writeFileSync(path.join(dir, "agent/test.sock.pid"), `${stalePid}\n`);
        runAgentIn(dir, keyFile);
        expect(running(stalePid), "the stale agent").to.equal(false);
    });
});
