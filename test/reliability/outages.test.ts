/**
 * Outages longer than a restart, on the fleet lab/up made: the backup store cut off
 * while a service keeps writing, and PostgreSQL stopped for 90 s under its services.
 * Each prints what it measured. Slow on emulated guests, so it runs with
 * `npm run test:reliability`, not as a CI stage.
 */
import { expect } from "chai";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { pgWal } from "../../components/platform/postgresDatabase";
import { GatewayClient } from "../lab/labClients";
import { labDoctor, LabFleet, labOutputs, sleep } from "../lab/labStack";

/** A table in the lab namespace that drops every connection to port 443 there: the object store, cut off. */
const OUTAGE_TABLE = "nordfleet_lab_outage";

function cutObjectStore(): void {
    const r = spawnSync("nft", ["-f", "-"], { encoding: "utf8", input:
        `table inet ${OUTAGE_TABLE} {\n  chain input {\n    type filter hook input priority -10; policy accept;\n` +
        `    tcp dport 443 drop\n  }\n}\n` });
    expect(r.status, r.stderr).to.equal(0);
}

function restoreObjectStore(): void {
    spawnSync("nft", ["delete", "table", "inet", OUTAGE_TABLE]);
}

describe("outages on the lab fleet", function () {
    this.timeout(60 * 60 * 1000);
    let fleet: LabFleet;
    let gateway: GatewayClient;
    let tmp: string;
    const psql = (sql: string, db = "hello") =>
        fleet.mustOnGuest("db-1", `cd / && runuser -u postgres -- psql -X -qAt -h /run/postgresql -d ${db} -c "${sql}"`);
    const archiver = async () => {
        const [failed, lastArchived, lastFailed] = (await psql("select failed_count, " +
            "coalesce(extract(epoch from last_archived_time), 0), coalesce(extract(epoch from last_failed_time), 0) " +
            "from pg_stat_archiver", "postgres")).trim().split("|").map(Number);
        return { failed, failing: lastFailed > lastArchived, lastArchived, lastFailed };
    };
    const walBytes = async () => Number((await psql("select coalesce(sum(size), 0) from pg_ls_waldir()", "postgres")).trim());

    before(() => {
        fleet = new LabFleet(labOutputs());
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nordfleet-outages-"));
        gateway = new GatewayClient(fleet.outputs, tmp);
    });
    after(() => {
        restoreObjectStore();
        fleet?.close();
        fs.rmSync(tmp, { recursive: true, force: true });
    });

    it("keeps PostgreSQL serving while the backup store is cut off, caps pg_wal, names the failing archive, " +
        "and restores to a moment inside the outage once the store returns", async () => {
        const volumeGb = 2; // db-1's pgdata in Pulumi.lab.yaml
        const wal = pgWal(volumeGb, 1);
        const capBytes = (wal.maxWalSizeMb + wal.archiveQueueMaxMb) * 1048576;
        await psql("create table if not exists outage_probe (n int primary key, at timestamptz default clock_timestamp()); " +
            "truncate outage_probe");
        const started = Date.now();
        cutObjectStore();
        let midpoint = "";
        try {
            await psql("insert into outage_probe (n) select generate_series(1, 100); select pg_switch_wal()");
            midpoint = (await psql("select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")).trim();
            await sleep(2000);
            for (let i = 0; i < 5; i++) {
                // Rows after the midpoint, in WAL segments of their own that cannot be archived now.
                await psql(`insert into outage_probe (n) select generate_series(${101 + 20 * i}, ${120 + 20 * i}); select pg_switch_wal()`);
            }
            let state = await archiver();
            for (let i = 0; i < 90 && !state.failing; i++) {
                await sleep(2000);
                state = await archiver();
            }
            console.log(`      archiving failing ${((Date.now() - started) / 1000).toFixed(0)} s into the outage; ` +
                `${state.failed} failures; pg_wal ${(await walBytes() / 1048576).toFixed(0)} MiB (cap ${capBytes / 1048576} MiB)`);
            expect(state.failing, "pg_stat_archiver shows the failure").to.equal(true);
            expect(await walBytes(), "pg_wal under max_wal_size plus the archive queue's cap").to.be.below(capBytes);
            expect(gateway.get("/hello/").status, "hello writes through the gateway during the outage").to.equal(200);
            const doctor = labDoctor("--hosts", "db-1");
            expect(doctor.status).to.equal(1);
            expect(doctor.stdout).to.match(/db-1 +postgres WAL archiving +PROBLEM +failing: last failure/);
        } finally {
            restoreObjectStore();
        }
        const returned = Date.now();
        let state = await archiver();
        for (let i = 0; i < 150 && state.failing; i++) {
            await sleep(2000);
            state = await archiver();
        }
        console.log(`      archiving caught up ${((Date.now() - returned) / 1000).toFixed(0)} s after the store returned`);
        expect(state.failing, "archiving caught up").to.equal(false);

        await fleet.mustOnGuest("db-1", `/etc/nordfleet/postgres/current/restore.sh --time '${midpoint}'`);
        const rows = (await psql("select count(*), max(n) from outage_probe")).trim();
        console.log(`      restored to ${midpoint}, inside the outage: ${rows} (count|max)`);
        expect(rows, "exactly the rows committed before the moment").to.equal("100|100");
    });

    it("keeps the broker down, not empty, when its data volume is missing at boot, and serving its data once it is back", async () => {
        const virsh = (...args: string[]) => {
            const r = spawnSync("virsh", ["-q", ...args], { encoding: "utf8" });
            expect(r.status, `virsh ${args.join(" ")}: ${r.stderr}`).to.equal(0);
            return r.stdout;
        };
        const vhosts = async () => (await fleet.mustOnGuest("mq-1", "rabbitmqctl -q list_vhosts | sort")).trim();
        const before = await vhosts();
        const disk = /<disk type=.file. device=.disk.>(?:(?!<\/disk>)[\s\S])*?mq-1-mnesia\.qcow2(?:(?!<\/disk>)[\s\S])*?<\/disk>/
            .exec(virsh("dumpxml", "mq-1"))![0];
        const diskFile = path.join(tmp, "mnesia-disk.xml");
        fs.writeFileSync(diskFile, disk);
        const reboot = async () => {
            virsh("destroy", "mq-1");
            virsh("start", "mq-1");
            // Back when it answers SSH again (the helper retries a guest that does not answer yet).
            for (let i = 0; i < 60; i++) {
                if ((await fleet.onGuest("mq-1", "systemctl is-system-running --wait >/dev/null 2>&1; true")).status === 0) {
                    return;
                }
                await sleep(5000);
            }
        };
        virsh("detach-device", "mq-1", diskFile, "--config");
        try {
            await reboot();
            const state = (await fleet.mustOnGuest("mq-1", "systemctl show -p ActiveState --value rabbitmq-server.service; " +
                "findmnt -n /var/lib/rabbitmq/mnesia >/dev/null && echo mounted || echo not-mounted; " +
                "ls -A /var/lib/rabbitmq/mnesia 2>/dev/null | wc -l")).trim().split("\n");
            console.log(`      volume missing at boot: broker ${state[0]}, mnesia ${state[1]}, ${state[2]} entries on the root disk`);
            expect(state[0], "the broker did not start").to.not.equal("active");
            expect(state[1]).to.equal("not-mounted");
            expect(state[2], "nothing written where the volume should be").to.equal("0");
        } finally {
            virsh("attach-device", "mq-1", diskFile, "--config");
            await reboot();
        }
        let after = "";
        for (let i = 0; i < 60 && after !== before; i++) {
            after = (await fleet.onGuest("mq-1", "rabbitmqctl -q list_vhosts | sort")).stdout.trim();
            if (after !== before) {
                await sleep(5000);
            }
        }
        expect(after, "the broker back on its volume, with its vhosts").to.equal(before);
    });

    it("brings every service instance back by itself after PostgreSQL's 90 s stop (the time is printed)", async () => {
        const instances = [["app-1", "hello"], ["app-2", "hello"], ["app-1", "audit"]];
        // "active success", or "failed start-limit-hit" for a unit systemd gave up on.
        const state = async (host: string, svc: string) => (await fleet.mustOnGuest(host,
            `echo $(systemctl show -p ActiveState --value nordfleet-${svc}.service) ` +
            `$(systemctl show -p Result --value nordfleet-${svc}.service)`)).trim();
        await fleet.mustOnGuest("db-1", "systemctl stop nordfleet-postgres.service");
        try {
            // What a dependency's restart does to a service: its instances restart while the database is gone.
            for (const [host, svc] of instances) {
                await fleet.mustOnGuest(host, `systemctl restart nordfleet-${svc}.service`);
            }
            await sleep(90 * 1000);
        } finally {
            await fleet.mustOnGuest("db-1", "systemctl start nordfleet-postgres.service");
        }
        const back = Date.now();
        const pending = new Set(instances.map(i => i.join("/")));
        while (pending.size > 0 && Date.now() - back < 120 * 1000) {
            for (const key of [...pending]) {
                const [host, svc] = key.split("/");
                // hello's health asks its database; audit's, that it consumes.
                const health = await fleet.onGuest(host, `curl -fsS -o /dev/null --max-time 5 ` +
                    `http://${fleet.outputs.hosts[host].address}:${svc === "hello" ? 8081 : 8082}/healthz`);
                if (health.status === 0 && (await state(host, svc)).startsWith("active ")) {
                    console.log(`      ${key} serving ${((Date.now() - back) / 1000).toFixed(0)} s after PostgreSQL returned`);
                    pending.delete(key);
                }
            }
            await sleep(1000);
        }
        for (const [host, svc] of instances) {
            expect(await state(host, svc), `${host} ${svc}`).to.not.include("start-limit-hit");
        }
        expect([...pending], "instances not back by themselves").to.deep.equal([]);
    });
});
