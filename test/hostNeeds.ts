/**
 * Host tests run real programs on this machine: nginx, nft, sshd, consul, PostgreSQL,
 * RabbitMQ. Each says what it needs in a `before` hook with `requireHost`. Where a need
 * is not met, the test is skipped and the reason printed, never failed or passed in
 * silence: the pull-request workflow runs the unit tests as a user that is not root.
 *
 * Under NORDFLEET_HOST_TESTS=all (what `npm test` sets when it runs the tests titled
 * AS_ROOT as root), nothing may skip: an unmet need fails the test instead.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";

/** In the title of every suite that needs root; `npm test` runs these as root. */
export const AS_ROOT = "(as root)";

export interface HostNeeds {
    /** Why the test needs root, when it does, e.g. "it creates a network namespace". */
    root?: string;
    /** Programs it runs, by path or by command name, each with how to get it. */
    programs?: Record<string, string>;
    /** Python modules it imports in Debian's python3 (where python3-* packages go), each with how to get it. */
    pythonModules?: Record<string, string>;
    /** What it starts that is too heavy for a casual `npx mocha`: it runs under NORDFLEET_HOST_TESTS=all. */
    servers?: string;
}

const isRoot = () => process.getuid?.() === 0;

function havePath(program: string): boolean {
    if (program.startsWith("/")) {
        try {
            fs.accessSync(program, fs.constants.X_OK);
            return true;
        } catch {
            return false;
        }
    }
    return spawnSync("sh", ["-c", 'command -v "$1"', "sh", program]).status === 0;
}

/** Every need this machine and user do not meet, each as a sentence with its fix. */
export function unmetNeeds(needs: HostNeeds): string[] {
    const unmet: string[] = [];
    if (needs.servers && process.env.NORDFLEET_HOST_TESTS !== "all") {
        unmet.push(`it starts ${needs.servers}: set NORDFLEET_HOST_TESTS=all to run it`);
    }
    if (needs.root && !isRoot()) {
        unmet.push(`needs root: ${needs.root}`);
    }
    for (const [program, fix] of Object.entries(needs.programs ?? {})) {
        if (!havePath(program)) {
            unmet.push(`${program} is missing: ${fix}`);
        }
    }
    for (const [module, fix] of Object.entries(needs.pythonModules ?? {})) {
        if (spawnSync("/usr/bin/python3", ["-c", `import ${module}`]).status !== 0) {
            unmet.push(`/usr/bin/python3 cannot import ${module}: ${fix}`);
        }
    }
    return unmet;
}

/** Skips the suite or test (or fails it, under NORDFLEET_HOST_TESTS=all) when a need is unmet. */
export function requireHost(ctx: Mocha.Context, needs: HostNeeds): void {
    const title = ctx.test?.parent?.fullTitle() ?? "";
    if (needs.root && !title.includes(AS_ROOT)) {
        // Without the mark `npm test` would never run it as root: it would only ever skip.
        throw new Error(`"${title}" needs root: put ${AS_ROOT} in its suite's title`);
    }
    const unmet = unmetNeeds(needs);
    if (unmet.length === 0) {
        return;
    }
    if (process.env.NORDFLEET_HOST_TESTS === "all") {
        throw new Error(`this host test cannot run here: ${unmet.join("; ")}`);
    }
    console.log(`      skipped: ${unmet.join("; ")}`);
    ctx.skip();
}
