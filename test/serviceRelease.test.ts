import { expect } from "chai";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { recorded, isSecretValue, settle, valueOf, mockLedger, releaseScriptOf } from "./mocks";
import { AS_ROOT, requireHost } from "./hostNeeds";
import * as pulumi from "@pulumi/pulumi";
import { HostSpec } from "../config/types";
import { ReleaseFile } from "../components/platform/release";
import { readTemplate, shellAssignments } from "../components/render";
import {
    artifactFiles, envFileValue, renderServiceUnit, serviceEnvironment, serviceInstances, ServiceRelease,
    SERVICE_HOOKS, serviceReleaseFiles, serviceReleaseVars, ServiceRunSpec, systemdWord,
} from "../components/platform/serviceRelease";

const host: HostSpec = {
    name: "app-1", role: "service", vlan: "platform", address: "10.110.0.30", vcpus: 1, memoryMb: 512,
    rootDiskGb: 10, dataDisks: [], services: ["hello"],
};

function hello(extra: Partial<ServiceRunSpec> = {}): ServiceRunSpec {
    return {
        name: "hello", port: 8081, gatewayPath: "/hello/", replicas: 1, healthPath: "/healthz", healthCheckSeconds: 90,
        database: true, queue: true, balance: "least_conn", connectTimeoutMs: 1000, readTimeoutMs: 5000,
        rateLimitPerSecond: 50, rateLimitBurst: 100, maxBodyMb: 1,
        artifact: { inline: "examples/demo-service", entry: "hello.py" },
        env: { GREETING: "hej" },
        ...extra,
    };
}

/** Writes a release tree as nf_file would: modes and owners included. */
function writeTree(dir: string, files: ReleaseFile[]): void {
    for (const f of files) {
        const target = path.join(dir, f.path);
        fs.mkdirSync(path.dirname(target), { recursive: true });
        fs.writeFileSync(target, f.content);
        fs.chmodSync(target, parseInt(f.mode, 8));
    }
}

/**
 * Runs the real role_validate hook on a staged tree in a scratch folder; NF_ROOT is the
 * guest's, so the hook's rewrite of .../current to the staged tree is the one a guest runs.
 */
function validate(files: ReleaseFile[], vars: Record<string, string | number>): { status: number; out: string } {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "nf-service-"));
    try {
        const tree = path.join(root, "releases", "candidate");
        writeTree(tree, files);
        const script = shellAssignments({ ...vars, NF_ROOT: "/etc/nordfleet/service-hello" }) + SERVICE_HOOKS.map(readTemplate).join("")
            + `role_validate ${tree}\n`;
        const r = spawnSync("bash", ["-euo", "pipefail", "-c", script], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
        return { status: r.status ?? -1, out: r.stdout + r.stderr };
    } finally {
        fs.rmSync(root, { recursive: true, force: true });
    }
}

describe("service instances", () => {
    it("one unit per service, or one per version on its own port and unit name", () => {
        expect(serviceInstances(hello(), "app-1").map(i => [i.instance, i.port, i.cpuQuota, i.memoryMb]))
            .to.deep.equal([["hello", 8081, 100, 256]]);
        const bg = hello({
            cpuQuota: 50, memoryMb: 128,
            versions: {
                blue: { port: 8181 },
                green: { port: 8281, hosts: ["app-2"], env: { GREETING: "hei" }, artifact: { inline: "examples/demo-service/audit.py" } },
            },
        });
        expect(serviceInstances(bg, "app-1").map(i => [i.instance, i.version, i.port])).to.deep.equal([["hello-blue", "blue", 8181]]);
        const green = serviceInstances(bg, "app-2");
        expect(green.map(i => [i.instance, i.port, i.env.GREETING, i.cpuQuota])).to.deep.equal([
            ["hello-blue", 8181, "hej", 50], ["hello-green", 8281, "hei", 50]]);
        expect(renderServiceUnit(green[1])).to.contain("ExecStart=/etc/nordfleet/service-hello-green/current/app/audit.py\n")
            .and.contain("User=nf-hello\n").and.contain("CPUQuota=50%\n").and.contain("MemoryMax=128M\n");
    });
});

describe("service unit and environment", () => {
    const inst = serviceInstances(hello({ args: ["--greeting", "50% of $HOME"] }), "app-1")[0];

    it("hardens the unit and runs the release's program as the service's user", () => {
        const unit = renderServiceUnit(inst);
        for (const line of ["User=nf-hello", "Restart=on-failure", "NoNewPrivileges=yes", "ProtectSystem=strict",
            "ProtectHome=yes", "PrivateTmp=yes", "CapabilityBoundingSet=",
            "EnvironmentFile=/etc/nordfleet/service-hello/current/service.env",
            'ExecStart=/etc/nordfleet/service-hello/current/app/hello.py --greeting "50%% of $$HOME"']) {
            expect(unit.split("\n")).to.include(line);
        }
    });

    it("comes back by itself after its dependencies, with its limits stated", () => {
        const unit = renderServiceUnit({ ...inst, memoryMb: 200 }).split("\n");
        // Never start-limit-hit: retried every 5 s for as long as a dependency is down.
        for (const line of ["StartLimitIntervalSec=0", "RestartSec=5", "LimitNOFILE=65536", "SystemCallErrorNumber=EPERM",
            "MemoryHigh=180M", "MemoryMax=200M"]) {
            expect(unit).to.include(line);
        }
        expect(unit.filter(l => l.startsWith("StartLimitBurst="))).to.deep.equal([]);
    });

    it("quotes ExecStart words and env values the way systemd reads them", () => {
        expect(systemdWord("/usr/bin/x")).to.equal("/usr/bin/x");
        expect(systemdWord('a "b"')).to.equal('"a \\"b\\""');
        expect(envFileValue('p"w$x`\\')).to.equal('p\\"w\\$x\\`\\\\');
        expect(() => envFileValue("a\nb")).to.throw("line break");
    });

    it("puts listen address, service and platform settings in one file, refusing collisions", () => {
        const env = serviceEnvironment(inst, host, { DATABASE_URL: "postgresql://hello:pw@10.110.0.40/hello" });
        expect(env).to.deep.equal({ PORT: "8081", BIND: "10.110.0.30", GREETING: "hej",
            DATABASE_URL: "postgresql://hello:pw@10.110.0.40/hello" });
        const bad = serviceInstances(hello({ env: { DATABASE_URL: "x" } }), "app-1")[0];
        expect(() => serviceEnvironment(bad, host, {})).to.throw(
            'service hello: env "DATABASE_URL" is set by the platform; remove it from the service\'s env');
    });

    it("ships the demo folder with only the entry executable, or a URL and its checksum", () => {
        const files = artifactFiles({ inline: "examples/demo-service", entry: "hello.py" });
        expect(files.filter(f => f.mode === "0755").map(f => f.path)).to.deep.equal(["app/hello.py"]);
        expect(files.map(f => f.path)).to.include("app/common.py");
        expect(() => artifactFiles({ inline: "examples/demo-service", entry: "nope.py" })).to.throw("has no file nope.py");
        expect(artifactFiles({ url: "https://artifacts.osl.example/hello/1.2.0/hello", sha256: "ab".repeat(32) }))
            .to.deep.equal([
                { path: "artifact.url", mode: "0644", content: "https://artifacts.osl.example/hello/1.2.0/hello\n" },
                { path: "artifact.sha256", mode: "0644", content: `${"ab".repeat(32)}  app/hello\n` },
            ]);
    });
});

describe(`service release hooks (role_validate, run for real) ${AS_ROOT}`, () => {
    const inst = serviceInstances(hello(), "app-1")[0];
    const vars = serviceReleaseVars(inst, host);
    const files = () => serviceReleaseFiles(inst, serviceEnvironment(inst, host, { AMQP_URL: 'amqps://h:p"$@mq/hello' }),
        artifactFiles(inst.artifact));

    before(function () {
        requireHost(this, {
            root: "the hook refuses a service.env that root does not own, as on a guest",
            programs: { "systemd-analyze": "apt-get install systemd" },
        });
    });

    it("accepts the rendered release: systemd-analyze verify passes on the staged unit", () => {
        // root owns what this process writes, as nf_file's chown makes it on a guest
        expect(validate(files(), vars)).to.deep.equal({ status: 0, out: "" });
    });

    it("refuses a unit with a bad value, which systemd-analyze only warns about", () => {
        const broken = files().map(f => f.path.endsWith(".service")
            ? { ...f, content: f.content.replace("CPUQuota=100%", "CPUQuota=all") } : f);
        const r = validate(broken, vars);
        expect(r.status).to.equal(1);
        expect(r.out).to.contain("nordfleet-hello.service: systemd-analyze verify:").and.contain("Invalid CPU quota 'all'");
    });

    it("refuses a release whose program is missing or whose env file is readable by others", () => {
        const noProgram = validate(files().filter(f => f.path !== "app/hello.py"), vars);
        expect(noProgram.out).to.contain("app/hello.py is not an executable file in the release");
        const readable = validate(files().map(f => f.path === "service.env" ? { ...f, mode: "0644" } : f), vars);
        expect(readable.out).to.contain("service.env must be mode 0600 root:root");
    });
});

describe("service release hooks: which instances hold the port (nf_port_holders, run for real)", () => {
    let root: string;
    /** An instance's live tree under ROOT: the service it belongs to and its env file's port. */
    const instance = (dir: string, service: string, port: number) => {
        const current = path.join(root, dir, "current");
        fs.mkdirSync(current, { recursive: true });
        fs.writeFileSync(path.join(current, "service"), `${service}\n`);
        fs.writeFileSync(path.join(current, "service.env"), `# nordfleet service\nBIND="10.110.0.30"\nPORT="${port}"\n`);
    };
    const holders = (self: string, port: number) => {
        const script = shellAssignments({ NF_ROOT: path.join(root, self), SERVICE: "hello", PORT: port })
            + SERVICE_HOOKS.map(readTemplate).join("") + "nf_port_holders\n";
        const r = spawnSync("bash", ["-euo", "pipefail", "-c", script], { encoding: "utf8" });
        expect(r.status, r.stderr).to.equal(0);
        return r.stdout.split("\n").filter(Boolean);
    };

    before(() => {
        root = fs.mkdtempSync(path.join(os.tmpdir(), "nf-holders-"));
        instance("service-hello", "hello", 8081);
        instance("service-hello-blue", "hello", 8081);
        instance("service-hello-green", "hello", 8091);
        // A service of its own whose name starts like a version of hello's.
        instance("service-hello-api", "hello-api", 8081);
    });
    after(() => fs.rmSync(root, { recursive: true, force: true }));

    it("walks a service's own instances (the walk the prune step shares), not another service's", () => {
        const script = readTemplate("service/instances.sh") + `nf_service_instances ${root} hello\n`;
        const r = spawnSync("bash", ["-euo", "pipefail", "-c", script], { encoding: "utf8" });
        expect(r.status, r.stderr).to.equal(0);
        expect(r.stdout.split("\n").filter(Boolean).map(p => path.basename(p)).sort())
            .to.deep.equal(["service-hello", "service-hello-blue", "service-hello-green"]);
    });

    it("names the plain instance to version blue on its port, and blue to the plain one", () => {
        expect(holders("service-hello-blue", 8081)).to.deep.equal(["nordfleet-hello.service"]);
        expect(holders("service-hello", 8081)).to.deep.equal(["nordfleet-hello-blue.service"]);
    });

    it("names no instance on another port, and none of another service", () => {
        expect(holders("service-hello-green", 8091)).to.deep.equal([]);
        expect(holders("service-hello-red", 8092)).to.deep.equal([]);
    });
});

describe("ServiceRelease (mocked)", () => {
    it("ships every instance as its own role release, the env file only ever secret", async () => {
        recorded.length = 0;
        const release = new ServiceRelease("app-1-hello", {
            service: hello({ versions: { blue: { port: 8181 }, green: { port: 8281 } } }),
            host,
            connection: { host: "10.110.0.30", user: "root", privateKey: pulumi.secret("KEY") },
            machine: "machine-1",
            ledger: mockLedger("app-1"),
            env: { DATABASE_URL: pulumi.secret("postgresql://hello:S3CRET-PW@10.110.0.40/hello"), CONSUL_HTTP_TOKEN: pulumi.secret("TOKEN-XYZ") },
            caCertPem: "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n",
        });
        await valueOf(release.releases["hello-green"]);
        await settle();
        expect(release.units).to.deep.equal(["nordfleet-hello-blue.service", "nordfleet-hello-green.service"]);
        expect(release.endpoints.map(e => [e.version, e.address, e.port])).to.deep.equal([
            ["blue", "10.110.0.30", 8181], ["green", "10.110.0.30", 8281]]);
        const types = recorded.map(r => `${r.type} ${r.name}`);
        expect(types).to.include.members([
            "nordfleet:platform:ServiceRelease app-1-hello",
            "command:remote:CopyToRemote app-1-hello-release-blue-bundle",
            "command:remote:CopyToRemote app-1-hello-release-green-bundle",
            "command:remote:Command app-1-hello-release-blue-apply",
            "command:remote:Command app-1-hello-release-green-apply",
            "command:remote:Command app-1-hello-prune",
        ]);
        for (const cmd of recorded.filter(r => r.type === "command:remote:Command")) {
            expect(JSON.stringify(cmd.inputs.create)).to.not.match(/S3CRET|TOKEN-XYZ/);
        }
        const apply = recorded.find(r => r.name === "app-1-hello-release-green-apply")!;
        expect(isSecretValue(apply.inputs.stdin)).to.equal(true);
        const script = releaseScriptOf(apply.inputs);
        expect(script).to.contain("ROLE='service-hello-green'").and.contain("UNIT='nordfleet-hello-green.service'")
            .and.contain("HEALTH_URL='http://10.110.0.30:8281/healthz'");
        const envLine = script.split("\n").find(l => l.startsWith("'nf_file' 'service.env'"))!;
        expect(envLine).to.match(/^'nf_file' 'service.env' '0600' 'root:root' /);
        const env = Buffer.from(envLine.split(" ")[4].replace(/'/g, ""), "base64").toString();
        expect(env).to.contain('DATABASE_URL="postgresql://hello:S3CRET-PW@10.110.0.40/hello"\n')
            .and.contain('PORT="8281"\n').and.contain('BIND="10.110.0.30"\n');
        const prune = recorded.find(r => r.name === "app-1-hello-prune")!;
        expect(prune.inputs.stdin).to.contain("SERVICE='hello'\nKEEP='hello-blue hello-green'\n");
    });
});
