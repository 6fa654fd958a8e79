# The lab's stand-ins for what a prod site runs beside its hypervisors, so that the lab
# takes prod's path: a DNS resolver for the guests (a zone of its own, every other name
# refused: the lab has no internet to forward to) and an S3 object store reached by
# name over TLS, which holds pgBackRest's repository. Both run in the lab namespace.

# The VLAN ids of the lab stack: the hypervisor's address on each one's bridge answers
# the guests on that VLAN.
lab_vlan_ids() {
    node -e '
        const yaml = require("js-yaml");
        const doc = yaml.load(require("fs").readFileSync("Pulumi.lab.yaml", "utf8"));
        console.log(doc.config["nordfleet:vlans"].map(v => v.id).join(" "));'
}

# dnsmasq on every VLAN bridge (they appear when `pulumi up` prepares the hypervisor:
# bind-dynamic picks them up) and on the management bridge, where the lab's own
# processes ask: the engine finds the state store by name before any VLAN exists. A name
# in the zone is answered with the hypervisor's address on the bridge the question came
# from (localise-queries). Every process the lab runs in its namespace (`ip netns exec`)
# gets this resolver as its resolv.conf.
lab_dns() {
    local dir=$LAB_HOME/dns id records="interface-name=$LAB_OBJECTS_NAME,$LAB_MGMT_IF/4
"
    mkdir -p "$dir"
    for id in $(lab_vlan_ids); do
        records+="interface-name=$LAB_OBJECTS_NAME,br$id/4
interface-name=hv.$LAB_ZONE,br$id/4
"
    done
    cat >"$dir/dnsmasq.conf.new" <<CONF
# The lab's resolver (lab/zone.sh): the guests' upstream for every name outside .consul.
port=53
interface=br*
interface=$LAB_MGMT_IF
bind-dynamic
no-resolv
no-hosts
no-poll
domain-needed
# The zone is this resolver's own: a name in it that is not listed is NXDOMAIN, and
# every other name is refused rather than forwarded (the lab reaches no other resolver).
local=/$LAB_ZONE/
localise-queries
$records
log-facility=$dir/dnsmasq.log
pid-file=$dir/dnsmasq.pid
CONF
    if ! cmp -s "$dir/dnsmasq.conf.new" "$dir/dnsmasq.conf" || ! lab_running "$dir/dnsmasq.pid"; then
        mv "$dir/dnsmasq.conf.new" "$dir/dnsmasq.conf"
        dnsmasq --test --conf-file="$dir/dnsmasq.conf" >/dev/null
        lab_running "$dir/dnsmasq.pid" && kill "$(cat "$dir/dnsmasq.pid")" && sleep 1
        in_ns dnsmasq --conf-file="$dir/dnsmasq.conf"
    fi
    rm -f "$dir/dnsmasq.conf.new"
    mkdir -p "/etc/netns/$LAB_NS"
    echo "nameserver $LAB_ADDR" >"/etc/netns/$LAB_NS/resolv.conf"
}

lab_running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# A CA of the lab's own and the store's certificate for its name: guests check it as
# they would prod's (nordfleet:backup.caFile names the CA).
lab_objects_tls() {
    local dir=$LAB_OBJECTS
    [ -f "$dir/tls/server.pem" ] && return
    mkdir -p "$dir/tls" && chmod 700 "$dir"
    (
        cd "$dir/tls"
        openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout ca.key -out ca.pem \
            -days 3650 -subj "/O=nordfleet lab/CN=nordfleet lab object store CA" 2>/dev/null
        openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout server.key -out server.csr \
            -subj "/CN=$LAB_OBJECTS_NAME" 2>/dev/null
        printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\n' "$LAB_OBJECTS_NAME" >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 -extfile server.ext \
            -out server.pem 2>/dev/null
        rm -f server.csr server.ext ca.srl ca.key
        chmod 600 server.key
    )
}

# The store's identities, each an access key limited to one bucket: the backups' (the
# lab stack's secret config is set from it), the state's (the engine reads and writes the
# lab stack's state with it) and a reader of the state (what a pull request's preview
# holds: it can read the state and not write it). The keys live in root-only files, the
# state's two also as AWS shared credentials files, which the engine reads by name: a
# key never stands in a command line or an environment variable.
lab_objects_identity() {
    local dir=$LAB_OBJECTS name
    (
        umask 077
        for name in backup state state-reader; do
            [ -f "$dir/$name-credentials.json" ] && continue
            printf '{"accessKeyId": "%s", "secretAccessKey": "%s"}\n' "$(head -c 15 /dev/urandom | base32 | tr -d '=')" \
                "$(head -c 30 /dev/urandom | base64 | tr -d '=+/')" >"$dir/$name-credentials.json"
        done
        node -e '
            const fs = require("fs");
            const [dir, backups, state] = process.argv.slice(1);
            const key = name => JSON.parse(fs.readFileSync(`${dir}/${name}-credentials.json`, "utf8"));
            const identity = (name, actions) => ({ name: `nordfleet-${name}`,
                credentials: [{ accessKey: key(name).accessKeyId, secretKey: key(name).secretAccessKey }], actions });
            const all = bucket => ["Read", "Write", "List", "Tagging"].map(a => `${a}:${bucket}`);
            fs.writeFileSync(`${dir}/identities.json.new`, JSON.stringify({ identities: [
                identity("backup", all(backups)), identity("state", all(state)),
                identity("state-reader", [`Read:${state}`, `List:${state}`]),
            ] }, null, 2) + "\n");
            for (const name of ["state", "state-reader"]) {
                fs.writeFileSync(`${dir}/${name}-credentials.ini`,
                    `[default]\naws_access_key_id = ${key(name).accessKeyId}\naws_secret_access_key = ${key(name).secretAccessKey}\n`);
            }' "$dir" "$LAB_BACKUP_BUCKET" "$LAB_STATE_BUCKET"
    )
    if ! cmp -s "$dir/identities.json.new" "$dir/identities.json"; then
        mv "$dir/identities.json.new" "$dir/identities.json"
        # The store reads its identities when it starts.
        if lab_running "$dir/weed.pid"; then
            kill "$(cat "$dir/weed.pid")"
            while lab_running "$dir/weed.pid"; do sleep 1; done
        fi
    fi
    rm -f "$dir/identities.json.new"
}

# SeaweedFS (master, volume, filer and S3 gateway in one process), its data under the
# lab's var folder, its internal ports on loopback, S3 over TLS on port 443 of every
# address in the namespace (and the S3 gateway's gRPC port beside it), no Iceberg or
# Lance catalogue.
lab_objects() {
    local dir=$LAB_OBJECTS weed
    weed=$(lab_weed)
    lab_objects_tls
    lab_objects_identity
    mkdir -p "$LAB_VAR/objects"
    if ! lab_running "$dir/weed.pid"; then
        in_ns setsid "$weed" server -dir="$LAB_VAR/objects" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
            -master.volumeSizeLimitMB=256 -volume.max=16 -filer \
            -s3 -s3.port=443 -s3.ip.bind=0.0.0.0 -s3.port.iceberg=0 -s3.port.lance=0 -s3.config="$dir/identities.json" \
            -s3.cert.file="$dir/tls/server.pem" -s3.key.file="$dir/tls/server.key" -metricsPort=$LAB_OBJECTS_METRICS_PORT \
            </dev/null >>"$dir/weed.log" 2>&1 &
        echo $! >"$dir/weed.pid"
    fi
    local _
    for _ in $(seq 120); do
        in_ns curl -s -o /dev/null --cacert "$dir/tls/ca.pem" --resolve "$LAB_OBJECTS_NAME:443:127.0.0.1" \
            "https://$LAB_OBJECTS_NAME/" && break
        sleep 1
    done
    # Buckets are made by the store's administrator, not by the identities that use them.
    local bucket
    for bucket in "$LAB_BACKUP_BUCKET" "$LAB_STATE_BUCKET"; do
        echo "s3.bucket.create -name $bucket" |
            in_ns "$weed" shell -master=127.0.0.1:9333 -filer=127.0.0.1:8888 >>"$dir/weed.log" 2>&1
        in_ns "$weed" shell -master=127.0.0.1:9333 -filer=127.0.0.1:8888 <<<"s3.bucket.list" 2>/dev/null |
            grep -w "$bucket" >/dev/null || { echo "lab: the object store has no bucket $bucket (see $dir/weed.log)" >&2; return 1; }
    done
}

lab_weed() { echo "$NORDFLEET_CACHE/seaweedfs-$NORDFLEET_SEAWEEDFS_VERSION/weed"; }

# The bytes the store has received into BUCKET since it started (its Prometheus counter,
# on loopback in the namespace): what the engine uploaded of the lab stack's state.
lab_bucket_received_bytes() { # bucket
    { in_ns curl -fsS "http://127.0.0.1:$LAB_OBJECTS_METRICS_PORT/metrics" 2>/dev/null || true; } |
        awk -v b="bucket=\"$1\"" '/^SeaweedFS_s3_bucket_traffic_received_bytes_total/ && index($0, b) { n = $2 } END { printf "%d\n", n }'
}
