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
# bind-dynamic picks them up). A name in the zone is answered with the hypervisor's
# address on the VLAN the question came from (localise-queries).
lab_dns() {
    local dir=$LAB_HOME/dns id records=""
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

# The backup identity: an access key limited to the backup bucket. The store's identity
# file and the key file the lab stack's config is set from are root-only.
lab_objects_identity() {
    local dir=$LAB_OBJECTS
    [ -f "$dir/backup-credentials.json" ] && return
    local id secret
    id=$(head -c 15 /dev/urandom | base32 | tr -d '=')
    secret=$(head -c 30 /dev/urandom | base64 | tr -d '=+/')
    (
        umask 077
        printf '{"accessKeyId": "%s", "secretAccessKey": "%s"}\n' "$id" "$secret" >"$dir/backup-credentials.json"
        cat >"$dir/identities.json" <<JSON
{
  "identities": [
    {
      "name": "nordfleet-backup",
      "credentials": [{ "accessKey": "$id", "secretKey": "$secret" }],
      "actions": ["Read:$LAB_BACKUP_BUCKET", "Write:$LAB_BACKUP_BUCKET", "List:$LAB_BACKUP_BUCKET", "Tagging:$LAB_BACKUP_BUCKET"]
    }
  ]
}
JSON
    )
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
            -s3.cert.file="$dir/tls/server.pem" -s3.key.file="$dir/tls/server.key" \
            </dev/null >>"$dir/weed.log" 2>&1 &
        echo $! >"$dir/weed.pid"
    fi
    local _
    for _ in $(seq 120); do
        in_ns curl -s -o /dev/null --cacert "$dir/tls/ca.pem" --resolve "$LAB_OBJECTS_NAME:443:127.0.0.1" \
            "https://$LAB_OBJECTS_NAME/" && break
        sleep 1
    done
    # Buckets are made by the store's administrator, not by the backup identity.
    echo "s3.bucket.create -name $LAB_BACKUP_BUCKET" |
        in_ns "$weed" shell -master=127.0.0.1:9333 -filer=127.0.0.1:8888 >>"$dir/weed.log" 2>&1
    in_ns "$weed" shell -master=127.0.0.1:9333 -filer=127.0.0.1:8888 <<<"s3.bucket.list" 2>/dev/null |
        grep -w "$LAB_BACKUP_BUCKET" >/dev/null || { echo "lab: the object store has no bucket $LAB_BACKUP_BUCKET (see $dir/weed.log)" >&2; return 1; }
}

lab_weed() { echo "$NORDFLEET_CACHE/seaweedfs-$NORDFLEET_SEAWEEDFS_VERSION/weed"; }
