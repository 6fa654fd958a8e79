# Run once the guest's first boot is done (its host key installed): swaps the seed for
# one without the host's private key and has qemu open the new file, so the old one's
# bytes leave the disk. The instance id stays, so later boots do not run cloud-init's
# first-boot steps again. Later runs of the apply script write this seed too.
# Inputs (set by the caller above this line): NAME IMAGE_POOL USER_DATA_AFTER_BOOT
# META_DATA NETWORK_CONFIG (base64).
set -euo pipefail
umask 077
write_seed "$USER_DATA_AFTER_BOOT"
touch "$IMAGE_POOL/$NAME/first-boot-done"
if [ "$(virsh -q domstate "$NAME" 2>/dev/null)" = running ]; then
    # Ejecting closes the old file (an update to the same path would leave it open); it
    # is forced, since a guest kernel keeps the tray of a drive it has read locked.
    virsh -q change-media "$NAME" sda --eject --live --force >/dev/null
    virsh -q change-media "$NAME" sda "$IMAGE_POOL/$NAME/seed.iso" --insert --live >/dev/null
fi
echo "retired the first-boot seed of $NAME"
