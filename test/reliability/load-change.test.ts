/**
 * Load with change: 200 concurrent connections through the gateway's public side while a
 * `pulumi up` moves half of a route's traffic to its other version. Every response must
 * be a 2xx and no request may go unanswered. One load run, on the same 200 connections
 * throughout, starts 10 s before the update and lasts long enough for the update to end
 * 10 s before it does (on the emulated lab the update takes about 150 s under this load); a load
 * restarted in rounds would open 200 new TLS connections each time, a burst of its own.
 *
 * The route is hello's (the load asks its liveness path), made blue/green for the test
 * (a stack variant), with its rate limit raised so the one load generator is not
 * throttled and its timeouts sized for 200 requests queued on emulated replicas: there a
 * replica starved of CPU can take seconds to accept a connection, and a 1 s connect
 * timeout would count it failed. The stack's own config is applied again at the end. A
 * round with no change comes first, so a failure there is the load's alone.
 * The gateway's access log says which version answered each request, and its error log
 * why any request failed.
 */
import { expect } from "chai";
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { GatewayClient } from "../lab/labClients";
import {
    LAB_STACK_FILE, LabFleet, labOutputs, labPulumi, labPulumiAsync, readStackFile, STACK_TRACE_LINE, writeLabStackVariant,
} from "../lab/labStack";
import { LoadCounts, vegetaCounts } from "./vegeta";

const CONNECTIONS = 200;
/** The failing release's health check window: it can only fail, so no longer than needed. */
const FAILING_CHECK_SECONDS = 20;
const GREEN_PORT = 8091;
/** Long enough for the update to start 10 s in and end 10 s before the load does. */
const LOAD_SECONDS = 240;
const UPDATE_AFTER_SECONDS = 10;
/**
 * hello's liveness route: the gateway and the replicas' serving under test, not the
 * emulated database (its readiness route queries PostgreSQL, one query at a time).
 */
const LOAD_PATH = "/hello/livez";
/** The route's timeouts at the gateway, sized for 200 requests queued on emulated replicas. */
const ROUTE_TIMEOUTS = { connectTimeoutMs: 10000, readTimeoutMs: 90000 };
/**
 * The client waits longer than the gateway's connect and read timeouts together, with
 * room for a new connection's TLS handshake on the emulated gateway: the gateway, not
 * the client's patience, decides when a request has failed (its 502 or 504 counts as
 * not 2xx). A client that gave up first would count a slow answer as a failure, which
 * the gateway's error log could not explain.
 */
const CLIENT_TIMEOUT_SECONDS = (ROUTE_TIMEOUTS.connectTimeoutMs + ROUTE_TIMEOUTS.readTimeoutMs) / 1000 + 30;

const latencies = (c: LoadCounts) => `latency p50 ${c.latency.p50} s, p99 ${c.latency.p99} s, max ${c.latency.max} s`;

/**
 * One load run: CONNECTIONS workers, each sending its next request as soon as the last
 * one is answered, over HTTP/1.1 keep-alive connections that verify the gateway's
 * certificate. Go's net/http sends a GET again on a new connection when the server
 * closed the reused one before answering (as nginx's graceful reload does to idle
 * keep-alive connections), like browsers and service clients (RFC 9112, 9.3.1).
 */
function load(url: string, caFile: string, seconds: number): Promise<{ counts: LoadCounts; report: string }> {
    return new Promise((resolve, reject) => {
        const attack = spawn("vegeta", ["attack", "-rate", "0", "-workers", String(CONNECTIONS),
            "-max-workers", String(CONNECTIONS), "-http2=false", "-root-certs", caFile,
            "-timeout", `${CLIENT_TIMEOUT_SECONDS}s`, "-duration", `${seconds}s`], { stdio: ["pipe", "pipe", "pipe"] });
        const report = spawn("vegeta", ["report", "-type", "json"], { stdio: ["pipe", "pipe", "pipe"] });
        attack.stdin.end(`GET ${url}\n`);
        attack.stdout.pipe(report.stdin);
        let output = "";
        let errors = "";
        attack.stderr.on("data", d => { errors += d; });
        report.stderr.on("data", d => { errors += d; });
        report.stdout.on("data", d => { output += d; });
        report.on("error", reject);
        attack.on("error", reject);
        report.on("close", status => {
            if (status !== 0) {
                reject(new Error(`vegeta report exited ${status}: ${errors}`));
                return;
            }
            resolve({ counts: vegetaCounts(output), report: `${output}${errors}` });
        });
    });
}

describe("load through the gateway while pulumi up changes a route's weights", function () {
    this.timeout(90 * 60 * 1000);
    let fleet: LabFleet;
    let gateway: GatewayClient;
    let tmp: string;
    let restored = false;

    const blueGreen = (traffic: unknown) => writeLabStackVariant(`load-${JSON.stringify(traffic).replace(/\W/g, "")}`,
        config => {
            const hello = config["nordfleet:services"].find((s: any) => s.name === "hello");
            Object.assign(hello, {
                versions: { blue: { port: hello.port }, green: { port: GREEN_PORT } },
                traffic,
                rateLimitPerSecond: 100000,
                rateLimitBurst: 100000,
                ...ROUTE_TIMEOUTS,
            });
        });
    const up = (file?: string) => {
        const r = labPulumi(["up", "--yes", "--skip-preview"], file);
        expect(r.status, r.output.slice(-4000)).to.equal(0);
    };
    const helloHosts = (): string[] => readStackFile(LAB_STACK_FILE).config["nordfleet:hosts"]
        .filter((h: any) => (h.services ?? []).includes("hello")).map((h: any) => h.name as string);
    /**
     * Version blue takes the plain instance's port, and the plain one takes it back:
     * the new unit must have started once, not crashed on a port still held and been
     * restarted by systemd.
     */
    const expectStartedOnce = async (unit: string) => {
        for (const host of helloHosts()) {
            const state = (await fleet.mustOnGuest(host, `systemctl show -p ActiveState -p NRestarts ${unit}`)).trim();
            expect(state.split("\n").sort(), `${unit} on ${host}`).to.deep.equal(["ActiveState=active", "NRestarts=0"]);
        }
    };

    before(() => {
        fleet = new LabFleet(labOutputs());
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nordfleet-load-"));
        gateway = new GatewayClient(fleet.outputs, tmp);
    });
    after(() => {
        if (!restored) {
            labPulumi(["up", "--yes", "--skip-preview"]);
        }
        fleet?.close();
        fs.rmSync(tmp, { recursive: true, force: true });
    });

    it("a first release of blue that fails its health check gives the port back, and the rollout stops at the first host", async () => {
        // Every instance's check asks a path hello does not serve: blue and green both fail,
        // each once its health check window (cut short here) has passed.
        const failing = writeLabStackVariant("failing-blue", config => {
            const hello = config["nordfleet:services"].find((s: any) => s.name === "hello");
            Object.assign(hello, {
                versions: { blue: { port: hello.port }, green: { port: GREEN_PORT } }, healthPath: "/missing",
                healthCheckSeconds: FAILING_CHECK_SECONDS,
            });
        });
        const [first, ...rest] = helloHosts();
        // Each guest's own clock, for its journal.
        const started: Record<string, string> = {};
        for (const host of [first, ...rest]) {
            started[host] = (await fleet.mustOnGuest(host, "date +%s")).trim();
        }
        const r = labPulumi(["up", "--yes", "--skip-preview"], failing);
        expect(r.status, r.output.slice(-4000)).to.not.equal(0);
        expect(r.output).to.contain(`answered 404, not 2xx, for ${FAILING_CHECK_SECONDS}s`)
            .and.contain("the failed first release is undone");
        expect(r.output, "no stack trace").to.not.match(STACK_TRACE_LINE);
        // Blue ran on the first host only: the hosts after it were never touched.
        const blueLog = (host: string) => fleet.mustOnGuest(host,
            `journalctl -q --no-pager -u nordfleet-hello-blue.service --since @${started[host]} | grep -c Started || true`);
        expect(Number((await blueLog(first)).trim()), `blue's starts on ${first}`).to.be.greaterThan(0);
        for (const host of rest) {
            expect(Number((await blueLog(host)).trim()), `blue's starts on ${host}`).to.equal(0);
        }
        for (const host of helloHosts()) {
            const units = await fleet.mustOnGuest(host, "systemctl is-active nordfleet-hello.service nordfleet-hello-blue.service " +
                "nordfleet-hello-green.service || true");
            expect(units.trim().split("\n"), `plain, blue and green on ${host}`).to.deep.equal(["active", "inactive", "inactive"]);
            const left = await fleet.mustOnGuest(host, "ls -d /etc/nordfleet/service-hello-* /etc/systemd/system/nordfleet-hello-* " +
                "2>/dev/null || true");
            expect(left.trim(), `what the failed releases left on ${host}`).to.equal("");
        }
        // The gateway was not updated: its route still names the plain instances, which answer.
        const served = gateway.get(LOAD_PATH);
        expect(served.status, served.body).to.equal(200);
    });

    it("makes hello blue/green with every request on blue, blue taking over the plain instance's port", async () => {
        up(blueGreen("blue"));
        const r = gateway.get(LOAD_PATH);
        expect(r.status, r.body).to.equal(200);
        await expectStartedOnce("nordfleet-hello-blue.service");
    });

    it(`${CONNECTIONS} connections for 15 s with no change: no failure from the load alone`, async () => {
        const { counts, report } = await load(`https://${gateway.address}${LOAD_PATH}`, gateway.caFile, 15);
        console.log(`      ${counts.requests} requests, ${counts.non2xx} not 2xx, ${counts.failed} without a response; ${latencies(counts)}`);
        expect(counts.requests, report).to.be.greaterThan(0);
        expect(counts.non2xx + counts.failed, report).to.equal(0);
    });

    it(`${CONNECTIONS} connections for ${LOAD_SECONDS} s: no failure while the weights go from 100/0 to 50/50`, async () => {
        const log = "/var/log/nginx/access.log";
        const errorLog = "/var/log/nginx/error.log";
        const linesBefore = Number((await fleet.mustOnGuest("gw-1", `wc -l < ${log}`)).trim());
        const errorLinesBefore = Number((await fleet.mustOnGuest("gw-1", `wc -l < ${errorLog}`)).trim());
        const url = `https://${gateway.address}${LOAD_PATH}`;
        const start = Date.now();
        let upEnded = 0;
        const update = new Promise(resolve => setTimeout(resolve, UPDATE_AFTER_SECONDS * 1000))
            .then(() => labPulumiAsync(["up", "--yes", "--skip-preview"], blueGreen({ blue: 50, green: 50 })))
            .finally(() => { upEnded = Date.now(); });
        const { counts: total, report } = await load(url, gateway.caFile, LOAD_SECONDS);
        const result = await update;
        const seconds = Math.round((Date.now() - start) / 1000);
        const updateEnd = Math.round((upEnded - start) / 1000);
        const upstreams = await fleet.mustOnGuest("gw-1", `tail -n +${linesBefore + 1} ${log} | grep -F '"${LOAD_PATH}"' | ` +
            // The last address tried, as its port; an upstream's name where none was live.
            `grep -o '"upstream":"[^"]*"' | sed -E 's/^"upstream":"(.*)"$/\\1/; s/.*, //; s/^[0-9.]+:([0-9]+)$/\\1/' | sort | uniq -c`);
        const byPort = Object.fromEntries(upstreams.trim().split("\n").map(l => l.trim().split(/\s+/).reverse()));
        // Why the gateway failed requests, if it did: its error log's reasons, counted.
        const reasons = await fleet.mustOnGuest("gw-1", `tail -n +${errorLinesBefore + 1} ${errorLog} | grep -o ` +
            `'upstream timed out ([^)]*) while [a-z ]*\\|no live upstreams\\|connect() failed ([^)]*)' | sort | uniq -c`);
        console.log(`      ${seconds} s of load; the update ran from ${UPDATE_AFTER_SECONDS} s to ${updateEnd} s`);
        console.log(`      ${total.requests} requests, ${total.non2xx} not 2xx, ${total.failed} without a response; ` +
            `${latencies(total)}; answered by port: ${JSON.stringify(byPort)}`);
        console.log(`      gw-1's error log: ${reasons.trim().replace(/\s*\n\s*/g, "; ") || "nothing"}`);
        expect(result.status, result.output.slice(-4000)).to.equal(0);
        expect(updateEnd, "the update ended 10 s before the load did").to.be.at.most(LOAD_SECONDS - 10);
        expect(total.requests, report).to.be.greaterThan(0);
        expect(total.non2xx, report).to.equal(0);
        expect(total.failed, report).to.equal(0);
        expect(Number(byPort[GREEN_PORT] ?? 0), "requests green answered after the change").to.be.greaterThan(0);
    });

    it("goes back to the stack's own config, the plain instance taking its port back", async () => {
        up();
        restored = true;
        const r = gateway.get(LOAD_PATH);
        expect(r.status, r.body).to.equal(200);
        await expectStartedOnce("nordfleet-hello.service");
    });
});
