/**
 * The fleet's deploy key, for an operator's break-glass SSH and for the doctor. It is no
 * stack output (other teams read those): it is read from the stack's state, which
 * takes the stack's passphrase, and written only to a file only its owner can read.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import { parseFlags, runCli, UsageError } from "./run";

/** The name of the deploy key's resource (components/fleet.ts, under the stack's root). */
const DEPLOY_KEY_URN_SUFFIX = "$tls:index/privateKey:PrivateKey::nordfleet-deploy-key";
/** How `pulumi stack export --show-secrets` marks a secret value. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** The deploy key in the output of `pulumi stack export --show-secrets`. */
export function deployKeyFromExport(exported: { deployment?: { resources?: any[] } }): string {
    const resource = (exported.deployment?.resources ?? []).find(r => String(r.urn).endsWith(DEPLOY_KEY_URN_SUFFIX));
    const value = resource?.outputs?.privateKeyOpenssh;
    if (value === undefined) {
        throw new Error("the stack's state holds no deploy key: has `pulumi up` run for it?");
    }
    if (typeof value === "object" && value !== null && SECRET_SIG in value) {
        if (value.plaintext === undefined) {
            throw new Error("the state's deploy key is encrypted: export it with --show-secrets");
        }
        return JSON.parse(value.plaintext);
    }
    return value;
}

/** Reads the deploy key of a stack through the pulumi CLI (its passphrase or secrets provider as configured). */
export function readDeployKey(stack: string, env: NodeJS.ProcessEnv = process.env): string {
    const text = execFileSync("pulumi", ["stack", "export", "--show-secrets", "--stack", stack],
        { encoding: "utf8", env, maxBuffer: 1024 * 1024 * 1024, stdio: ["ignore", "pipe", "inherit"] });
    return deployKeyFromExport(JSON.parse(text));
}

/** Writes a private key to a new file only its owner can read (an existing file is replaced). */
export function writePrivateKey(file: string, key: string): void {
    fs.rmSync(file, { force: true });
    fs.writeFileSync(file, key.endsWith("\n") ? key : `${key}\n`, { mode: 0o600, flag: "wx" });
}

const USAGE = `usage: npm run deploy-key -- --stack NAME --out FILE

Writes the fleet's deploy key (the key every VM accepts for root) to FILE, mode 0600,
for break-glass SSH: ssh -i FILE -J root@HYPERVISOR root@VM. It is read from the
stack's state, so it takes the stack's passphrase; it never reaches the stack outputs.

  --stack NAME  the stack
  --out FILE    where to write the key
  -h, --help    this text`;

if (require.main === module) {
    runCli("deploy-key", USAGE, argv => {
        const { flags } = parseFlags(argv, ["stack", "out"]);
        const stack = flags.get("stack");
        const out = flags.get("out");
        if (!stack || !out) {
            throw new UsageError("give --stack NAME and --out FILE");
        }
        writePrivateKey(out, readDeployKey(stack));
        console.log(`wrote the deploy key of ${stack} to ${out} (mode 0600)`);
        return 0;
    });
}
