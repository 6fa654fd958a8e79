import { expect } from "chai";
import * as pulumi from "@pulumi/pulumi";
import { valueOf } from "./mocks";
import { contractViolations } from "../contract/validate";
import { loadStackFile } from "../render/stackConfig";
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";

/** The program's exports as `pulumi stack output --json` prints them, with or without --show-secrets. */
async function stackOutputs(program: Record<string, unknown>, showSecrets: boolean) {
    const out: Record<string, unknown> = {};
    const secret: string[] = [];
    for (const [name, value] of Object.entries(program)) {
        if (pulumi.Output.isInstance(value)) {
            if (await pulumi.isSecret(value)) {
                secret.push(name);
            }
            out[name] = secret.includes(name) && !showSecrets ? "[secret]" : await valueOf(value);
        } else {
            out[name] = await valueOf(pulumi.output(value) as pulumi.Output<unknown>);
        }
    }
    return { out, secret };
}

describe("stack output contract (mocked engine, prod stack)", () => {
    let program: Record<string, unknown>;

    before(() => {
        loadStackFile("prod"); // fails here, readably, if the stack file itself is invalid
        const stackFile = yaml.load(fs.readFileSync(path.join(__dirname, "..", "Pulumi.prod.yaml"), "utf8")) as any;
        const config: Record<string, string> = {};
        for (const [key, value] of Object.entries(stackFile.config)) {
            config[key] = typeof value === "string" ? value : JSON.stringify(value);
        }
        // What `pulumi config set --secret --path nordfleet:backupCredentials...` would hold.
        config["nordfleet:backupCredentials"] = JSON.stringify({ accessKeyId: "test-key-id", secretAccessKey: "test-secret" });
        delete process.env.PULUMI_BACKEND_URL;
        pulumi.runtime.setAllConfig(config, ["nordfleet:backupCredentials"]);
        // eslint-disable-next-line @typescript-eslint/no-var-requires
        program = require("../index");
    });

    it("validates against contract/outputs.schema.json, with and without --show-secrets", async () => {
        for (const showSecrets of [false, true]) {
            const { out } = await stackOutputs(program, showSecrets);
            expect(contractViolations(out), `showSecrets=${showSecrets}`).to.deep.equal([]);
        }
    });

    it("holds no secret, no private key and no credential: consumers need no passphrase", async () => {
        const { out, secret } = await stackOutputs(program, true);
        expect(secret).to.deep.equal([]);
        const text = JSON.stringify(out);
        expect(text).to.not.match(/PRIVATE KEY|password|amqps:\/\/[^"@]*@/i);
        expect(out.contractVersion).to.equal("2");
        expect((out.services as any).orders).to.deep.equal({ consulName: "orders.service.consul",
            database: { endpoint: "10.110.2.10:5432", name: "orders", user: "orders" },
            amqp: { vhost: "orders", endpoint: "10.110.3.10:5671" } });
    });

    it("lists every host with its pinned key and volume serials", async () => {
        const { out } = await stackOutputs(program, false);
        const hosts = out.hosts as Record<string, any>;
        expect(Object.keys(hosts)).to.have.length(10);
        expect(hosts["pg-1"]).to.deep.include({ role: "postgres", address: "10.110.2.10", hypervisor: "osl-hv2" });
        expect(Object.keys(hosts["pg-1"].volumeSerials)).to.deep.equal(["pgdata"]);
        expect(out.allowedCountries).to.deep.equal(["NO", "SE"]);
    });

    it("refuses outputs that break the contract", async () => {
        const { out } = await stackOutputs(program, false);
        const broken = JSON.parse(JSON.stringify(out));
        delete broken.hosts["gw-1"].hostKey;
        broken.contractVersion = "1";
        broken.extra = true;
        expect(contractViolations(broken)).to.deep.equal([
            "/: must NOT have additional properties (extra)",
            "/contractVersion: must be equal to constant",
            "/hosts/gw-1: must have required property 'hostKey'",
        ]);
    });
});
