#!/usr/bin/env bash
# The lab fleet's lifecycle through the engine, on a deployed lab (bash lab/up): a
# no-change `pulumi up` that opens no SSH session, a volume and memory grown in place, a
# host removed (its protected volume kept), a `pulumi up` killed mid-create and the one
# after it, and `pulumi destroy`. It ends with the fleet destroyed.
set -euo pipefail
cd "$(dirname "$0")/.."
. engine/env.sh
ip netns exec nordfleet-lab npx mocha --no-config --require ts-node/register/transpile-only --extension ts \
    --timeout 3600000 test/lab/3-lifecycle.test.ts
