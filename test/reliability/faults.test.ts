/**
 * Faults on the lab fleet, each followed by a look at what it must not have cost: a
 * Consul server stopped, a service VM and the database VM powered off and started again
 * (the service VM's boot stalled on purpose, for its hypervisor to start it once more),
 * the hypervisor's sshd unreachable while `pulumi up` has a change to make, and the
 * gateway's root filesystem full. Prints a table of each fault, what was checked after
 * it and what was lost.
 */
import { expect } from "chai";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { bootWatchVars } from "../../components/compute/kvmInstance";
import { readTemplate, shellAssignments } from "../../components/render";
import { loadStackFile } from "../../render/stackConfig";
import { CONSUL, consulCli, GatewayClient } from "../lab/labClients";
import { LabFleet, labOutputs, labPulumi, sleep, STACK_TRACE_LINE, writeLabStackVariant } from "../lab/labStack";

const HELLO = "dig +short +time=5 +tries=2 @127.0.0.1 -p 8600 hello.service.consul | sort";
const psql = (sql: string) => `cd / && runuser -u postgres -- psql -X -qAt -h /run/postgresql -d hello -c "${sql}"`;

/** Polls until check() gives true (a booting emulated guest takes minutes); returns the seconds it took. */
async function waitFor(what: string, check: () => Promise<boolean>, limitSeconds: number): Promise<number> {
    const start = Date.now();
    while (!(await check())) {
        if (Date.now() - start > limitSeconds * 1000) {
            throw new Error(`${what}: not within ${limitSeconds} s`);
        }
        await sleep(5000);
    }
    return Math.round((Date.now() - start) / 1000);
}

const report: [string, string, string][] = [];

describe("faults on the lab fleet", function () {
    this.timeout(60 * 60 * 1000);
    let fleet: LabFleet;
    let gateway: GatewayClient;
    let tmp: string;
    let hosts: Record<string, any>;
    let replicas: string[];

    const platformVms = () => Object.keys(hosts).filter(n => hosts[n].vlan === "platform");
    const dnsOn = async (host: string) => (await fleet.onGuest(host, HELLO)).stdout.trim().split("\n").filter(Boolean);
    const membersAlive = async () => {
        const r = await fleet.onGuest("consul-1", consulCli(`members -token-file=${CONSUL}/acl/recovery.token`));
        return platformVms().filter(name => new RegExp(`^${name}\\s+\\S+\\s+alive`, "m").test(r.stdout));
    };
    /** Hosts that answered /hello/ with 200 in up to `tries` requests. */
    const helloAnswers = async (tries: number) => {
        const seen = new Set<string>();
        for (let i = 0; i < tries && seen.size < replicas.length; i++) {
            const r = gateway.get("/hello/");
            if (r.status === 200) {
                seen.add(JSON.parse(r.body).host);
            }
            await sleep(200);
        }
        return [...seen].sort();
    };

    before(() => {
        fleet = new LabFleet(labOutputs());
        hosts = fleet.outputs.hosts;
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nordfleet-faults-"));
        gateway = new GatewayClient(fleet.outputs, tmp);
        replicas = ["app-1", "app-2"].map(h => hosts[h].address).sort();
    });
    after(() => {
        fleet?.close();
        fs.rmSync(tmp, { recursive: true, force: true });
        // A Markdown table: its rows are too long to align in columns.
        console.log("\n      | fault | checked after it | lost |\n      | --- | --- | --- |");
        for (const row of report) {
            console.log(`      | ${row.join(" | ")} |`);
        }
    });

    it("a stopped Consul server: every VM's DNS still answers from its agent's cache, and the cluster heals", async () => {
        const askers = platformVms().filter(n => n !== "consul-1");
        // A service resolves its peers all the time; here one lookup each fills the agents' caches.
        for (const host of askers) {
            await waitFor(`${host} resolving hello.service.consul`,
                async () => JSON.stringify(await dnsOn(host)) === JSON.stringify(replicas), 120);
        }
        await fleet.mustOnGuest("consul-1", "systemctl stop consul.service");
        const answered: string[] = [];
        try {
            // Long enough for every agent to have noticed the server's loss.
            await sleep(20_000);
            const catalog = await fleet.onGuest("app-1", consulCli("catalog services"));
            expect(catalog.status, `the catalog with no server: ${catalog.stdout}`).to.not.equal(0);
            for (const host of askers) {
                const answer = await dnsOn(host);
                expect(answer, `${host} with no Consul server`).to.deep.equal(replicas);
                answered.push(host);
            }
            const viaResolver = await fleet.mustOnGuest("gw-1", "getent ahostsv4 hello.service.consul | awk '{print $1}' | sort -u");
            expect(viaResolver.trim().split("\n"), "gw-1 through /etc/resolv.conf").to.deep.equal(replicas);
            expect(await helloAnswers(20), "the gateway's replicas").to.deep.equal(["app-1", "app-2"]);
        } finally {
            await fleet.mustOnGuest("consul-1", "systemctl start consul.service");
        }
        // Leader election, timed on the server itself from its start (raft_multiplier 5 here).
        const leaderAfterMs = (await fleet.mustOnGuest("consul-1", `start=$(date +%s%N); for i in $(seq 600); do ` +
            `l=$(curl -s --max-time 2 --cacert ${CONSUL}/tls/ca.pem --cert ${CONSUL}/tls/agent.pem --key ${CONSUL}/tls/agent-key.pem ` +
            `https://127.0.0.1:8501/v1/status/leader); case "$l" in *:8300*) break ;; esac; sleep 0.2; done; ` +
            `echo $(( ($(date +%s%N) - start) / 1000000 ))`)).trim();
        const healed = await waitFor("every platform VM alive in Consul again",
            async () => (await membersAlive()).length === platformVms().length, 600);
        report.push(["Consul server stopped (the lab's only one)",
            `DNS answered on ${answered.length} of ${askers.length} VMs, gateway served; a leader ${(Number(leaderAfterMs) / 1000).toFixed(1)} s ` +
            `after its start returned; members alive ${healed} s after start`,
            "nothing"]);
    });

    /**
     * Starts `name` as the domain's step does (boot-watch.sh), with its first boot stalled:
     * the domain is paused as soon as it runs, so it never answers SSH in `bootTimeout`.
     */
    const startWithStalledBoot = async (name: string, bootTimeout: number) => {
        const config = loadStackFile("lab").config;
        const host = config.hosts.find(h => h.name === name)!;
        const stallFirstBoot = `(for _ in $(seq 300); do [ "$(virsh -q domstate ${name})" = running ] && ` +
            `{ virsh -q suspend ${name} >/dev/null; break; }; sleep 0.1; done) &\n`;
        return fleet.onHypervisor(shellAssignments({
            NAME: name, IMAGE_POOL: config.hypervisors[0].imagePoolPath,
            ...bootWatchVars(host, { ...config.ssh, bootTimeout }),
        }) + readTemplate("kvm/boot-watch.sh") + stallFirstBoot + "start_watched\n");
    };

    it("the database VM and a service VM powered off and started, the service's boot stalled: rows intact, both rejoin Consul and serve", async () => {
        // Every row committed before the power cut, summed up.
        const rowsQuery = (upTo: string) => psql(`select count(*) || ' ' || coalesce(max(id), 0) || ' ' || ` +
            `md5(coalesce(string_agg(id || host || at, ',' order by id), '')) from visits where id <= ${upTo}`);
        const first = gateway.get("/hello/");
        if (first.status !== 200) {
            const log = await fleet.onGuest("gw-1", "tail -n 5 /var/log/nginx/error.log");
            expect.fail(`the gateway before the power cut: ${first.status} ${first.error}${first.body}; ` +
                `gw-1's error.log ends:\n${log.stdout}`);
        }
        const [count, maxId] = (await fleet.mustOnGuest("db-1", rowsQuery("(select max(id) from visits)"))).trim().split(" ");
        const before = (await fleet.mustOnGuest("db-1", rowsQuery(maxId))).trim();
        expect(Number(count)).to.be.greaterThan(0);

        const off = ["db-1", "app-2"];
        const virsh = async (command: string) => {
            const r = await fleet.onHypervisor(command);
            expect(r.status, `${command}: ${r.stderr}`).to.equal(0);
        };
        await virsh(off.map(h => `virsh destroy ${h}`).join(" && "));
        expect((await fleet.onHypervisor("virsh -q list --state-shutoff --name")).stdout.split("\n")).to.include.members(off);
        await virsh("virsh start db-1");
        // db-1 boots while app-2 is stalled, and app-2 then boots alone: within this, with room.
        const bootTimeout = 120;
        const watched = await startWithStalledBoot("app-2", bootTimeout);
        expect(watched.status, `start_watched app-2: ${watched.stderr}`).to.equal(0);
        expect(watched.stderr).to.contain(
            `app-2 did not answer SSH on 10.110.0.31:22 within ${bootTimeout}s of starting: starting it once more`);
        expect(watched.stderr, "the end of app-2's console, in the log").to.match(
            /the last lines of app-2's console:\n {2}\| |app-2's console is empty: it stalled before its kernel printed a line/);
        console.log(`      app-2's stalled boot, as the domain's step logs it:\n${watched.stderr.split("\n").slice(0, 4).join("\n")}`);

        const booted = await waitFor("db-1's PostgreSQL and app-2's hello running again", async () => {
            const [db, app] = await Promise.all([
                fleet.onGuest("db-1", psql("select 1")),
                fleet.onGuest("app-2", "systemctl is-active --quiet nordfleet-hello.service"),
            ]);
            return db.status === 0 && app.status === 0;
        }, 1500);
        const after = (await fleet.mustOnGuest("db-1", rowsQuery(maxId))).trim();
        expect(after, "the rows committed before the power cut").to.equal(before);
        const rejoined = await waitFor("db-1 and app-2 alive in Consul, app-2 in hello.service.consul", async () =>
            (await membersAlive()).length === platformVms().length &&
            JSON.stringify(await dnsOn("gw-1")) === JSON.stringify(replicas), 600);
        // The gateway retries a replica it marked failed after its fail_timeout (30 s).
        const serving = await waitFor("both replicas answering through the gateway",
            async () => JSON.stringify(await helloAnswers(10)) === JSON.stringify(["app-1", "app-2"]), 300);
        report.push(["db-1 and app-2 powered off (virsh destroy); app-2's first boot stalled",
            `${count} rows identical (${booted} s to restart); in Consul ${rejoined} s, serving ${serving} s later`,
            "nothing"]);
    });

    it("the hypervisor's sshd unreachable during pulumi up: the up fails fast naming it, and nothing is half-applied", async () => {
        const address = fleet.hypervisor;
        const liveRelease = await fleet.mustOnGuest("gw-1", "readlink /etc/nordfleet/gateway/current");
        const variant = writeLabStackVariant("burst", config => {
            const hello = config["nordfleet:services"].find((s: any) => s.name === "hello");
            hello.rateLimitBurst += 1;
        });
        // This process runs in the lab namespace, as the engine does: its connections to the
        // hypervisor's port 22 are refused from here on.
        const nft = (script: string) => spawnSync("nft", ["-f", "-"], { input: script, encoding: "utf8" });
        const blocked = nft(`table inet nordfleet_fault {\n chain out {\n  type filter hook output priority 0;\n` +
            `  ip daddr ${address} tcp dport 22 reject with tcp reset\n }\n}\n`);
        expect(blocked.status, blocked.stderr).to.equal(0);
        let up: { status: number | null; output: string };
        const start = Date.now();
        try {
            up = labPulumi(["up", "--yes", "--skip-preview"], variant);
        } finally {
            nft("delete table inet nordfleet_fault");
        }
        const seconds = Math.round((Date.now() - start) / 1000);
        expect(up.status).to.not.equal(0);
        expect(up.output).to.contain(`${address}:22`);
        expect(up.output).to.match(/connection refused/i);
        expect(up.output, "no stack trace").to.not.match(STACK_TRACE_LINE);
        // Nothing changed on the gateway, and the state still records the live config.
        expect(await fleet.mustOnGuest("gw-1", "readlink /etc/nordfleet/gateway/current")).to.equal(liveRelease);
        const preview = labPulumi(["preview", "--expect-no-changes"]);
        expect(preview.status, preview.output).to.equal(0);
        const reason = /(dial tcp \S+: connect: connection refused)/i.exec(up.output)?.[1] ?? "";
        report.push(["hypervisor sshd refusing during pulumi up",
            `failed in ${seconds} s (${reason}); gateway release and state unchanged`, "nothing"]);
    });

    it("a full root filesystem on the gateway: it keeps serving, and logs again once space returns", async () => {
        const fill = "/var/tmp/nordfleet-fill";
        const logLines = async () => Number((await fleet.mustOnGuest("gw-1", "wc -l < /var/log/nginx/access.log")).trim());
        // fallocate takes what df offers; dd then takes the rest, the blocks kept for root included.
        await fleet.onGuest("gw-1", `fallocate -l "$(df --output=avail -B1 / | tail -n 1)" ${fill}; ` +
            `dd if=/dev/zero of=${fill}-rest bs=1M status=none; sync`);
        let served = 0;
        let avail = "";
        try {
            avail = (await fleet.mustOnGuest("gw-1", "df --output=avail -B1 / | tail -n 1")).trim();
            expect(Number(avail), "bytes left on gw-1's /").to.be.below(1024 * 1024);
            for (let i = 0; i < 30; i++) {
                const r = gateway.get(i % 2 ? "/hello/" : "/healthz");
                expect(r.status, `request ${i} on a full disk: ${r.error}${r.body}`).to.equal(200);
                served++;
            }
        } finally {
            await fleet.mustOnGuest("gw-1", `rm -f ${fill} ${fill}-rest`);
        }
        const before = await logLines();
        expect(gateway.get("/hello/").status).to.equal(200);
        const logged = await waitFor("the access log growing again", async () => (await logLines()) > before, 60);
        report.push(["gw-1's root filesystem full",
            `${served} of 30 requests answered 200 with ${avail} bytes free; logging again ${logged} s after space returned`,
            "nothing"]);
    });
});
