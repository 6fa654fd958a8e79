#!/usr/bin/env bash
# Sets up the engine (idempotent, cached) and runs every test: the workflow lint, the
# unit tests under Pulumi mocks (with the real nginx, nft, consul and PostgreSQL
# checks of what they render), the tests that drive the real pulumi CLI, and the tests
# against the lab fleet, which lab/up deploys with a real `pulumi up` and lab/down
# removes again (with `pulumi destroy`). The lab suites run in order: the fleet, then the
# platform on it. test/lab/3-lifecycle.test.ts (no-change up, in-place growth, host
# removal, a killed up, destroy) is run on its own: `bash test/lab-lifecycle.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash engine/setup.sh
. engine/env.sh
bash test/host-packages.sh

npx tsc --noEmit
bash test/lint.sh
# The host tests of PostgreSQL and RabbitMQ run real servers: enabled here, where nothing else runs them at once.
NORDFLEET_HOST_TESTS=data npx mocha
npx mocha --no-config --require ts-node/register/transpile-only --extension ts --timeout 900000 'test/engine/**/*.test.ts'

trap 'bash lab/down' EXIT
bash lab/up
# Inside the lab namespace: the tests reach the lab's addresses and nothing else.
ip netns exec nordfleet-lab npx mocha --no-config --require ts-node/register/transpile-only --extension ts \
    --timeout 3600000 test/lab/1-fleet.test.ts test/lab/2-platform.test.ts
