# write_seed USER_DATA_BASE64: (re)writes the guest's NoCloud seed, $dir/seed.iso, in one
# move. Uses NAME, IMAGE_POOL, META_DATA and NETWORK_CONFIG (base64) set above.
write_seed() {
    local dir="$IMAGE_POOL/$NAME" seed
    seed=$(mktemp -d "$dir/seed.XXXXXX")
    echo "$1" | base64 -d >"$seed/user-data"
    echo "$META_DATA" | base64 -d >"$seed/meta-data"
    echo "$NETWORK_CONFIG" | base64 -d >"$seed/network-config"
    genisoimage -quiet -output "$dir/seed.iso.new" -volid cidata -joliet -rock \
        "$seed/user-data" "$seed/meta-data" "$seed/network-config"
    rm -rf "$seed"
    mv "$dir/seed.iso.new" "$dir/seed.iso"
}
