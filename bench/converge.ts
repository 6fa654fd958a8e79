/**
 * nordfleet convergence benchmark, on the lab fleet `lab/up` deployed:
 *
 *   npm run bench:converge [-- --keep-workdir]
 *
 * (a) The cold `pulumi up` that made the fleet, by phase: from the stack's history (when
 *     that update began) and the time the engine recorded each resource as created.
 * (b) A no-change `pulumi up`, as typed (with its preview) and with --skip-preview: wall
 *     time, what changed, and the hosts it contacted, counted by the kernel: every new
 *     SSH connection made inside the lab namespace lands in an nftables set of
 *     destination addresses while the command runs.
 * (c) Debian's Ansible applying the same baseline to the same VMs: each guest's
 *     sysctl file and nftables ruleset, and the gateway's nginx config (the files
 *     nordfleet put there), pushed by a playbook under the bench's own folder on each
 *     guest, applied (sysctl -p) or checked (nft -c, nginx -t) when they change; a
 *     first run, then a no-change second run, with the same connection counting. Ansible
 *     gets its fast settings: one fork per host, pipelining, persistent SSH connections within a run,
 *     no fact gathering.
 *
 * The table ends with (b) beside Ansible's no-change run, as a ratio.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { readDeployKey, writePrivateKey } from "../cli/deployKey";
import { parseFlags, runCli } from "../cli/run";
import { GATEWAY_ROLE } from "../components/platform/apiGateway";
import { BASELINE_ROLE } from "../components/platform/hostBaseline";
import { liveRelease } from "../components/platform/release";
import { hypervisorSshOptions } from "../doctor/fleetSsh";
import { LAB_HOME, LAB_NS, labIsUp } from "../test/lab/labHost";
import { LAB_ENV, LabFleet, labOutputs, labStackDeployed, mustLabPulumi } from "../test/lab/labStack";

const USAGE = `usage: npm run bench:converge [-- --keep-workdir]

Measures convergence on the lab fleet (bash lab/up first; needs ansible-core) and
prints a table: the cold pulumi up by phase, a no-change pulumi up, and Ansible
applying the same baseline, first and no-change runs.

  --keep-workdir   keep the Ansible inventory, playbook and files (path printed)
  -h, --help       this text`;

/** The phases of a cold `pulumi up`, by the name of the resource that does the work. */
const PHASES: { phase: string; matches: (type: string, name: string) => boolean }[] = [
    { phase: "keys and secrets (local)", matches: type => /^(tls|random):/.test(type) },
    { phase: "hypervisor", matches: (_, name) => name.endsWith("-prepare") },
    { phase: "domains (disks, seed, define, start)", matches: (_, name) => name.endsWith("-domain") },
    { phase: "first SSH (guest booted)", matches: (_, name) => name.endsWith("-ssh-ready") },
    { phase: "seed retired", matches: (_, name) => name.endsWith("-seed-retired") },
    { phase: "baseline", matches: (_, name) => name.endsWith("-baseline-release-apply") },
    { phase: "services (Consul, gateway, data, apps)", matches: type => type === "command:remote:Command" },
];

interface PhaseRow { phase: string; resources: number; firstDone: number; lastDone: number }

interface Timed { seconds: number; contacted: string[]; output: string }

/** The cold up: the stack's first update, and when each of its resources was created. */
function coldUpByPhase(): { rows: PhaseRow[]; total: number; recreated: number } {
    // Every update: the CLI lists the last 10 unless told otherwise.
    const history = JSON.parse(mustLabPulumi(["stack", "history", "--json", "--page-size", "100000"])) as
        { kind: string; startTime: string; endTime: string }[];
    const first = history.filter(u => u.kind === "update")
        .sort((a, b) => Date.parse(a.startTime) - Date.parse(b.startTime))[0];
    if (!first) {
        throw new Error("the lab stack has no update in its history");
    }
    const start = Date.parse(first.startTime);
    const end = Date.parse(first.endTime);
    const deployment = JSON.parse(mustLabPulumi(["stack", "export"])).deployment;
    const rows = new Map<string, PhaseRow>();
    let recreated = 0;
    for (const r of deployment.resources as { urn: string; type: string; custom: boolean; created?: string }[]) {
        if (!r.custom || r.type.startsWith("pulumi:")) {
            continue;
        }
        const created = r.created ? Date.parse(r.created) : NaN;
        if (!(created <= end + 1000)) {
            recreated++;
            continue;
        }
        const name = r.urn.split("::").pop()!;
        const phase = PHASES.find(p => p.matches(r.type, name))?.phase ?? "other";
        const done = (created - start) / 1000;
        const row = rows.get(phase) ?? { phase, resources: 0, firstDone: done, lastDone: done };
        row.resources++;
        row.firstDone = Math.min(row.firstDone, done);
        row.lastDone = Math.max(row.lastDone, done);
        rows.set(phase, row);
    }
    const order = PHASES.map(p => p.phase);
    return {
        rows: [...rows.values()].sort((a, b) => order.indexOf(a.phase) - order.indexOf(b.phase)),
        total: (end - start) / 1000, recreated,
    };
}

/**
 * Runs `fn` while the lab namespace's kernel notes the destination of every new SSH
 * connection made in it (the engine and Ansible run there; guests are reached through
 * the hypervisor's sshd, which runs there too).
 */
function countingSshContacts(fn: () => string): Timed {
    const table = "nordfleet_bench";
    nft(`table inet ${table} {
  set contacted { type ipv4_addr; flags dynamic; }
  chain output { type filter hook output priority 0; policy accept; tcp dport 22 ct state new add @contacted { ip daddr }; }
}`);
    try {
        const started = process.hrtime.bigint();
        const output = fn();
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        const listed = JSON.parse(nft(null, ["-j", "list", "set", "inet", table, "contacted"]));
        const set = listed.nftables.find((e: any) => e.set)?.set;
        const contacted = (set?.elem ?? []).map((e: any) => (typeof e === "string" ? e : e.elem?.val ?? String(e)));
        return { seconds, contacted, output };
    } finally {
        nft(null, ["delete", "table", "inet", table]);
    }
}

function nft(script: string | null, args: string[] = ["-f", "-"]): string {
    const r = spawnSync("ip", ["netns", "exec", LAB_NS, "nft", ...args], { input: script ?? undefined, encoding: "utf8" });
    if (r.status !== 0) {
        throw new Error(`nft ${args.join(" ")} failed in ${LAB_NS}: ${r.stderr}`);
    }
    return r.stdout;
}

function noChangeUp(extra: string[]): Timed {
    return countingSshContacts(() => mustLabPulumi(["up", "--yes", "--expect-no-changes", ...extra]));
}

/** The baseline files nordfleet put on each guest, read back from the guests. */
const BASELINE_FILES = [
    { file: "sysctl.conf", live: `${liveRelease(BASELINE_ROLE)}/sysctl.conf`, roles: null },
    { file: "nftables.conf", live: `${liveRelease(BASELINE_ROLE)}/nftables.conf`, roles: null },
    { file: "nginx.conf", live: `${liveRelease(GATEWAY_ROLE)}/nginx.conf`, roles: ["gateway"] },
];

/**
 * The gateway's config names its certificate and key relative to its own folder: the
 * bench's copy names the live release's, so that nginx -t of the copy finds them (the
 * key stays where it is).
 */
export const withLiveTls = (nginxConf: string) =>
    nginxConf.replace(/^(\s*ssl_[a-z_]+\s+)tls\//gm, `$1${liveRelease(GATEWAY_ROLE)}/tls/`);
const GUEST_DIR = "/etc/nordfleet-ansible-bench";

/** Waits until every guest answers SSH (guests resumed from a pause are busy for minutes). */
async function waitForGuests(fleet: LabFleet, hosts: string[], limitSeconds = 900): Promise<void> {
    const deadline = Date.now() + limitSeconds * 1000;
    await Promise.all(hosts.map(async host => {
        for (;;) {
            const r = await fleet.onGuest(host, "true");
            if (r.status === 0) {
                return;
            }
            if (Date.now() > deadline) {
                throw new Error(`${host} did not answer SSH within ${limitSeconds} s: ${r.stderr}`);
            }
        }
    }));
}

async function writeAnsibleProject(dir: string, fleet: LabFleet, outputs: Record<string, any>): Promise<string[]> {
    const hosts = Object.keys(outputs.hosts).sort();
    writePrivateKey(path.join(dir, "deploy_key"), readDeployKey("lab", LAB_ENV));
    fs.writeFileSync(path.join(dir, "known_hosts"),
        hosts.map(h => `${outputs.hosts[h].address} ${outputs.hosts[h].hostKey}\n`).join(""));
    const hvKnownHosts = path.join(dir, "hypervisor_known_hosts");
    const hvKey = fs.readFileSync(path.join(LAB_HOME, "ssh_host_ed25519_key.pub"), "utf8").split(" ").slice(0, 2).join(" ");
    fs.writeFileSync(hvKnownHosts, `${fleet.hypervisor} ${hvKey}\n`);
    // The same hypervisor options the fleet's own SSH uses (the doctor's and the lab tests').
    const jump = ["ssh", ...hypervisorSshOptions(hvKnownHosts, path.join(LAB_HOME, "hypervisor_ed25519")),
        "-W", "%h:%p", `root@${fleet.hypervisor}`].join(" ");
    const inventory = {
        all: {
            hosts: Object.fromEntries(hosts.map(h => [h, { ansible_host: outputs.hosts[h].address, role: outputs.hosts[h].role }])),
            vars: {
                ansible_user: "root",
                ansible_ssh_private_key_file: path.join(dir, "deploy_key"),
                ansible_ssh_common_args: `-o IdentitiesOnly=yes -o StrictHostKeyChecking=yes ` +
                    `-o UserKnownHostsFile=${path.join(dir, "known_hosts")} -o ProxyCommand="${jump}"`,
                ansible_python_interpreter: "/usr/bin/python3",
            },
        },
    };
    fs.writeFileSync(path.join(dir, "inventory.yml"), yaml.dump(inventory, { lineWidth: -1 }));
    for (const host of hosts) {
        fs.mkdirSync(path.join(dir, "files", host), { recursive: true });
        for (const f of BASELINE_FILES) {
            if (f.roles && !f.roles.includes(outputs.hosts[host].role)) {
                continue;
            }
            const content = await fleet.mustOnGuest(host, `cat ${f.live}`);
            fs.writeFileSync(path.join(dir, "files", host, f.file), f.file === "nginx.conf" ? withLiveTls(content) : content);
        }
    }
    const copy = (file: string, notify: string) => ({
        name: `${file}`,
        "ansible.builtin.copy": { src: `files/{{ inventory_hostname }}/${file}`, dest: `${GUEST_DIR}/${file}`, mode: "0644" },
        notify,
    });
    const playbook = [{
        hosts: "all",
        gather_facts: false,
        tasks: [
            { name: "bench folder", "ansible.builtin.file": { path: GUEST_DIR, state: "directory", mode: "0755" } },
            copy("sysctl.conf", "apply sysctl"),
            copy("nftables.conf", "check nftables"),
            { ...copy("nginx.conf", "check nginx"), when: "role == 'gateway'" },
        ],
        handlers: [
            { name: "apply sysctl", "ansible.builtin.command": `sysctl -q -p ${GUEST_DIR}/sysctl.conf` },
            { name: "check nftables", "ansible.builtin.command": `nft -c -f ${GUEST_DIR}/nftables.conf` },
            { name: "check nginx", "ansible.builtin.command": `nginx -q -t -c ${GUEST_DIR}/nginx.conf` },
        ],
    }];
    fs.writeFileSync(path.join(dir, "baseline.yml"), yaml.dump(playbook, { lineWidth: -1 }));
    fs.writeFileSync(path.join(dir, "ansible.cfg"), [
        "[defaults]", `forks = ${hosts.length}`, "host_key_checking = True", "stdout_callback = default",
        "[ssh_connection]", "pipelining = True", "ssh_args = -o ControlMaster=auto -o ControlPersist=120s", "",
    ].join("\n"));
    return hosts;
}

/**
 * One ansible-playbook run. Each run has its own folder of persistent connections: within
 * a run Ansible reuses them from task to task, and a later run, like a new CI job, starts
 * without them and connects to every host again.
 */
function ansibleRun(dir: string, run: string): Timed {
    return countingSshContacts(() => {
        const r = spawnSync("ip", ["netns", "exec", LAB_NS, "ansible-playbook", "-i", "inventory.yml", "baseline.yml"], {
            cwd: dir, encoding: "utf8",
            env: { ...process.env, ANSIBLE_CONFIG: path.join(dir, "ansible.cfg"), ANSIBLE_SSH_CONTROL_PATH_DIR: path.join(dir, `cp-${run}`) },
            timeout: 20 * 60 * 1000,
        });
        const output = `${r.stdout ?? ""}${r.stderr ?? ""}`;
        if (r.status !== 0) {
            throw new Error(`ansible-playbook failed (${r.status}):\n${output}`);
        }
        return output;
    });
}

/** Ansible's PLAY RECAP, summed over the hosts. */
function recap(output: string): { ok: number; changed: number } {
    let ok = 0;
    let changed = 0;
    for (const m of output.matchAll(/ok=(\d+)\s+changed=(\d+)/g)) {
        ok += Number(m[1]);
        changed += Number(m[2]);
    }
    return { ok, changed };
}

function table(header: string[], rows: string[][]): string {
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => r[i].length)));
    const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ")} |`;
    return [line(header), `|${widths.map((w, i) => "-".repeat(w + 1) + (i === 0 ? "-" : ":")).join("|")}|`, ...rows.map(line)]
        .join("\n") + "\n";
}

if (require.main === module) {
    runCli("bench:converge", USAGE, async argv => {
        const { switches } = parseFlags(argv, [], ["keep-workdir"]);
        if (!labIsUp() || !labStackDeployed()) {
            throw new Error("no lab fleet here: run `bash lab/up` first");
        }
        // The guests are reached from inside the lab namespace only, as the lab tests do.
        if (process.env.NORDFLEET_IN_LAB_NS !== LAB_NS) {
            return spawnSync("ip", ["netns", "exec", LAB_NS, process.execPath, ...process.execArgv, ...process.argv.slice(1)],
                { stdio: "inherit", env: { ...process.env, NORDFLEET_IN_LAB_NS: LAB_NS } }).status ?? 1;
        }
        if (spawnSync("ansible-playbook", ["--version"]).status !== 0) {
            throw new Error("ansible-playbook not found: install Debian's with `apt-get install -y ansible-core`");
        }

        const cold = coldUpByPhase();
        console.log(`(a) the cold pulumi up that made the lab fleet: ${cold.total.toFixed(0)} s`);
        process.stdout.write(table(["phase", "resources", "first done s", "last done s"], cold.rows.map(r =>
            [r.phase, String(r.resources), r.firstDone.toFixed(0), r.lastDone.toFixed(0)])));
        if (cold.recreated > 0) {
            console.log(`(${cold.recreated} resources created by later updates are left out)`);
        }
        console.log("(the base image is built and put in the pool by lab/up before pulumi up: not part of it)\n");

        const changes = (t: Timed) => /(\d+) unchanged/.exec(t.output)?.[0] ?? "?";
        const upRow = (label: string, t: Timed) => [label, t.seconds.toFixed(1), String(t.contacted.length), changes(t)];
        const ansibleRow = (label: string, t: Timed) => {
            const r = recap(t.output);
            return [label, t.seconds.toFixed(1), String(t.contacted.length), `${r.changed} changed, ${r.ok} ok`];
        };
        const header = ["run", "wall s", "hosts contacted", "result"];
        // Each figure is printed once measured: Ansible on emulated guests takes many minutes.
        const upTyped = noChangeUp([]);
        const upSkip = noChangeUp(["--skip-preview"]);
        const rows = [upRow("pulumi up --yes (no change)", upTyped), upRow("pulumi up --yes --skip-preview (no change)", upSkip)];
        process.stdout.write(`(b) as measured:\n${table(header, rows)}\n`);

        const outputs = labOutputs();
        const fleet = new LabFleet(outputs);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nordfleet-bench-ansible-"));
        let first: Timed;
        let second: Timed;
        let hosts: string[];
        try {
            await waitForGuests(fleet, Object.keys(outputs.hosts));
            hosts = await writeAnsibleProject(dir, fleet, outputs);
            first = ansibleRun(dir, "first");
            rows.push(ansibleRow("ansible-playbook, first run", first));
            process.stdout.write(`(c) first run as measured:\n${table(header, rows.slice(-1))}\n`);
            second = ansibleRun(dir, "second");
            rows.push(ansibleRow("ansible-playbook, no-change run", second));
            await Promise.all(hosts.map(h => fleet.mustOnGuest(h, `rm -rf ${GUEST_DIR}`)));
        } finally {
            fleet.close();
            if (switches.has("keep-workdir")) {
                console.log(`Ansible project kept in ${dir}`);
            } else {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        }

        console.log(`(b) and (c): ${hosts.length} guests and their hypervisor`);
        process.stdout.write(table(header, rows));

        const ratio = second.seconds / upTyped.seconds;
        const verdict = (met: boolean) => (met ? "MET" : "MISSED");
        console.log("\ntargets");
        console.log(`  a no-change pulumi up contacts no host:    ${verdict(upTyped.contacted.length === 0 && upSkip.contacted.length === 0)} ` +
            `(${upTyped.contacted.length} and ${upSkip.contacted.length} hosts)`);
        console.log(`  it beats Ansible's no-change run:          ${verdict(ratio > 1)} ` +
            `(Ansible ${second.seconds.toFixed(1)} s / pulumi up ${upTyped.seconds.toFixed(1)} s = ${ratio.toFixed(2)}x)`);
        console.log("");
        return 0;
    });
}
