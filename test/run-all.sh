#!/usr/bin/env bash
# Sets up the engine (idempotent, cached) and runs every test: the unit tests under
# Pulumi mocks, then the tests that drive the real pulumi CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
bash engine/setup.sh
. engine/env.sh
npx tsc --noEmit
npx mocha
npx mocha --spec 'test/engine/**/*.test.ts' --timeout 900000
