# Starts a domain and waits for the guest it boots to answer SSH. A boot can stall (under
# software emulation, now and then, in the kernel before the network is up): a guest that
# does not answer within BOOT_TIMEOUT seconds is stopped and started once more, with the
# end of its console in the log; one that stays silent after that fails the step, its
# console's end in the error, and is left running for a look.
# Inputs (set by the caller above this line): NAME IMAGE_POOL GUEST_ADDRESS SSH_PORT BOOT_TIMEOUT
answers_ssh() {
    timeout 5 bash -c 'exec 3<>"/dev/tcp/$1/$2" && head -c 4 <&3' _ "$GUEST_ADDRESS" "$SSH_PORT" 2>/dev/null | grep -q '^SSH-'
}

wait_for_ssh() {
    local deadline=$(( SECONDS + BOOT_TIMEOUT ))
    while [ "$SECONDS" -lt "$deadline" ]; do
        answers_ssh && return 0
        sleep 2
    done
    return 1
}

console_end() {
    local log="$IMAGE_POOL/$NAME/console.log"
    if [ ! -s "$log" ]; then
        echo "nordfleet: $NAME's console is empty: it stalled before its kernel printed a line" >&2
        return 0
    fi
    echo "nordfleet: the last lines of $NAME's console:" >&2
    tail -n 25 "$log" | tr -d '\r' | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/^/  | /' >&2 || true
}

start_watched() {
    virsh -q start "$NAME" >/dev/null
    wait_for_ssh && return 0
    echo "nordfleet: $NAME did not answer SSH on $GUEST_ADDRESS:$SSH_PORT within ${BOOT_TIMEOUT}s of starting: starting it once more" >&2
    console_end
    virsh -q destroy "$NAME" >/dev/null 2>&1 || true
    virsh -q start "$NAME" >/dev/null
    wait_for_ssh && return 0
    echo "nordfleet: $NAME did not answer SSH within ${BOOT_TIMEOUT}s of a second start either; it is left running." \
        "Look at $IMAGE_POOL/$NAME/console.log on the hypervisor, or raise nordfleet:ssh.bootTimeout if it boots slowly" >&2
    console_end
    return 1
}
