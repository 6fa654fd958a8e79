/**
 * How the lab suites talk to the platform as its users do: HTTPS to the gateway's public
 * side (verified against the stack's CA) with curl, and the Consul CLI on a guest with the
 * agent's own client certificate.
 */
import { execFile, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

/** Where the Consul release lives on every guest. */
export const CONSUL = "/etc/nordfleet/consul/current";

/** A `consul ARGS` command line for a guest, over the agent's TLS API. */
export const consulCli = (args: string) => `CONSUL_HTTP_ADDR=https://127.0.0.1:8501 CONSUL_CACERT=${CONSUL}/tls/ca.pem ` +
    `CONSUL_CLIENT_CERT=${CONSUL}/tls/agent.pem CONSUL_CLIENT_KEY=${CONSUL}/tls/agent-key.pem consul ${args}`;

export interface GatewayResponse {
    status: number;
    head: string;
    body: string;
    error: string;
}

/** curl against the gateway's public address under its server name, trusting only the stack's CA. */
export class GatewayClient {
    public readonly serverName = "gateway.lab.nordfleet.internal";
    public readonly caFile: string;
    public readonly address: string;

    constructor(outputs: Record<string, any>, tmpDir: string) {
        this.caFile = path.join(tmpDir, "ca.pem");
        fs.writeFileSync(this.caFile, outputs.caCertPem);
        this.address = new URL(outputs.gatewayUrls[0]).hostname;
    }

    /** The curl arguments that pin the server name to the gateway and trust the CA. */
    private args(maxTimeSeconds: number): string[] {
        return ["-sS", "--max-time", String(maxTimeSeconds), "--cacert", this.caFile,
            "--resolve", `${this.serverName}:443:${this.address}`, "--resolve", `${this.serverName}:80:${this.address}`];
    }

    public curl(args: string[]): { status: number | null; stdout: string; stderr: string } {
        const r = spawnSync("curl", [...this.args(10), ...args], { encoding: "utf8" });
        return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    }

    /** Without blocking, for polling while something else runs; a failure comes back as "error: ...". */
    public curlAsync(args: string[]): Promise<string> {
        return new Promise(resolve => execFile("curl", [...this.args(5), ...args],
            (error, stdout, stderr) => resolve(error ? `error: ${stderr.trim()}` : stdout)));
    }

    public get(urlPath: string, headers: string[] = []): GatewayResponse {
        const r = this.curl(["-D", "-", ...headers.flatMap(h => ["-H", h]), `https://${this.serverName}${urlPath}`]);
        const [head, ...body] = r.stdout.split("\r\n\r\n");
        return { status: Number(head.match(/^HTTP\/\S+ (\d+)/)?.[1] ?? 0), head, body: body.join("\r\n\r\n"), error: r.stderr };
    }
}
