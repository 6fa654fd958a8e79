# PostgreSQL hooks for the release script. Set above: PG_MAJOR, MOUNT, PGDATA, DATA_SERIAL,
# DISK_DIR, FSTAB, STANZA, ADDRESS, PORT, DATABASES (space-separated).
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
PG_UNIT=nordfleet-postgres.service
PG_UNITS="nordfleet-postgres.service nordfleet-pg-backup@.service nordfleet-pg-backup-full.timer nordfleet-pg-backup-diff.timer"
PG_TIMERS="nordfleet-pg-backup-full.timer nordfleet-pg-backup-diff.timer"
# Units of earlier releases: one nightly full backup.
PG_RETIRED_UNITS="nordfleet-pg-backup.timer nordfleet-pg-backup.service"

# The one place that talks to systemd, so a host without it can stand in.
declare -F pg_systemctl >/dev/null || pg_systemctl() { systemctl "$@"; }

# The hooks run where `set -e` does not apply (inside conditions), so every step that
# can fail says so: pg_fail ends the hook, whose body is a subshell.
pg_fail() { echo "postgres: $*" >&2; exit 1; }

pg_psql() { # as the superuser over the local socket; extra args go to psql
    runuser -u postgres -- "$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h /run/postgresql -p "$PORT" -d postgres "$@"
}

pg_backrest() {
    runuser -u postgres -- pgbackrest --config="$NF_ROOT/current/pgbackrest.conf" --stanza="$STANZA" "$@"
}

role_validate() ( # DIR
    local dir=$1 out t calendar
    # The server's own parser: an unknown setting or a value it rejects ends in FATAL.
    # It reads the candidate file and nothing of the running server.
    runuser -u postgres -- "$PG_BIN/postgres" -C data_directory -c config_file="$dir/postgresql.conf" \
        -c hba_file="$dir/pg_hba.conf" -c ident_file="$dir/pg_ident.conf" >/dev/null \
        || pg_fail "postgresql.conf rejected by postgres -C"
    openssl x509 -noout -in "$dir/tls/server.crt" || pg_fail "tls/server.crt is not a certificate"
    [ "$(openssl x509 -noout -pubkey -in "$dir/tls/server.crt")" = "$(openssl pkey -pubout -in "$dir/tls/server.key")" ] \
        || pg_fail "tls/server.key does not match tls/server.crt"
    for t in $PG_TIMERS; do
        calendar=$(sed -n 's/^OnCalendar=//p' "$dir/systemd/$t")
        systemd-analyze calendar "$calendar" >/dev/null 2>&1 || pg_fail "$t: OnCalendar=$calendar is not a calendar systemd understands"
    done
    # pgBackRest only warns about an unknown option; a release must not carry one.
    out=$(runuser -u postgres -- pgbackrest --config="$dir/pgbackrest.conf" --stanza="$STANZA" info 2>&1) \
        || pg_fail "pgbackrest info with the candidate pgbackrest.conf failed: $out"
    if printf '%s\n' "$out" | grep -q 'WARN: .*invalid option'; then
        pg_fail "pgbackrest.conf: $out"
    fi
)

pg_cluster() {
    install -d -o postgres -g postgres -m 0700 "$(dirname "$PGDATA")"
    install -d -o postgres -g postgres -m 2775 /run/postgresql
    install -d -o postgres -g postgres -m 0750 /var/log/pgbackrest
    install -d -o postgres -g postgres -m 0750 /var/spool/pgbackrest
    # Never re-initialise: a data directory with PG_VERSION is the database.
    if [ ! -f "$PGDATA/PG_VERSION" ]; then
        runuser -u postgres -- "$PG_BIN/initdb" -D "$PGDATA" --auth-local=peer --auth-host=scram-sha-256 \
            --encoding=UTF8 --locale=C.UTF-8 --data-checksums >/dev/null || pg_fail "initdb failed"
    fi
}

pg_units() { # DIR; installs the units when they changed
    local changed=0 u
    for u in $PG_RETIRED_UNITS; do
        if [ -f "/etc/systemd/system/$u" ]; then
            pg_systemctl disable --now "$u" >/dev/null 2>&1 || true
            rm -f "/etc/systemd/system/$u"
            changed=1
        fi
    done
    for u in $PG_UNITS; do
        if ! cmp -s "$1/systemd/$u" "/etc/systemd/system/$u"; then
            install -m 0644 "$1/systemd/$u" "/etc/systemd/system/$u" || pg_fail "could not install $u"
            changed=1
        fi
    done
    [ "$changed" -eq 0 ] || pg_systemctl daemon-reload || pg_fail "systemctl daemon-reload failed"
}

pg_ready() { # seconds to wait
    local _
    for _ in $(seq "$1"); do
        pg_psql -c 'select 1' >/dev/null 2>&1 && return 0
        sleep 1
    done
    return 1
}

role_activate() ( # DIR (= .../current)
    local dir=$1
    cd /   # runuser keeps the working directory, which postgres cannot enter when it is /root
    bash "$dir/data-volume.sh" "$DISK_DIR/virtio-$DATA_SERIAL" "$MOUNT" pgdata "$FSTAB" \
        || pg_fail "the data volume (serial $DATA_SERIAL) is not usable"
    pg_cluster
    pg_units "$dir"
    pg_systemctl enable --no-reload "$PG_UNIT" >/dev/null 2>&1 || pg_fail "could not enable $PG_UNIT"
    if pg_ready 1; then
        pg_systemctl reload "$PG_UNIT" || pg_fail "reload failed"
        sleep 1
        # Settings such as shared_buffers or listen_addresses only change on a restart.
        if [ "$(pg_psql -c 'select count(*) from pg_settings where pending_restart')" != 0 ]; then
            pg_systemctl restart "$PG_UNIT" || pg_fail "restart failed"
        fi
    else
        pg_systemctl start "$PG_UNIT" || pg_fail "start failed"
    fi
    pg_ready 120 || pg_fail "the server did not answer on /run/postgresql within 120 s"
    pg_psql <"$dir/roles.sql" >/dev/null || pg_fail "creating the service roles and databases failed"
    # A posix repository (a lab's) is a folder on this host that postgres writes to.
    if grep -qx 'repo1-type=posix' "$dir/pgbackrest.conf"; then
        install -d -o postgres -g postgres -m 0750 "$(sed -n 's/^repo1-path=//p' "$dir/pgbackrest.conf")"
    fi
    pg_backrest stanza-create >/dev/null || pg_fail "pgbackrest stanza-create failed"
    # Proves archive_command end to end: forces a WAL switch and waits for it in the repo.
    pg_backrest check >/dev/null || pg_fail "pgbackrest check failed: WAL archiving does not work"
    if ! pg_backrest info --output=json | grep -q '"label"'; then
        pg_backrest --type=full backup >/dev/null || pg_fail "the first full backup failed"
    fi
    # shellcheck disable=SC2086
    pg_systemctl enable --now --no-reload $PG_TIMERS >/dev/null 2>&1 || pg_fail "could not enable the backup timers"
)

role_check() (
    local errors db _
    cd /   # as in role_activate: runuser keeps the working directory
    pg_ready 30 || pg_fail "not answering on the local socket"
    # A reload keeps the old rules when a file has errors: these views tell.
    errors=$(pg_psql -c "select 'pg_hba.conf line ' || line_number || ': ' || error from pg_hba_file_rules where error is not null
                         union all
                         select sourcefile || ' line ' || sourceline || ': ' || error from pg_file_settings where error is not null")
    [ -z "$errors" ] || pg_fail "the server rejected its config: $errors"
    for db in $DATABASES; do
        [ "$(pg_psql -c "select count(*) from pg_database where datname = '$db'")" = 1 ] \
            || pg_fail "database $db is missing"
    done
    # Over TCP on the VLAN address, as the services connect: a loaded host can take
    # longer than pg_isready's 3 s default to answer, so a few tries of 10 s each.
    for _ in 1 2 3 4 5 6; do
        runuser -u postgres -- "$PG_BIN/pg_isready" -q -t 10 -h "$ADDRESS" -p "$PORT" && return 0
        sleep 5
    done
    pg_fail "not accepting connections on $ADDRESS:$PORT"
)
