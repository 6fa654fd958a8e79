
# ---- baseline hooks: kernel tuning and hardening (each value moved one way only),
# open-file limits, nftables firewall, sshd's algorithms and hardening, unused modules
# refused, no core dumps, a persistent and bounded journal.
# Read: SSH_PORT (sshd must still listen there after the switch) and SYSCTL_ROOT
# (where kernel values are read and written; /proc/sys unless a test points it elsewhere).
# The release script calls the hooks inside `if`, where `set -e` does not apply, so
# every step that can fail returns explicitly.
: "${SSH_PORT:=22}"
: "${SYSCTL_ROOT:=/proc/sys}"
: "${SSH_CONNECTION:=}"
BL_SYSCTL_CONF=/etc/sysctl.d/60-nordfleet.conf
# The firewall's connection tracking, loaded at boot before systemd-sysctl applies the
# file above, whose net.netfilter keys exist only once the module is in.
BL_MODULES_CONF=/etc/modules-load.d/60-nordfleet.conf
BL_MODULES="nf_conntrack"
BL_LIMITS_CONF=/etc/security/limits.d/60-nordfleet.conf
BL_UNIT_DIR=/etc/systemd/system
BL_DROPIN=60-nordfleet.conf
# Release files installed as they are, each "FILE:DESTINATION".
BL_FILES="sshd-crypto.conf:/etc/ssh/sshd_config.d/20-nordfleet-crypto.conf
sshd-hardening.conf:/etc/ssh/sshd_config.d/21-nordfleet-hardening.conf
modprobe.conf:/etc/modprobe.d/60-nordfleet.conf
coredump.conf:/etc/systemd/coredump.conf.d/60-nordfleet.conf
journald.conf:/etc/systemd/journald.conf.d/60-nordfleet.conf"

# Writes stdin to FILE through a temporary file and a rename, so readers never see half of it.
bl_write() { # file mode
    local tmp
    install -d -m 0755 "$(dirname "$1")" && tmp=$(mktemp "$1.XXXXXX") || return 1
    cat >"$tmp" && chmod "$2" "$tmp" && mv -f "$tmp" "$1" || { rm -f "$tmp"; return 1; }
}

bl_sysctl_path() { printf '%s/%s' "$SYSCTL_ROOT" "${1//.//}"; }

# The wanted settings as "KEY<TAB>MERGE<TAB>VALUE", MERGE from the "# merge:" line above each key.
bl_wanted() { # sysctl.conf
    awk '
        /^# merge: / { merge = substr($0, 10); next }
        /^[ \t]*(#|$)/ { next }
        {
            eq = index($0, "=")
            key = substr($0, 1, eq - 1); value = substr($0, eq + 1)
            gsub(/^[ \t]+|[ \t]+$/, "", key); gsub(/^[ \t]+|[ \t]+$/, "", value)
            print key "\t" merge "\t" value
            merge = ""
        }' "$1"
}

# Prints what the key should be so that nothing is lowered: the wanted value where it
# is higher (wider, more permissive) than the current one, the current one otherwise.
bl_merge() { # merge current wanted
    local merge=$1 cur=$2 want=$3 cl ch wl wh
    case "$merge" in
        max)
            if [ "$cur" -ge "$want" ]; then echo "$cur"; else echo "$want"; fi ;;
        range)
            read -r cl ch <<<"$cur"
            read -r wl wh <<<"$want"
            echo "$(( cl < wl ? cl : wl )) $(( ch > wh ? ch : wh ))" ;;
        ports)
            # The kernel keeps the union and prints it back normalised.
            if [ -z "$cur" ]; then echo "$want"; else echo "$cur,$want"; fi ;;
        rank\ *)
            local ranks=" ${merge#rank } " rc rw
            rc=${ranks%% "$cur" *}; rw=${ranks%% "$want" *}
            # An unlisted current value is someone else's deliberate choice: keep it.
            if [ "$rc" = "$ranks" ] || [ "${#rc}" -ge "${#rw}" ]; then echo "$cur"; else echo "$want"; fi ;;
    esac
}

bl_check_sysctl() { # sysctl.conf
    local key merge value n=0
    while IFS=$'\t' read -r key merge value; do
        n=$((n + 1))
        case "$merge" in
            max) [[ "$value" =~ ^[0-9]+$ ]] ;;
            range) [[ "$value" =~ ^([0-9]+)\ +([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -le "${BASH_REMATCH[2]}" ] ;;
            ports) [[ "$value" =~ ^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$ ]] ;;
            rank\ *) [[ " ${merge#rank } " == *" $value "* ]] ;;
            *) false ;;
        esac || { echo "sysctl.conf: $key = $value cannot be merged as \"$merge\"" >&2; return 1; }
    done < <(bl_wanted "$1")
    [ "$n" -gt 0 ] || { echo "sysctl.conf: no settings" >&2; return 1; }
}

bl_load_modules() {
    local module
    printf '%s\n' $BL_MODULES | bl_write "$BL_MODULES_CONF" 0644 || return 1
    for module in $BL_MODULES; do
        [ -d "/sys/module/$module" ] || modprobe "$module" || { echo "modprobe $module failed" >&2; return 1; }
    done
}

# Raises what needs raising, then records every value now in effect, which is what a
# reboot restores. Keys this kernel (or network namespace) lacks, or keeps read-only
# there (a global value, set outside a network namespace), are skipped.
bl_apply_sysctl() { # sysctl.conf
    local key merge want path cur eff out=""
    while IFS=$'\t' read -r key merge want; do
        path=$(bl_sysctl_path "$key")
        if [ ! -e "$path" ]; then
            out+="# $key: not in this kernel"$'\n'
            continue
        fi
        if [ ! -w "$path" ]; then
            out+="# $key: read-only here"$'\n'
            continue
        fi
        cur=$(tr -s ' \t' '  ' <"$path") || return 1
        eff=$(bl_merge "$merge" "$cur" "$want")
        if [ "$eff" != "$cur" ]; then
            printf '%s\n' "$eff" >"$path" || { echo "sysctl: cannot set $key to $eff" >&2; return 1; }
        fi
        out+="$key = $(tr -s ' \t' '  ' <"$path")"$'\n'
    done < <(bl_wanted "$1")
    printf '# nordfleet baseline: the values in effect when release %s was applied.\n%s' "$RELEASE" "$out" \
        | bl_write "$BL_SYSCTL_CONF" 0644
}

bl_apply_limits() { # release dir
    local dir=$1 f unit wanted=" " changed=""
    bl_write "$BL_LIMITS_CONF" 0644 <"$dir/limits.conf" || return 1
    for f in "$dir"/systemd/*.d/"$BL_DROPIN"; do
        [ -e "$f" ] || continue
        unit=$(basename "$(dirname "$f")")
        wanted+="$unit "
        cmp -s "$f" "$BL_UNIT_DIR/$unit/$BL_DROPIN" && continue
        bl_write "$BL_UNIT_DIR/$unit/$BL_DROPIN" 0644 <"$f" || return 1
        changed=yes
    done
    # A unit that left the release loses its drop-in.
    for f in "$BL_UNIT_DIR"/*.d/"$BL_DROPIN"; do
        [ -e "$f" ] || continue
        unit=$(basename "$(dirname "$f")")
        [[ "$wanted" == *" $unit "* ]] || { rm -f "$f"; changed=yes; }
    done
    # A reload re-runs every generator: a minute of CPU on a small emulated VM, so only
    # when a drop-in changed.
    if [ -n "$changed" ] && [ -d /run/systemd/system ]; then
        systemctl daemon-reload || return 1
    fi
}

bl_apply_firewall() { # release dir
    # `current` rather than the release itself, so a reboot loads whatever is live then.
    nft -f "$1/nftables.conf" || return 1
    printf '#!/usr/sbin/nft -f\n# nordfleet baseline: the live release'"'"'s firewall.\ninclude "%s/current/nftables.conf"\n' "$NF_ROOT" \
        | bl_write /etc/nftables.conf 0755 || return 1
    if command -v systemctl >/dev/null; then
        systemctl enable --quiet --no-reload nftables.service || return 1
    fi
}

# Refuses a firewall that would shut out the SSH client applying it: this session would
# survive (it is established), but the next deploy could not get in.
bl_check_ssh_source() { # nftables.conf
    local client=${SSH_CONNECTION%% *}
    [ -n "$client" ] || return 0
    grep -Eq "saddr \{[^}]*[ ,]${client//./\\.}[ ,][^}]*\} tcp dport $SSH_PORT accept" "$1" && return 0
    echo "nftables.conf: SSH (port $SSH_PORT) would not accept new connections from $client, which is applying this release" >&2
    return 1
}

bl_have_sshd() { [ -x /usr/sbin/sshd ] && [ -f /etc/ssh/sshd_config ]; }

# sshd's own test of its whole configuration with the release's files read first, as
# they will be (sshd keeps the first value it reads for each keyword).
bl_check_sshd() { # staged release dir
    bl_have_sshd || return 0
    local probe file rc=0
    # sshd -t wants its privilege separation directory, as ssh.service's start-up makes it.
    install -d -m 0755 /run/sshd && probe=$(mktemp) || return 1
    for file in sshd-crypto.conf sshd-hardening.conf; do
        [ -f "$1/$file" ] && printf 'Include %s\n' "$1/$file" >>"$probe"
    done
    printf 'Include /etc/ssh/sshd_config\n' >>"$probe"
    /usr/sbin/sshd -t -f "$probe" || rc=1
    rm -f "$probe"
    return $rc
}

# Puts one file of the release in place, and prints where if that changed anything. A
# release without the file (one from before nordfleet wrote it, back after a rollback)
# takes it away again, leaving the system's own defaults.
bl_install() { # release dir, file, destination
    if [ -f "$1/$2" ]; then
        cmp -s "$1/$2" "$3" && return 0
        bl_write "$3" 0644 <"$1/$2" || return 1
    else
        [ -e "$3" ] || return 0
        rm -f "$3" || return 1
    fi
    echo "$3"
}

# Existing sessions (this one included) keep going through sshd's reload; the module
# and core dump settings apply to what is loaded or started from now on.
bl_apply_files() { # release dir
    local file changed="" out
    for file in $BL_FILES; do
        out=$(bl_install "$1" "${file%%:*}" "${file#*:}") || return 1
        changed+=$out
    done
    if [[ "$changed" == */etc/ssh/* ]] && bl_have_sshd && [ -d /run/systemd/system ] \
        && systemctl --quiet is-active ssh.service; then
        systemctl reload ssh.service || return 1
    fi
    # journald reads its config only when it starts; a restart keeps the logs and loses
    # nothing a daemon writes meanwhile (its stream is held open by systemd).
    if [[ "$changed" == */journald.conf.d/* ]] && [ -d /run/systemd/system ]; then
        systemctl restart systemd-journald.service || return 1
    fi
}

role_validate() { # staged release dir
    local dir=$1 f nofile nr_open
    bl_check_sysctl "$dir/sysctl.conf" || return 1
    nft -c -f "$dir/nftables.conf" && bl_check_ssh_source "$dir/nftables.conf" || return 1
    bl_check_sshd "$dir" || return 1
    # systemd cannot start a unit whose LimitNOFILE exceeds the kernel's per-process ceiling.
    nr_open=$(cat "$(bl_sysctl_path fs.nr_open)") || return 1
    for f in "$dir"/systemd/*.d/"$BL_DROPIN"; do
        [ -e "$f" ] || continue
        nofile=$(sed -n 's/^LimitNOFILE=//p' "$f")
        [[ "$nofile" =~ ^[0-9]+$ ]] && [ "$nofile" -le "$nr_open" ] || {
            echo "$f: LimitNOFILE=$nofile must be a number no higher than fs.nr_open ($nr_open)" >&2
            return 1
        }
    done
}

role_activate() { # live release dir
    bl_load_modules && bl_apply_sysctl "$1/sysctl.conf" && bl_apply_limits "$1" && bl_apply_firewall "$1" && bl_apply_files "$1"
}

role_check() {
    nft list table inet nordfleet >/dev/null || return 1
    # A reloaded sshd re-executes itself and opens its listener again: on a busy VM that
    # takes seconds, so a missing listener is looked for again before it counts.
    local i
    for i in $(seq 60); do
        [ -n "$(ss -Hltn "sport = :$SSH_PORT")" ] && return 0
        sleep 1
    done
    echo "nothing listens on port $SSH_PORT (sshd) any more" >&2
    return 1
}
