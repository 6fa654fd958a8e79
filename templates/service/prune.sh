# Stops and removes the instances of one service that its config no longer names
# (a retired blue or green, or the plain instance once versions appear).
# Set above: SERVICE (the service's name), KEEP (space-separated instance names).
set -euo pipefail
changed=
for root in /etc/nordfleet/service-"$SERVICE" /etc/nordfleet/service-"$SERVICE"-*; do
    [ -d "$root" ] || continue
    # service-hello-blue may be version blue of hello or the service hello-blue: ask the tree.
    [ "$(cat "$root/current/service" 2>/dev/null)" = "$SERVICE" ] || continue
    instance=${root#/etc/nordfleet/service-}
    case " $KEEP " in *" $instance "*) continue ;; esac
    unit=nordfleet-$instance.service
    systemctl disable --now --quiet "$unit" 2>/dev/null || true
    rm -f "/etc/systemd/system/$unit"
    rm -rf "${root:?}"
    changed=1
    echo "nordfleet: retired $unit"
done
if [ -n "$changed" ]; then systemctl daemon-reload; fi
