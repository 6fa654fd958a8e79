# Hooks of a service release (role service-<instance>), after instances.sh. Set above: UNIT (the unit's
# file name), SERVICE (the service's name), PORT (the instance's), SERVICE_USER, ENTRY
# (the program, relative to the tree), HEALTH_URL, CHECK_TRIES (seconds the health
# check may take).
#
# The tree holds UNIT, `service` (the service's name), service.env (0600 root:root),
# and either app/ (the program, shipped inside the release) or artifact.url and
# artifact.sha256 (fetched here from the artifact mirror, checked before anything runs it).

nf_service_fetch() { # tree
    local dir=$1 target="$1/$ENTRY" url
    if [ -f "$target" ] && (cd "$dir" && sha256sum --check --status artifact.sha256); then
        return 0
    fi
    url=$(cat "$dir/artifact.url")
    install -d -m 0755 "$(dirname "$target")"
    curl -fsSL --proto '=https' --retry 3 --max-time 600 -o "$target.part" "$url" || {
        rm -f "$target.part"; echo "$UNIT: cannot fetch $url"; return 1; }
    mv -f "$target.part" "$target"
    if ! (cd "$dir" && sha256sum --check --status artifact.sha256); then
        rm -f "$target"
        echo "$UNIT: $url does not match its sha256 ($(cut -d' ' -f1 "$dir/artifact.sha256"))"
        return 1
    fi
    chmod 0755 "$target"
}

role_validate() { # staged tree
    local dir=$1 check out status=0
    if [ -f "$dir/artifact.url" ]; then
        nf_service_fetch "$dir" || return 1
    fi
    [ -x "$dir/$ENTRY" ] || { echo "$UNIT: $ENTRY is not an executable file in the release"; return 1; }
    if [ "$(stat -c '%a %U %G' "$dir/service.env")" != "600 root root" ]; then
        echo "$UNIT: service.env must be mode 0600 root:root"; return 1
    fi
    if grep -Ev '^(#.*|[A-Za-z_][A-Za-z0-9_]*=".*")$' "$dir/service.env" >/dev/null; then
        echo "$UNIT: service.env has a line that is neither a comment nor NAME=\"value\""; return 1
    fi
    # The unit names its files through .../current, which is still the live release:
    # verify a copy that points at the staged tree, so its own program is checked.
    check=$(mktemp -d)
    sed "s#$NF_ROOT/current/#$dir/#g" "$dir/$UNIT" >"$check/$UNIT"
    out=$(systemd-analyze verify --man=no "$check/$UNIT" 2>&1) || status=$?
    rm -rf "$check"
    # verify exits 0 on unknown keys and bad values, which it only prints.
    if [ "$status" -ne 0 ] || printf '%s\n' "$out" | grep -qF "$UNIT"; then
        printf '%s: systemd-analyze verify:\n%s\n' "$UNIT" "$out"
        return 1
    fi
}

# The units of this service's other instances that listen on PORT. A plain instance
# and version blue share the port when versions appear or go: until the retired one
# is removed (after every instance passed its check), only one of them can listen.
nf_port_holders() {
    local root
    for root in $(nf_service_instances "${NF_ROOT%/*}" "$SERVICE"); do
        [ "$root" != "$NF_ROOT" ] || continue
        grep -qxF "PORT=\"$PORT\"" "$root/current/service.env" 2>/dev/null || continue
        root=${root##*/}
        echo "nordfleet-${root#service-}.service"
    done
}

role_activate() { # .../current
    if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$SERVICE_USER"
    fi
    # A linked unit: switching `current` switches the unit with the rest of the tree.
    ln -sfn "$1/$UNIT" "/etc/systemd/system/.$UNIT.new"
    mv -T "/etc/systemd/system/.$UNIT.new" "/etc/systemd/system/$UNIT"
    systemctl daemon-reload
    systemctl enable --quiet --no-reload "$UNIT"
    # The port changes hands: the instance holding it stops just before this one starts,
    # so neither fails to bind and the health check below asks this one, not the other.
    local holder
    for holder in $(nf_port_holders); do
        systemctl stop "$holder"
    done
    systemctl restart "$UNIT"
}

# A first release of this instance failed its check: the instances it took the port
# from serve again, and its unit goes (apply.sh then removes its tree).
role_undo() {
    local holder
    systemctl disable --now --quiet "$UNIT" || true
    for holder in $(nf_port_holders); do
        systemctl start "$holder"
    done
    if [ -L "/etc/systemd/system/$UNIT" ]; then
        rm -f "/etc/systemd/system/$UNIT"
        systemctl daemon-reload
    fi
}

role_check() {
    local i code
    for i in $(seq 1 "$CHECK_TRIES"); do
        code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 2 "$HEALTH_URL" 2>/dev/null) || code=000
        if [ "${code#2}" != "$code" ] && systemctl is-active --quiet "$UNIT"; then
            return 0
        fi
        sleep 1
    done
    echo "$UNIT: $HEALTH_URL answered ${code:-nothing}, not 2xx, for ${CHECK_TRIES}s"
    journalctl --unit "$UNIT" --lines 20 --no-pager 2>&1 || true
    return 1
}
