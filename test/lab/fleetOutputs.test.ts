/**
 * The deployed lab fleet's real outputs (after `bash lab/up`): they must satisfy the
 * output contract, and the consumer example must run against them via StackReference.
 */
import { expect } from "chai";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { contractViolations } from "../../contract/validate";
import { LAB_HOME } from "./labHost";

const ROOT = path.join(__dirname, "..", "..");
const LAB_ENV = {
    ...process.env,
    PULUMI_BACKEND_URL: `file://${LAB_HOME}/state`,
    PULUMI_CONFIG_PASSPHRASE_FILE: `${LAB_HOME}/passphrase`,
};

function pulumi(cwd: string, ...args: string[]): string {
    const r = spawnSync("pulumi", [...args, "--non-interactive"], { cwd, env: LAB_ENV, encoding: "utf8" });
    if (r.status !== 0) {
        throw new Error(`pulumi ${args.join(" ")} failed (${r.status}):\n${r.stdout}${r.stderr}`);
    }
    return r.stdout;
}

describe("the deployed lab fleet's outputs", function () {
    this.timeout(10 * 60 * 1000);
    let outputs: Record<string, any>;

    before(function () {
        if (!fs.existsSync(path.join(LAB_HOME, "state", ".pulumi", "stacks", "nordfleet", "lab.json"))) {
            console.log("      not run: the lab fleet is not deployed (`bash lab/up` deploys it where the resource plugins exist)");
            this.skip();
        }
        outputs = JSON.parse(pulumi(ROOT, "stack", "output", "--json", "--show-secrets", "--stack", "lab"));
    });

    it("validate against contract/outputs.schema.json", () => {
        expect(contractViolations(outputs)).to.deep.equal([]);
        expect(Object.keys(outputs.hosts).sort()).to.deep.equal(["app-1", "consul-1", "gw-1", "probe-1"]);
    });

    it("feed the consumer example through StackReference", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nordfleet-consumer-"));
        try {
            fs.cpSync(path.join(ROOT, "examples", "consumer"), dir, { recursive: true });
            fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
            pulumi(dir, "stack", "init", "consumer-test", "--secrets-provider", "passphrase");
            try {
                pulumi(dir, "config", "set", "fleetStack", "organization/nordfleet/lab", "--stack", "consumer-test");
                pulumi(dir, "up", "--yes", "--skip-preview", "--stack", "consumer-test");
                const consumed = JSON.parse(pulumi(dir, "stack", "output", "--json", "--stack", "consumer-test"));
                expect(consumed.serviceAddresses).to.deep.equal(["10.110.0.30", "10.120.0.40"]);
                expect(consumed.knownHostsText).to.include(`gw-1 ${outputs.hosts["gw-1"].hostKey}`);
                expect(consumed.sshConfigText).to.include("Host app-1\n  HostName 10.110.0.30\n  User root\n  ProxyJump root@10.199.0.1");
            } finally {
                pulumi(dir, "stack", "rm", "consumer-test", "--yes", "--force");
            }
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
