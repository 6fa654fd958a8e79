# Runs on one guest for the doctor (python3 is on every nordfleet image for cloud-init).
# Reads nothing but its argument; prints one JSON object. Writes only fio's own test
# file inside a mounted data volume, removed again by fio (--unlink).
import hashlib
import json
import os
import socket
import ssl
import subprocess
import sys
import time

args = json.loads(sys.argv[1])
out = {"time": time.time()}


def cpu_times():
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:9]]


before = cpu_times()
time.sleep(1)
delta = [b - a for a, b in zip(before, cpu_times())]
out["stealPct"] = 100.0 * delta[7] / sum(delta) if sum(delta) else 0.0

try:
    out["ntpSynchronized"] = subprocess.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
                                            capture_output=True, text=True, timeout=10).stdout.strip() or "unknown"
except (OSError, subprocess.TimeoutExpired):
    out["ntpSynchronized"] = "unknown"

# Consul's gossip port: the one port every VM opens to its whole VLAN (sshd admits only
# the hypervisor).
PEER_PORT = 8301
latency = {}
for peer in args["peers"]:
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        try:
            socket.create_connection((peer, PEER_PORT), timeout=2).close()
            samples.append((time.perf_counter() - started) * 1000)
        except OSError:
            pass
    latency[peer] = sorted(samples)[len(samples) // 2] if samples else None
out["latencyMs"] = latency

volumes = {}
for serial in args["serials"]:
    dev = os.path.realpath("/dev/disk/by-id/virtio-" + serial)
    if not os.path.exists(dev):
        volumes[serial] = {"state": "missing"}
        continue
    mount = subprocess.run(["findmnt", "-n", "-o", "TARGET", "--source", dev],
                           capture_output=True, text=True).stdout.split("\n")[0]
    if not mount:
        volumes[serial] = {"state": "unmounted"}
        continue
    fio = subprocess.run(["fio", "--name=nordfleet-doctor", "--directory=" + mount, "--size=16M", "--rw=randwrite",
                          "--bs=4k", "--direct=1", "--ioengine=psync", "--runtime=3", "--time_based", "--unlink=1",
                          "--output-format=json"], capture_output=True, text=True, timeout=120)
    write = json.loads(fio.stdout)["jobs"][0]["write"]
    volumes[serial] = {"state": "measured", "mount": mount, "iops": write["iops"],
                       "latencyMs": write["lat_ns"]["mean"] / 1e6}
out["volumes"] = volumes

def not_after(pem):
    """When the first certificate in a PEM file expires (seconds since the epoch), as openssl reads it."""
    try:
        r = subprocess.run(["openssl", "x509", "-noout", "-enddate"], input=pem, capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"error": str(e)}
    text = r.stdout.decode(errors="replace").strip()
    if r.returncode != 0 or not text.startswith("notAfter="):
        return {"error": (r.stderr.decode(errors="replace") or text).strip()[-200:]}
    return {"notAfter": ssl.cert_time_to_seconds(text[len("notAfter="):])}


files = {}
certificates = {}
for path in args["files"]:
    try:
        with open(path, "rb") as f:
            content = f.read()
    except OSError:
        files[path] = None
        continue
    files[path] = hashlib.sha256(content).hexdigest()
    if content.startswith(b"-----BEGIN CERTIFICATE-----"):
        certificates[path] = not_after(content)
out["fileSha256"] = files
out["certificates"] = certificates



def postgres_state(conf):
    """WAL archiving and the last backup of this host's cluster, as PostgreSQL and pgBackRest see them."""
    def run(argv, timeout=30):
        try:
            return subprocess.run(["runuser", "-u", "postgres", "--"] + argv, capture_output=True, text=True,
                                  timeout=timeout, cwd="/")
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(argv, 124, "", "%s did not answer within %d s" % (argv[0], timeout))
    state = {}
    sql = ("select archived_count, failed_count, coalesce(extract(epoch from last_archived_time), 0), "
           "coalesce(extract(epoch from last_failed_time), 0), coalesce(last_failed_wal, ''), "
           "(select coalesce(sum(size), 0) from pg_ls_waldir()) from pg_stat_archiver")
    r = run(["psql", "-X", "-A", "-t", "-F", "|", "-h", "/run/postgresql", "-d", "postgres", "-c", sql])
    if r.returncode == 0 and r.stdout.strip():
        archived, failed, last_archived, last_failed, failed_wal, wal_bytes = r.stdout.strip().split("|")
        state["archiver"] = {"archived": int(archived), "failed": int(failed), "lastArchived": float(last_archived),
                             "lastFailed": float(last_failed), "lastFailedWal": failed_wal, "walBytes": int(wal_bytes)}
    else:
        state["archiver"] = {"error": (r.stderr or r.stdout).strip()[-300:]}
    # A repository that does not answer (the store cut off) is a finding, not a hang.
    r = run(["pgbackrest", "--config=" + conf, "--io-timeout=10", "info", "--output=json"])
    try:
        backups = [b for stanza in json.loads(r.stdout) for b in stanza.get("backup", [])]
        last = max(backups, key=lambda b: b["timestamp"]["stop"]) if backups else None
        state["lastBackup"] = {"stop": last["timestamp"]["stop"], "type": last["type"]} if last else None
    except (ValueError, KeyError, TypeError):
        state["lastBackup"] = {"error": (r.stderr or r.stdout).strip()[-300:]}
    return state


if args.get("postgres"):
    out["postgres"] = postgres_state(args["postgres"])

print(json.dumps(out))
