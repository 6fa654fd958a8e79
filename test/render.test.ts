import { expect } from "chai";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { kernelCommandLine } from "../components/kvmInstance";
import { writeRendered } from "../render/main";

function readTree(dir: string): Map<string, string> {
    const files = new Map<string, string>();
    const walk = (d: string) => {
        for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
            const full = path.join(d, entry.name);
            entry.isDirectory() ? walk(full) : files.set(path.relative(dir, full), fs.readFileSync(full, "utf8"));
        }
    };
    walk(dir);
    return files;
}

describe("render", () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nordfleet-render-"));
    after(() => fs.rmSync(tmp, { recursive: true, force: true }));

    for (const stack of ["prod", "lab"]) {
        it(`writes the same ${stack} tree twice, one folder per host, with no secret in it`, () => {
            writeRendered(stack, path.join(tmp, `${stack}-a`));
            writeRendered(stack, path.join(tmp, `${stack}-b`));
            const a = readTree(path.join(tmp, `${stack}-a`));
            const b = readTree(path.join(tmp, `${stack}-b`));
            expect([...a.keys()].sort()).to.deep.equal([...b.keys()].sort());
            for (const [file, content] of a) {
                expect(content, file).to.equal(b.get(file));
                expect(content, file).to.not.match(/BEGIN [A-Z ]*PRIVATE KEY/);
            }
            expect(a.get("gw-1/cloud-init/user-data")).to.include("<secret: ed25519 host key of gw-1, generated at deploy time>");
        });
    }

    it("renders every host and hypervisor of the prod stack", () => {
        const tree = readTree(path.join(tmp, "prod-a"));
        const hosts = new Set([...tree.keys()].map(f => f.split(path.sep)[0]));
        expect([...hosts].sort()).to.deep.equal([
            "app-1", "app-2", "app-3", "consul-1", "consul-2", "consul-3", "gw-1", "gw-2", "mq-1", "osl-hv1", "osl-hv2",
            "pg-1", "sto-hv1",
        ]);
        expect(tree.get("gw-1/libvirt/domain.xml")).to.include("<source bridge='br-public'/>");
        expect(tree.get("app-1/libvirt/domain.xml")).to.not.include("br-public");
    });

    it("keeps the TSC as the clock of emulated guests, and leaves KVM guests' kernel command line alone", () => {
        expect(readTree(path.join(tmp, "lab-a")).get("app-1/libvirt/domain.xml")).to.include(
            "<cmdline>root=/dev/vda rw console=ttyS0 net.ifnames=0 tsc=reliable</cmdline>");
        expect(kernelCommandLine("kvm")).to.equal("root=/dev/vda rw console=ttyS0 net.ifnames=0");
    });

    it("points every guest's apt sources at the stack's mirror, and only where one is declared", () => {
        const prod = readTree(path.join(tmp, "prod-a"));
        expect(prod.get("pg-1/cloud-init/user-data")).to.include(
            `  primary:\n    - arches: [default]\n      uri: "https://apt.osl.nordfleet.internal/debian"\n`);
        expect(readTree(path.join(tmp, "lab-a")).get("app-1/cloud-init/user-data")).to.not.include("apt:");
    });
});
