import { expect } from "chai";
import * as net from "net";
import { PolicyAnalyzer, POLICY_DIR } from "./policyAnalyzer";
import { repoFile, ScratchProject } from "./harness";

const MANDATORY = 1;

describe("policy pack, served as the engine runs it", function () {
    this.timeout(5 * 60 * 1000);
    let engineLog: net.Server;
    let analyzer: PolicyAnalyzer;

    before(async () => {
        // Where the pack would send log lines; it sends none while analyzing.
        engineLog = net.createServer().listen(0, "127.0.0.1");
        await new Promise(resolve => engineLog.once("listening", resolve));
        analyzer = await PolicyAnalyzer.start(POLICY_DIR, `127.0.0.1:${(engineLog.address() as net.AddressInfo).port}`);
    });
    after(() => {
        analyzer?.stop();
        engineLog?.close();
    });

    it("passes a hypervisor in Oslo", async () => {
        expect(await analyzer.analyze("nordfleet:compute:HypervisorHost", "osl-hv1", { site: "oslo-1" })).to.deep.equal([]);
    });

    it("refuses, as mandatory, a hypervisor in the US and a backup target in Switzerland", async () => {
        const hv = await analyzer.analyze("nordfleet:compute:HypervisorHost", "use-hv1", { site: "ashburn-1" });
        expect(hv).to.have.length(1);
        expect(hv[0]).to.deep.include({ policyName: "data-residency", enforcementLevel: MANDATORY });
        expect(hv[0].message).to.include(`site: "ashburn-1" is in US, outside the allowed countries`);

        const fleet = await analyzer.analyze("nordfleet:fleet:Fleet", "nordfleet", {
            backup: { url: "s3://backups", site: "zurich-1" }, mirrors: {},
        });
        expect(fleet.map(d => d.message).join("\n")).to.include(`backup.site: "zurich-1" is in CH, outside the allowed countries`);
    });

    it("refuses, as mandatory, a remote command whose connection or jump host pins no host key", async () => {
        const unpinned = await analyzer.analyze("command:remote:Command", "unpinned", {
            connection: { host: "10.110.0.10", hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBgNgjkZkUdr8gjGakuidkaQwTSbVC8yE0LSSxCuTKRs",
                proxy: { host: "10.199.0.1" } }, create: "true",
        });
        expect(unpinned).to.have.length(1);
        expect(unpinned[0]).to.deep.include({ policyName: "pinned-host-keys", enforcementLevel: MANDATORY });
        expect(unpinned[0].message).to.include("connection.proxy.hostKey: the connection to 10.199.0.1 pins no host key");
    });

    it("narrows to the countries a stack's policy config names", async () => {
        await analyzer.configure("data-residency", { allowedCountries: ["NO"] });
        const vm = await analyzer.analyze("nordfleet:compute:KvmInstance", "gw-2", { site: "stockholm-1", hypervisor: "sto-hv1" });
        expect(vm).to.have.length(1);
        expect(vm[0].message).to.include(`site: "stockholm-1" is in SE, outside the allowed countries (NO); ` +
            `use one of: oslo-1 (NO), oslo-2 (NO), bergen-1 (NO)`);
    });

});

describe("pulumi preview --policy-pack on the real engine", function () {
    this.timeout(15 * 60 * 1000);
    let project: ScratchProject;

    beforeEach(() => { project = new ScratchProject(); });
    afterEach(() => project.remove());

    const prodWith = (edit: (yaml: string) => string) => edit(repoFile("Pulumi.prod.yaml"));

    it("passes the prod stack", () => {
        project.initStack("prod", prodWith(y => y));
        const output = project.mustPulumi("preview", "--stack", "prod", "--policy-pack", POLICY_DIR);
        expect(output).to.match(/\+ \d+ to create/);
        expect(output).to.not.match(/mandatory/i);
        // Values only the update will know (generated keys) do not stop the policy in a preview.
        expect(output).to.not.match(/can't run policy/);
    });

    // Config validation refuses these sites before the program declares anything, so
    // to show the pack stands on its own the test program injects them after validation:
    // the real components, declaring what a loader bug would let through.
    const rogueProgram = (inject: string) => `
import { loadFleetConfig } from "./config/load";
import { Fleet } from "./components/fleet";
const loaded = loadFleetConfig();
${inject}
new Fleet("nordfleet", loaded);
`;
    for (const [country, site] of [["GB", "london-1"], ["CH", "zurich-1"], ["US", "ashburn-1"]]) {
        it(`refuses a hypervisor and a backup target in ${country} with the policy's message`, () => {
            project.writeProgram(rogueProgram(
                `loaded.config.hypervisors[0].site = "${site}";\n` +
                `loaded.config.backup = { url: "s3://backups-${country.toLowerCase()}", site: "${site}" };`));
            project.initStack("lab", repoFile("Pulumi.lab.yaml"));
            const result = project.pulumi("preview", "--stack", "lab", "--policy-pack", POLICY_DIR);
            expect(result.status, result.output).to.not.equal(0);
            expect(result.output).to.include("mandatory");
            expect(result.output).to.include(`site: "${site}" is in ${country}, outside the allowed countries`);
            expect(result.output).to.include(`backup.site: "${site}" is in ${country}, outside the allowed countries`);
        });
    }

    it("refuses a remote command with no pinned host key beside the fleet, naming it", () => {
        project.writeProgram(rogueProgram(`import * as command from "@pulumi/command";\n` +
            `new command.remote.Command("unpinned", { connection: { host: "10.199.0.1", user: "root" }, create: "true" });`));
        project.initStack("lab", repoFile("Pulumi.lab.yaml"));
        const result = project.pulumi("preview", "--stack", "lab", "--policy-pack", POLICY_DIR);
        expect(result.status, result.output).to.not.equal(0);
        expect(result.output).to.include("pinned-host-keys");
        expect(result.output).to.include("connection.hostKey: the connection to 10.199.0.1 pins no host key");
        // The fleet's own commands all pin theirs: this is the only one refused.
        expect(result.output.match(/pins no host key/g)).to.have.length(1);
    });

    describe("a site the stack declares (nordfleet:sites)", () => {
        const withTampere = (country: string) => prodWith(y => y
            .replace("nordfleet:allowedCountries: [NO, SE]", "nordfleet:allowedCountries: [NO, SE, FI]\n" +
                `  nordfleet:sites:\n    - { id: tampere-1, city: Tampere, country: ${country}, provider: Pohjola DC }`)
            .replace(/(name: osl-hv1\n +site: )oslo-1/, "$1tampere-1"));

        it("plans with a hypervisor there in Finland, and the policy pack passes it", () => {
            project.initStack("prod", withTampere("FI"));
            const output = project.mustPulumi("preview", "--stack", "prod", "--policy-pack", POLICY_DIR);
            expect(output).to.match(/\+ \d+ to create/);
            expect(output).to.not.match(/mandatory/i);
        });

        it("is refused by the loader, naming it, when it is declared in CH", () => {
            project.initStack("prod", withTampere("CH"));
            const result = project.pulumi("preview", "--stack", "prod");
            expect(result.status, result.output).to.not.equal(0);
            expect(result.output).to.include(`nordfleet:hypervisors[0].site: "tampere-1" is in CH, outside the allowed countries`);
            expect(result.output, "nothing of the fleet is declared").to.not.match(/nordfleet:(compute|fleet):/);
            expect(result.output).to.not.match(/\n\s+at /, "no stack trace");
        });

        it("is refused by the policy pack, naming it, when it is declared in CH", () => {
            project.writeProgram(rogueProgram(
                `loaded.config.sites = [{ id: "tampere-1", city: "Tampere", country: "CH" }];\n` +
                `loaded.config.hypervisors[0].site = "tampere-1";`));
            project.initStack("lab", repoFile("Pulumi.lab.yaml"));
            const result = project.pulumi("preview", "--stack", "lab", "--policy-pack", POLICY_DIR);
            expect(result.status, result.output).to.not.equal(0);
            expect(result.output).to.include("mandatory");
            expect(result.output).to.include(`site: "tampere-1" is in CH, outside the allowed countries`);
        });
    });
});
