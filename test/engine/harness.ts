/**
 * Runs the real pulumi CLI against a throwaway copy of the project, with a local file
 * backend and a passphrase secrets provider in a temporary folder, so a test never
 * touches the working tree or a real backend.
 */
import { spawn, spawnSync, SpawnSyncReturns } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const ROOT = path.join(__dirname, "..", "..");
const PROJECT_FILES = ["Pulumi.yaml", "package.json", "tsconfig.json", "tsconfig.pulumi.json", "index.ts", "components", "sdk", "config", "templates", "examples"];

export interface CliResult {
    status: number | null;
    output: string;
}

export class ScratchProject {
    public readonly dir: string;
    public readonly backendUrl: string;
    private readonly env: NodeJS.ProcessEnv;

    constructor() {
        this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "nordfleet-engine-"));
        for (const entry of PROJECT_FILES) {
            fs.cpSync(path.join(ROOT, entry), path.join(this.dir, entry), { recursive: true });
        }
        fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(this.dir, "node_modules"));
        fs.mkdirSync(path.join(this.dir, ".state"));
        this.backendUrl = `file://${path.join(this.dir, ".state")}`;
        this.env = {
            ...process.env,
            PULUMI_BACKEND_URL: this.backendUrl,
            PULUMI_CONFIG_PASSPHRASE: "engine-test-only",
        };
    }

    /** Creates a stack whose config is a stack file of the repo, or one given inline. */
    /**
     * Creates STACK from a stack file's text. The state backend the file declares becomes
     * the scratch project's own, unless `declaredBackend` keeps it (to test that check).
     */
    public initStack(stack: string, configYaml: string, { declaredBackend = false } = {}): void {
        if (!declaredBackend) {
            configYaml = configYaml.replace(/^( *url: )s3:\/\/nordfleet-state.*$/m, `$1${this.backendUrl}`);
        }
        // The hypervisors' login key and host key the stack names (the lab's exist only once
        // lab/up ran): a scratch key stands in for both, since a preview never logs in.
        const keyFile = path.join(this.dir, "hypervisor_ed25519");
        if (/^ *(keyFile|hostKeyFile): /m.test(configYaml) && !fs.existsSync(keyFile)) {
            spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", keyFile]);
        }
        configYaml = configYaml.replace(/^( *keyFile: ).*$/m, `$1${keyFile}`)
            .replace(/^( *hostKeyFile: ).*$/gm, `$1${keyFile}.pub`);
        // Likewise the object store's CA (lab/up makes the lab's): a scratch one.
        const caFile = path.join(this.dir, "objects-ca.pem");
        if (/^ *caFile: /m.test(configYaml) && !fs.existsSync(caFile)) {
            spawnSync("openssl", ["req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-keyout", "/dev/null", "-out", caFile, "-days", "1", "-subj", "/CN=scratch object store CA"]);
        }
        configYaml = configYaml.replace(/^( *caFile: ).*$/m, `$1${caFile}`);
        fs.writeFileSync(path.join(this.dir, `Pulumi.${stack}.yaml`), configYaml);
        this.mustPulumi("stack", "init", stack, "--secrets-provider", "passphrase");
        if (/s3:\/\/nordfleet-backups/.test(configYaml)) {
            // The backup bucket's keys are stack secrets; a scratch stack gets stand-ins.
            this.mustPulumi("config", "set", "--secret", "--path", "nordfleet:backupCredentials.accessKeyId", "scratch-id", "--stack", stack);
            this.mustPulumi("config", "set", "--secret", "--path", "nordfleet:backupCredentials.secretAccessKey", "scratch-secret", "--stack", stack);
        }
    }

    /** Replaces the program (index.ts) of this scratch copy. */
    public writeProgram(text: string): void {
        fs.writeFileSync(path.join(this.dir, "index.ts"), text);
    }

    public pulumi(...args: string[]): CliResult {
        return this.run(["pulumi", ...args, "--non-interactive"]);
    }

    /** Runs a command in this copy with its backend and passphrase, plus `env`. */
    public run(argv: string[], env: NodeJS.ProcessEnv = {}): CliResult {
        const result: SpawnSyncReturns<string> = spawnSync(argv[0], argv.slice(1), {
            cwd: this.dir, env: { ...this.env, ...env }, encoding: "utf8", timeout: 10 * 60 * 1000,
        });
        return { status: result.status, output: `${result.stdout}${result.stderr}` };
    }

    /** The same as `pulumi`, without blocking: several previews can run side by side. */
    public pulumiAsync(...args: string[]): Promise<CliResult> {
        return new Promise(resolve => {
            const child = spawn("pulumi", [...args, "--non-interactive"], { cwd: this.dir, env: this.env });
            let output = "";
            child.stdout.on("data", d => { output += d; });
            child.stderr.on("data", d => { output += d; });
            child.on("close", status => resolve({ status, output }));
        });
    }

    /** Path of a file in this copy. */
    public file(name: string): string {
        return path.join(this.dir, name);
    }

    public mustPulumi(...args: string[]): string {
        const result = this.pulumi(...args);
        if (result.status !== 0) {
            throw new Error(`pulumi ${args.join(" ")} failed (${result.status}):\n${result.output}`);
        }
        return result.output;
    }

    public remove(): void {
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}

export function repoFile(name: string): string {
    return fs.readFileSync(path.join(ROOT, name), "utf8");
}
