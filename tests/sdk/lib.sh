# Shell helpers shared by the outside-party suites (tests/sdk/oauth/run.sh, tests/sdk/saml/run.sh);
# sourced, not run. Defines free_port, wait_up, start_core and the PIDS array that the EXIT trap
# cleans up.

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

# start_core DIR: the core under test ($ST_BIN) with DIR/config.yaml, its log in DIR/core.log,
# on a free port; sets CORE_PORT and CORE_PID (stopped on exit) and fails if it does not answer.
start_core() {
    CORE_PORT=$(free_port)
    "$ST_BIN" start --foreground --port="$CORE_PORT" --host=127.0.0.1 \
        --with-config="$1/config.yaml" --with-temp-dir="$1/core-tmp" >"$1/core.log" 2>&1 &
    CORE_PID=$!
    PIDS+=("$CORE_PID")
    wait_up "http://127.0.0.1:$CORE_PORT/hello" "$CORE_PID"
}
