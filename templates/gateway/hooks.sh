# Gateway hooks for the release script: nginx runs the live release's nginx.conf
# (`nginx -c /etc/nordfleet/gateway/current/nginx.conf`), whose relative paths such
# as tls/server.crt resolve against that folder.
#
# NGINX_CONTROL: "systemd" (the default, as on every guest) or "direct", where no
# service manager runs and the hooks signal nginx themselves.
: "${NGINX_CONTROL:=systemd}"
NF_NGINX=/usr/sbin/nginx
NF_NGINX_DROPIN=/etc/systemd/system/nginx.service.d/nordfleet.conf
NF_LOGROTATE=/etc/logrotate.d/nginx
NF_LOGROTATE_TIMER_DROPIN=/etc/systemd/system/logrotate.timer.d/nordfleet.conf

# Size-bounded log rotation, checked hourly (systemd mode only: a guest's own logrotate).
nf_logrotate() { # dir
    if ! command -v logrotate >/dev/null; then
        echo "gateway: logrotate is not installed; nginx's logs are not rotated" >&2
        return 0
    fi
    local out state
    # A state file of its own: a logrotate run under way (its timer fires at first boot)
    # holds the system's one locked, and the check must not wait on it or fail.
    state=$(mktemp)
    out=$(logrotate --debug --state "$state" "$1/logrotate.conf" 2>&1) || {
        rm -f "$state"
        printf 'gateway: logrotate refuses logrotate.conf:\n%s\n' "$(printf '%s\n' "$out" | grep -i error)" >&2
        return 1
    }
    rm -f "$state"
    install -m 0644 "$1/logrotate.conf" "$NF_LOGROTATE" || return 1
    if ! cmp -s "$1/logrotate-hourly.conf" "$NF_LOGROTATE_TIMER_DROPIN"; then
        install -D -m 0644 "$1/logrotate-hourly.conf" "$NF_LOGROTATE_TIMER_DROPIN" || return 1
        systemctl daemon-reload && systemctl restart logrotate.timer
    fi
}

role_validate() { # dir
    # -t parses everything and loads the certificate and key, but binds no socket and
    # writes no pid file, so the live nginx is never disturbed.
    "$NF_NGINX" -t -q -c "$1/nginx.conf"
}

# Debian's unit, pointed at the live release. Empty assignments clear the packaged
# commands before the new ones are set.
nf_nginx_dropin() { # conf
    local g="-g 'daemon on; master_process on;'"
    printf '%s\n' "[Service]" \
        "ExecStartPre=" "ExecStartPre=$NF_NGINX -t -q -c $1 $g" \
        "ExecStart=" "ExecStart=$NF_NGINX -c $1 $g" \
        "ExecReload=" "ExecReload=$NF_NGINX -c $1 $g -s reload" \
        "ExecStop=" "ExecStop=-/sbin/start-stop-daemon --quiet --stop --retry QUIT/35/TERM/5 --pidfile $(nf_nginx_pidfile "$1")"
}

# A graceful stop: QUIT lets the workers finish what they hold (worker_shutdown_timeout
# bounds it); Debian's unit sends TERM after 5 s, which cuts requests in flight.
nf_nginx_pidfile() { sed -n 's/^pid \(.*\);$/\1/p' "$1"; }

nf_nginx_pid() { # conf
    local pidfile
    pidfile=$(nf_nginx_pidfile "$1")
    [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && cat "$pidfile"
}

# A reload is graceful: the master starts workers on the new config and the old ones
# finish the requests they hold before they exit. If the new config cannot be applied
# (a port cannot be bound, say), the master keeps the old one; role_check notices.
role_activate() { # dir (always .../current)
    local conf="$1/nginx.conf"
    if [ "$NGINX_CONTROL" = direct ]; then
        if nf_nginx_pid "$conf" >/dev/null; then
            "$NF_NGINX" -c "$conf" -s reload
        else
            "$NF_NGINX" -c "$conf"
        fi
        return
    fi
    nf_logrotate "$1" || return 1
    if ! nf_nginx_dropin "$conf" | cmp -s - "$NF_NGINX_DROPIN"; then
        install -d -m 0755 "$(dirname "$NF_NGINX_DROPIN")"
        nf_nginx_dropin "$conf" >"$NF_NGINX_DROPIN"
        systemctl daemon-reload
        systemctl enable --quiet --no-reload nginx
        # Whatever ran before used another config file: start over on this one.
        systemctl restart nginx
        return
    fi
    systemctl enable --quiet --no-reload nginx
    if systemctl is-active --quiet nginx; then
        systemctl reload nginx
    else
        systemctl start nginx
    fi
}

# The local health endpoint reports the config id of the config the master really
# runs; a reload is asynchronous, so wait a few seconds for the new id.
role_check() {
    local want got="" i
    want=$(sed -n 's/^# nordfleet-config-id: \([0-9a-f]*\)$/\1/p' "$NF_ROOT/current/nginx.conf")
    for i in $(seq 1 40); do
        got=$(curl -fsS --max-time 2 http://127.0.0.1:8080/healthz 2>&1) || true
        case "$got" in *"\"config\":\"$want\""*) return 0 ;; esac
        sleep 0.25
    done
    echo "nginx does not serve config $want after 10 s; /healthz said: ${got:-nothing}" >&2
    return 1
}
