/**
 * How nordfleet's commands behave as commands: `--help` prints the usage and exits 0; a
 * bad argument prints one line, the usage, and exits 2; any other failure prints its
 * message (never a stack trace) and exits 1. `main` returns the exit status it wants.
 */
export class UsageError extends Error {}

export function runCli(name: string, usage: string, main: (argv: string[]) => number | Promise<number>): void {
    const argv = process.argv.slice(2);
    if (argv.includes("--help") || argv.includes("-h")) {
        console.log(usage);
        process.exit(0);
    }
    Promise.resolve()
        .then(() => main(argv))
        .then(status => process.exit(status), (e: unknown) => {
            const message = e instanceof Error ? e.message : String(e);
            console.error(`${name}: ${message}`);
            if (e instanceof UsageError) {
                console.error(usage);
                process.exit(2);
            }
            process.exit(1);
        });
}

/**
 * `--name value` and `--name=value` flags, each checked against the ones a command takes,
 * and at most `maxPositional` other arguments.
 */
export function parseFlags(argv: string[], valued: readonly string[], switches: readonly string[] = [], maxPositional = 0):
    { flags: Map<string, string>; switches: Set<string>; positional: string[] } {
    const flags = new Map<string, string>();
    const on = new Set<string>();
    const positional: string[] = [];
    for (let i = 0; i < argv.length; i++) {
        const m = /^--([a-z][a-z-]*)(?:=(.*))?$/.exec(argv[i]);
        if (!m) {
            if (argv[i].startsWith("-")) {
                throw new UsageError(`unknown option ${JSON.stringify(argv[i])}`);
            }
            if (positional.length === maxPositional) {
                throw new UsageError(`unexpected argument ${JSON.stringify(argv[i])}`);
            }
            positional.push(argv[i]);
        } else if (switches.includes(m[1])) {
            on.add(m[1]);
        } else if (valued.includes(m[1])) {
            const value = m[2] ?? argv[++i];
            if (value === undefined) {
                throw new UsageError(`--${m[1]} needs a value`);
            }
            flags.set(m[1], value);
        } else {
            throw new UsageError(`unknown option --${m[1]}`);
        }
    }
    return { flags, switches: on, positional };
}
