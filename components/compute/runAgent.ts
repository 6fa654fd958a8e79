/**
 * The run's SSH agent. The keys nordfleet logs in with (the fleet's deploy key, and the
 * hypervisors' key when `nordfleet:ssh.keyFile` names one) are held by an ssh-agent that
 * the program starts for its run of `pulumi up` and stops when the run ends; connections
 * name the agent's socket instead of carrying a key.
 *
 * Why: a connection is stored with every remote command, in its inputs and again in its
 * outputs, as one encrypted value. With two private keys in it, connections were the
 * largest part of the state, which a self-managed backend uploads whole after every step.
 *
 * The socket's path is relative to the project (where the engine runs the providers, as it
 * runs the program), so the connection stored is the same from every checkout and every
 * laptop, and changes nothing on the next run. A preview starts no agent: it contacts no
 * host. The program lives until the engine has run every step, deletes included, so the
 * agent outlives every command of the run; `pulumi destroy` runs no program unless told
 * to, so a stack whose hypervisors take a key file is destroyed with `--run-program`.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

const AGENT_DIR = ".nordfleet/agent";

/** How long the agent keeps a key: a bound for an agent whose run was killed before it could stop it. */
const KEY_LIFETIME_SECONDS = 12 * 3600;

/** The run agent's socket for a stack, relative to the project. */
export const runAgentSocket = (stack: string) => `${AGENT_DIR}/${stack}.sock`;

const pidFile = (socket: string) => `${socket}.pid`;

/** Stops the agent a killed run left on this socket, if it is still there. */
function stopStaleAgent(socket: string): void {
    const pid = Number(fs.existsSync(pidFile(socket)) ? fs.readFileSync(pidFile(socket), "utf8") : NaN);
    if (Number.isInteger(pid) && pid > 0) {
        const cmdline = fs.existsSync(`/proc/${pid}/cmdline`) ? fs.readFileSync(`/proc/${pid}/cmdline`, "utf8") : "";
        if (cmdline.includes("ssh-agent") && cmdline.includes(socket)) {
            process.kill(pid, "SIGTERM");
        }
    }
    fs.rmSync(socket, { force: true });
    fs.rmSync(pidFile(socket), { force: true });
}

function mustRun(program: string, args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): string {
    const r = spawnSync(program, args, { encoding: "utf8", ...options });
    if (r.error !== undefined || r.status !== 0) {
        const why = r.error?.message ?? (r.stderr || `exit status ${r.status}`).trim();
        throw new Error(`the run's SSH agent: ${program} ${args.join(" ")} failed: ${why} ` +
            `(nordfleet needs OpenSSH's ssh-agent and ssh-add on the machine that runs pulumi up)`);
    }
    return r.stdout;
}

/**
 * Starts an agent on `socket` (relative to the working directory) holding `keys`, and
 * stops it when this process exits. Keys reach ssh-add on its stdin, never its arguments.
 */
export function startRunAgent(socket: string, keys: string[]): void {
    fs.mkdirSync(path.dirname(socket), { recursive: true, mode: 0o700 });
    fs.chmodSync(path.dirname(socket), 0o700);
    stopStaleAgent(socket);
    const started = mustRun("ssh-agent", ["-s", "-a", socket]);
    const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(started)?.[1]);
    if (!Number.isInteger(pid)) {
        throw new Error(`the run's SSH agent: ssh-agent printed no SSH_AGENT_PID:\n${started}`);
    }
    fs.writeFileSync(pidFile(socket), `${pid}\n`, { mode: 0o600 });
    process.on("exit", () => {
        try {
            process.kill(pid, "SIGTERM");
        } catch {
            // already gone
        }
        fs.rmSync(socket, { force: true });
        fs.rmSync(pidFile(socket), { force: true });
    });
    const env = { PATH: process.env.PATH, SSH_AUTH_SOCK: socket };
    for (const key of keys) {
        mustRun("ssh-add", ["-q", "-t", String(KEY_LIFETIME_SECONDS), "-"], { input: key.endsWith("\n") ? key : `${key}\n`, env });
    }
}
