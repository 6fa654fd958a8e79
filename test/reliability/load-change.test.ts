/**
 * Load with change: 200 concurrent connections through the gateway's public side while a
 * `pulumi up` moves half of a route's traffic to its other version. Every response must
 * be a 2xx and no connection may fail. The load runs for 60 s, and on in shorter rounds
 * until the update has ended, so the reload always falls inside it.
 *
 * The route is hello's, made blue/green for the test (a stack variant), with its rate
 * limit raised so the one load generator is not throttled and its read timeout sized for
 * 200 requests queued on emulated replicas; the stack's own config is applied again at
 * the end. A round with no change comes first, so a failure there is the load's alone.
 * The gateway's access log says which version answered each request, and its error log
 * why any request failed.
 */
import { expect } from "chai";
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { GatewayClient } from "../lab/labClients";
import { LabFleet, labOutputs, labPulumi, labPulumiAsync, writeLabStackVariant } from "../lab/labStack";

const CONNECTIONS = 200;
const GREEN_PORT = 8091;

export interface WrkCounts { requests: number; non2xx: number; socketErrors: number }

/** The counts of wrk's plain report (non-2xx includes 3xx: wrk counts anything but 2xx there). */
export function wrkCounts(report: string): WrkCounts {
    const requests = Number(/^\s*(\d+) requests in /m.exec(report)?.[1] ?? NaN);
    const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(report)?.[1] ?? 0);
    const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(report);
    return { requests, non2xx, socketErrors: errors ? errors.slice(1).reduce((a, b) => a + Number(b), 0) : 0 };
}

function wrk(url: string, seconds: number): Promise<string> {
    return new Promise(resolve => {
        const child = spawn("wrk", ["-t", "2", "-c", String(CONNECTIONS), "-d", `${seconds}s`, "--timeout", "30s", url]);
        let output = "";
        child.stdout.on("data", d => { output += d; });
        child.stderr.on("data", d => { output += d; });
        child.on("close", status => resolve(`${output}\nwrk exit ${status}`));
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
                readTimeoutMs: 60000,
            });
        });
    const up = (file?: string) => {
        const r = labPulumi(["up", "--yes", "--skip-preview"], file);
        expect(r.status, r.output.slice(-4000)).to.equal(0);
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

    it("makes hello blue/green with every request on blue", () => {
        up(blueGreen("blue"));
        const r = gateway.get("/hello/healthz");
        expect(r.status, r.body).to.equal(200);
    });

    it(`${CONNECTIONS} connections for 15 s with no change: no failure from the load alone`, async () => {
        const round = await wrk(`https://${gateway.address}/hello/healthz`, 15);
        const counts = wrkCounts(round);
        console.log(`      ${counts.requests} requests, ${counts.non2xx} not 2xx, ${counts.socketErrors} socket errors`);
        expect(counts.requests, round).to.be.greaterThan(0);
        expect(counts.non2xx + counts.socketErrors, round).to.equal(0);
    });

    it(`${CONNECTIONS} connections for at least 60 s: no failure while the weights go from 100/0 to 50/50`, async () => {
        const log = "/var/log/nginx/access.log";
        const errorLog = "/var/log/nginx/error.log";
        const linesBefore = Number((await fleet.mustOnGuest("gw-1", `wc -l < ${log}`)).trim());
        const errorLinesBefore = Number((await fleet.mustOnGuest("gw-1", `wc -l < ${errorLog}`)).trim());
        const url = `https://${gateway.address}/hello/healthz`;
        const start = Date.now();
        const rounds: string[] = [];
        let upEnded = 0;
        // The update starts 10 s into the load.
        const update = new Promise(resolve => setTimeout(resolve, 10_000))
            .then(() => labPulumiAsync(["up", "--yes", "--skip-preview"], blueGreen({ blue: 50, green: 50 })))
            .finally(() => { upEnded = Date.now(); });
        rounds.push(await wrk(url, 60));
        while (upEnded === 0 || Date.now() - upEnded < 10_000) {
            rounds.push(await wrk(url, 15));
        }
        const result = await update;
        const seconds = Math.round((Date.now() - start) / 1000);
        const counts = rounds.map(wrkCounts);
        const total = counts.reduce((a, c) => ({ requests: a.requests + c.requests, non2xx: a.non2xx + c.non2xx,
            socketErrors: a.socketErrors + c.socketErrors }), { requests: 0, non2xx: 0, socketErrors: 0 });
        const upstreams = await fleet.mustOnGuest("gw-1", `tail -n +${linesBefore + 1} ${log} | grep -F '"/hello/healthz"' | ` +
            // The last address tried, as its port; an upstream's name where none was live.
            `grep -o '"upstream":"[^"]*"' | sed -E 's/^"upstream":"(.*)"$/\\1/; s/.*, //; s/^[0-9.]+:([0-9]+)$/\\1/' | sort | uniq -c`);
        const byPort = Object.fromEntries(upstreams.trim().split("\n").map(l => l.trim().split(/\s+/).reverse()));
        // Why the gateway failed requests, if it did: its error log's reasons, counted.
        const reasons = await fleet.mustOnGuest("gw-1", `tail -n +${errorLinesBefore + 1} ${errorLog} | grep -o ` +
            `'upstream timed out ([^)]*) while [a-z ]*\\|no live upstreams\\|connect() failed ([^)]*)' | sort | uniq -c`);
        console.log(`      ${seconds} s of load in ${rounds.length} rounds; the update ran from 10 s to ` +
            `${Math.round((upEnded - start) / 1000)} s`);
        console.log(`      ${total.requests} requests, ${total.non2xx} not 2xx, ${total.socketErrors} socket errors; ` +
            `answered by port: ${JSON.stringify(byPort)}`);
        console.log(`      gw-1's error log: ${reasons.trim().replace(/\s*\n\s*/g, "; ") || "nothing"}`);
        expect(result.status, result.output.slice(-4000)).to.equal(0);
        expect(counts.every(c => c.requests > 0), rounds.join("\n")).to.equal(true);
        expect(total.non2xx, rounds.join("\n")).to.equal(0);
        expect(total.socketErrors, rounds.join("\n")).to.equal(0);
        expect(Number(byPort[GREEN_PORT] ?? 0), "requests green answered after the change").to.be.greaterThan(0);
    });

    it("goes back to the stack's own config", () => {
        up();
        restored = true;
        expect(gateway.get("/hello/").status).to.equal(200);
    });
});
