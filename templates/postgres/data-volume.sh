#!/bin/bash
# data-volume.sh DEVICE MOUNTPOINT LABEL FSTAB
# Makes DEVICE (a data volume found by its serial) the filesystem at MOUNTPOINT: formats
# it ext4 only when it carries no signature at all (never reformats data), records it in
# FSTAB by UUID (nofail, so a missing volume cannot stop the boot), and mounts it.
# Anything else on the device stops here with a message; the device is left as it was.
set -euo pipefail
dev=$1 mount=$2 label=$3 fstab=$4
fail() { echo "data volume: $*" >&2; exit 1; }

for _ in $(seq 30); do [ -b "$dev" ] && break; sleep 1; done
[ -b "$dev" ] || fail "$dev not found"
rc=0
probe=$(blkid -p -o export "$dev") || rc=$?
if [ "$rc" -eq 2 ]; then
    mkfs.ext4 -q -L "$label" "$dev" || fail "mkfs.ext4 on $dev failed"
    probe=$(blkid -p -o export "$dev") || fail "no filesystem on $dev after mkfs"
elif [ "$rc" -ne 0 ]; then
    fail "blkid could not probe $dev (exit $rc); not touching it"
fi
fstype=$(printf '%s\n' "$probe" | sed -n 's/^TYPE=//p')
[ "$fstype" = ext4 ] || fail "$dev holds '${fstype:-$(printf '%s' "$probe" | tr '\n' ' ')}', not ext4; refusing to format or mount it"
uuid=$(printf '%s\n' "$probe" | sed -n 's/^UUID=//p')
line="UUID=$uuid $mount ext4 defaults,noatime,nofail 0 2"
touch "$fstab"
if ! grep -qxF "$line" "$fstab"; then
    grep -v "[[:space:]]${mount}[[:space:]]" "$fstab" >"$fstab.nordfleet" || true
    printf '%s\n' "$line" >>"$fstab.nordfleet"
    cat "$fstab.nordfleet" >"$fstab"
    rm -f "$fstab.nordfleet"
fi
install -d -m 0755 "$mount"
if ! mountpoint -q "$mount"; then
    mount --fstab "$fstab" "$mount" || fail "mounting $dev at $mount failed"
fi
[ "$(findmnt -n -o UUID --target "$mount")" = "$uuid" ] || fail "$mount is not the data volume $dev"
