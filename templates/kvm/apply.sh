# Creates or updates one libvirt domain. Idempotent; never shrinks or reformats a volume.
# Inputs (set by the caller above this line): NAME IMAGE_POOL NVME_POOL BASE_IMAGE ROOT_GB
# DATA_DISKS ("name:sizeGb ..."), DOMAIN_XML USER_DATA USER_DATA_AFTER_BOOT META_DATA NETWORK_CONFIG
# RETIRE_SEED (base64), write_seed (seed.sh) and start_watched (boot-watch.sh).
set -euo pipefail
umask 077
dir="$IMAGE_POOL/$NAME"
mkdir -p "$dir"
# libvirt hands each file to the qemu user at start; that user must be able to pass through.
chmod 0711 "$dir"
overlay="$dir/os.qcow2"
[ -f "$overlay" ] || qemu-img create -q -f qcow2 -F qcow2 -b "$IMAGE_POOL/$BASE_IMAGE" "$overlay" "${ROOT_GB}G"

running() { [ "$(virsh -q domstate "$NAME" 2>/dev/null)" = running ]; }

for disk in $DATA_DISKS; do
    vol="$NVME_POOL/$NAME-${disk%%:*}.qcow2"
    want=$(( ${disk##*:} * 1024 * 1024 * 1024 ))
    if [ ! -f "$vol" ]; then
        qemu-img create -q -f qcow2 "$vol" "$want"
        continue
    fi
    have=$(qemu-img info --force-share --output=json "$vol" | sed -n 's/.*"virtual-size": *\([0-9]*\).*/\1/p')
    if [ "$want" -lt "$have" ]; then
        echo "nordfleet: $vol is $have bytes; shrinking to $want would lose data, so it is left as it is" >&2
        exit 1
    elif [ "$want" -gt "$have" ]; then
        if running; then virsh -q blockresize "$NAME" "$vol" "${want}B"; else qemu-img resize -q "$vol" "$want"; fi
    fi
done

# The host's private key rides in the seed only until the first boot has installed it:
# the script that then swaps the seed (retire-seed.sh) waits here for its command.
echo "$RETIRE_SEED" | base64 -d >"$dir/retire-seed.sh"
if [ -f "$dir/first-boot-done" ]; then
    write_seed "$USER_DATA_AFTER_BOOT"
else
    write_seed "$USER_DATA"
fi

echo "$DOMAIN_XML" | base64 -d >"$dir/domain.xml"
before=$(virsh -q dumpxml --inactive "$NAME" 2>/dev/null | sed -n 's/.*<\(vcpu\|memory\)[^>]*>\([0-9]*\)<.*/\1=\2/p' || true)
virsh -q define "$dir/domain.xml" >/dev/null
after=$(virsh -q dumpxml --inactive "$NAME" | sed -n 's/.*<\(vcpu\|memory\)[^>]*>\([0-9]*\)<.*/\1=\2/p')
virsh -q autostart "$NAME" >/dev/null

if running && [ -n "$before" ] && [ "$before" != "$after" ]; then
    # vCPU or memory changed: a graceful restart applies the new definition.
    virsh -q shutdown "$NAME" >/dev/null
    for _ in $(seq 120); do running || break; sleep 1; done
    running && virsh -q destroy "$NAME" >/dev/null
fi
running || start_watched
echo "defined $NAME"
