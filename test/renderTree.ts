/** `npm run render` as the tests run it, and the tree it writes read back. */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

const PROJECT = path.join(__dirname, "..");

/** Runs `npm run render` as a user would (it declares the stack under mocks: one per process). */
export function renderStack(stack: string, outDir: string, projectDir = PROJECT): void {
    const r = spawnSync(path.join(projectDir, "node_modules", ".bin", "ts-node"),
        ["--transpile-only", path.join(projectDir, "render", "main.ts"), stack, outDir], { encoding: "utf8", cwd: projectDir });
    if (r.status !== 0) {
        throw new Error(`render ${stack} exited ${r.status}: ${r.stderr}`);
    }
}

export function readTree(dir: string): Map<string, string> {
    const files = new Map<string, string>();
    const walk = (d: string) => {
        for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
            const full = path.join(d, entry.name);
            entry.isDirectory() ? walk(full) : files.set(path.relative(dir, full), fs.readFileSync(full, "utf8"));
        }
    };
    walk(dir);
    return files;
}
