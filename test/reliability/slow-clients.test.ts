/**
 * Slow clients against the gateway: 2000 connections from the public side trickling a
 * request header line every 5 s for 60 s (bounded in count and time), while normal
 * requests go on at a fixed rate. Every normal request must succeed, and the gateway,
 * not the client, must close the slow connections (client_header_timeout). The normal
 * requests' latency is printed beside a run of the same length without slow clients.
 * Runs with `npm run test:reliability`.
 */
import { expect } from "chai";
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { GatewayClient } from "../lab/labClients";
import { LabFleet, labOutputs } from "../lab/labStack";
import { LoadCounts, vegetaCounts } from "./vegeta";

const SLOW_CONNECTIONS = 2000;
const SECONDS = 60;
const NORMAL_RATE = 10;

/** Opens the slow connections to port 80 and reports, as JSON, when the server closed each. */
const SLOWLORIS = `
import asyncio, json, resource, sys, time
host, count, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 256), hard))
closed, opened, failed = [], 0, 0
async def slow(i):
    global opened, failed
    await asyncio.sleep(i * 5.0 / count)  # spread the connects over 5 s
    try:
        reader, writer = await asyncio.open_connection(host, 80)
    except OSError:
        failed += 1
        return
    opened += 1
    start = time.monotonic()
    try:
        writer.write(b"GET / HTTP/1.1\\r\\nHost: slow\\r\\n")
        while time.monotonic() - start < seconds:
            await writer.drain()
            try:
                if await asyncio.wait_for(reader.read(1024), timeout=5) == b"":
                    closed.append(time.monotonic() - start)
                    return
                closed.append(time.monotonic() - start)  # answered (408): closed right after
                return
            except asyncio.TimeoutError:
                writer.write(b"X-Trickle: %d\\r\\n" % i)
    except (ConnectionError, OSError):
        closed.append(time.monotonic() - start)
    finally:
        writer.close()
async def main():
    await asyncio.gather(*(slow(i) for i in range(count)))
asyncio.run(main())
closed.sort()
print(json.dumps({"opened": opened, "failed": failed, "closedByServer": len(closed),
                  "p50": closed[len(closed) // 2] if closed else None, "max": closed[-1] if closed else None}))
`;

function normalLoad(url: string, caFile: string): Promise<LoadCounts> {
    return new Promise((resolve, reject) => {
        const attack = spawn("vegeta", ["attack", "-rate", `${NORMAL_RATE}/s`, "-http2=false", "-root-certs", caFile,
            "-timeout", "30s", "-duration", `${SECONDS}s`], { stdio: ["pipe", "pipe", "pipe"] });
        const report = spawn("vegeta", ["report", "-type", "json"], { stdio: ["pipe", "pipe", "pipe"] });
        attack.stdin.end(`GET ${url}\n`);
        attack.stdout.pipe(report.stdin);
        let output = "";
        report.stdout.on("data", d => { output += d; });
        report.on("error", reject);
        report.on("close", status => (status === 0 ? resolve(vegetaCounts(output)) : reject(new Error(`vegeta report exited ${status}`))));
    });
}

function slowClients(address: string): Promise<{ opened: number; failed: number; closedByServer: number; p50: number; max: number }> {
    return new Promise((resolve, reject) => {
        const child = spawn("python3", ["-c", SLOWLORIS, address, String(SLOW_CONNECTIONS), String(SECONDS)]);
        let output = "";
        let errors = "";
        child.stdout.on("data", d => { output += d; });
        child.stderr.on("data", d => { errors += d; });
        child.on("close", status => (status === 0 ? resolve(JSON.parse(output)) : reject(new Error(`slow clients: ${errors}`))));
    });
}

describe("slow clients against the gateway", function () {
    this.timeout(20 * 60 * 1000);
    let gateway: GatewayClient;
    let tmp: string;

    before(() => {
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nordfleet-slow-"));
        gateway = new GatewayClient(new LabFleet(labOutputs()).outputs, tmp);
    });
    after(() => fs.rmSync(tmp, { recursive: true, force: true }));

    it("keeps serving normal requests while the gateway cuts 2000 trickling connections off", async () => {
        const url = `https://${gateway.address}/hello/livez`;
        const alone = await normalLoad(url, gateway.caFile);
        const [withSlow, slow] = await Promise.all([normalLoad(url, gateway.caFile), slowClients(gateway.address)]);
        console.log(`      normal requests alone:      ${alone.requests}, ${alone.non2xx} not 2xx, ${alone.failed} unanswered, ` +
            `p50 ${alone.latency.p50} s, p99 ${alone.latency.p99} s`);
        console.log(`      beside ${SLOW_CONNECTIONS} slow clients: ${withSlow.requests}, ${withSlow.non2xx} not 2xx, ` +
            `${withSlow.failed} unanswered, p50 ${withSlow.latency.p50} s, p99 ${withSlow.latency.p99} s ` +
            `(${(withSlow.latency.p99 / Math.max(alone.latency.p99, 0.001)).toFixed(2)}x)`);
        console.log(`      slow connections: ${slow.opened} opened, ${slow.failed} refused, ${slow.closedByServer} closed by ` +
            `the gateway after ${slow.p50?.toFixed(1)} s (p50), ${slow.max?.toFixed(1)} s at most`);
        for (const run of [alone, withSlow]) {
            expect(run.non2xx + run.failed, run.errors.join("; ")).to.equal(0);
        }
        expect(slow.opened).to.be.greaterThan(SLOW_CONNECTIONS * 0.9);
        expect(slow.closedByServer, "slow connections the gateway closed before the client gave up").to.equal(slow.opened);
    });
});
