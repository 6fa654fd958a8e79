#!/usr/bin/env bash
# Lints the pull-request workflow with actionlint (built by engine/setup.sh), which
# also runs shellcheck over every `run:` script in it, and checks that no test skips
# without saying why.
set -euo pipefail
cd "$(dirname "$0")/.."
. engine/env.sh

if ! command -v shellcheck >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck >/dev/null
fi
actionlint -shellcheck "$(command -v shellcheck)" .github/workflows/*.yml
echo "actionlint $(actionlint -version | head -n 1): .github/workflows clean"

# A test that cannot run on a machine says why (requireHost in test/hostNeeds.ts): no bare skip.
if grep -rnE '\b(describe|it)\.skip\b|\.skip\(\)' test --include='*.ts' | grep -v '^test/hostNeeds.ts:'; then
    echo "test/: skip through requireHost (test/hostNeeds.ts), which prints the reason" >&2
    exit 1
fi
echo "test/: every skip states its reason"

# lab/up and lab/down source the lab's scripts before the engine set-up installs the
# project's dependencies: on a fresh clone, sourcing them must need nothing from node_modules.
fresh=$(mktemp -d)
trap 'rm -rf "$fresh"' EXIT
git ls-files -z | tar --null -cf - -T - | tar -xf - -C "$fresh"
(cd "$fresh" && bash -c 'set -euo pipefail; for f in lab/lib.sh lab/image.sh lab/host.sh lab/zone.sh; do . "$f"; done')
echo "lab/: its scripts source on a fresh clone, before any npm install"
