# Builds the lab's base image with debootstrap from Debian's packages. Guests have no
# network, so every package the fleet needs is baked in, with its service disabled:
# each role starts only what it needs. Cached by the hash of the recipe itself.
LAB_IMAGE_PACKAGES="systemd-sysv,udev,dbus,openssh-server,cloud-init,python3-cffi-backend,ifupdown,iproute2,\
linux-image-amd64,initramfs-tools,nftables,nginx-light,postgresql-15,rabbitmq-server,curl,ca-certificates,\
procps,less,netcat-openbsd,fio,dnsutils,dnsmasq,pgbackrest,python3-psycopg2,python3-pika"
LAB_IMAGE_DISABLED="nginx postgresql rabbitmq-server dnsmasq e2scrub_reap apt-daily.timer apt-daily-upgrade.timer"

# The Debian archive the image is built from: the lab stack's nordfleet:mirrors.apt when
# it declares one (as a prod stack does), else the first Debian archive of this
# machine's own apt sources (deb822 .sources files, then sources.list).
lab_debian_mirror() {
    local url
    url=$(node -e '
        const c = require("js-yaml").load(require("fs").readFileSync("Pulumi.lab.yaml", "utf8")).config;
        process.stdout.write(c["nordfleet:mirrors"]?.apt?.url ?? "");')
    if [ -z "$url" ]; then
        url=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null |
            grep -v -- '-security' | head -n 1 || true)
    fi
    if [ -z "$url" ]; then
        url=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' \
            /etc/apt/sources.list 2>/dev/null || true)
    fi
    if [ -z "$url" ]; then
        echo "no Debian mirror to build the lab image from: set nordfleet:mirrors.apt in Pulumi.lab.yaml," \
            "or give this machine a Debian source in /etc/apt/sources.list.d/" >&2
        return 1
    fi
    echo "$url"
}

lab_image_dir() {
    local key
    key=$( { echo "$LAB_IMAGE_PACKAGES $LAB_IMAGE_DISABLED consul-$NORDFLEET_CONSUL_VERSION"; declare -f lab_build_image; } |
        sha256sum | cut -c1-12)
    echo "$NORDFLEET_CACHE/lab-image-$key"
}

lab_build_image() {
    local out tmp rootfs mirror
    out=$(lab_image_dir)
    if [ -f "$out/root.qcow2" ]; then
        step_log "base image cached at $out"
        return
    fi
    mirror=$(lab_debian_mirror)
    tmp=$(mktemp -d "$NORDFLEET_CACHE/lab-image-build.XXXXXX")
    rootfs="$tmp/rootfs"
    step_log "building from $mirror"
    debootstrap --variant=minbase --include="$LAB_IMAGE_PACKAGES" bookworm "$rootfs" "$mirror" \
        >"$tmp/debootstrap.log" 2>&1 || { tail -n 30 "$tmp/debootstrap.log" >&2; return 1; }

    echo "LABEL=root / ext4 defaults,discard 0 1" >"$rootfs/etc/fstab"
    # Guests boot under software emulation, where every Python module cloud-init loads
    # costs seconds: only the modules the seed nordfleet writes uses.
    cat >"$rootfs/etc/cloud/cloud.cfg.d/90-nordfleet.cfg" <<'CFG'
datasource_list: [NoCloud, None]
cloud_init_modules: [write-files, resizefs, set_hostname, update_hostname, update_etc_hosts, users-groups, ssh]
cloud_config_modules: [locale, apt-configure, runcmd]
cloud_final_modules: [scripts-user, final-message]
CFG
    # And an initramfs with the root disk's drivers only (Debian's default carries most
    # modules: a 36 MB image to unpack and many drivers to probe, emulated), and the seed
    # CD-ROM's, so that its probe starts before the root is mounted.
    echo "MODULES=list" >"$rootfs/etc/initramfs-tools/conf.d/nordfleet.conf"
    printf '%s\n' virtio_pci virtio_blk crc32c_generic ext4 ahci sr_mod >>"$rootfs/etc/initramfs-tools/modules"
    # An emulated guest sharing two cores with six others has shown its SATA CD-ROM
    # minutes after cloud-init looked for the seed: cloud-init then found none, the guest
    # got no host key and sshd never started. cloud-init waits for the seed (every boot has
    # one: after the first, the seed without the private key), for as long as it takes.
    mkdir -p "$rootfs/etc/systemd/system/cloud-init-local.service.d" \
        "$rootfs/etc/systemd/system/dev-disk-by\\x2dlabel-cidata.device.d"
    printf '%s\n' "[Unit]" 'Wants=dev-disk-by\x2dlabel-cidata.device' 'After=dev-disk-by\x2dlabel-cidata.device' \
        >"$rootfs/etc/systemd/system/cloud-init-local.service.d/nordfleet-wait-for-seed.conf"
    printf '%s\n' "[Unit]" "JobRunningTimeoutSec=infinity" \
        >"$rootfs/etc/systemd/system/dev-disk-by\\x2dlabel-cidata.device.d/nordfleet-no-timeout.conf"
    chroot "$rootfs" update-initramfs -u -k all >/dev/null
    # Consul is not in Debian: the binary engine/setup.sh built, and its system user.
    install -m 0755 "$NORDFLEET_CACHE/consul-$NORDFLEET_CONSUL_VERSION/consul" "$rootfs/usr/local/bin/consul"
    chroot "$rootfs" useradd --system --home-dir /var/lib/consul --shell /usr/sbin/nologin consul
    install -d -o "$(chroot "$rootfs" id -u consul)" -g "$(chroot "$rootfs" id -g consul)" -m 0750 "$rootfs/var/lib/consul"
    for svc in $LAB_IMAGE_DISABLED; do
        chroot "$rootfs" systemctl disable "$svc" >/dev/null 2>&1 || true
    done
    # No host key in the image: every guest gets the one nordfleet generated for it.
    rm -f "$rootfs"/etc/ssh/ssh_host_*
    rm -f "$rootfs/etc/machine-id" && touch "$rootfs/etc/machine-id"
    chroot "$rootfs" apt-get clean

    mkdir -p "$out.partial"
    cp "$rootfs"/boot/vmlinuz-* "$out.partial/vmlinuz"
    cp "$rootfs"/boot/initrd.img-* "$out.partial/initrd.img"
    mkfs.ext4 -q -L root -d "$rootfs" "$tmp/root.raw" 6G
    qemu-img convert -O qcow2 "$tmp/root.raw" "$out.partial/root.qcow2"
    rm -rf "$tmp" "$out"
    mv "$out.partial" "$out"
    step_log "base image built at $out ($(du -sh "$out" | cut -f1))"
}
