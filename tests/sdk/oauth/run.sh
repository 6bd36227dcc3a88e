#!/usr/bin/env bash
# End-to-end test of the OAuth2 / OpenID Connect provider (issue 23 item 5): supertokens-node's
# OAuth2Provider recipe (app.js, with its own login routes) over the core under test, driven by
# openid-client 5 (oidc.test.mjs): discovery, authorization code with PKCE through the login
# page, ID token validation, userinfo, refresh rotation, RP-initiated logout, a client-credentials
# token verified offline with the JWKS.
#
#   ST_BIN=target/debug/supertokens tests/sdk/oauth/run.sh
#
# Env: ST_BIN (default <target>/debug/supertokens); ST_TEST_POSTGRES_URL: also run on PostgreSQL
# (in a fresh schema, dropped afterwards). Needs node >= 18 and npm (installs tests/sdk/node and
# this folder with npm ci). Exits non-zero if a run failed.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
ST_BIN=${ST_BIN:-$TARGET/debug/supertokens}
case "$ST_BIN" in /*) ;; *) ST_BIN=$ROOT/$ST_BIN ;; esac
[ -x "$ST_BIN" ] || { echo "ST_BIN=$ST_BIN is not an executable (cargo build -p supertokens)" >&2; exit 2; }
LOGS=$TARGET/sdk-logs-oauth
mkdir -p "$LOGS"
API_KEY=oauth-e2e-api-key-0123456789

for dir in "$HERE/../node" "$HERE"; do
    [ -d "$dir/node_modules" ] || (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
done

# free_port, wait_up, PIDS and the EXIT trap that stops them.
# shellcheck source=../lib.sh
source "$HERE/../lib.sh"

# run BACKEND [POSTGRES_URI]
run() {
    local backend=$1 pg=${2:-} dir="$LOGS/$1" schema="oauth_e2e_$$"
    mkdir -p "$dir/core-tmp"
    {
        echo "core_config_version: 0"
        echo "api_keys: \"$API_KEY\""
        echo "bcrypt_log_rounds: 4"
        echo "oauth_client_secret_encryption_key: \"oauth-e2e-encryption-key\""
        if [ -n "$pg" ]; then
            echo "postgresql_connection_uri: \"$pg\""
            echo "postgresql_table_schema: \"$schema\""
        fi
    } >"$dir/config.yaml"
    local core_port app_port
    start_core "$dir" || { echo "core ($backend) did not start: $dir/core.log"; return 1; }
    core_port=$CORE_PORT
    local core_pid=$CORE_PID
    app_port=$(free_port)
    (cd "$HERE" && ST_CONNECTION_URI="http://127.0.0.1:$core_port" ST_API_KEY=$API_KEY PORT=$app_port exec node app.js) \
        >"$dir/app.log" 2>&1 &
    local app_pid=$!
    PIDS+=("$app_pid")
    wait_up "http://127.0.0.1:$app_port/hello" "$app_pid" || { echo "app ($backend) did not start: $dir/app.log"; return 1; }
    local rc=0
    (cd "$HERE" && API="http://127.0.0.1:$app_port" node oidc.test.mjs) 2>&1 | sed "s/^/[$backend] /" || rc=1
    [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
    kill "$app_pid" "$core_pid" 2>/dev/null || true
    wait "$app_pid" "$core_pid" 2>/dev/null || true
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
[ $status -eq 0 ] && echo "oauth e2e: PASS" || echo "oauth e2e: FAIL"
exit $status
