# Undoes prepare.sh when the fleet leaves a hypervisor: the VLAN bridges and their
# 802.1Q sub-interfaces, and nordfleet's storage pool definitions. Runs after every
# domain of the fleet is removed; a bridge another domain still uses is left alone,
# and no volume is ever deleted here (protected data volumes stay in the NVMe pool).
# Inputs (set by the caller above this line): UPLINK VLANS
set -euo pipefail
in_use() { # bridge
    local dom
    for dom in $(virsh -q list --all --name); do
        virsh -q domiflist "$dom" 2>/dev/null | awk '{print $3}' | grep -qx "$1" && return 0
    done
    return 1
}
for vlan in $VLANS; do
    br="br${vlan%%:*}"
    ip link show "$br" >/dev/null 2>&1 || continue
    if in_use "$br"; then
        echo "nordfleet: $br is still used by a domain on $(hostname); left in place" >&2
        continue
    fi
    [ -n "$UPLINK" ] && ip link del "$UPLINK.${vlan%%:*}" 2>/dev/null || true
    ip link del "$br"
    echo "removed bridge $br"
done
for pool in nordfleet-images nordfleet-nvme; do
    virsh -q pool-destroy "$pool" >/dev/null 2>&1 || true
    virsh -q pool-undefine "$pool" >/dev/null 2>&1 || true
done
echo "released $(hostname)"
