#!/usr/bin/env bash
# End-to-end test of SAML single sign-on (issue 24 item 5): a real identity provider nobody here
# wrote (pysaml2's IdP, signing with xmlsec1, run in-process by e2e.py) in front of
# the SAML recipe + a ThirdParty "saml" provider of supertokens-node 24 (app.js) and of
# supertokens-python 0.31 (app.py) over the core under test; e2e.py drives the browser/frontend
# side (see its docstring for the steps and checks).
#
#   ST_BIN=target/debug/supertokens tests/sdk/saml/run.sh
#
# Env: ST_BIN (default <target>/debug/supertokens); ST_TEST_POSTGRES_URL: also run on PostgreSQL
# (in a fresh schema, dropped afterwards); ST_SAML_SDKS: "node python" (default) or one of them.
# Needs python3 (venv <target>/saml-venv from
# requirements.lock.txt), the xmlsec1 binary (cargo xtask test installs it), node >= 18 and
# tests/sdk/node's install (npm ci there if missing), tests/sdk/python's venv <target>/sdk-venv
# (made from its lock if missing). Exits non-zero if a run failed.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
case "$TARGET" in /*) ;; *) TARGET=$ROOT/$TARGET ;; esac
ST_BIN=${ST_BIN:-$TARGET/debug/supertokens}
case "$ST_BIN" in /*) ;; *) ST_BIN=$ROOT/$ST_BIN ;; esac
[ -x "$ST_BIN" ] || { echo "ST_BIN=$ST_BIN is not an executable (cargo build -p supertokens)" >&2; exit 2; }
command -v xmlsec1 >/dev/null || { echo "the xmlsec1 binary is missing (apt-get install xmlsec1)" >&2; exit 2; }
LOGS=$TARGET/sdk-logs-saml
mkdir -p "$LOGS"
API_KEY=saml-e2e-api-key-0123456789
VENV=$TARGET/saml-venv

SDKS=${ST_SAML_SDKS:-node python}
[ -d "$HERE/../node/node_modules" ] || (cd "$HERE/../node" && npm ci --no-audit --no-fund --loglevel=error)
SDK_VENV=$TARGET/sdk-venv
if [[ " $SDKS " == *" python "* ]] && [ ! -x "$SDK_VENV/bin/python" ]; then
    python3 -m venv "$SDK_VENV"
    "$SDK_VENV/bin/pip" install --disable-pip-version-check -q --no-deps -r "$HERE/../python/requirements.lock.txt"
fi
want="$(sha256sum <"$HERE/requirements.lock.txt" | cut -d' ' -f1) $(python3 --version 2>&1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.st-lock-stamp" 2>/dev/null)" != "$want" ]; then
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --disable-pip-version-check -q --no-deps -r "$HERE/requirements.lock.txt"
    "$VENV/bin/pip" check --disable-pip-version-check
    echo "$want" >"$VENV/.st-lock-stamp"
fi

# free_port, wait_up, PIDS and the EXIT trap that stops them.
# shellcheck source=../lib.sh
source "$HERE/../lib.sh"

# run BACKEND [POSTGRES_URI]
run() {
    local backend=$1 pg=${2:-} dir="$LOGS/$1" schema="saml_e2e_$$"
    rm -rf "$dir"
    mkdir -p "$dir/core-tmp"
    {
        echo "core_config_version: 0"
        echo "api_keys: \"$API_KEY\""
        if [ -n "$pg" ]; then
            echo "postgresql_connection_uri: \"$pg\""
            echo "postgresql_table_schema: \"$schema\""
        fi
    } >"$dir/config.yaml"
    local core_port app_port
    start_core "$dir" || { echo "core ($backend) did not start: $dir/core.log"; return 1; }
    core_port=$CORE_PORT
    local core_pid=$CORE_PID
    local rc=0 sdk
    for sdk in $SDKS; do
        app_port=$(free_port)
        if [ "$sdk" = node ]; then
            (cd "$HERE" && ST_CONNECTION_URI="http://127.0.0.1:$core_port" ST_API_KEY=$API_KEY PORT=$app_port exec node app.js) \
                >"$dir/app-$sdk.log" 2>&1 &
        else
            (cd "$HERE" && ST_CONNECTION_URI="http://127.0.0.1:$core_port" ST_API_KEY=$API_KEY PORT=$app_port \
                exec "$SDK_VENV/bin/python" app.py) >"$dir/app-$sdk.log" 2>&1 &
        fi
        local app_pid=$!
        PIDS+=("$app_pid")
        wait_up "http://127.0.0.1:$app_port/hello" "$app_pid" || { echo "$sdk app ($backend) did not start: $dir/app-$sdk.log"; rc=1; continue; }
        mkdir -p "$dir/work-$sdk"
        local one=0
        SAML_E2E_TAG=$sdk XMLSEC1=$(command -v xmlsec1) "$VENV/bin/python" -W ignore "$HERE/e2e.py" \
            "http://127.0.0.1:$app_port" "http://127.0.0.1:$core_port" "$API_KEY" "$dir/work-$sdk" 2>&1 |
            sed "s/^/[$backend $sdk] /" || one=1
        [ "${PIPESTATUS[0]}" -eq 0 ] || one=1
        if [ $one -ne 0 ]; then
            rc=1
            echo "[$backend $sdk] last lines of the app log ($dir/app-$sdk.log):"
            tail -n 20 "$dir/app-$sdk.log" | sed "s/^/[$backend $sdk]     /"
            echo "[$backend $sdk] last lines of the core log ($dir/core.log):"
            tail -n 20 "$dir/core.log" | sed "s/^/[$backend $sdk]     /"
        fi
        kill "$app_pid" 2>/dev/null || true
        wait "$app_pid" 2>/dev/null || true
    done
    kill "$core_pid" 2>/dev/null || true
    wait "$core_pid" 2>/dev/null || true
    if [ -n "$pg" ] && command -v psql >/dev/null; then
        psql "$pg" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
    fi
    return $rc
}

status=0
run memory || status=1
if [ -n "${ST_TEST_POSTGRES_URL:-}" ]; then
    run postgresql "$ST_TEST_POSTGRES_URL" || status=1
fi
[ $status -eq 0 ] && echo "saml e2e: PASS" || echo "saml e2e: FAIL"
exit $status
