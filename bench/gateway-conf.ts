/**
 * The gateway config bench/gateway measures as row (a): nginx.conf exactly as
 * components/platform/apiGateway.ts renders it for a small synthetic stack, then a plain-HTTP
 * variant for the load generator, changed in as few lines as possible and each change
 * reported. Run by bench/gateway:
 *
 *   node -r ts-node/register/transpile-only bench/gateway-conf.ts --out DIR \
 *       --gateway ADDR --upstream ADDR --port N --path /prefix/
 *
 * Writes DIR/rendered.conf (as rendered) and DIR/nginx.conf (what the bench runs),
 * prints what differs, and ends with the line "url <url> host <Host header>".
 */
import * as fs from "fs";
import * as path from "path";
import { parseFlags, runCli, UsageError } from "../cli/run";
import { gatewayContext, renderNginxConf } from "../components/platform/apiGateway";
import { LoadedFleet, parseFleetConfig, RawConfig } from "../config/load";

export interface BenchTargets {
    gatewayAddress: string;
    upstreamAddress: string;
    upstreamPort: number;
    /** The service's gatewayPath, e.g. "/hello/". */
    path: string;
}

/** Highest per-address rate the validator allows: one load generator must not be the one client limited. */
export const BENCH_RATE_LIMIT = 100000;

/**
 * A lab stack with one gateway and one service ("hello", one replica) whose host address
 * is the bench's upstream. The VLAN is a loopback /24, so every address lives on lo in
 * the bench's namespace. Everything else keeps the loader's defaults (balancing,
 * timeouts, body limit, keepalive), apart from the rate limit (see BENCH_RATE_LIMIT).
 */
export function benchStack(t: BenchTargets): RawConfig {
    const prefix = t.gatewayAddress.split(".").slice(0, 3).join(".");
    return {
        environment: "lab",
        ssh: { user: "root", port: 22, dialErrorLimit: 5, hypervisorDialErrorLimit: 5, perDialTimeout: 5 },
        hypervisors: [{ name: "bench-hv", site: "lab", address: `${prefix}.1`, accelerator: "qemu",
            capacity: { vcpus: 8, memoryMb: 8192, nvmeGb: 100 } }],
        vlans: [{ name: "bench", id: 110, cidr: `${prefix}.0/24` }],
        services: [{ name: "hello", port: t.upstreamPort, gatewayPath: t.path, replicas: 1,
            rateLimitPerSecond: BENCH_RATE_LIMIT, rateLimitBurst: BENCH_RATE_LIMIT }],
        hosts: [
            { name: "gw-1", role: "gateway", vlan: "bench", address: t.gatewayAddress },
            { name: "consul-1", role: "consul-server", vlan: "bench", address: `${prefix}.250` },
            { name: "app-1", role: "service", vlan: "bench", address: t.upstreamAddress, services: ["hello"] },
        ],
    };
}

export interface PlainVariant {
    conf: string;
    /** One entry per changed line: [line number, before, after]. */
    changes: [number, string, string][];
    /** Port of the server that terminated TLS, now plain HTTP. */
    port: number;
}

const TLS_LISTEN_PARAMS = new Set(["ssl", "http2", "quic"]);

/**
 * The rendered config with TLS switched off and one worker: in each `listen` directive
 * that has `ssl`, the ssl/http2/quic parameters are dropped (same port, same other
 * parameters), and `worker_processes` becomes 1. Every other line stays as rendered,
 * ssl_* directives included (nginx loads the certificate but no listener uses it).
 */
export function plainHttpVariant(rendered: string): PlainVariant {
    const changes: [number, string, string][] = [];
    const ports: number[] = [];
    const lines = rendered.split("\n").map((line, i) => {
        const listen = /^(\s*)listen\s+([^;#]*);(.*)$/.exec(line);
        if (listen) {
            const params = listen[2].trim().split(/\s+/);
            if (!params.includes("ssl")) {
                return line;
            }
            const kept = params.filter(p => !TLS_LISTEN_PARAMS.has(p));
            const port = Number(/(?:^|:)(\d+)$/.exec(kept[0])?.[1]);
            if (!Number.isInteger(port)) {
                throw new Error(`line ${i + 1}: cannot tell the port of ${JSON.stringify(line.trim())}`);
            }
            ports.push(port);
            const after = `${listen[1]}listen ${kept.join(" ")};${listen[3]}`;
            changes.push([i + 1, line.trim(), after.trim()]);
            return after;
        }
        const workers = /^(\s*)worker_processes\s+([^;]+);(.*)$/.exec(line);
        if (workers && workers[2].trim() !== "1") {
            const after = `${workers[1]}worker_processes 1;${workers[3]}`;
            changes.push([i + 1, line.trim(), after.trim()]);
            return after;
        }
        if (/^\s*http2\s+on\s*;/.test(line)) {
            changes.push([i + 1, line.trim(), "(removed)"]);
            return "";
        }
        return line;
    });
    const distinct = [...new Set(ports)];
    if (distinct.length !== 1) {
        throw new Error(`expected the TLS listeners on one port, found ${distinct.length ? distinct.join(", ") : "none"}; ` +
            `the bench does not know which server to measure`);
    }
    return { conf: lines.join("\n"), changes, port: distinct[0] };
}

const USAGE = `usage: bench/gateway-conf.ts --out DIR --gateway ADDR --upstream ADDR --port N --path /prefix/
(run by bench/gateway; writes DIR/rendered.conf and DIR/nginx.conf)`;

function parseArgs(argv: string[]): BenchTargets & { out: string } {
    const { flags } = parseFlags(argv, ["out", "gateway", "upstream", "port", "path"]);
    for (const k of ["out", "gateway", "upstream", "port", "path"]) {
        if (!flags.get(k)) {
            throw new UsageError(`--${k} is missing`);
        }
    }
    return { out: flags.get("out")!, gatewayAddress: flags.get("gateway")!, upstreamAddress: flags.get("upstream")!,
        upstreamPort: Number(flags.get("port")), path: flags.get("path")! };
}

function main(argv: string[]): number {
    const args = parseArgs(argv);
    const loaded: LoadedFleet = parseFleetConfig(benchStack(args));
    const gateway = loaded.config.hosts.find(h => h.role === "gateway")!;
    const logDir = path.join(args.out, "logs");
    fs.mkdirSync(logDir, { recursive: true });
    // pid and logs in the bench's temp dir, through the renderer's own GatewayPaths.
    const ctx = gatewayContext(loaded.config, gateway, { pidFile: path.join(args.out, "nginx.pid"), logDir });
    const rendered = renderNginxConf({ ...ctx, configId: "bench" });
    const plain = plainHttpVariant(rendered);
    fs.writeFileSync(path.join(args.out, "rendered.conf"), rendered);
    fs.writeFileSync(path.join(args.out, "nginx.conf"), plain.conf);

    const svc = loaded.config.services[0];
    console.log(`renderNginxConf(gatewayContext(...)) for a synthetic lab stack: gateway ${gateway.address}, ` +
        `service ${svc.name} (${svc.gatewayPath}, balance ${svc.balance}) with 1 replica at ` +
        `${args.upstreamAddress}:${svc.port};`);
    console.log(`its rateLimitPerSecond/Burst are ${BENCH_RATE_LIMIT} (the validator's maximum) so the one load ` +
        `generator address is not limited: limit_req still runs on every request; pid and logs (the JSON access log ` +
        `is written) are in the temp dir via gatewayContext's paths argument. Lines changed from the rendered file:`);
    for (const [line, before, after] of plain.changes) {
        console.log(`  line ${line}: ${before}  ->  ${after}`);
    }
    console.log(`nginx runs it with -g "daemon off;"; tls/server.crt and .key are a throwaway self-signed pair ` +
        `(loaded, never served).`);
    console.log(`url http://${args.gatewayAddress}:${plain.port}${svc.gatewayPath} host ${loaded.config.gateway.serverName}`);
    return 0;
}

if (require.main === module) {
    runCli("gateway-conf", USAGE, main);
}
