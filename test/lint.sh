#!/usr/bin/env bash
# Lints the pull-request workflow with actionlint (built by engine/setup.sh), which
# also runs shellcheck over every `run:` script in it.
set -euo pipefail
cd "$(dirname "$0")/.."
. engine/env.sh

if ! command -v shellcheck >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck >/dev/null
fi
actionlint -shellcheck "$(command -v shellcheck)" .github/workflows/*.yml
echo "actionlint $(actionlint -version | head -n 1): .github/workflows clean"
