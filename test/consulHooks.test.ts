/**
 * A real Consul cluster on this host: one server and one agent, each in a network
 * namespace of its own joined by a veth pair, each in a mount namespace where
 * /etc/nordfleet, /var/lib/consul, /etc/systemd/system, /etc/resolv.conf and
 * /usr/local/bin are directories of the test. The very release scripts the
 * component pushes (release/apply.sh + consul/hooks.sh) install and start them; a
 * stand-in `systemctl` runs a unit's ExecStart as its User, since this host has no
 * systemd. Needs root, the consul binary engine/setup.sh builds, openssl, curl,
 * dig (dnsutils) and dnsmasq (dnsmasq-base).
 */
import { expect } from "chai";
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseFleetConfig } from "../config/load";
import { FleetConfig, HostSpec } from "../config/types";
import {
    CONSUL_HOOKS, CONSUL_ROLE, ConsulSecrets, NodeCertificate, SECRETS_TOOL, consulCertificateNames, consulHookVars,
    consulReleaseFiles, deriveConsulSecrets,
} from "../components/platform/consulCluster";
import { ReleaseFile, releaseDigest, releaseScript } from "../components/platform/release";
import { labConfig } from "./fixtures";
import { AS_ROOT, requireHost } from "./hostNeeds";

const CONSUL_BIN = process.env.NORDFLEET_CONSUL
    ?? path.join(process.env.NORDFLEET_CACHE ?? path.join(os.homedir(), ".cache", "nordfleet"), "consul-1.14.11", "consul");
const DC = "lab";
const SERVER = "10.110.0.20";
const AGENT = "10.110.0.30";
const ROGUE = "10.110.0.99";

interface Run { status: number | null; stdout: string; stderr: string }

function run(argv: string[], input?: string, env?: NodeJS.ProcessEnv): Run {
    const r = spawnSync(argv[0], argv.slice(1), { input, env: env ?? process.env, encoding: "utf8", timeout: 180_000 });
    return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? String(r.error ?? "") };
}

function must(argv: string[], input?: string): string {
    const r = run(argv, input);
    if (r.status !== 0) {
        throw new Error(`${argv.join(" ")} failed (${r.status}): ${r.stderr}${r.stdout}`);
    }
    return r.stdout;
}


/** Stands in for systemd: runs a unit's ExecStart (as its User) in the background, one pid file per unit. */
const SYSTEMCTL_SHIM = `#!/bin/bash
set -euo pipefail
echo "$*" >>"$NFSHIM_STATE/calls"
args=()
for a in "$@"; do [ "$a" = --quiet ] || args+=("$a"); done
cmd=\${args[0]}
running() { local p; p=$(cat "$NFSHIM_STATE/$1.pid" 2>/dev/null) && kill -0 "$p" 2>/dev/null && echo "$p"; }
start() {
    local name=$1 unit=/etc/systemd/system/$1 exec user
    exec=$(sed -n 's/^ExecStart=//p' "$unit")
    user=$(sed -n 's/^User=//p' "$unit")
    if [ -n "$user" ]; then set -- setpriv --reuid="$user" --regid="$user" --init-groups; else set --; fi
    # shellcheck disable=SC2086
    setsid "$@" $exec </dev/null >>"$NFSHIM_STATE/$name.log" 2>&1 &
    echo $! >"$NFSHIM_STATE/$name.pid"
}
stop() {
    local p
    p=$(running "$1") || return 0
    kill "$p"
    while kill -0 "$p" 2>/dev/null; do sleep 0.2; done
}
for unit in "\${args[@]:1}"; do
    case $cmd in
        is-active) running "$unit" >/dev/null ;;
        start) running "$unit" >/dev/null || start "$unit" ;;
        restart) stop "$unit"; start "$unit" ;;
        reload) kill -HUP "$(running "$unit")" ;;
        enable) ;;
    esac
done
`;

/** A key and a certificate from the test's CA, with the names the component asks for. */
function issue(dir: string, name: string, names: { commonName: string; dnsNames: string[]; ipAddresses: string[] }) {
    const key = path.join(dir, `${name}-key.pem`);
    const csr = path.join(dir, `${name}.csr`);
    const cert = path.join(dir, `${name}.pem`);
    const ext = path.join(dir, `${name}.ext`);
    const san = [...names.dnsNames.map(d => `DNS:${d}`), ...names.ipAddresses.map(i => `IP:${i}`)].join(",");
    fs.writeFileSync(ext, `subjectAltName=${san}\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n`);
    must(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key]);
    must(["openssl", "req", "-new", "-key", key, "-subj", `/CN=${names.commonName}`, "-out", csr]);
    must(["openssl", "x509", "-req", "-in", csr, "-CA", path.join(dir, "ca.pem"), "-CAkey", path.join(dir, "ca-key.pem"),
        "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", cert]);
    return { certPem: fs.readFileSync(cert, "utf8"), keyPem: fs.readFileSync(key, "utf8") };
}

describe(`consul hooks on a real 1-server + 1-agent cluster ${AS_ROOT}`, function () {
    this.timeout(240_000);
    const id = String(process.pid % 100000);
    const ns = { server: `nfconsul-s${id}`, agent: `nfconsul-a${id}` };
    let tmp = "";
    let config: FleetConfig;
    let secrets: ConsulSecrets;
    let createdUser = false;
    const createdDirs: string[] = [];
    const children: ChildProcess[] = [];
    const hostOf = (name: string) => config.hosts.find(h => h.name === name)!;
    const nodeDir = (node: string) => path.join(tmp, node);
    const healthy = () => path.join(tmp, "healthy");
    let files: Record<string, ReleaseFile[]> = {};
    const tls: Record<string, NodeCertificate> = {};
    const NODES = [["server", "consul-1"], ["agent", "app-1"]];
    const releaseFilesFor = (node: string, name: string, s: ConsulSecrets) => consulReleaseFiles({
        config, datacenter: DC, host: hostOf(name), secrets: s, tls: tls[node], seedsAcl: node === "server" });
    const newSecrets = () => deriveConsulSecrets(crypto.randomBytes(32).toString("hex"), ["consul-1", "app-1"], ["hello"]);
    let ca = "";

    const pidOf = (node: string, unit = "consul.service") =>
        fs.readFileSync(path.join(nodeDir(node), "state", `${unit}.pid`), "utf8").trim();

    /** Runs the release script for `node` as the component would push it, inside its namespaces. */
    const release = (node: string, host: HostSpec, releaseFiles: ReleaseFile[], wait = 60): Run => {
        const script = releaseScript(CONSUL_ROLE, CONSUL_HOOKS, releaseFiles,
            { ...consulHookVars(host, config), CONSUL_WAIT_SECONDS: wait });
        const d = nodeDir(node);
        const mounts = [
            `mount --bind ${d}/etc-nordfleet /etc/nordfleet`,
            `mount --bind ${d}/data /var/lib/consul`,
            `mount --bind ${d}/systemd /etc/systemd/system`,
            `mount --bind ${d}/resolv.conf /etc/resolv.conf`,
            `mount --bind ${tmp}/bin /usr/local/bin`,
        ].join(" && ");
        return run(["ip", "netns", "exec", node === "server" ? ns.server : ns.agent,
            "unshare", "-m", "--propagation", "private", "bash", "-c", `${mounts} && exec bash -s`], script,
        { ...process.env, PATH: `${tmp}/shim:/usr/local/bin:${process.env.PATH}`, NFSHIM_STATE: path.join(d, "state") });
    };

    /** Runs a shell command in the namespaces of `node`'s running consul, with the CLI pointed at its HTTPS API. */
    const onNode = (node: string, command: string): Run => run(["nsenter", "-t", pidOf(node), "-m", "-n", "bash", "-c",
        "cur=/etc/nordfleet/consul/current; export CONSUL_HTTP_ADDR=https://127.0.0.1:8501 CONSUL_CACERT=$cur/tls/ca.pem " +
        "CONSUL_CLIENT_CERT=$cur/tls/agent.pem CONSUL_CLIENT_KEY=$cur/tls/agent-key.pem; " + command]);

    const waitFor = async (what: string, test: () => boolean, seconds = 30) => {
        for (let i = 0; i < seconds * 2; i++) {
            if (test()) {
                return;
            }
            await new Promise(r => setTimeout(r, 500));
        }
        throw new Error(`timed out waiting for ${what}`);
    };

    before(function () {
        requireHost(this, {
            root: "it runs consul and dnsmasq in network namespaces, as the consul user",
            programs: {
                [CONSUL_BIN]: "bash engine/setup.sh builds it", openssl: "apt-get install openssl", curl: "apt-get install curl",
                dig: "apt-get install dnsutils", dnsmasq: "apt-get install dnsmasq-base", nsenter: "apt-get install util-linux",
                unshare: "apt-get install util-linux", setpriv: "apt-get install util-linux",
            },
        });
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nfconsul-"));
        fs.chmodSync(tmp, 0o755);
        if (run(["getent", "passwd", "consul"]).status !== 0) {
            must(["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", "consul"]);
            createdUser = true;
        }
        for (const dir of ["/etc/nordfleet", "/var/lib/consul", "/etc/systemd/system"]) {
            if (!fs.existsSync(dir)) {
                fs.mkdirSync(dir, { recursive: true });
                createdDirs.push(dir);
            }
        }
        fs.mkdirSync(path.join(tmp, "bin"));
        fs.copyFileSync(CONSUL_BIN, path.join(tmp, "bin", "consul"));
        fs.chmodSync(path.join(tmp, "bin", "consul"), 0o755);
        fs.mkdirSync(path.join(tmp, "shim"));
        fs.writeFileSync(path.join(tmp, "shim", "systemctl"), SYSTEMCTL_SHIM, { mode: 0o755 });
        for (const node of ["server", "agent"]) {
            for (const sub of ["etc-nordfleet", "data", "systemd", "state"]) {
                fs.mkdirSync(path.join(nodeDir(node), sub), { recursive: true });
            }
            fs.writeFileSync(path.join(nodeDir(node), "resolv.conf"), "");
            must(["chown", "consul:consul", path.join(nodeDir(node), "data")]);
        }

        must(["ip", "netns", "add", ns.server]);
        must(["ip", "netns", "add", ns.agent]);
        must(["ip", "-n", ns.server, "link", "add", "vlan0", "type", "veth", "peer", "name", "vlan0", "netns", ns.agent]);
        must(["ip", "-n", ns.server, "addr", "add", `${SERVER}/24`, "dev", "vlan0"]);
        must(["ip", "-n", ns.agent, "addr", "add", `${AGENT}/24`, "dev", "vlan0"]);
        must(["ip", "-n", ns.agent, "addr", "add", `${ROGUE}/24`, "dev", "vlan0"]);
        for (const n of [ns.server, ns.agent]) {
            must(["ip", "-n", n, "link", "set", "lo", "up"]);
            must(["ip", "-n", n, "link", "set", "vlan0", "up"]);
        }

        ca = path.join(tmp, "pki");
        fs.mkdirSync(ca);
        must(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", path.join(ca, "ca-key.pem")]);
        must(["openssl", "req", "-new", "-x509", "-key", path.join(ca, "ca-key.pem"), "-subj", "/CN=nfconsul test CA",
            "-days", "2", "-out", path.join(ca, "ca.pem")]);
        const caPem = fs.readFileSync(path.join(ca, "ca.pem"), "utf8");

        const raw = labConfig();
        raw.hosts = (raw.hosts as any[]).filter(h => h.name === "consul-1" || h.name === "app-1");
        config = parseFleetConfig(raw).config;
        secrets = newSecrets();
        for (const [node, name] of NODES) {
            tls[node] = { caPem, ...issue(ca, name, consulCertificateNames(hostOf(name), DC)) };
            files[node] = releaseFilesFor(node, name, secrets);
        }

        // The service: healthy while the file `healthy` exists.
        fs.writeFileSync(healthy(), "");
        const server = `require("http").createServer((q, s) => { s.statusCode = q.url === "/healthz" && ` +
            `require("fs").existsSync(${JSON.stringify(healthy())}) ? 200 : 503; s.end(); }).listen(8081, "${AGENT}")`;
        children.push(spawn("ip", ["netns", "exec", ns.agent, process.execPath, "-e", server], { stdio: "ignore" }));
    });

    after(function () {
        if (tmp === "") {
            return;
        }
        for (const c of children) {
            c.kill();
        }
        // Only what this test started lives in these namespaces; they can go once it is gone.
        const pids = () => [ns.server, ns.agent].flatMap(n => run(["ip", "netns", "pids", n]).stdout.split("\n").filter(Boolean));
        for (let i = 0; i < 20 && pids().length > 0; i++) {
            run(["kill", ...(i < 10 ? [] : ["-9"]), ...pids()]);
            spawnSync("sleep", ["0.5"]);
        }
        for (const n of [ns.server, ns.agent]) {
            const del = run(["ip", "netns", "del", n]);
            if (del.status !== 0) {
                console.log(`      could not delete ${n}: ${del.stderr}`);
            }
        }
        for (const dir of createdDirs.reverse()) {
            run(["rmdir", dir]);
        }
        if (createdUser) {
            run(["userdel", "consul"]);
        }
        fs.rmSync(tmp, { recursive: true, force: true });
    });

    it("the server's release validates, starts, elects itself and creates the ACL objects", () => {
        const r = release("server", hostOf("consul-1"), files.server);
        expect(r.status, r.stderr + r.stdout).to.equal(0);
        expect(r.stdout).to.include(`consul: release ${releaseDigest(files.server)} live`);
        const tokens = onNode("server", "consul acl token list -token-file=$cur/acl/management.token");
        for (const description of ["requests without a token (DNS)", "agent of consul-1", "agent of app-1", "registers hello"]) {
            expect(tokens.stdout, description).to.include(`Description:      nordfleet: ${description}`);
        }
        const policy = onNode("server", "consul acl policy read -name nordfleet-dns -token-file=$cur/acl/management.token");
        expect(policy.stdout).to.match(/node_prefix "" \{\s+policy = "read"/);
        const unit = fs.readFileSync(path.join(nodeDir("server"), "systemd", "consul.service"), "utf8");
        expect(unit).to.include("ExecStart=/usr/local/bin/consul agent -config-dir=/etc/nordfleet/consul/current");
        expect(fs.readFileSync(path.join(nodeDir("server"), "resolv.conf"), "utf8")).to.include("nameserver 127.0.0.1");
    });

    it("the agent's release joins the server over encrypted gossip", () => {
        const r = release("agent", hostOf("app-1"), files.agent);
        expect(r.status, r.stderr + r.stdout).to.equal(0);
        const members = onNode("server", "consul members -token-file=$cur/acl/management.token");
        expect(members.stdout).to.match(/^consul-1\s+10\.110\.0\.20:8301\s+alive\s+server/m);
        expect(members.stdout).to.match(/^app-1\s+10\.110\.0\.30:8301\s+alive\s+client/m);
        const keyring = onNode("server", "consul keyring -list -token-file=$cur/acl/management.token");
        expect(keyring.stdout).to.include(`${secrets.gossipKey} [2/2]`);
    });

    it("an agent without the gossip key never becomes a member", async () => {
        const data = path.join(tmp, "rogue");
        fs.mkdirSync(data);
        const rogue = spawn("ip", ["netns", "exec", ns.agent, path.join(tmp, "bin", "consul"), "agent", "-node=rogue",
            `-data-dir=${data}`, `-bind=${ROGUE}`, `-retry-join=${SERVER}`, "-client=127.0.0.1", "-http-port=18500",
            "-dns-port=-1", "-grpc-port=-1"], { stdio: ["ignore", "pipe", "pipe"] });
        children.push(rogue);
        let log = "";
        rogue.stdout!.on("data", d => { log += d; });
        await waitFor("the rogue agent's join attempt", () => /Remote state is encrypted and encryption is not configured/.test(log), 30);
        const members = onNode("server", "consul members -token-file=$cur/acl/management.token");
        expect(members.stdout).to.not.include("rogue");
        rogue.kill();
    });

    it("the API speaks only HTTPS with a client certificate, and refuses what a request without a token asks", () => {
        const curl = "curl -s -o /dev/null -w '%{http_code}' --cacert $cur/tls/ca.pem";
        const withCert = `${curl} --cert $cur/tls/agent.pem --key $cur/tls/agent-key.pem`;
        for (const node of ["server", "agent"]) {
            expect(onNode(node, "curl -sS http://127.0.0.1:8500/v1/agent/self").status, `${node} plain HTTP`).to.equal(7);
            const noCert = onNode(node, `${curl} https://127.0.0.1:8501/v1/agent/self`);
            expect(noCert.status, `${node} without a client certificate`).to.not.equal(0);
            expect(onNode(node, `${withCert} https://127.0.0.1:8501/v1/agent/self`).stdout).to.equal("403");
            expect(onNode(node, `${withCert} https://127.0.0.1:8501/v1/kv/anything`).stdout).to.equal("403");
            expect(onNode(node, `${withCert} https://127.0.0.1:8501/v1/acl/tokens`).stdout).to.equal("403");
            expect(onNode(node, `${withCert} -X PUT --data '{"Name":"intruder","Port":1}' ` +
                "https://127.0.0.1:8501/v1/agent/service/register").stdout).to.equal("403");
            // The default token reads the catalog, as DNS needs, and nothing more.
            expect(onNode(node, `${withCert} https://127.0.0.1:8501/v1/catalog/services`).stdout).to.equal("200");
        }
    });

    it("an agent verifies the server's name: a CA-signed certificate without server.<dc>.consul is refused", () => {
        // The agent's own certificate is signed by the same CA but names client.lab.consul.
        const r = onNode("agent", "openssl s_client -connect 127.0.0.1:8501 -CAfile $cur/tls/ca.pem " +
            "-cert $cur/tls/agent.pem -key $cur/tls/agent-key.pem -verify_hostname server.lab.consul -verify_return_error </dev/null");
        expect(r.status).to.not.equal(0);
        expect(r.stdout + r.stderr).to.match(/hostname mismatch/i);
        const s = onNode("server", "openssl s_client -connect 127.0.0.1:8501 -CAfile $cur/tls/ca.pem " +
            "-cert $cur/tls/agent.pem -key $cur/tls/agent-key.pem -verify_hostname server.lab.consul -verify_return_error </dev/null");
        expect(s.status, s.stderr).to.equal(0);
    });

    it("DNS answers hello.service.consul while its check passes, on 8600 and through resolv.conf, from both nodes", async () => {
        const dig = (node: string, port: number) =>
            onNode(node, `dig +short +time=2 +tries=1 @127.0.0.1 -p ${port} hello.service.consul A`).stdout.trim();
        await waitFor("hello to pass its check", () => dig("agent", 8600) === AGENT, 30);
        expect(dig("server", 8600)).to.equal(AGENT);
        expect(dig("agent", 53)).to.equal(AGENT);
        expect(onNode("agent", "getent hosts hello").stdout).to.match(/^10\.110\.0\.30\s+hello\.service\.consul/);
        expect(onNode("server", "getent hosts hello.service.consul").stdout).to.match(/^10\.110\.0\.30\s/);
    });

    it("a failing replica drops out of DNS and comes back when healthy", async () => {
        const dig = () => onNode("server", "dig +short +time=2 +tries=1 @127.0.0.1 -p 8600 hello.service.consul A").stdout.trim();
        fs.rmSync(healthy());
        await waitFor("hello to leave DNS", () => dig() === "", 20);
        expect(onNode("agent", "dig +short @127.0.0.1 hello.service.consul A").stdout.trim()).to.equal("");
        fs.writeFileSync(healthy(), "");
        await waitFor("hello to come back", () => dig() === AGENT, 20);
    });

    it("applying the same release again reloads nothing but converges, and creates no token twice", () => {
        const calls = path.join(nodeDir("server"), "state", "calls");
        fs.writeFileSync(calls, "");
        const count = () => onNode("server", "consul acl token list -token-file=$cur/acl/management.token").stdout
            .split("\n").filter(l => l.startsWith("Description:")).length;
        const before = count();
        const r = release("server", hostOf("consul-1"), files.server);
        expect(r.status, r.stderr).to.equal(0);
        expect(count()).to.equal(before);
        const made = fs.readFileSync(calls, "utf8");
        expect(made).to.include("reload consul.service");
        expect(made).to.not.match(/restart|start consul/);
    });

    it("a release that consul validate rejects never goes live", () => {
        const live = fs.readlinkSync(path.join(nodeDir("agent"), "etc-nordfleet", "consul", "current"));
        const broken = files.agent.map(f => f.path === "agent.hcl" ? { ...f, content: f.content + "bogus_setting = 1\n" } : f);
        const r = release("agent", hostOf("app-1"), broken);
        expect(r.status, r.stdout + r.stderr).to.equal(1);
        expect(r.stderr).to.include("rejected").and.include("bogus_setting");
        expect(fs.readlinkSync(path.join(nodeDir("agent"), "etc-nordfleet", "consul", "current"))).to.equal(live);
    });

    it("a change to agent.hcl restarts the agent; it comes back alive", () => {
        const calls = path.join(nodeDir("agent"), "state", "calls");
        fs.writeFileSync(calls, "");
        const changed = files.agent.map(f => f.path === "agent.hcl" ? { ...f, content: f.content + "log_level = \"DEBUG\"\n" } : f);
        const r = release("agent", hostOf("app-1"), changed);
        expect(r.status, r.stderr).to.equal(0);
        expect(fs.readFileSync(calls, "utf8"), r.stdout + r.stderr).to.include("restart consul.service");
    });

    it("an agent that cannot start on the new release is put back on the previous one", async () => {
        const live = fs.readlinkSync(path.join(nodeDir("agent"), "etc-nordfleet", "consul", "current"));
        // Valid config, but no such address on this node: the agent exits at start.
        const unbindable = files.agent.map(f => f.path === "agent.hcl"
            ? { ...f, content: f.content.replace(/bind_addr = "[^"]+"/, 'bind_addr = "10.110.0.77"') } : f);
        const r = release("agent", hostOf("app-1"), unbindable, 10);
        expect(r.status, r.stdout).to.equal(1);
        expect(r.stderr).to.include("failed after the switch").and.include("restored to the previous release");
        expect(fs.readlinkSync(path.join(nodeDir("agent"), "etc-nordfleet", "consul", "current"))).to.equal(live);
        // The server's view of a restarted agent settles within a few gossip rounds.
        await waitFor("the server to see app-1 alive again", () => /^app-1\s+10\.110\.0\.30:8301\s+alive\s+client/m
            .test(onNode("server", "consul members -token-file=$cur/acl/management.token").stdout), 20);
    });

    it("rotated secrets reach the running cluster in steps; retiring then removes every old token and gossip key", () => {
        const rotated = newSecrets();
        const tokenCount = () => onNode("server", "consul acl token list -token-file=$cur/acl/management.token").stdout
            .split("\n").filter(l => l.startsWith("Description:")).length;
        const works = (node: string, secret: string) => onNode(node, "f=$(mktemp) && cat >$f <<'EOF'\n" + secret +
            "\nEOF\nconsul acl token read -self -token-file=$f >/dev/null; r=$?; rm -f $f; exit $r").status === 0;
        const keyring = () => onNode("server", "consul keyring -list -token-file=$cur/acl/management.token").stdout;
        const before = tokenCount();

        const server = release("server", hostOf("consul-1"), releaseFilesFor("server", "consul-1", rotated));
        expect(server.status, server.stderr + server.stdout).to.equal(0);
        // Old and new side by side: the agent still runs the old secrets.
        expect(tokenCount()).to.equal(before + 5);
        expect(works("server", secrets.agentTokens["app-1"]) && works("server", rotated.agentTokens["app-1"])).to.equal(true);
        expect(keyring()).to.include(`${rotated.gossipKey} [2/2]`).and.include(`${secrets.gossipKey} [2/2]`);

        const agent = release("agent", hostOf("app-1"), releaseFilesFor("agent", "app-1", rotated));
        expect(agent.status, agent.stderr + agent.stdout).to.equal(0);

        const retire = onNode("server", `python3 $cur/${SECRETS_TOOL} retire`);
        expect(retire.status, retire.stderr).to.equal(0);
        expect(retire.stdout).to.include("5 ACL tokens and 1 gossip keys retired");
        expect(retire.stdout + retire.stderr).to.not.include(secrets.managementToken).and.not.include(secrets.gossipKey);
        for (const old of [secrets.managementToken, secrets.dnsToken, secrets.agentTokens["app-1"], secrets.serviceTokens.hello]) {
            expect(works("server", old), "an old token").to.equal(false);
        }
        for (const current of [rotated.managementToken, rotated.dnsToken, rotated.agentTokens["app-1"], rotated.serviceTokens.hello]) {
            expect(works("agent", current), "a new token").to.equal(true);
        }
        expect(keyring()).to.include(`${rotated.gossipKey} [2/2]`).and.not.include(secrets.gossipKey);
        expect(onNode("server", "consul members -token-file=$cur/acl/management.token").stdout)
            .to.match(/^app-1\s+10\.110\.0\.30:8301\s+alive\s+client/m);
        const again = onNode("server", `python3 $cur/${SECRETS_TOOL} retire`);
        expect(again.stdout).to.include("0 ACL tokens and 0 gossip keys retired");
    });
});
