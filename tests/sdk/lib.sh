# Shell helpers shared by the outside-party suites (tests/sdk/oauth/run.sh, tests/sdk/saml/run.sh);
# sourced, not run. Defines free_port, wait_up and the PIDS array that the EXIT trap cleans up.

# A free TCP port on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_up URL PID: until URL answers (true), PID exits or a minute passes (false).
wait_up() {
    for _ in $(seq 1 300); do
        kill -0 "$2" 2>/dev/null || return 1
        curl -sf "$1" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    return 1
}

# Processes to stop when the script exits.
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
