/**
 * Every remote command of a stack turned into the files each host receives, one folder
 * per host:
 *
 *   HOST/ROLE/PATH              a file of a release, as it lands in /etc/nordfleet/ROLE/current/
 *   HOST/releases/ROLE.sh       the release's script, each file named instead of inlined
 *   HOST/commands/NAME.sh       any other command: what runs (its stdin, or its sealed script) and its delete step
 *   HOST/commands/NAME/FILE     a file such a script carries (a domain's XML, a guest's seed)
 *   HOST/ledgers/GUEST.json     a hypervisor's record of what each release placed on its guest GUEST
 */
import { EMBEDDED_FILES } from "../components/compute/kvmInstance";
import { readReleaseScript } from "../components/platform/release";
import { ledgerInstalledBy } from "../components/platform/hostLedger";
import { readCachedBundle, scriptOpenedBy } from "../components/platform/releaseBundle";
import { readAssignments, shellQuote } from "../components/render";
import { LoadedFleet } from "../config/load";
import { CapturedCommand } from "./capture";

/** Relative path (host/file) -> content. */
export type RenderedFiles = Map<string, string>;

export function hostFiles(commands: CapturedCommand[], { config }: LoadedFleet): RenderedFiles {
    const hostByAddress = new Map([...config.hypervisors, ...config.hosts].map(h => [h.address, h.name]));
    const files: RenderedFiles = new Map();
    const add = (file: string, content: string) => {
        if (files.has(file)) {
            throw new Error(`render: two commands write ${file}`);
        }
        files.set(file, content);
    };
    for (const cmd of commands) {
        const host = hostByAddress.get(cmd.host);
        if (host === undefined) {
            throw new Error(`render: command ${cmd.name} connects to ${cmd.host}, which is no host of the stack`);
        }
        const ledger = ledgerInstalledBy(cmd.create ?? "");
        if (ledger !== undefined) {
            // A record a line on the hypervisor; one field a line here, so a review's diff shows what changed.
            const records = readCachedBundle(ledger).toString("utf8").split("\n").filter(l => l !== "").map(l => JSON.parse(l));
            add(`${host}/ledgers/${ledger.slice("ledger-".length, ledger.lastIndexOf("."))}.json`,
                `${JSON.stringify(records, null, 2)}\n`);
        }
        const script = scriptOpenedBy(cmd.create ?? "", cmd.stdin ?? "");
        const release = script === undefined ? undefined : readReleaseScript(script);
        if (release) {
            release.files.forEach(f => add(`${host}/${release.role}/${f.path}`, f.content));
            add(`${host}/releases/${release.role}.sh`, release.script);
            continue;
        }
        // A sealed script is shown as it runs, in place of the key on its command's stdin.
        let runs = script ?? cmd.stdin;
        const embedded = Object.entries(readAssignments(runs ?? ""))
            .filter(([v]) => v in EMBEDDED_FILES) as [keyof typeof EMBEDDED_FILES, string][];
        for (const [variable, base64] of embedded) {
            const file = `${cmd.name}/${EMBEDDED_FILES[variable]}`;
            add(`${host}/commands/${file}`, Buffer.from(base64, "base64").toString("utf8"));
            runs = runs!.replace(`${variable}=${shellQuote(base64)}\n`, `${variable}=<base64 of ${file}>\n`);
        }
        add(`${host}/commands/${cmd.name}.sh`, commandText(cmd, runs, script !== undefined));
    }
    return files;
}

function commandText(cmd: CapturedCommand, runs: string | undefined, sealed: boolean): string {
    const via = cmd.proxy === undefined ? "" : ` (through ${cmd.proxy})`;
    return [
        `# nordfleet runs on ${cmd.host}${via}:`,
        cmd.create ?? "",
        ...(runs === undefined ? [] : [sealed ? "# which opens its sealed bundle and runs this:" : "# with this on its stdin:",
            runs.trimEnd()]),
        ...(cmd.delete === undefined ? [] : ["# and when the resource is deleted:", cmd.delete.trimEnd()]),
        "",
    ].join("\n");
}
