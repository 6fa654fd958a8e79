# Stops and removes the instances of one service that its config no longer names
# (a retired blue or green, or the plain instance once versions appear).
# Set above: SERVICE (the service's name), KEEP (space-separated instance names), and
# nf_service_instances (instances.sh).
set -euo pipefail
changed=
for root in $(nf_service_instances /etc/nordfleet "$SERVICE"); do
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
