/**
 * A guest's release ledger: what each release placed on the guest (every file at its live
 * path, with its digest and mode), kept on the guest's hypervisor, out of the guest's
 * reach, where the doctor compares the guest's files with it.
 *
 * One file per guest, /var/lib/nordfleet/pushed/HOST/releases.json, a record per line,
 * written once every release of the guest has applied. It travels as a bundle (a file the
 * state keeps by path and hash), so the records are not in the state, and a guest costs
 * one upload and one command, not a command per release.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { Connection } from "../compute/connection";
import { shellQuote } from "../render";
import { ReleaseRecord } from "./release";
import { CachedBundle, dropOtherBundles, GUEST_BUNDLES, uploadBundle } from "./releaseBundle";

/** The hypervisor's folder of one guest's release records. */
export const ledgerDir = (host: string) => `/var/lib/nordfleet/pushed/${host}`;
export const ledgerFile = (host: string) => `${ledgerDir(host)}/releases.json`;

/** The ledger's name among the hypervisor's bundles. */
const ledgerBundleRole = (host: string) => `ledger-${host}`;

/** The ledger's content: a record per line, in the order of their roles. */
export function ledgerText(records: ReleaseRecord[]): string {
    return [...records].sort((a, b) => a.role.localeCompare(b.role)).map(r => `${JSON.stringify(r)}\n`).join("");
}

/**
 * Installs the uploaded ledger in place of the guest's previous one (atomically), drops
 * the records older versions kept one file per role, and the ledger's older bundles.
 */
export function installLedgerCommand(host: string, bundle: CachedBundle): string {
    const dir = shellQuote(ledgerDir(host));
    const file = shellQuote(ledgerFile(host));
    return [
        "set -eu",
        `install -d -m 0700 ${dir}`,
        `install -m 0600 ${bundle.remotePath} ${file}.new`,
        `mv -f ${file}.new ${file}`,
        `find ${dir} -maxdepth 1 -name '*.json' ! -name releases.json -delete`,
        dropOtherBundles(ledgerBundleRole(host), bundle),
    ].join("\n");
}

/** The ledger a command installs, read back from the command (for `npm run render`). */
export function ledgerInstalledBy(create: string): string | undefined {
    return new RegExp(`install -m 0600 ${GUEST_BUNDLES}/([a-z0-9.-]+) `).exec(create)?.[1];
}

export class HostLedger {
    private readonly records: { record: pulumi.Output<ReleaseRecord>; applied: pulumi.Resource }[] = [];
    private written = false;

    /**
     * @param connection the guest's hypervisor
     * @param host the guest's host name
     * @param releaseKey secret: the key the guest's release bundles are sealed with
     */
    constructor(public readonly connection: Connection, public readonly host: string,
                public readonly releaseKey: pulumi.Output<string>) {}

    /** Adds a release's record, to be written once `applied` (its apply command) has run. */
    public add(record: pulumi.Output<ReleaseRecord>, applied: pulumi.Resource): void {
        if (this.written) {
            throw new Error(`the release ledger of ${this.host} is already written: declare its releases first`);
        }
        this.records.push({ record, applied });
    }

    /** Declares the ledger's upload and install, as children of `parent`; once every release of the guest is declared. */
    public write(name: string, parent: pulumi.Resource): void {
        this.written = true;
        if (this.records.length === 0) {
            return;
        }
        const records = pulumi.all(this.records.map(r => r.record));
        const { upload, bundle } = uploadBundle(`${name}-upload`, {
            connection: this.connection, host: this.host, role: ledgerBundleRole(this.host),
            content: records.apply(r => Buffer.from(ledgerText(r))),
        }, { parent });
        new command.remote.Command(name, {
            connection: this.connection,
            create: bundle.apply(b => installLedgerCommand(this.host, b)),
            delete: `rm -f ${shellQuote(ledgerFile(this.host))}`,
            logging: "stderr",
        }, { parent, dependsOn: [upload, ...this.records.map(r => r.applied)] });
    }
}
