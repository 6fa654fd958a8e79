# RabbitMQ hooks for the release script. Set above: NODE, ADDRESS, PORT, VHOSTS
# (space-separated), PEERS ("name=address" for every node, this one included),
# ENV_FILE, COOKIE, HOSTS_FILE, WAIT (seconds a start may take), UNIT_DROPIN (the unit's
# drop-in nordfleet owns), and DATA_SERIAL (may be
# empty), DISK_DIR, FSTAB, MNESIA for the node's data volume.
MQ_UNIT=rabbitmq-server.service
MQ_SCHEMAS="/usr/lib/rabbitmq/lib/rabbitmq_server-*/plugins/rabbit-[0-9]*/priv/schema/*.schema"
MQ_STAMP=/var/lib/rabbitmq/.nordfleet-started-with
MQ_TLS_STAMP=/var/lib/rabbitmq/.nordfleet-tls

# The one place that talks to systemd, so a host without it can stand in.
declare -F mq_systemctl >/dev/null || mq_systemctl() { systemctl "$@"; }

# The hooks run where `set -e` does not apply (inside conditions), so every step that
# can fail says so: mq_fail ends the hook, whose body is a subshell.
mq_fail() { echo "rabbitmq: $*" >&2; exit 1; }

# Runs one of the release's Erlang files on the node (after BINDINGS, Erlang text that
# binds its inputs), printing what it prints.
mq_eval() { # BINDINGS FILE
    rabbitmqctl -q eval "$1 $(grep -v '^%%' "$2")" 2>&1
}

role_validate() ( # DIR
    local dir=$1 conf code_path
    # The schema checks that TLS files exist, so point the candidate at its own tree.
    conf=$(mktemp --suffix=.conf)
    sed "s#$NF_ROOT/current/#$dir/#g" "$dir/rabbitmq.conf" >"$conf"
    code_path=$(ls -d /usr/lib/rabbitmq/lib/rabbitmq_server-*/plugins/*/ebin)
    # shellcheck disable=SC2086
    if ! erl -noshell -noinput -pa $code_path -eval "$(grep -v '^%%' "$dir/validate.erl")" \
            -extra "$MQ_SCHEMAS" "$conf"; then
        rm -f "$conf"
        mq_fail "rabbitmq.conf rejected by the node's schema"
    fi
    rm -f "$conf"
    openssl x509 -noout -in "$dir/tls/server.crt" || mq_fail "tls/server.crt is not a certificate"
    [ "$(openssl x509 -noout -pubkey -in "$dir/tls/server.crt")" = "$(openssl pkey -pubout -in "$dir/tls/server.key")" ] \
        || mq_fail "tls/server.key does not match tls/server.crt"
    [ "$(wc -c <"$dir/erlang.cookie")" -ge 20 ] || mq_fail "the Erlang cookie is too short"
)

# Whether the node's app runs, without starting an Erlang VM for a CLI tool (seconds of
# CPU each; minutes on an emulated guest): the AMQPS listener opens only once the app has
# booted, and closes when it stops.
mq_running() { timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' mq_running "$ADDRESS" "$PORT" 2>/dev/null; }

mq_wait() { # until the app runs, at most WAIT seconds
    local i
    for i in $(seq 0 2 "$WAIT"); do
        mq_running && return 0
        [ "$i" -lt "$WAIT" ] && sleep 2
    done
    return 1
}

# Node names resolve to VLAN addresses on every node: Erlang distribution needs it.
mq_hosts() {
    local block p
    block=$(printf '# nordfleet rabbitmq nodes\n'; for p in $PEERS; do printf '%s %s\n' "${p#*=}" "${p%%=*}"; done
            printf '# end nordfleet rabbitmq nodes')
    if ! grep -qzF "$block" "$HOSTS_FILE"; then
        sed '/^# nordfleet rabbitmq nodes$/,/^# end nordfleet rabbitmq nodes$/d' "$HOSTS_FILE" >"$HOSTS_FILE.nordfleet"
        printf '%s\n' "$block" >>"$HOSTS_FILE.nordfleet"
        cat "$HOSTS_FILE.nordfleet" >"$HOSTS_FILE"
        rm -f "$HOSTS_FILE.nordfleet"
    fi
}

# systemd's start timeout for the node, from the release: a changed drop-in needs a reload.
mq_unit_dropin() { # DIR
    cmp -s "$1/unit-dropin.conf" "$UNIT_DROPIN" && return 0
    install -D -m 0644 "$1/unit-dropin.conf" "$UNIT_DROPIN" || mq_fail "could not write $UNIT_DROPIN"
    mq_systemctl daemon-reload || mq_fail "systemctl daemon-reload failed"
}

# What the running node was started with: rabbitmq.conf is only read at boot. Its TLS
# files are not: the listener reads them on each new connection through Erlang's PEM
# cache, so new ones need the cache cleared, not a restart (RabbitMQ's documented way to
# rotate a certificate).
mq_boot_digest() { # DIR [FILE...]: the files given are read too, before the cookie
    local dir=$1
    shift
    cat "$dir/rabbitmq.conf" "$dir/rabbitmq-env.conf" "$dir/enabled_plugins" "$@" "$dir/erlang.cookie" | sha256sum | cut -d' ' -f1
}
mq_tls_digest() { # DIR
    cat "$1"/tls/* | sha256sum | cut -d' ' -f1
}
# Whether the running node was started from DIR's boot files. The stamp of a node started
# before its TLS files had one of their own covers those too.
mq_started_with() { # DIR
    local stamp
    stamp=$(cat "$MQ_STAMP" 2>/dev/null) || return 1
    [ "$stamp" = "$(mq_boot_digest "$1")" ] && return 0
    [ ! -f "$MQ_TLS_STAMP" ] && [ "$stamp" = "$(mq_boot_digest "$1" "$1"/tls/*)" ]
}

role_activate() ( # DIR (= .../current)
    local dir=$1 tls out
    mq_hosts
    mq_unit_dropin "$dir"
    ln -sfn "$dir/rabbitmq-env.conf" "$ENV_FILE" || mq_fail "could not link $ENV_FILE"
    if [ -n "$DATA_SERIAL" ]; then
        # Mounting over a running node's store would hide it: that move is a manual step.
        if mq_running && ! mountpoint -q "$MNESIA"; then
            mq_fail "the node keeps its data on the root disk; stop it and move $MNESIA onto the volume first"
        fi
        bash "$dir/data-volume.sh" "$DISK_DIR/virtio-$DATA_SERIAL" "$MNESIA" mnesia "$FSTAB" \
            || mq_fail "the data volume (serial $DATA_SERIAL) is not usable"
        chown rabbitmq:rabbitmq "$MNESIA" || mq_fail "could not hand $MNESIA to rabbitmq"
        chmod 0750 "$MNESIA" || mq_fail "could not set the mode of $MNESIA"
    fi
    tls=$(mq_tls_digest "$dir")
    if mq_running && mq_started_with "$dir"; then
        if [ "$(cat "$MQ_TLS_STAMP" 2>/dev/null)" != "$tls" ]; then
            out=$(rabbitmqctl -q eval 'ssl:clear_pem_cache().' 2>&1) || mq_fail "clearing the node's TLS file cache failed: $out"
        fi
    else
        if mq_running; then
            mq_systemctl stop "$MQ_UNIT" || mq_fail "stopping the node failed"
        fi
        # The cookie must be in place before the node starts, readable by rabbitmq only.
        install -o rabbitmq -g rabbitmq -m 0400 "$dir/erlang.cookie" "$COOKIE" || mq_fail "could not write $COOKIE"
        mq_systemctl enable --no-reload "$MQ_UNIT" >/dev/null 2>&1 || mq_fail "could not enable $MQ_UNIT"
        mq_systemctl start "$MQ_UNIT" || mq_fail "starting the node failed"
        mq_wait || mq_fail "the node did not start within $WAIT s"
    fi
    mq_boot_digest "$dir" >"$MQ_STAMP" || mq_fail "could not write $MQ_STAMP"
    printf '%s\n' "$tls" >"$MQ_TLS_STAMP" || mq_fail "could not write $MQ_TLS_STAMP"
    out=$(mq_eval "Defs = \"$dir/definitions.json\"," "$dir/definitions.erl") \
        || mq_fail "importing users, vhosts and permissions failed: $out"
)

role_check() (
    local status vhost
    mq_wait || mq_fail "the node is not running (nothing answers on $ADDRESS:$PORT)"
    status=$(mq_eval "" "$NF_ROOT/current/status.erl") || mq_fail "the node did not answer: $status"
    ! grep '^alarm ' <<<"$status" || mq_fail "the node has a resource alarm"
    grep -qx 'listener amqp/ssl' <<<"$status" || mq_fail "no AMQPS listener"
    ! grep -qx 'listener amqp' <<<"$status" || mq_fail "a plain AMQP listener is open"
    for vhost in $VHOSTS; do
        grep -qx "vhost $vhost" <<<"$status" || mq_fail "vhost $vhost is missing"
    done
    ! grep -qx 'user guest' <<<"$status" || mq_fail "the guest user exists"
)
