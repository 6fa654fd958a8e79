# Shared by lab/up and lab/down. The lab turns this machine into one hypervisor that
# lives entirely inside a network namespace the lab creates: its management address,
# its VLAN bridges, libvirtd (so every guest NIC lands in the namespace), its sshd,
# and the pulumi engine that talks to them. Nothing in it can reach any other address.
LAB_NS=nordfleet-lab
LAB_HOME=/root/.nordfleet-lab          # keys, passphrase, the object store's identities, the lab's SSH agent
LAB_AGENT="$LAB_HOME/agent.sock"      # the SSH agent that holds the hypervisor's key (lab_agent)
LAB_VAR=/var/lib/nordfleet-lab         # image and NVMe pools (Pulumi.lab.yaml names them)
LAB_ADDR=10.199.0.1                    # the hypervisor's management address, inside the namespace
LAB_MGMT_IF=nfmgmt
# The gateway's public side: a bridge of its own in the namespace, where the lab stands
# in for the internet. Only the gateway has a NIC on it.
LAB_PUBLIC_IF=nfpublic
LAB_PUBLIC_ADDR=10.198.0.1
# The lab's own DNS zone, served by a resolver on the hypervisor's VLAN addresses (the
# guests' upstream, as a site's resolvers are in prod), and its S3 object store, reached
# by name over TLS like prod's: pgBackRest's repository and the lab stack's state live there.
LAB_ZONE=lab.nordfleet.internal
LAB_OBJECTS_NAME=objects.$LAB_ZONE
LAB_OBJECTS=$LAB_HOME/objects          # its CA, certificate, identities and log
LAB_BACKUP_BUCKET=nordfleet-backups
LAB_STATE_BUCKET=nordfleet-state
LAB_OBJECTS_METRICS_PORT=9327           # the store's metrics, on loopback in the namespace
# The lab stack's state backend, where Pulumi.lab.yaml declares it (nordfleet:stateBackend).
# Read when needed, not when this file is sourced: lab/up sources it before the engine
# set-up has installed the project's dependencies on a fresh clone.
lab_state_url() {
    node -p 'require("js-yaml").load(require("fs").readFileSync("Pulumi.lab.yaml", "utf8")).config["nordfleet:stateBackend"].url'
}

STEP_LABEL=lab
. "$(dirname "${BASH_SOURCE[0]}")/../engine/steps.sh"
in_ns() { ip netns exec "$LAB_NS" "$@"; }

lab_require_root() {
    [ "$(id -u)" = 0 ] || { echo "lab: run as root (it creates a network namespace and runs libvirtd)" >&2; exit 1; }
}
