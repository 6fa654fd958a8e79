import { expect } from "chai";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
    bundleOpenedBy, bundleSlot, cacheBundle, GUEST_BUNDLES, openBundle, openBundleCommand, readCachedBundle, releaseKeyOf,
    sealBundle,
} from "../components/platform/releaseBundle";

describe("release bundles", () => {
    const key = "k".repeat(43) + "=";
    const script = "ROLE='baseline'\necho 'a release: ü, \\n and all'\n";
    let tmp: string;
    before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nf-bundle-")); });
    after(() => fs.rmSync(tmp, { recursive: true, force: true }));

    it("seals the same release to the same bytes, and another release or key to others", () => {
        expect(sealBundle(script, key).equals(sealBundle(script, key))).to.equal(true);
        expect(sealBundle(`${script}\n`, key).equals(sealBundle(script, key))).to.equal(false);
        expect(sealBundle(script, `x${key}`).equals(sealBundle(script, key))).to.equal(false);
        expect(sealBundle(script, key).includes(Buffer.from("baseline"))).to.equal(false);
        expect(openBundle(sealBundle(script, key), key)).to.equal(script);
        expect(() => openBundle(sealBundle(script, key), `x${key}`)).to.throw();
    });

    it("is opened by the guest's own openssl, with the key on stdin", () => {
        const file = path.join(tmp, "sealed");
        fs.writeFileSync(file, sealBundle(script, key));
        const r = spawnSync("openssl", ["enc", "-d", "-aes-256-cbc", "-pbkdf2", "-md", "sha256", "-pass", "stdin", "-in", file],
            { input: `${key}\n`, encoding: "utf8" });
        expect(r.stderr).to.equal("");
        expect(r.stdout).to.equal(script);
    });

    it("keeps one cache file per stack, guest and role, there from the start, readable by its owner only", () => {
        process.env.NORDFLEET_BUNDLE_CACHE = tmp;
        try {
            const slot = bundleSlot("lab", "app-1", "service-hello");
            expect(slot).to.equal(path.join(tmp, "lab", "app-1", "service-hello"));
            expect(fs.readFileSync(slot, "utf8")).to.equal("");
            const sealed = sealBundle(script, key);
            const cached = cacheBundle(slot, "service-hello", sealed);
            expect(cached.name).to.match(/^service-hello\.[0-9a-f]{20}$/);
            expect(cached.remotePath).to.equal(`${GUEST_BUNDLES}/${cached.name}`);
            expect(fs.readFileSync(slot).equals(sealed)).to.equal(true);
            expect(fs.statSync(slot).mode & 0o777).to.equal(0o600);
            expect(bundleSlot("lab", "app-1", "service-hello")).to.equal(slot);
            expect(fs.readFileSync(slot).equals(sealed), "declaring it again keeps the bundle").to.equal(true);
            expect(readCachedBundle(cached.name).equals(sealed)).to.equal(true);
            expect(() => readCachedBundle("service-hello.00000000000000000000")).to.throw("is not in");
            expect(() => bundleSlot("lab", "app-1", "Service hello")).to.throw('release role "Service hello"');
        } finally {
            delete process.env.NORDFLEET_BUNDLE_CACHE;
        }
    });

    it("names its bundle on the command line that opens it, which bash accepts", () => {
        const cached = cacheBundle(path.join(tmp, "consul"), "consul", sealBundle(script, key));
        const create = openBundleCommand("consul", cached);
        expect(bundleOpenedBy(create)).to.equal(cached.name);
        expect(bundleOpenedBy("bash -s")).to.equal(undefined);
        expect(create).to.not.include(key);
        expect(spawnSync("bash", ["-n", "-c", create]).status).to.equal(0);
    });

    it("derives each guest's key from its host key, and shows it as a placeholder in a render", () => {
        expect(releaseKeyOf("app-1", "HOSTKEY-A")).to.equal(releaseKeyOf("app-1", "HOSTKEY-A"));
        expect(releaseKeyOf("app-1", "HOSTKEY-A")).to.not.equal(releaseKeyOf("app-1", "HOSTKEY-B"));
        expect(Buffer.from(releaseKeyOf("app-1", "HOSTKEY-A"), "base64")).to.have.length(32);
        expect(releaseKeyOf("app-1", "<secret:app-1-host-key>")).to.equal("<secret:app-1-release-key>");
    });
});
