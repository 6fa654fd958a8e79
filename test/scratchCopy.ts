import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

/** This project's root. */
export const PROJECT = path.join(__dirname, "..");

/** A copy of this working tree (tracked and new files) in DIR, sharing its node_modules. */
export function scratchCopy(dir: string): void {
    const files = execFileSync("git", ["ls-files", "-co", "--exclude-standard", "-z"], { cwd: PROJECT, encoding: "utf8" })
        .split("\0").filter(f => f && fs.existsSync(path.join(PROJECT, f)));
    for (const f of files) {
        fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
        fs.copyFileSync(path.join(PROJECT, f), path.join(dir, f));
    }
    fs.symlinkSync(path.join(PROJECT, "node_modules"), path.join(dir, "node_modules"));
}

/** Replaces FROM with TO in FILE, which must hold it. */
export function editFile(file: string, from: string, to: string): void {
    const text = fs.readFileSync(file, "utf8");
    if (!text.includes(from)) {
        throw new Error(`${file} does not hold ${JSON.stringify(from)}`);
    }
    fs.writeFileSync(file, text.replace(from, to));
}
