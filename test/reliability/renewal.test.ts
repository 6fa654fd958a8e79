/**
 * Certificates renewed through the engine reach their daemons without a restart. The
 * internal CA issues the broker's, PostgreSQL's, the gateway's and a Consul server's
 * certificates again (`pulumi up --replace`, which is what a renewal inside its window
 * does), each role's release pushes the new file, and each daemon serves it to new
 * connections from the same process: RabbitMQ after its PEM cache is cleared, the others
 * after a reload.
 */
import { expect } from "chai";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { GatewayClient } from "../lab/labClients";
import { LabFleet, labOutputs, labPulumi, mustLabPulumi } from "../lab/labStack";

/** A daemon with a certificate of the internal CA: where it runs, its unit and certificate, and how to reach it. */
interface Served {
    certificate: string;
    host: string;
    unit: string;
    file: string;
    /** Where a new TLS connection is opened from, and its s_client arguments. */
    client: string;
    connect: string;
}

const SERVED: Served[] = [
    { certificate: "nordfleet-rabbitmq-mq-1-tls-cert", host: "mq-1", unit: "rabbitmq-server.service",
        file: "/etc/nordfleet/rabbitmq/current/tls/server.crt", client: "app-1", connect: "-connect 10.110.0.50:5671" },
    { certificate: "nordfleet-db-1-postgres-tls-cert", host: "db-1", unit: "nordfleet-postgres.service",
        file: "/etc/nordfleet/postgres/current/tls/server.crt", client: "app-1", connect: "-starttls postgres -connect 10.110.0.40:5432" },
    { certificate: "nordfleet-consul-consul-1-tls-cert", host: "consul-1", unit: "consul.service",
        file: "/etc/nordfleet/consul/current/tls/agent.pem", client: "consul-1", connect: "-connect 127.0.0.1:8501" },
];

const serialCommand = (connect: string) => `openssl s_client ${connect} </dev/null 2>/dev/null | openssl x509 -noout -serial`;

describe("certificates renewed through the engine", function () {
    this.timeout(30 * 60 * 1000);
    let fleet: LabFleet;
    let gateway: GatewayClient;
    let tmp: string;

    before(() => {
        fleet = new LabFleet(labOutputs());
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nordfleet-renewal-"));
        gateway = new GatewayClient(fleet.outputs, tmp);
    });
    after(() => {
        fleet?.close();
        fs.rmSync(tmp, { recursive: true, force: true });
    });

    /** The gateway's certificate, as a new connection to its public address is served it. */
    const gatewaySerial = () => {
        const r = spawnSync("sh", ["-c", serialCommand(`-connect ${gateway.address}:443 -servername ${gateway.serverName}`)],
            { encoding: "utf8" });
        return r.stdout.trim();
    };
    const look = async () => {
        const daemons = await Promise.all(SERVED.map(async s => ({
            pid: (await fleet.mustOnGuest(s.host, `systemctl show -p MainPID --value ${s.unit}`)).trim(),
            served: (await fleet.mustOnGuest(s.client, serialCommand(s.connect))).trim(),
            file: (await fleet.mustOnGuest(s.host, `openssl x509 -noout -serial -in ${s.file}`)).trim(),
        })));
        const nginx = { pid: (await fleet.mustOnGuest("gw-1", "systemctl show -p MainPID --value nginx.service")).trim(),
            served: gatewaySerial() };
        return { daemons, nginx };
    };

    it("re-issues four certificates; each daemon serves its new one under the same process", async () => {
        const before = await look();
        for (const d of before.daemons) {
            expect(d.served, "a daemon serves the certificate its release holds").to.equal(d.file).and.match(/^serial=/);
        }
        expect(before.nginx.served).to.match(/^serial=/);

        const exported = JSON.parse(mustLabPulumi(["stack", "export"]));
        const urnOf = (name: string) => exported.deployment.resources.map((r: { urn: string }) => r.urn)
            .find((u: string) => u.endsWith(`::${name}`)) as string;
        const certificates = [...SERVED.map(s => s.certificate), "nordfleet-gw-1-gateway-tls-cert"];
        const started = Date.now();
        const up = labPulumi(["up", "--yes", "--skip-preview", ...certificates.flatMap(c => ["--replace", urnOf(c)])]);
        expect(up.status, up.output.slice(-4000)).to.equal(0);
        console.log(`      pulumi up re-issuing ${certificates.length} certificates: ${Math.round((Date.now() - started) / 1000)} s`);

        const after = await look();
        SERVED.forEach((s, i) => {
            expect(after.daemons[i].file, `${s.host}'s certificate file`).to.not.equal(before.daemons[i].file);
            expect(after.daemons[i].served, `what a new connection to ${s.host} is served`).to.equal(after.daemons[i].file);
            expect(after.daemons[i].pid, `${s.unit} on ${s.host}, same process`).to.equal(before.daemons[i].pid);
        });
        expect(after.nginx.served, "the gateway's certificate").to.match(/^serial=/);
        expect(after.nginx.served, "the gateway's certificate").to.not.equal(before.nginx.served);
        expect(after.nginx.pid, "nginx's master, same process").to.equal(before.nginx.pid);
        const r = gateway.get("/hello/");
        expect(r.status, r.body).to.equal(200);
    });
});
