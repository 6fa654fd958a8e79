/**
 * Writes every file nordfleet would push to every host into a folder, one subfolder per
 * host, so a reviewer can diff a pull request's effect:
 *
 *   npx ts-node render/main.ts <stack> [out-dir]      (out-dir defaults to rendered/<stack>)
 *
 * The folder is replaced as a whole, so a file that is no longer pushed disappears too.
 */
import * as fs from "fs";
import * as path from "path";
import { ConfigError } from "../config/load";
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

if (require.main === module) {
    const [stack, out] = process.argv.slice(2);
    if (!stack) {
        console.error("usage: npx ts-node render/main.ts <stack> [out-dir]");
        process.exit(2);
    }
    const outDir = out ?? path.join(PROJECT_DIR, "rendered", stack);
    try {
        console.log(`wrote ${writeRendered(stack, outDir)} files to ${outDir}`);
    } catch (e) {
        console.error(e instanceof ConfigError ? e.message : e);
        process.exit(1);
    }
}
