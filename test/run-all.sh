#!/usr/bin/env bash
# Sets up the engine (idempotent, cached) and runs every test: the workflow lint, the
# pull-request workflow's own test step as a user that is not root (the unit tests under
# Pulumi mocks and the tests that drive the real pulumi CLI), then as root the host tests
# that need it (the real nginx, nft, consul, PostgreSQL and RabbitMQ), and the tests
# against the lab fleet, which lab/up deploys with a real `pulumi up` and lab/down
# removes again (with `pulumi destroy`). Before the lab, the corpus of broken configs
# goes through the real pulumi preview. The lab suites run in order on one fleet: the
# fleet, the platform on it, the reliability suite (secrets sweep, scans but lynis, exposure,
# faults, load with change), then its lifecycle (no-change up, in-place growth, host removal,
# a killed up, destroy).
#
# The stages run one after another: the emulated guests take both cores while they boot,
# so tests run beside them only get slower, and a host test's timeout is then a guess.
#
# Each stage's output is also kept in $NORDFLEET_TEST_LOGS; the last lines printed are a
# table of the stages and, for one that failed, the part of its log that says why.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
    -h|--help)
        cat <<'USAGE'
usage: npm test

Sets up the engine and the host packages (once, cached), then runs every stage in
order: the workflow lint, the workflow's test step as a user that is not root (tsc,
the unit tests, the engine tests), the host tests that need root, the broken configs
through a real preview, lab/up, the lab suites, and lab/down. Takes no arguments; the
last lines printed are a table of the stages. Stage logs go to $NORDFLEET_TEST_LOGS
(a new temporary folder without it).

One suite alone:  npx mocha test/FILE.test.ts          (unit, under mocks)
As the workflow:  bash test/workflow-as-non-root.sh    (as root; switches to nobody)
Host tests:       NORDFLEET_HOST_TESTS=all npx mocha --grep '\(as root\)'
The lab suites:   bash lab/up, then npm run test:reliability, then bash lab/down
USAGE
        exit 0 ;;
    "") ;;
    *) echo "npm test takes no arguments (npm test -- --help)" >&2; exit 2 ;;
esac
LOGS=${NORDFLEET_TEST_LOGS:-$(mktemp -d -t nordfleet-tests.XXXXXX)}
mkdir -p "$LOGS"
SUMMARY=()
FAILED=""

stage() { # name command...
    local name=$1 start=$SECONDS rc=0
    shift
    echo "[tests] $name ..."
    "$@" 2>&1 | tee "$LOGS/$name.log" || rc=${PIPESTATUS[0]}
    SUMMARY+=("$(printf '%-14s %-6s %5d s' "$name" "$([ $rc = 0 ] && echo ok || echo FAILED)" $((SECONDS - start)))")
    # Printed as it ends too, so a run stopped from outside still shows where the time went.
    echo "[tests] $name: $([ $rc = 0 ] && echo ok || echo FAILED) in $((SECONDS - start)) s ($SECONDS s since the start)"
    if [ $rc != 0 ]; then
        FAILED=$name
        exit $rc
    fi
}

report() {
    local rc=$?
    if [ -n "${LAB_UP:-}" ]; then
        echo "[tests] lab/down (log: $LOGS/lab-down.log)"
        bash lab/down >"$LOGS/lab-down.log" 2>&1 || { echo "[tests] lab/down FAILED:"; tail -n 30 "$LOGS/lab-down.log"; rc=1; }
        # The lab keeps its stack outside the working tree: nothing it did shows in git.
        if [ -n "$(git status --porcelain)" ]; then
            echo "[tests] the lab left the working tree changed:"
            git status --porcelain
            rc=1
        else
            SUMMARY+=("$(printf '%-14s %-6s' "git status" clean)")
        fi
    fi
    if [ -n "$FAILED" ]; then
        echo
        echo "[tests] why '$FAILED' failed (from $LOGS/$FAILED.log):"
        # A mocha run's own failure report, else the end of the log.
        if grep -q '^  [0-9]* failing' "$LOGS/$FAILED.log"; then
            sed -n '/^  [0-9]* failing/,$p' "$LOGS/$FAILED.log" | head -n 120
        else
            tail -n 60 "$LOGS/$FAILED.log"
        fi
    fi
    echo
    echo "[tests] stage          result  time"
    printf '[tests] %s\n' "${SUMMARY[@]}"
    exit $rc
}
trap report EXIT

stage engine bash engine/setup.sh
. engine/env.sh
stage host-packages bash test/host-packages.sh
stage lint bash test/lint.sh

# The pull-request workflow's test step (tsc, the unit tests, the engine tests) exactly as
# the workflow has it, as a user that is not root, as GitHub's runners run it: the tests
# that need root skip there, each saying why.
stage workflow-tests bash test/workflow-as-non-root.sh
# Those tests as root, where none may skip: the real nginx, nft, consul, PostgreSQL and RabbitMQ.
stage host-tests env NORDFLEET_HOST_TESTS=all npx mocha --grep '\(as root\)'
# The broken stack configs through the real pulumi preview: needs the engine, not the lab.
stage bad-input npx mocha --no-config --require ts-node/register/transpile-only --extension ts --timeout 1800000 \
    test/reliability/bad-input.test.ts

# From here on the lab exists (or half of it, if lab/up fails): report() removes it.
LAB_UP=yes
stage lab-up bash lab/up
# The README promises a second run reuses everything and takes seconds: it must also pass.
stage lab-up-again bash lab/up
# Inside the lab namespace: the tests reach the lab's addresses and nothing else.
lab_suite() {
    ip netns exec nordfleet-lab npx mocha --no-config --require ts-node/register/transpile-only --extension ts \
        --timeout 3600000 "$@"
}
stage lab-fleet lab_suite test/lab/1-fleet.test.ts
# What the lab stack's state holds, per VM: the figure docs/benchmarks.md reports.
stage lab-state-size npm run --silent bench:state
# The team's workflow on the state store the lab stack lives in: locks, a killed run, a read-only key.
stage lab-state lab_suite test/lab/state-store.test.ts
stage lab-platform lab_suite test/lab/2-platform.test.ts
# The reliability suite on the same fleet: every secret of the stack searched for where it
# must not be, the scans, the exposure matrix, then faults, each followed by a look at
# what it must not have cost. The lifecycle comes last: it ends with the fleet destroyed.
stage lab-secrets lab_suite test/reliability/secrets.test.ts
# lynis is left out here: one audit of an emulated guest takes about half an hour.
stage lab-scans lab_suite --grep lynis --invert test/reliability/scans.test.ts
stage lab-exposure lab_suite test/reliability/exposure.test.ts
stage lab-faults lab_suite test/reliability/faults.test.ts
# 200 connections through the gateway while a pulumi up splits a route's traffic. On
# emulated replicas requests queue for seconds: the test asks for every one answered
# with a 2xx, not for a latency, which says more about the emulator than the gateway.
stage lab-load lab_suite test/reliability/load-change.test.ts
stage lab-lifecycle lab_suite test/lab/3-lifecycle.test.ts
