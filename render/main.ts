/**
 * Writes every file nordfleet would push to every host into a folder, one subfolder per
 * host (layout in hostFiles.ts), so a reviewer can read and diff what a change pushes.
 * The stack is declared by the program's own code under mocks: there is no second
 * renderer that could drift from what `pulumi up` pushes.
 *
 * The folder is replaced as a whole, so a file that is no longer pushed disappears too.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseFlags, runCli, UsageError } from "../cli/run";
import { captureCommands } from "./capture";
import { hostFiles } from "./hostFiles";
import { loadStackFile, PROJECT_DIR } from "./stackConfig";

/** Renders a stack into outDir. Declares the stack under mocks: once per process. */
export async function writeRendered(stack: string, outDir: string): Promise<number> {
    const loaded = loadStackFile(stack);
    // The releases' bundles, sealed with placeholders for keys, go to a cache of their
    // own: the project's is what a real run of the same stack uploads.
    const bundles = fs.mkdtempSync(path.join(os.tmpdir(), "nordfleet-render-bundles-"));
    process.env.NORDFLEET_BUNDLE_CACHE = bundles;
    let files: Map<string, string>;
    try {
        files = hostFiles(await captureCommands(loaded, stack), loaded);
    } finally {
        fs.rmSync(bundles, { recursive: true, force: true });
        delete process.env.NORDFLEET_BUNDLE_CACHE;
    }
    fs.rmSync(outDir, { recursive: true, force: true });
    for (const [relative, content] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
        const target = path.join(outDir, relative);
        fs.mkdirSync(path.dirname(target), { recursive: true });
        fs.writeFileSync(target, content);
    }
    return files.size;
}

const USAGE = `usage: npm run render -- STACK [OUT-DIR]

Writes every file nordfleet would push to each host of Pulumi.STACK.yaml into OUT-DIR
(default rendered/STACK), one folder per host, replacing what was there. Keys,
passwords and certificates appear as placeholders such as <secret:consul/gossip-key>.

  STACK      a stack file of this project, e.g. prod or lab
  OUT-DIR    where to write (replaced as a whole)
  -h, --help this text`;

if (require.main === module) {
    runCli("render", USAGE, async argv => {
        const { positional: [stack, out] } = parseFlags(argv, [], [], 2);
        if (!stack) {
            throw new UsageError("no stack given");
        }
        if (!fs.existsSync(path.join(PROJECT_DIR, `Pulumi.${stack}.yaml`))) {
            const stacks = fs.readdirSync(PROJECT_DIR).map(f => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1]).filter(Boolean);
            throw new UsageError(`no stack file Pulumi.${stack}.yaml; use one of: ${stacks.join(", ")}`);
        }
        const outDir = out ?? path.join(PROJECT_DIR, "rendered", stack);
        console.log(`wrote ${await writeRendered(stack, outDir)} files to ${outDir}`);
        return 0;
    });
}
