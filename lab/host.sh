# The lab hypervisor's pieces: Debian packages, the namespace, libvirtd, sshd, the
# image pool, and pulumi run from inside the namespace.
LAB_PACKAGES="libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils genisoimage debootstrap
openssh-server openssh-client iproute2 e2fsprogs dnsmasq-base openssl curl"

lab_install_packages() {
    local missing=()
    for p in $LAB_PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" >/dev/null || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

lab_namespace() {
    ip netns list | grep -w "$LAB_NS" >/dev/null || ip netns add "$LAB_NS"
    in_ns ip link set lo up
    in_ns ip link show "$LAB_MGMT_IF" >/dev/null 2>&1 || in_ns ip link add "$LAB_MGMT_IF" type bridge
    in_ns ip addr show dev "$LAB_MGMT_IF" | grep "$LAB_ADDR/" >/dev/null || in_ns ip addr add "$LAB_ADDR/24" dev "$LAB_MGMT_IF"
    in_ns ip link set "$LAB_MGMT_IF" up
    in_ns ip link show "$LAB_PUBLIC_IF" >/dev/null 2>&1 || in_ns ip link add "$LAB_PUBLIC_IF" type bridge
    in_ns ip addr show dev "$LAB_PUBLIC_IF" | grep "$LAB_PUBLIC_ADDR/" >/dev/null || in_ns ip addr add "$LAB_PUBLIC_ADDR/24" dev "$LAB_PUBLIC_IF"
    in_ns ip link set "$LAB_PUBLIC_IF" up
    # The namespace forwards nothing: VLANs meet only on the bridges that carry them.
    in_ns sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
}

lab_libvirtd() {
    mkdir -p /var/log/libvirt /var/lib/nordfleet-lab
    # libvirt's "default" NAT network would turn forwarding on; the lab never uses it.
    rm -f /etc/libvirt/qemu/networks/autostart/default.xml
    # What udev does on a normal host. Without it libvirtd (root) sees /dev/kvm but the
    # qemu user cannot, so libvirt throws away its capability cache and re-probes qemu
    # (over a minute under emulation) on every domain definition.
    if [ -c /dev/kvm ]; then
        chgrp kvm /dev/kvm
        chmod 0660 /dev/kvm
    fi
    if ! virsh -c qemu:///system version >/dev/null 2>&1; then
        in_ns virtlogd -d
        in_ns libvirtd -d
        for _ in $(seq 30); do virsh -c qemu:///system version >/dev/null 2>&1 && break; sleep 1; done
    fi
    virsh -c qemu:///system version >/dev/null
    # libvirtd must live in the lab namespace, or guest NICs would land outside it.
    local pid
    pid=$(pgrep -xo libvirtd)
    [ "$(stat -L -c %i "/proc/$pid/ns/net")" = "$(stat -L -c %i "/run/netns/$LAB_NS")" ] || {
        echo "lab: a libvirtd outside the lab namespace is running (pid $pid); stop it and run lab/up again" >&2
        return 1
    }
}

lab_sshd() {
    mkdir -p "$LAB_HOME" && chmod 700 "$LAB_HOME"
    [ -f "$LAB_HOME/hypervisor_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C nordfleet-lab -f "$LAB_HOME/hypervisor_ed25519"
    [ -f "$LAB_HOME/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$LAB_HOME/ssh_host_ed25519_key"
    cp "$LAB_HOME/hypervisor_ed25519.pub" "$LAB_HOME/authorized_keys"
    cat >"$LAB_HOME/sshd_config" <<CFG
ListenAddress $LAB_ADDR
HostKey $LAB_HOME/ssh_host_ed25519_key
AuthorizedKeysFile $LAB_HOME/authorized_keys
PidFile $LAB_HOME/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowTcpForwarding yes
UsePAM no
MaxStartups 50:30:100
LogLevel INFO
# As Debian's sshd has it: nordfleet uploads bundles to a hypervisor over SFTP.
Subsystem sftp /usr/lib/openssh/sftp-server
CFG
    # The algorithms every guest's sshd gets from its baseline.
    grep -v '^#' templates/baseline/sshd-crypto.conf >>"$LAB_HOME/sshd_config"
    mkdir -p /run/sshd
    if [ -f "$LAB_HOME/sshd.pid" ] && kill -0 "$(cat "$LAB_HOME/sshd.pid")" 2>/dev/null; then
        kill -HUP "$(cat "$LAB_HOME/sshd.pid")" # reads the config again
    else
        # Its log counts the SSH sessions a `pulumi up` opens (guests are reached through it).
        in_ns /usr/sbin/sshd -f "$LAB_HOME/sshd_config" -E "$LAB_HOME/sshd.log"
    fi
    # A HUP makes sshd execute itself again: it refuses connections for a moment.
    local try
    for try in $(seq 1 20); do
        in_ns ssh -q -i "$LAB_HOME/hypervisor_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=no \
            -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 "root@$LAB_ADDR" true && return 0
        sleep 0.5
    done
    echo "lab: sshd on $LAB_ADDR does not let the lab's key in (log: $LAB_HOME/sshd.log)" >&2
    return 1
}

lab_seed_image_pool() {
    local image
    image=$(lab_image_dir)
    mkdir -p "$LAB_VAR/images" "$LAB_VAR/nvme"
    cmp -s "$image/root.qcow2" "$LAB_VAR/images/debian-12-nordfleet.qcow2" && return 0
    # Every guest's disk is an overlay on the base image: replacing it under them would
    # corrupt their disks. A new recipe reaches a lab made from scratch.
    if compgen -G "$LAB_VAR/images/*/os.qcow2" >/dev/null; then
        step_log "kept the pool's base image, which the guests' disks are built on; bash lab/down first for $image"
        return 0
    fi
    # Copies, not links: libvirt relabels what a guest uses, and the cache stays untouched.
    cp "$image/root.qcow2" "$LAB_VAR/images/debian-12-nordfleet.qcow2"
    cp "$image/vmlinuz" "$LAB_VAR/images/vmlinuz-nordfleet"
    cp "$image/initrd.img" "$LAB_VAR/images/initrd-nordfleet.img"
}

# The lab stack's config lives with the lab's other state, outside the working tree:
# `pulumi stack init` writes the per-machine passphrase salt into the stack file, and a
# tracked Pulumi.lab.yaml carrying it would break the lab on every other machine. So the
# stack is created in a scratch copy of the project file, and each run takes the
# tracked config as it is plus the salt kept in the lab's own copy.
LAB_STACK_FILE=$LAB_HOME/Pulumi.lab.yaml
lab_stack_init() { # env...
    local scratch
    scratch=$(mktemp -d)
    cp Pulumi.yaml "$scratch/"
    (cd "$scratch" && "$@" pulumi stack init lab --secrets-provider passphrase --non-interactive)
    grep '^encryptionsalt:' "$scratch/Pulumi.lab.yaml" >"$LAB_HOME/encryptionsalt"
    rm -rf "$scratch"
}

lab_stack_file() {
    { cat "$LAB_HOME/encryptionsalt"; grep -v '^encryptionsalt:' Pulumi.lab.yaml; } >"$LAB_STACK_FILE.new"
    mv "$LAB_STACK_FILE.new" "$LAB_STACK_FILE"
}

# The lab's secret config, set into the stack file from the root-only files it lives in
# (on stdin: a secret never stands in a command line).
lab_stack_secrets() { # env...
    local creds=$LAB_OBJECTS/backup-credentials.json key
    [ -f "$creds" ] || return 0
    for key in accessKeyId secretAccessKey; do
        node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))[process.argv[2]])' \
            "$creds" "$key" |
            "$@" pulumi config set --secret --path "nordfleet:backupCredentials.$key" \
                --stack lab --config-file "$LAB_STACK_FILE" --non-interactive
    done
}

# The lab's SSH agent holds the hypervisor's key, as an operator's agent holds theirs: the
# engine reaches the hypervisor through SSH_AUTH_SOCK, and the stack names no key file.
lab_agent() {
    local listed=0
    SSH_AUTH_SOCK="$LAB_AGENT" ssh-add -l >/dev/null 2>&1 || listed=$?
    if [ "$listed" = 2 ]; then # no agent answers there
        rm -f "$LAB_AGENT"
        ssh-agent -a "$LAB_AGENT" | sed -n 's/^SSH_AGENT_PID=\([0-9]*\);.*/\1/p' >"$LAB_HOME/agent.pid"
    fi
    if [ "$listed" != 0 ]; then
        SSH_AUTH_SOCK="$LAB_AGENT" ssh-add -q "$LAB_HOME/hypervisor_ed25519"
    fi
}

lab_agent_stop() {
    [ -f "$LAB_HOME/agent.pid" ] && kill "$(cat "$LAB_HOME/agent.pid")" 2>/dev/null || true
    rm -f "$LAB_AGENT" "$LAB_HOME/agent.pid"
}

lab_pulumi() { # pulumi arguments (up|destroy ...)
    [ -f "$LAB_HOME/passphrase" ] || (umask 077 && head -c 32 /dev/urandom | base64 >"$LAB_HOME/passphrase")
    # The engine runs inside the namespace: it reaches the lab hypervisor and the object
    # store its state lives in, by name, and nothing else.
    lab_agent
    local env=(in_ns env PATH="$PATH" PULUMI_BACKEND_URL="$(lab_state_url)" SSH_AUTH_SOCK="$LAB_AGENT" PULUMI_DIY_BACKEND_GZIP=true
        PULUMI_CONFIG_PASSPHRASE_FILE="$LAB_HOME/passphrase"
        AWS_SHARED_CREDENTIALS_FILE="$LAB_OBJECTS/state-credentials.ini" AWS_CA_BUNDLE="$LAB_OBJECTS/tls/ca.pem")
    if [ ! -f "$LAB_HOME/encryptionsalt" ] || ! "${env[@]}" pulumi stack select lab --non-interactive 2>/dev/null; then
        lab_stack_init "${env[@]}"
    fi
    lab_stack_file
    lab_stack_secrets "${env[@]}"
    "${env[@]}" pulumi "$@" --stack lab --config-file "$LAB_STACK_FILE" --non-interactive
}

lab_teardown() {
    lab_agent_stop
    if virsh -c qemu:///system version >/dev/null 2>&1; then
        for dom in $(virsh -q list --all --name); do
            case "$(virsh -q dumpxml "$dom" 2>/dev/null)" in
                *"$LAB_VAR"*) virsh -q destroy "$dom" >/dev/null 2>&1 || true; virsh -q undefine "$dom" >/dev/null ;;
            esac
        done
        for pool in nordfleet-images nordfleet-nvme; do
            virsh -q pool-destroy "$pool" >/dev/null 2>&1 || true
            virsh -q pool-undefine "$pool" >/dev/null 2>&1 || true
        done
    fi
    [ -f "$LAB_HOME/sshd.pid" ] && kill "$(cat "$LAB_HOME/sshd.pid")" 2>/dev/null || true
    if ip netns list | grep -w "$LAB_NS" >/dev/null; then
        for pid in $(ip netns pids "$LAB_NS"); do kill "$pid" 2>/dev/null || true; done
        sleep 1
        ip netns delete "$LAB_NS"
    fi
    rm -rf "$LAB_VAR" "$LAB_HOME" "/etc/netns/$LAB_NS"
}
