/**
 * What a change pushes, host by host: renders every stack at a base (a git ref or a
 * checkout) and in this working tree, and prints the unified diff of the rendered files
 * as Markdown, one collapsed section per host. The pull-request workflow posts it beside
 * the preview, which can only show `[secret]` for a release.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseFlags, runCli, UsageError } from "../cli/run";
import { PROJECT_DIR } from "./stackConfig";

/** GitHub refuses a comment over 65536 characters. */
export const DEFAULT_MAX_CHARS = 60_000;
export const COMMENT_MARKER = "<!-- nordfleet-render-diff -->";

/** One host's changes: the unified diff of each changed file. */
export interface HostDiff {
    stack: string;
    host: string;
    files: { file: string; diff: string; added: number; removed: number }[];
}

function run(cmd: string, args: string[], cwd: string): string {
    const r = spawnSync(cmd, args, { cwd, encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
    if (r.status !== 0 && !(cmd === "git" && args[0] === "diff" && r.status === 1)) {
        throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr.trim()}`);
    }
    return r.stdout;
}

/** The stacks a checkout declares (Pulumi.<stack>.yaml). */
export function stacksIn(dir: string): string[] {
    return fs.readdirSync(dir).map(f => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1]).filter((s): s is string => !!s).sort();
}

function renderInto(checkout: string, stack: string, out: string): void {
    if (!fs.existsSync(path.join(checkout, `Pulumi.${stack}.yaml`))) {
        fs.mkdirSync(out, { recursive: true });
        return;
    }
    run(path.join(checkout, "node_modules", ".bin", "ts-node"),
        ["--transpile-only", path.join(checkout, "render", "main.ts"), stack, out], checkout);
}

/**
 * Unified diffs of two rendered trees (folders of `dir`), grouped by host (the first
 * folder of each path).
 */
export function diffTrees(stack: string, dir: string, before: string, after: string): HostDiff[] {
    const out = run("git", ["diff", "--no-index", "--no-color", "--no-renames", "--no-prefix", "--unified=3", before, after], dir);
    const byHost = new Map<string, HostDiff>();
    for (const chunk of out.split(/^(?=diff --git )/m).filter(c => c.startsWith("diff --git "))) {
        const name = [...chunk.matchAll(/^(?:---|\+\+\+) (.+)$/gm)].map(m => m[1]).find(n => n !== "/dev/null")!;
        const file = path.relative(name.startsWith(`${after}/`) ? after : before, name);
        const host = file.split("/")[0];
        const body = chunk.slice(chunk.search(/^@@/m) === -1 ? chunk.length : chunk.search(/^@@/m));
        const lines = body.split("\n");
        const entry = byHost.get(host) ?? { stack, host, files: [] };
        entry.files.push({
            file: file.slice(host.length + 1),
            diff: `--- ${file}\n+++ ${file}\n${body}`,
            added: lines.filter(l => l.startsWith("+")).length,
            removed: lines.filter(l => l.startsWith("-")).length,
        });
        byHost.set(host, entry);
    }
    return [...byHost.values()].sort((a, b) => a.host.localeCompare(b.host));
}

/** The Markdown report, cut to maxChars with a count of what was left out. */
export function formatReport(diffs: HostDiff[], base: string, maxChars = DEFAULT_MAX_CHARS): string {
    const head = `${COMMENT_MARKER}\n### What this change pushes (npm run render:diff -- ${base})\n\n`;
    if (diffs.length === 0) {
        return `${head}No host receives a different file.\n`;
    }
    const files = diffs.reduce((n, d) => n + d.files.length, 0);
    const summary = `${files} file(s) change on ${diffs.length} host(s). Keys, passwords and certificates appear ` +
        `as placeholders.\n\n`;
    let text = head + summary;
    const left = { hosts: 0, files: 0, lines: 0 };
    for (const d of diffs) {
        const added = d.files.reduce((n, f) => n + f.added, 0);
        const removed = d.files.reduce((n, f) => n + f.removed, 0);
        const section = `<details><summary>${d.stack} · ${d.host}: ${d.files.map(f => f.file).join(", ")} ` +
            `(+${added} −${removed})</summary>\n\n\`\`\`diff\n${d.files.map(f => f.diff.trimEnd()).join("\n")}\n\`\`\`\n</details>\n\n`;
        if (text.length + section.length > maxChars - 300) {
            left.hosts++;
            left.files += d.files.length;
            left.lines += added + removed;
            continue;
        }
        text += section;
    }
    if (left.hosts > 0) {
        text += `**Cut:** ${left.hosts} host(s) with ${left.files} changed file(s) and ${left.lines} changed line(s) ` +
            `are left out. Run \`npm run render:diff -- ${base}\` to see all of it.\n`;
    }
    return text;
}

/** A base given as a git ref becomes a worktree of its own, sharing this tree's node_modules. */
function checkoutOf(base: string, scratch: string): { dir: string; cleanup: () => void } {
    if (fs.existsSync(path.join(base, "Pulumi.yaml"))) {
        return { dir: path.resolve(base), cleanup: () => undefined };
    }
    const dir = path.join(scratch, "base");
    run("git", ["worktree", "add", "--quiet", "--detach", dir, base], PROJECT_DIR);
    fs.symlinkSync(path.join(PROJECT_DIR, "node_modules"), path.join(dir, "node_modules"));
    return { dir, cleanup: () => run("git", ["worktree", "remove", "--force", dir], PROJECT_DIR) };
}

export function renderDiff(base: string, stacks?: string[]): HostDiff[] {
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "nordfleet-render-diff-"));
    const checkout = checkoutOf(base, scratch);
    try {
        const all = stacks ?? [...new Set([...stacksIn(checkout.dir), ...stacksIn(PROJECT_DIR)])].sort();
        return all.flatMap(stack => {
            const [before, after] = [`before/${stack}`, `after/${stack}`];
            renderInto(checkout.dir, stack, path.join(scratch, before));
            renderInto(PROJECT_DIR, stack, path.join(scratch, after));
            return diffTrees(stack, scratch, before, after);
        });
    } finally {
        checkout.cleanup();
        fs.rmSync(scratch, { recursive: true, force: true });
    }
}

const USAGE = `usage: npm run render:diff -- BASE [--stack STACK] [--out FILE] [--max-chars N]

Renders every stack (or only STACK) at BASE and in this working tree and prints, per
host, the unified diff of the files nordfleet pushes, as Markdown.

  BASE           a git ref (main, origin/main, a commit) or the folder of another checkout
  --stack STACK  only this stack
  --out FILE     write the report to FILE instead of printing it
  --max-chars N  cut the report at about N characters, saying what was left out
                 (default ${DEFAULT_MAX_CHARS}: a pull-request comment's limit)
  -h, --help     this text`;

if (require.main === module) {
    runCli("render:diff", USAGE, argv => {
        const { flags, positional: [base] } = parseFlags(argv, ["stack", "out", "max-chars"], [], 1);
        if (!base) {
            throw new UsageError("no base given");
        }
        const maxChars = Number(flags.get("max-chars") ?? DEFAULT_MAX_CHARS);
        if (!Number.isInteger(maxChars) || maxChars < 1000) {
            throw new UsageError(`--max-chars: ${JSON.stringify(flags.get("max-chars"))} is not a whole number of 1000 or more`);
        }
        const stack = flags.get("stack");
        const report = formatReport(renderDiff(base, stack === undefined ? undefined : [stack]), base, maxChars);
        const out = flags.get("out");
        if (out === undefined) {
            process.stdout.write(report);
        } else {
            fs.writeFileSync(out, report);
            console.log(`wrote ${out}`);
        }
        return 0;
    });
}
