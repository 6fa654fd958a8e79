#!/usr/bin/env bash
# Sets up the engine (idempotent, cached) and runs every test: the workflow lint, the
# unit tests under Pulumi mocks, the tests that drive the real pulumi CLI, and the tests against real
# VMs in the lab (set up by lab/up --no-fleet and removed again by lab/down).
set -euo pipefail
cd "$(dirname "$0")/.."
bash engine/setup.sh
. engine/env.sh

npx tsc --noEmit
bash test/lint.sh
npx mocha
npx mocha --no-config --require ts-node/register/transpile-only --extension ts --timeout 900000 'test/engine/**/*.test.ts'

trap 'bash lab/down' EXIT
bash lab/up --no-fleet
npx mocha --no-config --require ts-node/register/transpile-only --extension ts --timeout 1800000 'test/lab/**/*.test.ts'
