
# ---- consul hooks ----------------------------------------------------------------
# Set above: CONSUL_NODE (this node's name), CONSUL_WAIT_SECONDS (how long a start may
# take to join, and the first server to see a leader). The tree holds the agent's
# config files at its top (the only ones `consul agent -config-dir` reads), tls/,
# acl/ (root-only token files), systemd/ units, dnsmasq.conf and resolv.conf; the
# server that creates the cluster's ACL objects also has acl/seed/.
# The release script calls these hooks where `set -e` does not apply: every step
# that can fail says `|| return 1`.
CONSUL_UNITS=/etc/systemd/system
# Digests of what each running daemon was started from, to tell a reload from a restart.
CONSUL_STARTED=$NF_ROOT/.started

consul_cli() { # dir, consul arguments...: talks to the local agent's HTTPS API
    local dir=$1
    shift
    CONSUL_HTTP_ADDR=https://127.0.0.1:8501 CONSUL_CACERT=$dir/tls/ca.pem \
        CONSUL_CLIENT_CERT=$dir/tls/agent.pem CONSUL_CLIENT_KEY=$dir/tls/agent-key.pem \
        consul "$@"
}

role_validate() {
    consul validate -quiet "$1" || return 1
    if command -v dnsmasq >/dev/null; then
        dnsmasq --test --conf-file="$1/dnsmasq.conf" || return 1
    fi
}

consul_install_unit() { # name, source; prints "changed" when the unit file changed
    if ! cmp -s "$2" "$CONSUL_UNITS/$1"; then
        install -m 0644 "$2" "$CONSUL_UNITS/$1" || return 1
        echo changed
    fi
}

# Starts the unit, or applies the new release to the running daemon: a restart when
# a file it reads only at start changed (for consul: agent.hcl, its ports, addresses,
# datacenter and gossip key; for dnsmasq: its whole config), else a reload.
consul_converge() { # unit, reloadable (yes/no), files read only at start...
    local unit=$1 reloadable=$2 digest recorded
    shift 2
    digest=$(cat "$@" | sha256sum | cut -d' ' -f1) || return 1
    recorded=$(cat "$CONSUL_STARTED/$unit" 2>/dev/null || true)
    if ! systemctl is-active --quiet "$unit"; then
        systemctl start "$unit" || return 1
    elif [ "$digest" != "$recorded" ]; then
        systemctl restart "$unit" || return 1
    elif [ "$reloadable" = yes ]; then
        systemctl reload "$unit" || return 1
    fi
    install -d -m 0700 "$CONSUL_STARTED" || return 1
    printf '%s\n' "$digest" >"$CONSUL_STARTED/$unit"
}

consul_wait() { # description, command...: retries for CONSUL_WAIT_SECONDS
    local what=$1 deadline=$((SECONDS + CONSUL_WAIT_SECONDS)) out
    shift
    until out=$("$@" 2>&1); do
        if [ "$SECONDS" -ge "$deadline" ]; then
            printf 'consul: %s: gave up after %ss: %s\n' "$what" "$CONSUL_WAIT_SECONDS" "$out" >&2
            return 1
        fi
        sleep 2
    done
}

# A management token the cluster accepts, as a file: the release's, or right after a
# rotation, until the seed has created that one, the previous release's.
consul_admin_token() { # dir
    local f
    for f in "$1/acl/management.token" ${NF_PREVIOUS:+"$NF_PREVIOUS/acl/management.token"}; do
        if [ -f "$f" ] && consul_cli "$1" acl token read -self -token-file="$f" >/dev/null 2>&1; then
            echo "$f"
            return 0
        fi
    done
    return 1
}

# One ACL policy, created or updated (the same rules twice change nothing).
consul_put_policy() { # dir, rules file
    local dir=$1 name
    name=$(basename "$2" .rules)
    if consul_cli "$dir" acl policy read -name "$name" -token-file="$CONSUL_ADMIN_TOKEN" >/dev/null 2>&1; then
        consul_cli "$dir" acl policy update -name "$name" -rules "@$2" -token-file="$CONSUL_ADMIN_TOKEN" >/dev/null
    else
        consul_cli "$dir" acl policy create -name "$name" -rules "@$2" -token-file="$CONSUL_ADMIN_TOKEN" >/dev/null
    fi
}

# One ACL token, created unless its secret already works. The CLI takes a token's
# secret only as an argument; the API takes it from a file.
consul_put_token() { # dir, token file (.json, beside its .secret)
    local dir=$1
    consul_cli "$dir" acl token read -self -token-file="${2%.json}.secret" >/dev/null 2>&1 && return 0
    curl -sS --fail-with-body --cacert "$dir/tls/ca.pem" --cert "$dir/tls/agent.pem" \
        --key "$dir/tls/agent-key.pem" -H @- -X PUT --data-binary "@$2" \
        https://127.0.0.1:8501/v1/acl/token <<<"X-Consul-Token: $(<"$CONSUL_ADMIN_TOKEN")" >/dev/null
}

# The cluster's ACL policies and tokens, created once a leader exists and skipped
# when already there, then the release's gossip key made every member's primary (see
# secrets.py: after a rotation, old tokens and keys stay until every member has
# switched). Secrets travel in files and on stdin, never as arguments. Each write is
# retried: a busy server can drop a connection, and every write is idempotent.
consul_seed_acl() { # dir
    local dir=$1 f
    consul_wait "a leader that accepts the management token" consul_admin_token "$dir" || return 1
    CONSUL_ADMIN_TOKEN=$(consul_admin_token "$dir") || return 1
    for f in "$dir"/acl/seed/*.rules; do
        [ -e "$f" ] || continue
        consul_wait "ACL policy $(basename "$f" .rules)" consul_put_policy "$dir" "$f" || return 1
    done
    for f in "$dir"/acl/seed/*.json; do
        [ -e "$f" ] || continue
        consul_wait "ACL token $(basename "$f" .json)" consul_put_token "$dir" "$f" || return 1
        echo "consul: ACL token $(basename "$f" .json) in place"
    done
    consul_wait "every member using the release's gossip key" python3 "$dir/bin/secrets.py" use-key
}

role_activate() {
    local dir=$1 changed
    changed=$(consul_install_unit consul.service "$dir/systemd/consul.service") || return 1
    changed+=$(consul_install_unit nordfleet-consul-dns.service "$dir/systemd/nordfleet-consul-dns.service") || return 1
    if [ -n "$changed" ]; then
        systemctl daemon-reload || return 1
    fi
    systemctl enable --quiet --no-reload consul.service nordfleet-consul-dns.service || return 1
    consul_converge consul.service yes "$dir/agent.hcl" "$dir/systemd/consul.service" || return 1
    consul_converge nordfleet-consul-dns.service no "$dir/dnsmasq.conf" "$dir/systemd/nordfleet-consul-dns.service" || return 1
    if ! cmp -s "$dir/resolv.conf" /etc/resolv.conf; then
        cat "$dir/resolv.conf" >/etc/resolv.conf || return 1
    fi
    if [ -d "$dir/acl/seed" ]; then
        consul_seed_acl "$dir" || return 1
    fi
}

# This node is alive and sees a live server: an agent alone lists itself as alive too.
# Asked over the HTTP API with curl, not the consul CLI: the check polls every few
# seconds, and each CLI run starts the whole consul binary, seconds of CPU on a small VM.
consul_joined() { # dir
    curl -sS --fail --max-time 10 --cacert "$1/tls/ca.pem" --cert "$1/tls/agent.pem" --key "$1/tls/agent-key.pem" \
        -H @- https://127.0.0.1:8501/v1/agent/members <<<"X-Consul-Token: $(<"$1/acl/recovery.token")" |
        awk -v RS='[{]"Name":' -v node="\"$CONSUL_NODE\"" '
            /"Status":1[,}]/ && index($0, node) == 1 { me = 1 }
            /"Status":1[,}]/ && /"role":"consul"/ { server = 1 }
            END { exit !(me && server) }'
}

role_check() {
    local dir=$NF_ROOT/current
    consul_wait "$CONSUL_NODE alive beside a live server in consul members" consul_joined "$dir" || return 1
    consul_wait "local resolver running" systemctl is-active --quiet nordfleet-consul-dns.service
}
