import { expect } from "chai";
import * as pulumi from "@pulumi/pulumi";
import { fakePrivateKey, isSecretValue, recorded, releaseScriptOf, reveal, settle, valueOf } from "./mocks";
import { labConfig } from "./fixtures";
import { parseFleetConfig } from "../config/load";
import { bootPredecessors, Fleet } from "../components/fleet";
import { runAgentSocket } from "../components/compute/runAgent";

describe("Fleet (mocked engine)", () => {
    let fleet: Fleet;
    const byName = (name: string) => {
        const found = recorded.find(r => r.name === name);
        expect(found, `resource ${name}`).to.not.equal(undefined);
        return found!;
    };

    before(async () => {
        recorded.length = 0;
        fleet = new Fleet("nf", parseFleetConfig(labConfig()));
        await valueOf(fleet.instances["probe-1"].ready);
        await settle();
    });

    it("prepares every hypervisor once", () => {
        const prepares = recorded.filter(r => r.name.endsWith("-prepare"));
        expect(prepares.map(r => r.name)).to.deep.equal(["nf-hv-a-prepare"]);
        expect(prepares[0].type).to.equal("command:remote:Command");
        expect(reveal(prepares[0].inputs.stdin)).to.include("VLANS='110:10.110.0.1/24 120:10.120.0.1/24'");
    });

    it("gives every host a host key, a libvirt domain, an SSH readiness check and the retirement of its seed", () => {
        for (const host of ["gw-1", "consul-1", "app-1", "pg-1", "probe-1"]) {
            expect(byName(`nf-${host}-host-key`).type).to.equal("tls:index/privateKey:PrivateKey");
            expect(byName(`nf-${host}-domain`).type).to.equal("command:remote:Command");
            expect(byName(`nf-${host}-ssh-ready`).type).to.equal("command:remote:Command");
            expect(byName(`nf-${host}-seed-retired`).type).to.equal("command:remote:Command");
        }
        const kinds = recorded.map(r => r.type).sort();
        expect(kinds.filter(t => t === "nordfleet:compute:KvmInstance")).to.have.length(5);
        expect(kinds.filter(t => t === "nordfleet:compute:HypervisorHost")).to.have.length(1);
    });

    it("parents each host's resources under its KvmInstance, under the Fleet", async () => {
        const urn = await valueOf(fleet.instances["app-1"].urn);
        expect(urn).to.equal("urn:pulumi:unit::nordfleet::nordfleet:fleet:Fleet$nordfleet:compute:KvmInstance::nf-app-1");
    });

    it("reaches guests only through the hypervisor, with the guest host key pinned", () => {
        const conn = reveal(byName("nf-app-1-ssh-ready").inputs.connection);
        expect(conn.host).to.equal("10.110.0.30");
        expect(conn.proxy.host).to.equal("10.199.0.1");
        expect(conn.hostKey).to.match(/^ssh-ed25519 AAAAC3Nza/);
        // A booting guest gets many dials; its hypervisor, already up, only a few.
        expect([conn.dialErrorLimit, conn.proxy.dialErrorLimit]).to.deep.equal([5, 3]);
    });

    it("sends the seed-carrying script sealed: the state keeps its key, as a secret, and not the script", () => {
        const domain = byName("nf-app-1-domain");
        expect(isSecretValue(domain.inputs.stdin), "domain stdin").to.equal(true);
        expect(reveal(domain.inputs.stdin)).to.not.include("USER_DATA");
        expect(reveal(byName("nf-app-1-domain-bundle").inputs.remotePath)).to.match(
            /^\/var\/lib\/nordfleet\/bundles\/instance-app-1\.[0-9a-f]{20}$/);
    });

    it("stores no key in any connection: the run's SSH agent holds them", () => {
        for (const r of recorded.filter(r => r.type.startsWith("command:remote:"))) {
            const conn = reveal(r.inputs.connection);
            expect([conn.privateKey, conn.proxy?.privateKey], r.name).to.deep.equal([undefined, undefined]);
        }
        const guest = reveal(byName("nf-app-1-ssh-ready").inputs.connection);
        expect(guest.agentSocketPath).to.equal(runAgentSocket("unit"));
        // The hypervisors take the operator's agent (SSH_AUTH_SOCK, read when the provider dials).
        expect(guest.proxy.agentSocketPath).to.equal(undefined);
    });

    it("never puts a secret into a command string", () => {
        const secrets = recorded.filter(r => r.type === "tls:index/privateKey:PrivateKey").map(r => fakePrivateKey(r.name));
        const commands = recorded.filter(r => r.type === "command:remote:Command");
        expect(commands).to.have.length(16);
        for (const cmd of commands) {
            for (const field of ["create", "update", "delete"]) {
                const text = JSON.stringify(reveal(cmd.inputs[field]) ?? "");
                for (const secret of secrets) {
                    expect(text, `${cmd.name}.${field}`).to.not.include(secret.split("\n")[1]);
                }
            }
        }
    });

    it("carries the host key to the guest only inside the sealed script", () => {
        const script = releaseScriptOf(byName("nf-app-1-domain").inputs);
        const userData = Buffer.from(/USER_DATA='([^']*)'/.exec(script)![1], "base64").toString();
        expect(userData).to.include("SECRET-nf-app-1-host-key");
        expect(userData).to.include("ssh_authorized_keys");
    });

    it("swaps the seed for one without the host key once the guest has booted, with a script that holds no secret", () => {
        const retire = byName("nf-app-1-seed-retired");
        expect(retire.inputs.stdin).to.equal(undefined);
        expect(reveal(retire.inputs.create)).to.equal("bash '/var/lib/nordfleet/images/app-1/retire-seed.sh'");
        // The apply script leaves it there; it carries the seed without the host key.
        const apply = releaseScriptOf(byName("nf-app-1-domain").inputs);
        const script = Buffer.from(/RETIRE_SEED='([^']*)'/.exec(apply)![1], "base64").toString();
        expect(script).to.include("change-media");
        const userData = Buffer.from(/USER_DATA_AFTER_BOOT='([^']*)'/.exec(script)![1], "base64").toString();
        expect(userData).to.include("ssh_authorized_keys");
        expect(userData).to.not.include("ssh_keys:");
        expect(userData).to.not.include("SECRET-nf-app-1-host-key");
        // Same instance id as the first-boot seed: cloud-init does not start over.
        expect(/META_DATA='([^']*)'/.exec(script)![1]).to.equal(/META_DATA='([^']*)'/.exec(apply)![1]);
        expect(retire.inputs.triggers).to.have.length(1);
    });

    it("keeps database volumes on destroy and removes the rest", () => {
        expect(reveal(byName("nf-pg-1-domain").inputs.delete)).to.include("PROTECTED_DISKS='pgdata'");
        expect(reveal(byName("nf-app-1-domain").inputs.delete)).to.include("PROTECTED_DISKS=''");
    });

    it("exports the deploy private key as a secret", async () => {
        expect(await pulumi.isSecret(fleet.deployPrivateKey)).to.equal(true);
    });
});

describe("boot order on a hypervisor", () => {
    const withLimit = (limit?: unknown) => {
        const raw = labConfig();
        (raw.hypervisors as any[])[0].maxConcurrentBoots = limit;
        return raw;
    };

    it("lets every guest boot at once when the hypervisor sets no limit", () => {
        expect([...bootPredecessors(parseFleetConfig(withLimit())).entries()]).to.deep.equal([]);
    });

    it("boots N guests at a time in the config's order, each later one after the guest N places before it", () => {
        expect(Object.fromEntries(bootPredecessors(parseFleetConfig(withLimit(2))))).to.deep.equal({
            "app-1": "gw-1", "pg-1": "consul-1", "probe-1": "app-1",
        });
    });

    it("refuses a limit that is not a whole number of at least 1, naming the field", () => {
        for (const bad of [0, 1.5, "two"]) {
            expect(() => parseFleetConfig(withLimit(bad))).to.throw(
                `nordfleet:hypervisors[0].maxConcurrentBoots: ${JSON.stringify(bad)} is out of range; use a whole number from 1 to 1024`);
        }
    });
});
