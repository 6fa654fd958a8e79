import { expect } from "chai";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { kernelCommandLine } from "../components/compute/kvmInstance";
import { encodeUriComponent, placeholdersIn, renderedPattern } from "../components/placeholder";
import { readTree, renderStack } from "./renderTree";

describe("render", function () {
    this.timeout(120_000);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nordfleet-render-"));
    const trees: Record<string, Map<string, string>> = {};
    before(() => {
        for (const stack of ["prod", "lab"]) {
            renderStack(stack, path.join(tmp, stack));
            trees[stack] = readTree(path.join(tmp, stack));
        }
    });
    after(() => fs.rmSync(tmp, { recursive: true, force: true }));

    for (const stack of ["prod", "lab"]) {
        it(`writes the same ${stack} tree twice, byte for byte, with no key or password in it`, () => {
            renderStack(stack, path.join(tmp, `${stack}-again`));
            const again = readTree(path.join(tmp, `${stack}-again`));
            expect([...again.keys()].sort()).to.deep.equal([...trees[stack].keys()].sort());
            for (const [file, content] of trees[stack]) {
                expect(content, file).to.equal(again.get(file));
                expect(content, file).to.not.match(/BEGIN [A-Z ]*PRIVATE KEY/);
                expect(content, file).to.not.match(/SCRAM-SHA-256\$/);
            }
        });
    }

    it("renders every host and hypervisor of the prod stack, each with the whole platform it receives", () => {
        const tree = trees.prod;
        const hosts = new Set([...tree.keys()].map(f => f.split(path.sep)[0]));
        expect([...hosts].sort()).to.deep.equal([
            "app-1", "app-2", "app-3", "consul-1", "consul-2", "consul-3", "gw-1", "gw-2", "mq-1", "osl-hv1", "osl-hv2",
            "pg-1", "sto-hv1",
        ]);
        for (const file of ["gw-1/gateway/nginx.conf", "gw-1/baseline/sysctl.conf", "gw-1/baseline/nftables.conf",
            "gw-1/baseline/sshd-hardening.conf", "consul-1/consul/agent.hcl", "pg-1/postgres/postgresql.conf",
            "pg-1/postgres/pg_hba.conf", "pg-1/postgres/pgbackrest.conf", "pg-1/postgres/systemd/nordfleet-postgres.service",
            "mq-1/rabbitmq/rabbitmq.conf", "gw-1/releases/gateway.sh", "osl-hv1/commands/osl-hv1-prepare.sh"]) {
            expect(tree.has(file), file).to.equal(true);
        }
        // Prod's services ship no artifact yet; the lab's do.
        expect(trees.lab.get("app-1/service-hello/nordfleet-hello.service")).to.include("ExecStart=");
    });

    it("names each generated value by what it is, and every stack secret by its config key", () => {
        const consul = trees.prod.get("consul-1/consul/agent.hcl")!;
        expect(consul).to.include("<secret:consul/gossip-key>");
        expect(trees.lab.get("db-1/postgres/pgbackrest.conf")).to.include(
            "repo1-s3-key-secret=<secret:nordfleet:backupCredentials.secretAccessKey>");
        expect(trees.prod.get("pg-1/postgres/roles.sql")).to.match(/<secret:postgres-verifier-of-[a-z]+>/);
        const release = trees.prod.get("gw-1/releases/gateway.sh")!;
        expect(release).to.match(/^'nf_file' 'nginx.conf' '0644' 'root:root' <gateway\/nginx.conf>$/m);
        for (const [file, content] of [...trees.prod, ...trees.lab]) {
            for (const p of placeholdersIn(content)) {
                expect(p.text, file).to.match(/^<(secret|generated|file):[a-z0-9]/i);
            }
        }
    });

    it("carries each production setting into the rendered prod files", () => {
        const prod = trees.prod;
        const pgbackrest = prod.get("pg-1/postgres/pgbackrest.conf")!;
        expect(pgbackrest).to.match(/^archive-async=y$/m).and.match(/^archive-push-queue-max=\d+MB$/m)
            .and.match(/^repo1-retention-full-type=time$/m);
        expect(prod.get("consul-1/consul/dnsmasq.conf")).to.match(/^server=\/consul\/127\.0\.0\.1#8600$/m)
            .and.match(/^server=10\.110\.\d+\.\d+$/m);
        expect(prod.get("mq-1/rabbitmq/rabbitmq.conf")).to.match(/^disk_free_limit\.absolute = \d+MB$/m);
        expect(prod.get("gw-1/gateway/nginx.conf")).to.include("client_header_timeout 10s;").and.include("limit_conn ");
        expect(prod.get("pg-1/postgres/systemd/nordfleet-pg-backup-diff.timer")).to.include("OnCalendar=");
        expect(prod.get("app-1/baseline/journald.conf")).to.include("SystemMaxUse=");
    });

    it("keeps the TSC as the clock of emulated guests, and leaves KVM guests' kernel command line alone", () => {
        expect(trees.lab.get("lab-hv/commands/app-1-domain/domain.xml")).to.include(
            "<cmdline>root=/dev/vda rw console=ttyS0 net.ifnames=0 tsc=reliable</cmdline>");
        expect(kernelCommandLine("kvm")).to.equal("root=/dev/vda rw console=ttyS0 net.ifnames=0");
        expect(trees.prod.get("osl-hv1/commands/gw-1-domain/domain.xml")).to.include("<source bridge='br-public'/>");
    });

    it("has each domain's step wait for its guest's sshd, for the stack's boot timeout", () => {
        const script = trees.lab.get("lab-hv/commands/app-1-domain.sh")!;
        expect(script).to.match(/^GUEST_ADDRESS='10\.110\.0\.30'$/m).and.match(/^SSH_PORT='22'$/m)
            .and.match(/^BOOT_TIMEOUT='600'$/m).and.include("\nstart_watched() {\n")
            .and.match(/^running \|\| start_watched$/m);
        expect(trees.prod.get("osl-hv1/commands/gw-1-domain.sh")).to.match(/^BOOT_TIMEOUT='300'$/m);
    });

    it("points every guest's apt sources at the stack's mirror, and only where one is declared", () => {
        const prodSeed = [...trees.prod].find(([f]) => f.endsWith("/commands/pg-1-domain/user-data"))![1];
        expect(prodSeed).to.include(`  primary:\n    - arches: [default]\n      uri: "https://apt.osl.nordfleet.internal/debian"\n`);
        expect(trees.lab.get("lab-hv/commands/app-1-domain/user-data")).to.not.include("apt:");
    });

    it("matches a file read back from a host with any value in place of each placeholder", () => {
        const pattern = renderedPattern("key = \"<secret:consul/gossip-key>\"\ncert = <generated:ca-cert>\n");
        expect(pattern.test("key = \"c2VjcmV0\"\ncert = -----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----\n")).to.equal(true);
        expect(pattern.test("key = \"c2VjcmV0\"\ncert = x\nextra\n ")).to.equal(false);
        expect(pattern.test("key = 'c2VjcmV0'\ncert = x\n")).to.equal(false);
        expect(encodeUriComponent("p w<secret:rabbitmq-a-password>/x")).to.equal("p%20w<secret:rabbitmq-a-password>%2Fx");
    });
});
