/**
 * A release: one role's files on one guest, pushed as a whole. The script stages the
 * tree beside the live one (/etc/nordfleet/<role>/releases/<digest>), lets the role's
 * hooks validate it with the service's own tool, switches `current` to it atomically,
 * reloads and health-checks, and switches back on any failure.
 *
 * The script travels as a sealed bundle (releaseBundle.ts): the state holds its hash,
 * not its content, and the command that opens it gets only the guest's release key, as a
 * secret. An unchanged release is an unchanged bundle, so `pulumi up` does not contact
 * the host.
 */
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { Connection } from "../compute/connection";
import { readAssignments, readTemplate, shellAssignments, shellQuote, shellWords } from "../render";
import type { HostLedger } from "./hostLedger";
import { sealedScript } from "./releaseBundle";

export interface ReleaseFile {
    /** Path inside the release tree, e.g. "nginx.conf" or "tls/server.key". */
    path: string;
    mode: string;
    /** user:group that owns the file; root:root when absent. */
    owner?: string;
    content: string;
}

/** The live release of a role on a guest (beside its `releases/`): what its services read their config from. */
export const liveRelease = (role: string) => `/etc/nordfleet/${role}/current`;

/** The content address of a release: every path, mode, owner and byte. */
export function releaseDigest(files: ReleaseFile[]): string {
    const hash = crypto.createHash("sha256");
    for (const f of [...files].sort((a, b) => a.path.localeCompare(b.path))) {
        hash.update(`${f.path}\0${f.mode}\0${f.owner ?? "root:root"}\0${f.content.length}\0`).update(f.content);
    }
    return hash.digest("hex").slice(0, 16);
}

/**
 * The whole script for one role: variables, the generic release steps, the role's
 * hooks (`templates/<hooks>`, in order), the files, and the apply call.
 */
export function releaseScript(role: string, hooks: string | string[], files: ReleaseFile[],
                              vars: Record<string, string | number> = {}): string {
    const fileLines = files.map(f => ["nf_file", f.path, f.mode, f.owner ?? "root:root",
        Buffer.from(f.content).toString("base64")].map(shellQuote).join(" "));
    return shellAssignments({ ...vars, ROLE: role, RELEASE: releaseDigest(files) })
        + readTemplate("release/apply.sh")
        + [hooks].flat().map(readTemplate).join("")
        + ["nf_begin", ...fileLines, "nf_apply", ""].join("\n");
}

/**
 * A captured release script taken apart again, for `npm run render`: its role, its files,
 * and the script with each file's content replaced by the file's name. Undefined for any
 * other script.
 */
export function readReleaseScript(script: string): { role: string; files: ReleaseFile[]; script: string } | undefined {
    const role = readAssignments(script).ROLE;
    if (role === undefined || !script.includes("\nnf_begin\n")) {
        return undefined;
    }
    const files: ReleaseFile[] = [];
    const lines = script.split("\n").map(line => {
        const [verb, path, mode, owner, content] = line.startsWith("'nf_file' ") ? shellWords(line) : [];
        if (verb !== "nf_file") {
            return line;
        }
        files.push({ path, mode, owner, content: Buffer.from(content, "base64").toString("utf8") });
        return ["nf_file", path, mode, owner].map(shellQuote).join(" ") + ` <${role}/${path}>`;
    });
    return { role, files, script: lines.join("\n") };
}

/** One file a release placed, as the doctor checks it. */
export interface PushedFileRecord {
    path: string;
    sha256: string;
    mode: string;
}

/** A release's record: every file at its live path, with its digest and mode. */
export interface ReleaseRecord {
    role: string;
    release: string;
    /** The release's apply command: `pulumi up --target-replace URN` puts changed files back. */
    urn: string;
    files: PushedFileRecord[];
}

export function releaseRecord(role: string, files: ReleaseFile[], urn: string): ReleaseRecord {
    return {
        role, release: releaseDigest(files), urn,
        files: [...files].sort((a, b) => a.path.localeCompare(b.path)).map(f => ({
            path: `${liveRelease(role)}/${f.path}`, mode: f.mode,
            sha256: crypto.createHash("sha256").update(f.content).digest("hex"),
        })),
    };
}

export interface RoleReleaseArgs {
    /** How to reach the guest (through its hypervisor, host key pinned). */
    connection: Connection;
    /** The role's name: the release lives in /etc/nordfleet/<role>/. */
    role: string;
    /** Template path of the role's hooks, e.g. "gateway/hooks.sh", or paths read in order. */
    hooks: string | string[];
    /** Every file of the release tree (may hold secrets: the script travels sealed). */
    files: pulumi.Input<ReleaseFile[]>;
    /** Plain variables the hooks read (no secrets). */
    vars?: Record<string, string | number>;
    /** Changes when the guest is rebuilt: a new machine gets the release again. */
    machine: pulumi.Input<string>;
    /** The guest's release key, and where the release's file digests are recorded for the doctor. */
    ledger: HostLedger;
}

export interface ReleaseOptions {
    parent: pulumi.Resource;
    dependsOn?: pulumi.Input<pulumi.Resource>[];
    formerParent?: pulumi.Input<string>;
}

/** The type RoleRelease had as a component, which its resources' aliases still name. */
const FORMER_COMPONENT_TYPE = "nordfleet:platform:RoleRelease";

/**
 * A role's release on one guest: the bundle's upload and the command that applies it,
 * declared under the caller's own component. Not a component of its own: a self-managed
 * backend writes the whole state at every step, and a component per release was a
 * resource and a step more per role on every VM, and a longer URN for each of its
 * resources and every dependency on them. Stacks made before keep their resources
 * through aliases to the component they were under.
 */
export class RoleRelease {
    /**
     * The digest of the live release, once the guest runs it. Not secret, though the
     * files may be: a truncated hash says nothing of them, and others may export it or
     * trigger on it.
     */
    public readonly release: pulumi.Output<string>;
    /** The command that applies the release: what a release that must come after it waits for. */
    public readonly applied: command.remote.Command;

    /**
     * @param opts the caller's component as `parent`, and what the release must wait for
     *   as `dependsOn` (the apply command waits; the upload does not need to);
     *   `formerParent`, what the release's component was under if not `parent`
     */
    constructor(name: string, args: RoleReleaseArgs, opts: ReleaseOptions) {
        const formerParent = pulumi.createUrn(name, FORMER_COMPONENT_TYPE, opts.formerParent ?? opts.parent);
        const childOpts = { parent: opts.parent, aliases: [{ parent: formerParent }] };
        const files = pulumi.output(args.files);
        const sealed = sealedScript(`${name}-bundle`, {
            connection: args.connection, host: args.ledger.host, role: args.role, key: args.ledger.releaseKey,
            script: files.apply(f => releaseScript(args.role, args.hooks, f, args.vars)),
            triggers: [args.machine],
        }, childOpts);
        this.applied = new command.remote.Command(`${name}-apply`, {
            connection: args.connection,
            create: sealed.create,
            stdin: sealed.stdin,
            triggers: [args.machine],
        }, { ...childOpts, dependsOn: [sealed.upload, ...(opts.dependsOn ?? [])] });
        this.release = pulumi.unsecret(pulumi.all([files, this.applied.stdout]).apply(([f]) => releaseDigest(f)));
        // Digests say nothing of the secrets in the files: the record is plain.
        args.ledger.add(pulumi.unsecret(pulumi.all([files, this.applied.urn])
            .apply(([f, urn]) => releaseRecord(args.role, f, urn))), this.applied);
    }
}
