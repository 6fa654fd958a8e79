# Timed, labelled steps for the set-up scripts. Set STEP_LABEL before sourcing.
step_log() { printf '[%s] %s\n' "${STEP_LABEL:-nordfleet}" "$*"; }
step() { # name command...
    local name=$1 start=$SECONDS
    shift
    step_log "$name ..."
    "$@" || {
        local rc=$?
        step_log "$name: FAILED (exit $rc) after $((SECONDS - start)) s"
        return $rc
    }
    step_log "$name: done in $((SECONDS - start)) s"
}
