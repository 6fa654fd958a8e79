# Removes one libvirt domain with its overlay and seed. Data volumes are kept when
# PROTECTED_DISKS names them, and the kept ones are listed.
# Inputs (set by the caller above this line): NAME IMAGE_POOL NVME_POOL DATA_DISKS PROTECTED_DISKS
# LEDGER (the folder of the guest's release records, which go with it)
set -euo pipefail
if virsh -q dominfo "$NAME" >/dev/null 2>&1; then
    virsh -q destroy "$NAME" >/dev/null 2>&1 || true
    virsh -q undefine "$NAME" --nvram >/dev/null 2>&1 || virsh -q undefine "$NAME" >/dev/null
fi
rm -rf "${IMAGE_POOL:?}/$NAME" "${LEDGER:?}"
for disk in $DATA_DISKS; do
    vol="$NVME_POOL/$NAME-${disk%%:*}.qcow2"
    case " $PROTECTED_DISKS " in
        *" ${disk%%:*} "*) [ -f "$vol" ] && echo "kept protected volume $vol" ;;
        *) rm -f "$vol" ;;
    esac
done
echo "removed $NAME"
