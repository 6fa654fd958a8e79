/**
 * How a release's script reaches its guest without its content ever entering the state.
 *
 * The script is sealed with the guest's release key and written to a local cache, one
 * file per stack, guest and role (.nordfleet/bundles/STACK/HOST/ROLE). A CopyToRemote
 * uploads it as a FileAsset, which the state records by path and hash only, to a name
 * of its own hash on the guest, and the release's command opens it there with the key it
 * gets on stdin, the one secret left in the state for it. The cache file's path is known
 * before its content: a preview of a guest whose keys do not exist yet still has a file
 * to upload (empty until the update writes the bundle), as the CopyToRemote requires.
 * A self-managed backend writes the whole state after every step of an update, so a
 * release no longer costs its script's size, twice, in every checkpoint.
 *
 * The seal is `openssl enc -aes-256-cbc -pbkdf2 -md sha256`'s own format, so a guest opens
 * it with the openssl it already has. Its salt comes from the key and the script, so the
 * same release seals to the same bytes on every machine: an unchanged release is an
 * unchanged asset, and `pulumi up` does not contact the host. (Not compressed: zlib's
 * output may differ between CPUs, and a bundle must not.) The cache is only a cache:
 * every run writes the bundles it declares, and deleting the folder loses nothing.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { Connection } from "../compute/connection";
import { derived } from "../placeholder";
import { shellQuote } from "../render";

/** openssl enc's own header and its default PBKDF2 iteration count with -pbkdf2. */
const MAGIC = Buffer.from("Salted__");
const PBKDF2_ITERATIONS = 10000;

/** The local cache of sealed bundles, under the project's working directory (`npm run render` uses its own). */
export const bundleCache = () => process.env.NORDFLEET_BUNDLE_CACHE ?? ".nordfleet/bundles";
/** Where a guest keeps the bundles it was sent (root-only). */
export const GUEST_BUNDLES = "/var/lib/nordfleet/bundles";

/** A guest's release key, derived from its host key (a placeholder in a render, as the host key is). */
export function releaseKeyOf(host: string, hostPrivateKey: string): string {
    return bundleKeyOf(host, hostPrivateKey, "release");
}

/**
 * The key of the bundles the guest's hypervisor gets for it (its domain, with the seed
 * that carries the host key): derived from the host key too, under a label of its own.
 */
export function instanceKeyOf(host: string, hostPrivateKey: string): string {
    return bundleKeyOf(host, hostPrivateKey, "instance");
}

function bundleKeyOf(host: string, hostPrivateKey: string, purpose: "release" | "instance"): string {
    return derived([hostPrivateKey], `${host}-${purpose}-key`, () =>
        Buffer.from(crypto.hkdfSync("sha256", hostPrivateKey, "nordfleet", `${purpose} bundles`, 32)).toString("base64"));
}

function cipherParams(key: string, salt: Buffer): { cipherKey: Buffer; iv: Buffer } {
    const bytes = crypto.pbkdf2Sync(key, salt, PBKDF2_ITERATIONS, 48, "sha256");
    return { cipherKey: bytes.subarray(0, 32), iv: bytes.subarray(32) };
}

/** The script sealed with KEY, byte for byte as `openssl enc -aes-256-cbc -pbkdf2 -md sha256 -salt` would write it. */
export function sealBundle(script: string, key: string): Buffer {
    const plain = Buffer.from(script, "utf8");
    const salt = crypto.createHmac("sha256", key).update(plain).digest().subarray(0, 8);
    const { cipherKey, iv } = cipherParams(key, salt);
    const cipher = crypto.createCipheriv("aes-256-cbc", cipherKey, iv);
    return Buffer.concat([MAGIC, salt, cipher.update(plain), cipher.final()]);
}

/** The script a sealed bundle holds (`npm run render` reads releases back this way). */
export function openBundle(sealed: Buffer, key: string): string {
    if (!sealed.subarray(0, MAGIC.length).equals(MAGIC)) {
        throw new Error("not a sealed release bundle");
    }
    const salt = sealed.subarray(MAGIC.length, MAGIC.length + 8);
    const { cipherKey, iv } = cipherParams(key, salt);
    const decipher = crypto.createDecipheriv("aes-256-cbc", cipherKey, iv);
    return Buffer.concat([decipher.update(sealed.subarray(MAGIC.length + 8)), decipher.final()]).toString("utf8");
}

export interface CachedBundle {
    /** ROLE.HASH: the role's name and the sealed bytes' hash. */
    name: string;
    /** Where the guest keeps it. */
    remotePath: string;
}

/**
 * The cache file of a guest's release of ROLE (absolute), which exists from the moment
 * the release is declared: empty until its bundle is written.
 */
export function bundleSlot(stack: string, host: string, role: string): string {
    for (const [what, value] of [["stack", stack], ["host", host], ["release role", role]]) {
        if (!/^[a-z0-9][a-z0-9.-]*$/.test(value)) {
            throw new Error(`${what} ${JSON.stringify(value)}: a release bundle's path takes only lower-case letters, digits, "." and "-"`);
        }
    }
    const slot = path.resolve(bundleCache(), stack, host, role);
    if (!fs.existsSync(slot)) {
        fs.mkdirSync(path.dirname(slot), { recursive: true, mode: 0o700 });
        fs.writeFileSync(slot, "", { mode: 0o600 });
    }
    return slot;
}

/** Writes a sealed bundle into its cache file (atomically) and says where the guest keeps it. */
export function cacheBundle(slot: string, role: string, sealed: Buffer): CachedBundle {
    const name = `${role}.${crypto.createHash("sha256").update(sealed).digest("hex").slice(0, 20)}`;
    if (!fs.existsSync(slot) || !fs.readFileSync(slot).equals(sealed)) {
        const partial = `${slot}.${process.pid}.partial`;
        fs.writeFileSync(partial, sealed, { mode: 0o600 });
        fs.renameSync(partial, slot);
    }
    return { name, remotePath: `${GUEST_BUNDLES}/${name}` };
}

/**
 * The release command: opens the bundle with the key on its first stdin line into a
 * root-only file, runs it, and once it succeeded drops the role's other bundles (the
 * live one stays, for `pulumi up --target-replace` to run again).
 */
export function openBundleCommand(role: string, bundle: CachedBundle): string {
    const script = [
        "set -euo pipefail",
        "umask 077",
        `chmod 0700 ${GUEST_BUNDLES}`,
        'script=$(mktemp /run/nordfleet-release.XXXXXX)',
        'trap \'rm -f "$script"\' EXIT',
        // Role and hash are letters, digits, "-" and ".": nothing here needs quoting.
        `openssl enc -d -aes-256-cbc -pbkdf2 -md sha256 -pass stdin -in ${bundle.remotePath} -out "$script"`,
        'bash "$script"',
        dropOtherBundles(role, bundle),
    ].join("\n");
    return `bash -c ${shellQuote(script)}`;
}

/** The line that drops every bundle of ROLE but BUNDLE, once BUNDLE is in use. */
export function dropOtherBundles(role: string, bundle: CachedBundle): string {
    return `find ${GUEST_BUNDLES} -maxdepth 1 -name '${role}.*' ! -name ${bundle.name} -delete`;
}

/** The bundle a release command opens, read back from the command (for `npm run render`). */
export function bundleOpenedBy(create: string): string | undefined {
    return new RegExp(`-in ${GUEST_BUNDLES}/([a-z0-9.-]+) -out`).exec(create)?.[1];
}

/** The sealed bundle named NAME (ROLE.HASH), found in the local cache by its hash. */
export function readCachedBundle(name: string, cache = bundleCache()): Buffer {
    const [role, hash] = [name.slice(0, name.lastIndexOf(".")), name.slice(name.lastIndexOf(".") + 1)];
    const slots = fs.existsSync(cache) ? fs.readdirSync(cache, { recursive: true, encoding: "utf8" })
        .filter(file => path.basename(file) === role).map(file => path.join(cache, file)) : [];
    for (const slot of slots) {
        const sealed = fs.readFileSync(slot);
        if (crypto.createHash("sha256").update(sealed).digest("hex").startsWith(hash)) {
            return sealed;
        }
    }
    throw new Error(`release bundle ${name} is not in ${path.resolve(cache)}`);
}

/**
 * The script a release command runs: the bundle its command line names, from the local
 * cache, opened with the key it gets on stdin. Undefined for any other command.
 */
export function scriptOpenedBy(create: string, stdin: string): string | undefined {
    const name = bundleOpenedBy(create);
    return name === undefined ? undefined : openBundle(readCachedBundle(name), stdin.trim());
}

export interface SealedScriptArgs {
    /** Where the script runs. */
    connection: Connection;
    /** The guest the script is for, and the bundle's name among its bundles (its role). */
    host: string;
    role: string;
    /** The script (may hold secrets: it travels sealed). */
    script: pulumi.Input<string>;
    /** Secret: the key it is sealed with, which the command gets on stdin. */
    key: pulumi.Output<string>;
    /** Changes that upload the bundle again though it did not change (a rebuilt machine). */
    triggers?: pulumi.Input<any>[];
}

/**
 * A script on its way to a host as a sealed bundle: the upload (a CopyToRemote), and the
 * command line and stdin of the command that runs it, for the caller's own Command.
 */
export interface SealedScript {
    upload: command.remote.CopyToRemote;
    create: pulumi.Output<string>;
    stdin: pulumi.Output<string>;
}

export function sealedScript(name: string, args: SealedScriptArgs, opts: pulumi.CustomResourceOptions): SealedScript {
    const { upload, bundle } = uploadBundle(name, {
        connection: args.connection, host: args.host, role: args.role, triggers: args.triggers,
        content: pulumi.all([args.script, args.key]).apply(([script, key]) => sealBundle(script, key)),
    }, opts);
    return {
        upload,
        create: bundle.apply(b => openBundleCommand(args.role, b)),
        stdin: pulumi.secret(args.key.apply(key => `${key}\n`)),
    };
}

export interface BundleArgs {
    connection: Connection;
    /** The guest the bundle is for, and its name among the guest's bundles. */
    host: string;
    role: string;
    /** Its bytes: sealed where they hold a secret. */
    content: pulumi.Output<Buffer>;
    triggers?: pulumi.Input<any>[];
}

/** A bundle's upload to where CONNECTION leads, under a name of its hash, and that name once known. */
export function uploadBundle(name: string, args: BundleArgs, opts: pulumi.CustomResourceOptions):
    { upload: command.remote.CopyToRemote; bundle: pulumi.Output<CachedBundle> } {
    const slot = bundleSlot(pulumi.getStack(), args.host, args.role);
    // Named by the hash of its bytes, which says nothing of a sealed script: plain.
    const cached = pulumi.unsecret(args.content.apply(content => cacheBundle(slot, args.role, content)));
    const upload = new command.remote.CopyToRemote(name, {
        connection: args.connection,
        source: new pulumi.asset.FileAsset(slot),
        // Waits for the bundle: the engine reads the file once every input is known.
        remotePath: cached.apply(b => b.remotePath),
        triggers: args.triggers,
    }, opts);
    // The bundle's name, read back from the upload: a command that opens it depends on the
    // upload alone, not on every key and certificate sealed inside, each of which the
    // state would otherwise list, twice, for the command.
    return { upload, bundle: upload.remotePath.apply(uploadedBundle) };
}

/** The bundle a CopyToRemote placed at REMOTE-PATH. */
export function uploadedBundle(remotePath: string): CachedBundle {
    return { name: remotePath.slice(remotePath.lastIndexOf("/") + 1), remotePath };
}
