/**
 * Files of the platform's releases changed on a guest since they were pushed: which
 * ones, and their diff against the pushed copy the release keeps beside itself. That
 * copy is on the guest, so it is trusted only when its digest is the one the hypervisor
 * recorded. A file others may not read (mode without o+r) may hold a secret: its diff
 * shows where lines changed, never what they say.
 */
import { liveRelease, PushedFileRecord, ReleaseRecord } from "../components/platform/release";
import { shellQuote } from "../components/render";
import { Probe } from "./checks";

/** The ledger's records of one guest, one JSON document per line; anything else is skipped. */
export function parseReleaseRecords(text: string): ReleaseRecord[] {
    return text.split("\n").filter(l => l.trim().startsWith("{")).flatMap(line => {
        try {
            const r = JSON.parse(line) as ReleaseRecord;
            return typeof r.role === "string" && Array.isArray(r.files) ? [r] : [];
        } catch {
            return [];
        }
    });
}

export interface ChangedFile {
    role: string;
    release: string;
    file: PushedFileRecord;
}

/** The release files whose live digest differs from the recorded one (a missing file has no diff to show). */
export function changedReleaseFiles(releases: ReleaseRecord[], probe: Probe): ChangedFile[] {
    return releases.flatMap(r => r.files
        .filter(f => typeof probe.fileSha256[f.path] === "string" && probe.fileSha256[f.path] !== f.sha256)
        .map(file => ({ role: r.role, release: r.release, file })));
}

/** Prints the pushed copy's sha256, then `diff -u` of it against the live file. */
export function pushedDiffCommand(c: ChangedFile): string {
    const tar = `/etc/nordfleet/${c.role}/releases/.${c.release}.pushed.tar`;
    const member = `./${c.file.path.slice(liveRelease(c.role).length + 1)}`;
    return `p=$(mktemp) && tar -xOf ${shellQuote(tar)} ${shellQuote(member)} >"$p" 2>/dev/null; ` +
        `sha256sum <"$p" | cut -d' ' -f1; diff -u --label pushed --label live "$p" ${shellQuote(c.file.path)}; rm -f "$p"`;
}

/** Whether others may read the file: only then can its lines be shown. */
const worldReadable = (mode: string) => (parseInt(mode, 8) & 0o004) !== 0;

/** The diff section for one changed file, from pushedDiffCommand's output. */
export function formatPushedDiff(host: string, c: ChangedFile, output: string): string {
    const [pushedSha, ...diff] = output.split("\n");
    const head = `--- ${host}: ${c.file.path} (mode ${c.file.mode}), changed since it was pushed`;
    if (pushedSha.trim() !== c.file.sha256) {
        return `${head}\n    the pushed copy on the guest is missing or altered too: no diff shown\n`;
    }
    const body = worldReadable(c.file.mode) ? diff
        : diff.map(l => (/^[-+ ]/.test(l) && !/^(---|\+\+\+) /.test(l) ? `${l[0]}[line not shown: the file may hold a secret]` : l));
    return `${head}\n${body.filter(l => l !== "").map(l => `    ${l}`).join("\n")}\n`;
}
