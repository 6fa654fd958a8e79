import { expect } from "chai";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ConfigError, parseFleetConfig, withHostKeysFromFiles } from "../config/load";
import { validatePublicKey } from "../config/sshKeys";
import { hostKeyViolations } from "../policy/hostKeys";
import { LAB_HOST_KEY, labConfig } from "./fixtures";

/** A wire-format key blob: the type's name, then `body` (RFC 4253 6.6). */
const blob = (type: string, body: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(type.length);
    return Buffer.concat([length, Buffer.from(type), body]).toString("base64");
};
const FIX = "use the key";

describe("SSH host keys", () => {
    describe("validatePublicKey", () => {
        it("accepts a real ed25519 key, with or without its comment", () => {
            expect(validatePublicKey("k", LAB_HOST_KEY, FIX)).to.deep.equal([]);
            expect(validatePublicKey("k", `${LAB_HOST_KEY} root@hv`, FIX)).to.deep.equal([]);
        });

        const ed25519Body = Buffer.concat([Buffer.from([0, 0, 0, 32]), Buffer.alloc(32, 7)]);
        const cases: [string, unknown, string][] = [
            ["a number", 42, "42 is not an SSH public key; use the key"],
            ["a type sshd does not offer", `ssh-dss ${blob("ssh-dss", ed25519Body)}`,
                "is not an SSH public key of a type nordfleet accepts (ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa)"],
            ["no base64", "ssh-ed25519", "has no valid base64 key after its type"],
            ["base64 of the wrong length", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBgNgjk", "has no valid base64 key after its type"],
            ["an RSA key under the ed25519 type", `ssh-ed25519 ${blob("ssh-rsa", ed25519Body)}`,
                `holds a "ssh-rsa" key, not the ssh-ed25519 its type names`],
            ["a pattern-shaped blob that is no key", "ssh-ed25519 AAAAAAAA", "holds no key, not the ssh-ed25519 its type names"],
            ["an ed25519 key of 16 bytes", `ssh-ed25519 ${blob("ssh-ed25519", Buffer.concat([Buffer.from([0, 0, 0, 16]), Buffer.alloc(16)]))}`,
                "is not 32 bytes of ed25519 key"],
        ];
        for (const [what, value, message] of cases) {
            it(`refuses ${what}, naming the field and the fix`, () => {
                const problems = validatePublicKey("nordfleet:hypervisors[0].hostKey", value, FIX);
                expect(problems).to.have.length(1);
                expect(problems[0]).to.match(/^nordfleet:hypervisors\[0\]\.hostKey: /).and.include(message).and.match(/; use the key$/);
            });
        }
    });

    describe("a hypervisor's pinned key in config", () => {
        const withHv = (edit: (hv: any) => void) => {
            const raw = labConfig();
            edit((raw.hypervisors as any[])[0]);
            return raw;
        };
        const problemsOf = (raw: ReturnType<typeof labConfig>) => {
            try {
                parseFleetConfig(raw);
                return [];
            } catch (e) {
                return (e as ConfigError).problems;
            }
        };

        it("is required, inline or as a file", () => {
            expect(problemsOf(withHv(hv => { delete hv.hostKey; }))).to.deep.equal([
                "nordfleet:hypervisors[0].hostKey: is not set, so the hypervisor's SSH host key would not be pinned; set it " +
                "to the \"TYPE BASE64\" of `ssh-keyscan -t ed25519 10.199.0.1` (checked out of band), or hostKeyFile to a file holding it"]);
            expect(problemsOf(withHv(hv => { hv.hostKeyFile = "/etc/ssh/ssh_host_ed25519_key.pub"; })))
                .to.deep.equal(["nordfleet:hypervisors[0]: has both hostKey and hostKeyFile; keep one"]);
            expect(problemsOf(withHv(hv => { delete hv.hostKey; hv.hostKeyFile = "keys/hv.pub"; }))[0])
                .to.match(/^nordfleet:hypervisors\[0\]\.hostKeyFile: "keys\/hv.pub" is not a plain absolute path/);
        });

        it("is read from its file by the loader and checked as a key", () => {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nf-hostkey-"));
            try {
                const file = path.join(dir, "hv.pub");
                const { config } = parseFleetConfig(withHv(hv => { delete hv.hostKey; hv.hostKeyFile = file; }));
                fs.writeFileSync(file, `${LAB_HOST_KEY} root@lab-hv\n`);
                const read = (f: string) => fs.readFileSync(f, "utf8");
                expect(withHostKeysFromFiles(config, read).hypervisors[0].hostKey).to.equal(LAB_HOST_KEY);
                fs.writeFileSync(file, "-----BEGIN OPENSSH PRIVATE KEY-----\n");
                expect(() => withHostKeysFromFiles(config, read)).to.throw(ConfigError,
                    "nordfleet:hypervisors[0].hostKeyFile: \"-----BEGIN OPENSSH\" is not an SSH public key of a type nordfleet accepts");
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });
    });

    describe("the pinned-host-keys policy", () => {
        const COMMAND = "command:remote:Command";
        it("passes a guest reached through its hypervisor with both keys pinned, and ignores other types", () => {
            expect(hostKeyViolations(COMMAND, { connection: { host: "10.110.0.10", hostKey: LAB_HOST_KEY,
                proxy: { host: "10.199.0.1", hostKey: LAB_HOST_KEY } } })).to.deep.equal([]);
            expect(hostKeyViolations("random:index/randomPassword:RandomPassword", { connection: {} })).to.deep.equal([]);
        });

        it("leaves a connection a preview does not know yet (the provider hands it over with an empty host) to the update", () => {
            expect(hostKeyViolations(COMMAND, { connection: { host: "", user: "root", port: 22 } })).to.deep.equal([]);
        });

        it("refuses a connection with no host key, and a jump host with none", () => {
            expect(hostKeyViolations(COMMAND, { connection: { host: "10.199.0.1" } })).to.deep.equal([
                "connection.hostKey: the connection to 10.199.0.1 pins no host key, so any machine answering there would " +
                "be trusted with what the command sends; set connection.hostKey to the host's public key (\"ssh-ed25519 AAAA...\")"]);
            const viaUnpinned = hostKeyViolations("command:remote:CopyToRemote", { connection: { host: "10.110.0.10",
                hostKey: LAB_HOST_KEY, proxy: { host: "10.199.0.1", hostKey: "" } } });
            expect(viaUnpinned).to.have.length(1);
            expect(viaUnpinned[0]).to.match(/^connection\.proxy\.hostKey: the connection to 10\.199\.0\.1 pins no host key/);
        });
    });
});
