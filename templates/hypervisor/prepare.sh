# Prepares a hypervisor for nordfleet. Idempotent: every step checks before it acts.
# Inputs (set by the caller above this line): IMAGE_POOL NVME_POOL BASE_IMAGE UPLINK
# VLANS ("id:address/prefix ..."; the address is the hypervisor's own on that VLAN)
set -euo pipefail

need() { command -v "$1" >/dev/null || { echo "nordfleet: $1 is missing on $(hostname); install $2" >&2; exit 1; }; }
need virsh libvirt-clients
need qemu-img qemu-utils
need genisoimage genisoimage
need ip iproute2

virsh -c qemu:///system version >/dev/null || { echo "nordfleet: libvirtd does not answer on $(hostname)" >&2; exit 1; }

define_pool() { # name path
    mkdir -p "$2"
    if ! virsh -q pool-info "$1" >/dev/null 2>&1; then
        virsh -q pool-define-as "$1" dir --target "$2" >/dev/null
        virsh -q pool-autostart "$1" >/dev/null
    fi
    case "$(virsh -q pool-info "$1")" in
        *"State:"*running*) ;;
        *) virsh -q pool-start "$1" >/dev/null ;;
    esac
}
define_pool nordfleet-images "$IMAGE_POOL"
define_pool nordfleet-nvme "$NVME_POOL"

# One bridge per VLAN. With an uplink, the bridge sits on the uplink's 802.1Q
# sub-interface; without one (a host-only lab) the bridge alone is the VLAN. The
# hypervisor's own address on each bridge makes it the jump host to that VLAN; it
# forwards nothing between VLANs.
[ "$(cat /proc/sys/net/ipv4/ip_forward)" = 0 ] ||
    echo "nordfleet: warning: ip_forward is on on $(hostname); VLANs stay apart only at layer 2" >&2
for vlan in $VLANS; do
    id=${vlan%%:*}
    addr=${vlan#*:}
    br="br$id"
    ip link show "$br" >/dev/null 2>&1 || ip link add "$br" type bridge
    if [ -n "$UPLINK" ]; then
        ip link show "$UPLINK.$id" >/dev/null 2>&1 || ip link add link "$UPLINK" name "$UPLINK.$id" type vlan id "$id"
        ip link set "$UPLINK.$id" master "$br" up
    fi
    case "$(ip -o addr show dev "$br")" in
        *" $addr "*) ;;
        *) ip addr add "$addr" dev "$br" ;;
    esac
    ip link set "$br" up
done

[ -f "$IMAGE_POOL/$BASE_IMAGE" ] || { echo "nordfleet: base image $IMAGE_POOL/$BASE_IMAGE is missing on $(hostname)" >&2; exit 1; }
echo "ready $(hostname)"
