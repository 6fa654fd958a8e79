/**
 * Broken stack configs, each a small edit of the lab stack, with the field its error
 * must name. Every one must stop `pulumi preview` before a resource is declared.
 */

/** A stack file's `config` map: keys keep their "nordfleet:" prefix. */
export type StackConfig = Record<string, any>;

export interface BadConfig {
    /** What is wrong, as a reader would say it. */
    name: string;
    /** The field the error must name, as written in the message. */
    field: string;
    edit: (config: StackConfig) => void;
}

const host = (c: StackConfig, name: string) => c["nordfleet:hosts"].find((h: any) => h.name === name);
const service = (c: StackConfig, name: string) => c["nordfleet:services"].find((s: any) => s.name === name);
const hv = (c: StackConfig) => c["nordfleet:hypervisors"][0];

export const BAD_CONFIGS: BadConfig[] = [
    // The config's own shape.
    { name: "an unknown key", field: "nordfleet:hostz: unknown key; did you mean hosts?", edit: c => { c["nordfleet:hostz"] = []; } },
    // Nested typos: each would otherwise turn its setting off without a word.
    { name: "a hypervisor's hostkey for hostKeyFile's hostKey", field: "nordfleet:hypervisors[0].hostkey: unknown key; did you mean hostKey?",
        edit: c => { hv(c).hostkey = "ssh-ed25519 AAAA"; } },
    { name: "a data disk's protected for protect", field: "nordfleet:hosts[2].dataDisks[0].protected: unknown key; did you mean protect?",
        edit: c => { c["nordfleet:hosts"][2].dataDisks = [{ name: "pgdata", sizeGb: 2, protected: true }]; } },
    { name: "a service's ratelimitPerSecond", field: "nordfleet:services[0].ratelimitPerSecond: unknown key; did you mean rateLimitPerSecond?",
        edit: c => { c["nordfleet:services"][0].ratelimitPerSecond = 5; } },
    { name: "postgres backup's retentionDay", field: "nordfleet:postgres.backup.retentionDay: unknown key; did you mean retentionDays?",
        edit: c => { c["nordfleet:postgres"] = { backup: { retentionDay: 7 } }; } },
    { name: "an environment that does not exist", field: "nordfleet:environment", edit: c => { c["nordfleet:environment"] = "staging"; } },
    { name: "hosts given as a map, not a list", field: "nordfleet:hosts", edit: c => { c["nordfleet:hosts"] = { "gw-1": {} }; } },
    { name: "no VLANs", field: "nordfleet:vlans", edit: c => { c["nordfleet:vlans"] = []; } },
    { name: "no hypervisors", field: "nordfleet:hypervisors", edit: c => { c["nordfleet:hypervisors"] = []; } },
    { name: "a base image given as a path", field: "nordfleet:baseImage", edit: c => { c["nordfleet:baseImage"] = "../debian.qcow2"; } },

    // Residency.
    { name: "allowed countries outside the EEA", field: "nordfleet:allowedCountries", edit: c => { c["nordfleet:allowedCountries"] = ["NO", "US"]; } },
    { name: "an empty list of allowed countries", field: "nordfleet:allowedCountries", edit: c => { c["nordfleet:allowedCountries"] = []; } },
    { name: "a hypervisor in the US", field: "nordfleet:hypervisors[0].site", edit: c => { hv(c).site = "ashburn-1"; } },
    { name: "a hypervisor at an unknown site", field: "nordfleet:hypervisors[0].site", edit: c => { hv(c).site = "atlantis-1"; } },
    { name: "a hypervisor outside the narrowed countries", field: "nordfleet:hypervisors[0].site",
        edit: c => { c["nordfleet:allowedCountries"] = ["SE"]; c["nordfleet:environment"] = "prod"; hv(c).site = "oslo-1"; } },
    { name: "a declared site in Switzerland", field: "nordfleet:hypervisors[0].site", edit: c => {
        c["nordfleet:sites"] = [{ id: "zurich-9", city: "Zurich", country: "CH" }];
        hv(c).site = "zurich-9";
    } },
    { name: "a declared site with a made-up country code", field: "nordfleet:sites[0].country", edit: c => {
        c["nordfleet:sites"] = [{ id: "nowhere-1", city: "Nowhere", country: "XX" }];
    } },
    { name: "a backup target in the UK", field: "nordfleet:backup.site", edit: c => { c["nordfleet:backup"].site = "london-1"; } },
    { name: "a backup target over FTP", field: "nordfleet:backup.url", edit: c => { c["nordfleet:backup"].url = "ftp://backups.example/"; } },
    { name: "an s3 backup bucket with no region", field: "nordfleet:backup.url",
        edit: c => { c["nordfleet:backup"].url = "s3://nordfleet-backups?endpoint=objects.lab.nordfleet.internal"; } },
    { name: "a broker volume smaller than twice its memory", field: "nordfleet:hosts[1].dataDisks[0].sizeGb",
        edit: c => { host(c, "mq-1").dataDisks[0].sizeGb = 1; } },
    { name: "a resolver in the UK", field: "nordfleet:dns.resolvers[0].site",
        edit: c => { c["nordfleet:dns"].resolvers[0].site = "london-1"; } },
    { name: "a resolver on no VLAN of the stack", field: "nordfleet:dns.resolvers[1].address",
        edit: c => { c["nordfleet:dns"].resolvers[1].address = "192.0.2.53"; } },
    { name: "a resolver with a misspelt key", field: "nordfleet:dns.resolvers[0].adress",
        edit: c => { c["nordfleet:dns"].resolvers[0] = { adress: "10.110.0.1", site: "lab" }; } },
    { name: "a backup store by name with no resolver on the database's VLAN", field: "nordfleet:dns.resolvers",
        edit: c => { c["nordfleet:dns"].resolvers = [{ address: "10.120.0.1", site: "lab" }]; } },
    { name: "a backup CA given as a relative path", field: "nordfleet:backup.caFile",
        edit: c => { c["nordfleet:backup"].caFile = "ca.pem"; } },
    { name: "a backup CA file that does not exist", field: "nordfleet:backup.caFile",
        edit: c => { c["nordfleet:backup"].caFile = "/nonexistent/ca.pem"; } },
    { name: "an apt mirror in the US", field: "nordfleet:mirrors.apt.site", edit: c => {
        c["nordfleet:mirrors"] = { apt: { url: "https://deb.example/debian", site: "ashburn-1" } };
    } },
    { name: "a mirror of a kind nordfleet does not use", field: "nordfleet:mirrors.docker", edit: c => {
        c["nordfleet:mirrors"] = { docker: { url: "https://registry.example", site: "oslo-1" } };
    } },

    // SSH and the hypervisor.
    { name: "an SSH port of 0", field: "nordfleet:ssh.port", edit: c => { c["nordfleet:ssh"].port = 0; } },
    { name: "an SSH user with a space", field: "nordfleet:ssh.user", edit: c => { c["nordfleet:ssh"].user = "deploy user"; } },
    { name: "an SSH key file that cannot be read", field: "nordfleet:ssh.keyFile", edit: c => { c["nordfleet:ssh"].keyFile = "/nonexistent/hypervisor_ed25519"; } },
    { name: "a hypervisor host key that is not a key", field: "nordfleet:hypervisors[0].hostKey",
        edit: c => { delete hv(c).hostKeyFile; hv(c).hostKey = "not-a-key"; } },
    { name: "a hypervisor with no pinned host key", field: "nordfleet:hypervisors[0].hostKey",
        edit: c => { delete hv(c).hostKeyFile; } },
    { name: "an ed25519 host key whose blob is an RSA key", field: "nordfleet:hypervisors[0].hostKey",
        edit: c => { delete hv(c).hostKeyFile; hv(c).hostKey = `ssh-ed25519 ${Buffer.concat([Buffer.from([0, 0, 0, 7]), Buffer.from("ssh-rsa"), Buffer.alloc(36)]).toString("base64")}`; } },
    { name: "a hypervisor host key file that does not exist", field: "nordfleet:hypervisors[0].hostKeyFile",
        edit: c => { hv(c).hostKeyFile = "/nonexistent/ssh_host_ed25519_key.pub"; } },
    { name: "an accelerator that does not exist", field: "nordfleet:hypervisors[0].accelerator", edit: c => { hv(c).accelerator = "xen"; } },
    { name: "a capacity given as text", field: "nordfleet:hypervisors[0].capacity.vcpus", edit: c => { hv(c).capacity.vcpus = "ten"; } },
    { name: "an image pool path that climbs out", field: "nordfleet:hypervisors[0].imagePoolPath", edit: c => { hv(c).imagePoolPath = "/var/lib/../../etc"; } },
    { name: "hosts that do not fit the hypervisor's memory", field: "lab-hv", edit: c => { host(c, "db-1").memoryMb = 65536; } },
    { name: "a host pinned to an unknown hypervisor", field: "nordfleet:hosts[2].hypervisor", edit: c => { host(c, "db-1").hypervisor = "hv-9"; } },

    // VLANs.
    { name: "overlapping VLAN networks", field: "nordfleet:vlans[1].cidr", edit: c => { c["nordfleet:vlans"][1].cidr = "10.110.0.0/16"; } },
    { name: "a VLAN id above 4094", field: "nordfleet:vlans[1].id", edit: c => { c["nordfleet:vlans"][1].id = 5000; } },
    { name: "a VLAN network given by a host address", field: "nordfleet:vlans[0].cidr", edit: c => { c["nordfleet:vlans"][0].cidr = "10.110.0.7/24"; } },
    { name: "two VLANs with one id", field: "nordfleet:vlans", edit: c => { c["nordfleet:vlans"][1].id = 110; } },

    // Hosts.
    { name: "a host name with an underscore", field: "nordfleet:hosts[3].name", edit: c => { host(c, "gw-1").name = "gw_1"; } },
    { name: "two hosts with one name", field: "nordfleet:hosts", edit: c => { host(c, "app-2").name = "app-1"; } },
    { name: "two hosts with one address", field: "nordfleet:hosts", edit: c => { host(c, "app-2").address = "10.110.0.30"; } },
    { name: "an address outside the host's VLAN", field: "nordfleet:hosts[5].address", edit: c => { host(c, "app-2").address = "10.120.0.31"; } },
    { name: "the bridge's address given to a host", field: "nordfleet:hosts[5].address", edit: c => { host(c, "app-2").address = "10.110.0.1"; } },
    { name: "a VLAN that is not declared", field: "nordfleet:hosts[5].vlan", edit: c => { host(c, "app-2").vlan = "dmz"; } },
    { name: "a role that does not exist", field: "nordfleet:hosts[5].role", edit: c => { host(c, "app-2").role = "cache"; } },
    { name: "memory given as text", field: "nordfleet:hosts[5].memoryMb", edit: c => { host(c, "app-2").memoryMb = "lots"; } },
    { name: "no CPU", field: "nordfleet:hosts[5].vcpus", edit: c => { host(c, "app-2").vcpus = 0; } },
    { name: "a data disk of 0 GB", field: "nordfleet:hosts[4].dataDisks[0].sizeGb", edit: c => { host(c, "app-1").dataDisks[0].sizeGb = 0; } },
    { name: "a PostgreSQL host without its pgdata disk", field: "nordfleet:hosts[2].dataDisks", edit: c => { host(c, "db-1").dataDisks = []; } },
    { name: "a public address on a service host", field: "nordfleet:hosts[5].publicAddress", edit: c => { host(c, "app-2").publicAddress = "10.198.0.11/24"; } },
    { name: "a public address without its prefix", field: "nordfleet:hosts[3].publicAddress", edit: c => { host(c, "gw-1").publicAddress = "10.198.0.10"; } },
    { name: "a host running a service that is not declared", field: "nordfleet:hosts[5].services[0]", edit: c => { host(c, "app-2").services = ["ghost"]; } },
    { name: "services on a gateway host", field: "nordfleet:hosts[3].services", edit: c => { host(c, "gw-1").services = ["hello"]; } },
    { name: "two Consul servers", field: "consul-server", edit: c => {
        c["nordfleet:hosts"].push({ name: "consul-2", role: "consul-server", vlan: "platform", address: "10.110.0.21", memoryMb: 384 });
    } },

    // Services and the gateway.
    { name: "two services with one gateway path", field: "nordfleet:services[1].gatewayPath", edit: c => { service(c, "audit").gatewayPath = "/hello/"; } },
    { name: "a gateway path inside another's", field: "nordfleet:services[1].gatewayPath", edit: c => { service(c, "audit").gatewayPath = "/hello/audit/"; } },
    { name: "a gateway path without its slash", field: "nordfleet:services[0].gatewayPath", edit: c => { service(c, "hello").gatewayPath = "hello"; } },
    { name: "a service port below 1024", field: "nordfleet:services[0].port", edit: c => { service(c, "hello").port = 80; } },
    { name: "two services on one port", field: "nordfleet:services", edit: c => { service(c, "audit").port = 8081; } },
    { name: "no replicas", field: "nordfleet:services[0].replicas", edit: c => { service(c, "hello").replicas = 0; } },
    { name: "a fetched artifact without its checksum", field: "nordfleet:services[0].artifact", edit: c => {
        service(c, "hello").artifact = { url: "https://artifacts.example/hello.tar.gz" };
    } },
    { name: "an inline artifact that climbs out of the project", field: "nordfleet:services[0].artifact.inline", edit: c => {
        service(c, "hello").artifact = { inline: "../elsewhere", entry: "hello.py" };
    } },
    { name: "an inline artifact that is not in the project", field: "nordfleet:services", edit: c => {
        service(c, "hello").artifact = { inline: "examples/no-such-service", entry: "hello.py" };
    } },
    { name: "an environment variable with a newline", field: "nordfleet:services[0].env.GREETING", edit: c => {
        service(c, "hello").env = { GREETING: "hi\nthere" };
    } },
    { name: "a gateway certificate file that cannot be read", field: "nordfleet:gateway.tls.certFile", edit: c => {
        c["nordfleet:gateway"] = { tls: { certFile: "/nonexistent/gateway.pem", keyFile: "/nonexistent/gateway.key" } };
    } },
];
