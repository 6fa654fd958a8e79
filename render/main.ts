/**
 * Writes every file nordfleet would push to every host into a folder, one subfolder per
 * host, so a reviewer can diff a pull request's effect (usage below).
 *
 * The folder is replaced as a whole, so a file that is no longer pushed disappears too.
 */
import * as fs from "fs";
import * as path from "path";
import { parseFlags, runCli, UsageError } from "../cli/run";
import { renderFleetFiles } from "./fleetFiles";
import { loadStackFile, PROJECT_DIR } from "./stackConfig";

export function writeRendered(stack: string, outDir: string): number {
    const files = renderFleetFiles(loadStackFile(stack));
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
(default rendered/STACK), one folder per host, replacing what was there.

  STACK      a stack file of this project, e.g. prod or lab
  OUT-DIR    where to write (replaced as a whole)
  -h, --help this text`;

if (require.main === module) {
    runCli("render", USAGE, argv => {
        const { positional: [stack, out] } = parseFlags(argv, [], [], 2);
        if (!stack) {
            throw new UsageError("no stack given");
        }
        if (!fs.existsSync(path.join(PROJECT_DIR, `Pulumi.${stack}.yaml`))) {
            const stacks = fs.readdirSync(PROJECT_DIR).map(f => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1]).filter(Boolean);
            throw new UsageError(`no stack file Pulumi.${stack}.yaml; use one of: ${stacks.join(", ")}`);
        }
        const outDir = out ?? path.join(PROJECT_DIR, "rendered", stack);
        console.log(`wrote ${writeRendered(stack, outDir)} files to ${outDir}`);
        return 0;
    });
}
