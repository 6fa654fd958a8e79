"""Moves a running Consul cluster to its release's secrets, on the first server.

    secrets.py use-key   install the release's gossip key on every member and make it
                         the one they encrypt with (nothing to do when it already is)
    secrets.py retire    delete the ACL tokens nordfleet made whose secret the release
                         no longer holds, and every gossip key but the release's

A rotation runs in three steps, so no member ever holds a secret the cluster has
stopped accepting: the first server's release creates the new tokens beside the old
ones and adds the new gossip key (`use-key`); every member's release switches to them;
then `retire` removes the old ones. Talks to the local agent's HTTPS API with the
management token; prints accessor ids and counts, never a secret.
"""
import glob
import json
import os
import ssl
import sys
import urllib.error
import urllib.request

RELEASE = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
API = "https://127.0.0.1:8501"
NORDFLEET_TOKEN = "nordfleet: "
INITIAL_MANAGEMENT = "Initial Management Token"


def read(path):
    with open(os.path.join(RELEASE, path)) as f:
        return f.read().strip()


def api(method, path, body=None):
    context = ssl.create_default_context(cafile=os.path.join(RELEASE, "tls/ca.pem"))
    context.load_cert_chain(os.path.join(RELEASE, "tls/agent.pem"), os.path.join(RELEASE, "tls/agent-key.pem"))
    request = urllib.request.Request(API + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"X-Consul-Token": read("acl/management.token")})
    with urllib.request.urlopen(request, context=context, timeout=120) as response:
        text = response.read()
    return json.loads(text) if text else None


def release_key():
    return json.loads(read("keyring/primary.json"))["Key"]


def use_key():
    key = release_key()
    rings = api("GET", "/v1/operator/keyring")
    if any(key not in ring["Keys"] for ring in rings):
        api("POST", "/v1/operator/keyring", {"Key": key})
        print("consul: gossip key of this release installed on every member")
    if any(set(ring["PrimaryKeys"]) != {key} for ring in rings):
        api("PUT", "/v1/operator/keyring", {"Key": key})
        print("consul: every member encrypts gossip with this release's key")


def retire():
    keep = {read("acl/management.token")}
    keep.update(read(os.path.relpath(p, RELEASE)) for p in glob.glob(os.path.join(RELEASE, "acl/seed/*.secret")))
    retired = 0
    for token in api("GET", "/v1/acl/tokens"):
        ours = token["Description"].startswith(NORDFLEET_TOKEN) or token["Description"] == INITIAL_MANAGEMENT
        if ours and token["SecretID"] not in keep:
            api("DELETE", "/v1/acl/token/" + token["AccessorID"])
            print("consul: retired ACL token %s (%s)" % (token["AccessorID"], token["Description"]))
            retired += 1
    key = release_key()
    old_keys = {k for ring in api("GET", "/v1/operator/keyring") for k in ring["Keys"] if k != key}
    for old in old_keys:
        api("DELETE", "/v1/operator/keyring", {"Key": old})
    print("consul: %d ACL tokens and %d gossip keys retired" % (retired, len(old_keys)))


if __name__ == "__main__":
    commands = {"use-key": use_key, "retire": retire}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        sys.stderr.write("usage: secrets.py use-key|retire\n")
        sys.exit(2)
    try:
        commands[sys.argv[1]]()
    except urllib.error.HTTPError as e:
        sys.stderr.write("consul: %s %s: %s\n" % (e.code, e.reason, e.read().decode(errors="replace").strip()))
        sys.exit(1)
