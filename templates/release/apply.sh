# Stages one role's release beside the live one, validates it, switches to it
# atomically, reloads and health-checks; any failure switches back to the previous
# release, so a host never keeps a config that did not pass its own checks.
#
# Set above this line: ROLE, RELEASE (digest of the files). The role's hooks define
#   role_validate DIR   check the staged tree with the service's own tool
#   role_activate DIR   make the service use DIR (idempotent; DIR is always .../current)
#   role_check          the service answers as it should
# and may define
#   role_undo           after a failed first release (none to go back to): give back
#                       what role_activate took from others; the role's tree then goes
# and the files arrive as `nf_file PATH MODE OWNER BASE64` lines, PATH relative to the tree.
set -euo pipefail
# systemctl waits 25 s for systemd to take a call; on a busy small VM (another release's
# daemon-reload, say) that is not enough, and a slow answer is not a failed release.
export SYSTEMD_BUS_TIMEOUT=120
# The hooks enable units with --no-reload and daemon-reload only when a unit file
# changed: every reload re-runs systemd's generators, a minute of CPU on a small VM.
NF_ROOT=/etc/nordfleet/$ROLE
NF_RELEASES=$NF_ROOT/releases
NF_STAGE=$NF_RELEASES/.$RELEASE.partial
NF_KEEP=3

nf_begin() {
    install -d -m 0755 "$NF_ROOT" "$NF_RELEASES"
    rm -rf "$NF_STAGE"
    install -d -m 0755 "$NF_STAGE"
}

nf_file() { # path mode owner base64
    local target="$NF_STAGE/$1"
    install -d -m 0755 "$(dirname "$target")"
    (umask 077 && printf '%s' "$4" | base64 -d >"$target")
    chown "$3" "$target"
    chmod "$2" "$target"
}

nf_switch() { # release dir, relative to NF_ROOT
    ln -sfn "$1" "$NF_ROOT/.current.new"
    mv -T "$NF_ROOT/.current.new" "$NF_ROOT/current"
}

nf_prune() {
    local live keep
    live=$(readlink "$NF_ROOT/current")
    # Newest first; the live release is always kept.
    keep=$(ls -1t "$NF_RELEASES" | head -n "$NF_KEEP")
    for r in $(ls -1 "$NF_RELEASES"); do
        [ "releases/$r" = "$live" ] && continue
        printf '%s\n' "$keep" | grep -qx "$r" || rm -rf "${NF_RELEASES:?}/$r"
    done
    for t in "$NF_RELEASES"/.*.pushed.tar; do
        [ -e "$t" ] || continue
        r=${t##*/.}
        [ -d "$NF_RELEASES/${r%.pushed.tar}" ] || rm -f "$t"
    done
}

# The files as pushed, kept root-only beside the release: the doctor shows a hand edit
# as a diff against them (after checking them against the digests the hypervisor keeps).
nf_keep_pushed() {
    (umask 077 && tar -C "$NF_STAGE" -cf "$NF_RELEASES/.$RELEASE.pushed.tar.new" . \
        && mv -f "$NF_RELEASES/.$RELEASE.pushed.tar.new" "$NF_RELEASES/.$RELEASE.pushed.tar")
}

nf_apply() {
    local previous candidate="releases/$RELEASE" out
    previous=$(readlink "$NF_ROOT/current" 2>/dev/null || true)
    nf_keep_pushed
    if [ "$previous" = "$candidate" ] && [ -d "$NF_ROOT/$candidate" ]; then
        # Same files as the live release: converge the service. A tree changed by hand
        # since (the doctor names such files) gets the pushed files back.
        if diff -r "$NF_STAGE" "$NF_ROOT/$candidate" >/dev/null 2>&1; then
            rm -rf "$NF_STAGE"
        else
            echo "nordfleet: $ROLE release $RELEASE was changed on the host; putting the pushed files back" >&2
            rm -rf "$NF_RELEASES/.$RELEASE.drifted"
            mv -T "$NF_ROOT/$candidate" "$NF_RELEASES/.$RELEASE.drifted"
            mv -T "$NF_STAGE" "$NF_ROOT/$candidate"
            rm -rf "$NF_RELEASES/.$RELEASE.drifted"
        fi
    else
        rm -rf "${NF_ROOT:?}/$candidate"
        mv -T "$NF_STAGE" "$NF_ROOT/$candidate"
    fi
    if ! out=$(role_validate "$NF_ROOT/$candidate" 2>&1); then
        [ "$previous" = "$candidate" ] || rm -rf "${NF_ROOT:?}/$candidate"
        printf 'nordfleet: %s release %s rejected; the live release (%s) is unchanged:\n%s\n' \
            "$ROLE" "$RELEASE" "${previous:-none}" "$out" >&2
        exit 1
    fi
    nf_switch "$candidate"
    touch "$NF_ROOT/$candidate"
    # The hooks may read the release this one replaces (a rotated secret's old value).
    NF_PREVIOUS=${previous:+$NF_ROOT/$previous}
    if out=$(role_activate "$NF_ROOT/current" 2>&1 && role_check 2>&1); then
        nf_prune
        echo "$ROLE: release $RELEASE live"
        return
    fi
    printf 'nordfleet: %s release %s failed after the switch:\n%s\n' "$ROLE" "$RELEASE" "$out" >&2
    if [ -n "$previous" ] && [ "$previous" != "$candidate" ]; then
        nf_switch "$previous"
        if role_activate "$NF_ROOT/current" >/dev/null 2>&1 && role_check >/dev/null 2>&1; then
            echo "nordfleet: $ROLE restored to the previous release ($previous)" >&2
        else
            echo "nordfleet: $ROLE: the previous release ($previous) is back in place but did not pass its check either" >&2
        fi
    elif [ -z "$previous" ] && declare -F role_undo >/dev/null; then
        if role_undo >&2; then
            # Nothing of a release that never served stays behind but this log.
            rm -rf "${NF_ROOT:?}"
            echo "nordfleet: $ROLE: the failed first release is undone" >&2
        else
            echo "nordfleet: $ROLE: undoing the failed first release failed too" >&2
        fi
    fi
    exit 1
}
