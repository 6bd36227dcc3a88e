#!/usr/bin/env bash
# End-to-end tests of the core through the official SDKs (supertokens-node, supertokens-python).
#
#   ST_BIN=target/debug/supertokens tests/sdk/run.sh
#
# Env:
#   ST_BIN                 supertokens binary (default: <target>/debug/supertokens)
#   ST_TEST_POSTGRES_URL   if set, also run against PostgreSQL (a fresh database is created on that
#                          server with psql and dropped afterwards)
#   ST_SDK_ONLY            optional: "node" or "python" to run one SDK only (all its releases)
#   ST_SDK_NEWEST_ONLY     optional: 1 = only the newest release of each SDK (skip the older ones)
#   ST_SDK_RELEASES        optional: comma-separated releases to run (e.g. node-3.0,python-3.0; names
#                          in NODE_SDKS / PY_SDKS below)
#   ST_SDK_FLOWS           optional: comma-separated flow names (see README.md)
#   ST_SDK_KEEP_DB         optional: 1 = do not drop the PostgreSQL database at the end
#   ST_SDK_BCRYPT_LOG_ROUNDS  optional: the core's bcrypt_log_rounds (default 4; the core's own is 11)
#   ST_SDK_PY_CLIENT_PER_CALL optional: 1 = the python apps leave supertokens-python its own new
#                          httpx client per core call (default: one shared client, see README.md)
#   ST_SDK_EVERY_RELEASE   optional: 1 = every flow on every release (by default, for the CPU
#                          budget, the third-party, passwordless and multitenancy flows run on node,
#                          python and node-3.0, the account-linking and MFA flows on node and python,
#                          the passkey flows on the releases with the WebAuthn recipe (node,
#                          node-5.3, python, python-5.3), and cross-version on node and python with
#                          the peers in CROSS_VERSION_PEERS)
#   ST_SDK_SIGNING_ALG     optional: RS256 (the core's default), ES256 or EdDSA: the core runs with
#                          `access_token_signing_algorithm: <it>` and every runner checks that each
#                          access token it receives has that JWT header `alg` (ST_SDK_EXPECT_ALG);
#                          the backends are then named e.g. postgresql-ES256 in the output (issue 26)
#   ST_SDK_BACKENDS        optional: comma-separated backends to run, of memory,postgresql (default
#                          both; postgresql only when ST_TEST_POSTGRES_URL is set)
#   CARGO_TARGET_DIR       honoured (venv in <target>/sdk-venv, logs in <target>/sdk-logs, or
#                          <target>/sdk-logs-<alg> with ST_SDK_SIGNING_ALG)
#
# For each backend (memory; PostgreSQL when configured) it starts the core on a free port with an
# API key, starts the node and the python SDK apps on their own free ports, runs each SDK's flows
# (both SDKs at the same time, against the same core), and prints one PASS/FAIL line per flow,
# SDK, backend and session mode. Exits non-zero if anything failed.
set -euo pipefail

START_TIME=$(date +%s)
SDK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SDK_DIR/../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
ST_BIN=${ST_BIN:-$TARGET_DIR/debug/supertokens}
case "$ST_BIN" in /*) ;; *) ST_BIN=$PWD/$ST_BIN ;; esac
VENV=$TARGET_DIR/sdk-venv
LOGS=$TARGET_DIR/sdk-logs${ST_SDK_SIGNING_ALG:+-$ST_SDK_SIGNING_ALG}
PG_URL=${ST_TEST_POSTGRES_URL:-}
ONLY=${ST_SDK_ONLY:-}
FLOWS=${ST_SDK_FLOWS:-}
FLOW_TIMEOUT=${ST_SDK_FLOW_TIMEOUT:-300}
SIGNING_ALG=${ST_SDK_SIGNING_ALG:-}
BACKENDS=${ST_SDK_BACKENDS:-memory,postgresql}

say() { echo "sdk: $*"; }
die() {
    echo "sdk: error: $*" >&2
    echo "FAIL sdk setup: $*"
    exit 1
}

PIDS=()
DBS=()
cleanup() {
    local rc=$?
    set +e
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    PIDS=()
    if [ "${ST_SDK_KEEP_DB:-0}" != 1 ]; then
        for db in "${DBS[@]}"; do
            psql "$PG_URL" -qX -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 ||
                say "warning: could not drop database $db"
        done
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------------------------------------
# prerequisites and installs
# ------------------------------------------------------------------------------------------------
[ -x "$ST_BIN" ] || die "ST_BIN=$ST_BIN is not an executable (build it with: cargo build -p supertokens)"
# On a fresh Debian machine, install what is missing from Debian's packages (root, or sudo -n).
apt_install() {
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo -n"
    say "installing missing Debian packages: $*"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null \
        || die "could not install $* (run as root or with passwordless sudo)"
}
missing=()
command -v python3 >/dev/null || missing+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ "$ONLY" != python ]; then
    command -v node >/dev/null || missing+=(nodejs)
    command -v npm >/dev/null || missing+=(npm)
fi
[ -z "$PG_URL" ] || command -v psql >/dev/null || missing+=(postgresql-client)
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
command -v python3 >/dev/null || die "python3 not found"
if [ "$ONLY" != python ]; then
    command -v node >/dev/null || die "node not found (the node SDK tests need node >= 18 and npm)"
    command -v npm >/dev/null || die "npm not found"
fi
if [ -n "$PG_URL" ]; then
    command -v psql >/dev/null || die "ST_TEST_POSTGRES_URL is set but psql is not installed"
fi

case "$SIGNING_ALG" in "" | RS256 | ES256 | EdDSA) ;; *) die "ST_SDK_SIGNING_ALG: $SIGNING_ALG is not RS256, ES256 or EdDSA" ;; esac
for b in ${BACKENDS//,/ }; do
    case "$b" in memory | postgresql) ;; *) die "ST_SDK_BACKENDS: unknown backend $b (memory, postgresql)" ;; esac
done
wants_backend() { case ",$BACKENDS," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
# backend_label NAME: NAME, or NAME-<alg> in a pass with ST_SDK_SIGNING_ALG.
backend_label() { echo "$1${SIGNING_ALG:+-$SIGNING_ALG}"; }

rm -rf "$LOGS"
mkdir -p "$LOGS"

hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# The SDK releases under test. Each runs the same app and flows (tests/sdk/node/app.js and
# flows.test.mjs; tests/sdk/python/app.py and flows_test.py) against the same core:
#   node        supertokens-node 24.x (CDI 5.4), installed in node/
#   node-5.3    supertokens-node 23.x (CDI 5.3), installed in node-5.3/ (app.js finds it through
#               ST_NODE_MODULES)
#   python      supertokens-python 0.31.x (CDI 5.4), venv <target>/sdk-venv
#   python-5.3  supertokens-python 0.30.x (CDI 5.3), venv <target>/sdk-venv-5.3
#   node-5.1    supertokens-node 20.x (CDI 5.1), installed in node-5.1/
#   python-5.2  supertokens-python 0.29.x (CDI 5.2), venv <target>/sdk-venv-5.2
#   node-5.0    supertokens-node 18.x (CDI 5.0), installed in node-5.0/
#   python-5.1  supertokens-python 0.26.x (CDI 5.1), venv <target>/sdk-venv-5.1
#   node-4.0    supertokens-node 16.x (CDI 4.0), installed in node-4.0/
#   node-3.0    supertokens-node 15.x (CDI 3.0, no account linking), installed in node-3.0/
#   python-3.0  supertokens-python 0.24.x (CDI 3.0, no account linking), venv <target>/sdk-venv-3.0
NODE_SDKS=(node node-5.3 node-5.1 node-5.0 node-4.0 node-3.0)
# The apps the newest releases' cross-version flow pairs with (python 0.31 for node 24: both
# SDKs; the oldest: v4 tokens at CDI 3.0, the first v5 at 4.0).
CROSS_VERSION_PEERS="python node-4.0 node-3.0 python-3.0"
PY_SDKS=(python python-5.3 python-5.2 python-5.1 python-3.0)
# The account-linking and MFA flows (RELEASES_OF_FLOW in both runners: the newest releases; every
# release with ST_SDK_EVERY_RELEASE=1) use a third app per release, started with ST_APP_LINKING=1
# (the AccountLinking recipe with automatic linking, MultiFactorAuth and TOTP), only where they run.
LINKING_RELEASES="node python"
LINKING_FLOWS="accountlinking-automatic accountlinking-manual mfa-totp mfa-totp-limit"
# wants_linking_app SDK: 0 if SDK's runner will do a flow of LINKING_FLOWS.
wants_linking_app() {
    case " $LINKING_RELEASES " in *" $1 "*) ;; *) [ "${ST_SDK_EVERY_RELEASE:-0}" = 1 ] || return 1 ;; esac
    [ -n "$FLOWS" ] || return 0
    local f
    for f in ${FLOWS//,/ }; do
        case " $LINKING_FLOWS " in *" $f "*) return 0 ;; esac
    done
    return 1
}
if [ "${ST_SDK_NEWEST_ONLY:-0}" = 1 ]; then
    NODE_SDKS=(node)
    PY_SDKS=(python)
fi
if [ -n "${ST_SDK_RELEASES:-}" ]; then
    IFS=, read -r -a wanted <<<"$ST_SDK_RELEASES"
    for w in "${wanted[@]}"; do
        case " ${NODE_SDKS[*]} ${PY_SDKS[*]} " in *" $w "*) ;; *) die "ST_SDK_RELEASES: unknown release $w (known: ${NODE_SDKS[*]} ${PY_SDKS[*]})" ;; esac
    done
    keep_wanted() {
        local r w
        for r in "$@"; do
            for w in "${wanted[@]}"; do [ "$r" != "$w" ] || echo "$r"; done
        done
    }
    mapfile -t NODE_SDKS < <(keep_wanted "${NODE_SDKS[@]}")
    mapfile -t PY_SDKS < <(keep_wanted "${PY_SDKS[@]}")
fi
# venv_of SDK / lock_of SDK: where a python release lives and what it installs.
venv_of() { if [ "$1" = python ]; then echo "$VENV"; else echo "$VENV-${1#python-}"; fi; }
lock_of() {
    if [ "$1" = python ]; then echo "$SDK_DIR/python/requirements.lock.txt"
    else echo "$SDK_DIR/python/requirements-${1#python-}.lock.txt"; fi
}

# install_node DIR: npm ci in tests/sdk/DIR unless its lock file is unchanged since the last run.
install_node() {
    local dir="$SDK_DIR/$1"
    local stamp="$dir/node_modules/.st-lock-stamp"
    local want
    want="$(hash_of "$dir/package-lock.json" "$dir/package.json") $(node --version)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        say "node deps of $1 up to date (package-lock.json unchanged)"
        return
    fi
    say "installing node deps of $1: npm ci"
    (cd "$dir" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error) \
        >"$LOGS/npm-ci-$1.log" 2>&1 || {
        cat "$LOGS/npm-ci-$1.log"
        die "npm ci failed in $1"
    }
    echo "$want" >"$stamp"
}

# install_python SDK: the release's venv from its lock file, unless unchanged since the last run.
install_python() {
    local venv lock
    venv=$(venv_of "$1")
    lock=$(lock_of "$1")
    local stamp="$venv/.st-lock-stamp"
    local want
    want="$(hash_of "$lock") $(python3 --version 2>&1)"
    if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        say "python venv up to date ($venv)"
        return
    fi
    say "creating python venv $venv from $(basename "$lock")"
    rm -rf "$venv"
    {
        python3 -m venv "$venv" &&
            "$venv/bin/pip" install --disable-pip-version-check -q --no-deps -r "$lock" &&
            "$venv/bin/pip" check --disable-pip-version-check
    } >"$LOGS/pip-install-$1.log" 2>&1 || {
        cat "$LOGS/pip-install-$1.log"
        die "creating the python venv of $1 failed"
    }
    echo "$want" >"$stamp"
}

t_install=$(date +%s)
if [ "$ONLY" != python ]; then for sdk in "${NODE_SDKS[@]+"${NODE_SDKS[@]}"}"; do install_node "$sdk"; done; fi
if [ "$ONLY" != node ]; then for sdk in "${PY_SDKS[@]+"${PY_SDKS[@]}"}"; do install_python "$sdk"; done; fi
say "installs took $(($(date +%s) - t_install)) s"

# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# http_ok URL: 0 if GET URL answers 2xx.
http_ok() {
    python3 - "$1" <<'PY' 2>/dev/null
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        sys.exit(0 if 200 <= r.status < 300 else 1)
except Exception:
    sys.exit(1)
PY
}

# wait_ready NAME PID URL LOG [SECONDS]
wait_ready() {
    local name=$1 pid=$2 url=$3 log=$4 secs=${5:-60}
    local deadline=$(($(date +%s) + secs))
    while :; do
        if ! kill -0 "$pid" 2>/dev/null; then
            say "$name exited before it was ready; its log ($log):"
            tail -n 40 "$log" | sed 's/^/    /'
            return 1
        fi
        if http_ok "$url"; then
            return 0
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            say "$name not ready after ${secs}s ($url); its log ($log):"
            tail -n 40 "$log" | sed 's/^/    /'
            return 1
        fi
        sleep 0.2
    done
}

# pg_database_url BASE DBNAME: BASE with its database (path) replaced.
pg_database_url() {
    python3 - "$1" "$2" <<'PY'
import sys
from urllib.parse import urlsplit, urlunsplit
u = urlsplit(sys.argv[1])
print(urlunsplit((u.scheme, u.netloc, "/" + sys.argv[2], u.query, u.fragment)))
PY
}

# create_short_app CORE_URL: app "sdkshort" with a 2 s access-token validity.
create_short_app() {
    python3 - "$1" "$API_KEY" <<'PY'
import json, sys, urllib.request
req = urllib.request.Request(
    sys.argv[1] + "/recipe/multitenancy/app/v2",
    method="PUT",
    data=json.dumps({"appId": "sdkshort", "coreConfig": {"access_token_validity": 2}}).encode(),
    headers={"api-key": sys.argv[2], "cdi-version": "5.4", "content-type": "application/json"},
)
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        body = r.read().decode()
except urllib.error.HTTPError as e:
    print(f"PUT /recipe/multitenancy/app/v2 -> {e.code} {e.read().decode()}")
    sys.exit(1)
print(f"PUT /recipe/multitenancy/app/v2 -> {r.status} {body}")
sys.exit(0 if json.loads(body).get("status") == "OK" else 1)
PY
}

API_KEY="sdk-test-key-$(python3 -c 'import secrets; print(secrets.token_hex(12))')"

# The mock OAuth/OIDC provider (tests/sdk/mock-oauth/provider.mjs) that the apps' ThirdParty
# providers point at: one for the whole run, on a free port; social sign-in never leaves the box.
start_mock_oauth() {
    local port
    port=$(free_port)
    (cd "$SDK_DIR/mock-oauth" && PORT=$port exec node provider.mjs) >"$LOGS/mock-oauth.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    MOCK_OAUTH_URL="http://127.0.0.1:$port"
    wait_ready "mock oauth provider" "$pid" "$MOCK_OAUTH_URL/hello" "$LOGS/mock-oauth.log" 30 ||
        die "the mock OAuth provider did not start"
    say "mock OAuth provider on $MOCK_OAUTH_URL"
}

RESULTS=()  # "PASS|FAIL sdk backend passed failed skipped seconds"
TOTAL_PASSED=0
TOTAL_FAILED=0
TOTAL_SKIPPED=0

# run_backend NAME [POSTGRES_URI]
run_backend() {
    local backend=$1 pg_uri=${2:-}
    local dir="$LOGS/$backend"
    mkdir -p "$dir/core-tmp"
    local core_port node_port py_port
    core_port=$(free_port)
    {
        echo "core_config_version: 0"
        echo "api_keys: \"$API_KEY\""
        # bcrypt cost 4 instead of the default 11: the flows hash several hundred passwords per
        # backend, and at cost 11 that was 90 % of the core's CPU time (see README.md).
        echo "bcrypt_log_rounds: ${ST_SDK_BCRYPT_LOG_ROUNDS:-4}"
        if [ -n "$pg_uri" ]; then echo "postgresql_connection_uri: \"$pg_uri\""; fi
        if [ -n "$SIGNING_ALG" ]; then echo "access_token_signing_algorithm: $SIGNING_ALG"; fi
    } >"$dir/config.yaml"

    say "[$backend] starting core on 127.0.0.1:$core_port"
    "$ST_BIN" start --foreground --port="$core_port" --host=127.0.0.1 \
        --with-config="$dir/config.yaml" --with-temp-dir="$dir/core-tmp" >"$dir/core.log" 2>&1 &
    local core_pid=$!
    PIDS+=("$core_pid")
    local core_url="http://127.0.0.1:$core_port"
    if ! wait_ready "core ($backend)" "$core_pid" "$core_url/hello" "$dir/core.log" 60; then
        RESULTS+=("FAIL core $backend 0 1 0 0")
        TOTAL_FAILED=$((TOTAL_FAILED + 1))
        echo "FAIL core $backend start"
        return 0
    fi

    # A second app on the same core whose access tokens live 2 s, for the expired-access-token
    # flow (each SDK gets a second app process pointed at <core>/appid-sdkshort).
    local short_url="$core_url/appid-sdkshort"
    if ! create_short_app "$core_url" >"$dir/create-app.log" 2>&1; then
        say "[$backend] could not create app 'sdkshort' (the expired-access-token flow will fail):"
        sed 's/^/    /' "$dir/create-app.log"
    fi

    local sdks=()
    [ "$ONLY" = python ] || sdks+=("${NODE_SDKS[@]+"${NODE_SDKS[@]}"}")
    [ "$ONLY" = node ] || sdks+=("${PY_SDKS[@]+"${PY_SDKS[@]}"}")
    if [ ${#sdks[@]} -eq 0 ]; then
        echo "FAIL sdk $backend no release selected (ST_SDK_ONLY / ST_SDK_RELEASES)"
        RESULTS+=("FAIL - $backend 0 1 0 0")
        TOTAL_FAILED=$((TOTAL_FAILED + 1))
        return 0
    fi

    declare -A app_pid app_port
    local apps=()
    for sdk in "${sdks[@]}"; do
        apps+=("$sdk" "$sdk-short")
        if wants_linking_app "$sdk"; then apps+=("$sdk-linking"); fi
    done
    for app in "${apps[@]}"; do
        local port url=$core_url
        port=$(free_port)
        app_port[$app]=$port
        local linking=0
        case "$app" in *-short) url=$short_url ;; *-linking) linking=1 ;; esac
        local sdk=${app%-short}
        sdk=${sdk%-linking}
        case "$app" in
        node*)
            local modules=""
            [ "$sdk" = node ] || modules="$SDK_DIR/$sdk/node_modules"
            (cd "$SDK_DIR/node" && PORT=$port ST_CONNECTION_URI=$url ST_API_KEY=$API_KEY ST_APP_LINKING=$linking \
                ST_MOCK_OAUTH_URL=$MOCK_OAUTH_URL ST_NODE_MODULES=$modules exec node app.js) >"$dir/$app-app.log" 2>&1 &
            ;;
        python*)
            local venv
            venv=$(venv_of "$sdk")
            (cd "$SDK_DIR/python" && PORT=$port ST_CONNECTION_URI=$url ST_API_KEY=$API_KEY ST_APP_LINKING=$linking \
                ST_MOCK_OAUTH_URL=$MOCK_OAUTH_URL SUPERTOKENS_TLDEXTRACT_DISABLE_HTTP=1 PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
                exec "$venv/bin/python" app.py) >"$dir/$app-app.log" 2>&1 &
            ;;
        esac
        app_pid[$app]=$!
        PIDS+=("${app_pid[$app]}")
    done

    declare -A runner_pid t_sdk
    local runners=()
    for sdk in "${sdks[@]}"; do
        local ready=1 own_apps=("$sdk" "$sdk-short")
        [ -z "${app_pid[$sdk-linking]:-}" ] || own_apps+=("$sdk-linking")
        for app in "${own_apps[@]}"; do
            wait_ready "$app app ($backend)" "${app_pid[$app]}" \
                "http://127.0.0.1:${app_port[$app]}/test/hello" "$dir/$app-app.log" 60 || ready=0
        done
        if [ "$ready" = 0 ]; then
            echo "FAIL $sdk $backend app-start" >"$dir/$sdk-flows.out"
            runners+=("$sdk")
            continue
        fi
        # the other releases' apps on this core in CROSS_VERSION_PEERS, for the cross-version
        # flow (every release with ST_SDK_EVERY_RELEASE=1)
        local peers="" other
        for other in "${sdks[@]}"; do
            [ "$other" != "$sdk" ] || continue
            case " $CROSS_VERSION_PEERS " in *" $other "*) ;; *) [ "${ST_SDK_EVERY_RELEASE:-0}" = 1 ] || continue ;; esac
            peers+="${peers:+,}$other=http://127.0.0.1:${app_port[$other]}"
        done
        local linking_url=""
        [ -z "${app_port[$sdk-linking]:-}" ] || linking_url="http://127.0.0.1:${app_port[$sdk-linking]}"
        local app_env=(APP_URL="http://127.0.0.1:${app_port[$sdk]}"
            APP_URL_SHORT="http://127.0.0.1:${app_port[$sdk-short]}" APP_URL_LINKING="$linking_url" PEER_APPS="$peers"
            ST_MOCK_OAUTH_URL="$MOCK_OAUTH_URL" SDK=$sdk BACKEND=$backend)
        [ -z "$SIGNING_ALG" ] || app_env+=(ST_SDK_EXPECT_ALG="$SIGNING_ALG")
        # The account-linking and MFA flows run in a runner of their own (<sdk>-linking), against
        # the linking app, at the same time as the release's other flows (the python runners are
        # the long pole: its two app processes share the work).
        local main_only="$FLOWS" main_skip="" linking_only="" fl
        if [ -n "$linking_url" ]; then
            if [ -z "$FLOWS" ]; then
                linking_only=${LINKING_FLOWS// /,}
                main_skip=$linking_only
            else
                main_only=""
                for fl in ${FLOWS//,/ }; do
                    case " $LINKING_FLOWS " in
                    *" $fl "*) linking_only+="${linking_only:+,}$fl" ;;
                    *) main_only+="${main_only:+,}$fl" ;;
                    esac
                done
            fi
        fi
        local runner flow_args
        for runner in "$sdk" "$sdk-linking"; do
            flow_args=()
            if [ "$runner" = "$sdk" ]; then
                if [ -n "$FLOWS" ] && [ -z "$main_only" ]; then continue; fi
                [ -z "$main_only" ] || flow_args+=(--only "$main_only")
                [ -z "$main_skip" ] || flow_args+=(--skip "$main_skip")
            else
                [ -n "$linking_only" ] || continue
                flow_args=(--only "$linking_only")
            fi
            t_sdk[$runner]=$(date +%s)
            case "$sdk" in
            node*)
                (cd "$SDK_DIR/node" && exec env "${app_env[@]}" \
                    timeout "$FLOW_TIMEOUT" node flows.test.mjs "${flow_args[@]}") >"$dir/$runner-flows.out" 2>&1 &
                ;;
            *)
                (cd "$SDK_DIR/python" && exec env "${app_env[@]}" PYTHONDONTWRITEBYTECODE=1 \
                    timeout "$FLOW_TIMEOUT" "$(venv_of "$sdk")/bin/python" flows_test.py "${flow_args[@]}") \
                    >"$dir/$runner-flows.out" 2>&1 &
                ;;
            esac
            runner_pid[$runner]=$!
            PIDS+=("${runner_pid[$runner]}")
            runners+=("$runner")
        done
    done

    for runner in "${runners[@]}"; do
        local sdk=${runner%-linking}
        local rc=0 secs=0
        if [ -n "${runner_pid[$runner]:-}" ]; then
            wait "${runner_pid[$runner]}" || rc=$?
            secs=$(($(date +%s) - ${t_sdk[$runner]}))
        else
            rc=1
        fi
        local out="$dir/$runner-flows.out"
        cat "$out"
        local p f s
        p=$(grep -c '^PASS ' "$out" || true)
        f=$(grep -c '^FAIL ' "$out" || true)
        s=$(grep -c '^SKIP ' "$out" || true)
        if [ "$rc" -eq 124 ]; then
            echo "FAIL $runner $backend timeout (the flows did not finish within ${FLOW_TIMEOUT}s)"
            f=$((f + 1))
        elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
            echo "FAIL $runner $backend runner (exit code $rc without a failing flow; see $out)"
            f=$((f + 1))
        fi
        if [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && [ "$s" -eq 0 ]; then
            echo "FAIL $runner $backend ran no flow"
            f=1
        fi
        if [ "$f" -gt 0 ]; then
            local logged=("$sdk" "$sdk-short")
            [ -z "${app_pid[$sdk-linking]:-}" ] || logged+=("$sdk-linking")
            for app in "${logged[@]}"; do
                say "[$backend] last lines of the $app app log ($dir/$app-app.log):"
                tail -n 20 "$dir/$app-app.log" | sed 's/^/    /'
            done
            say "[$backend] last lines of the core log ($dir/core.log):"
            tail -n 30 "$dir/core.log" | sed 's/^/    /'
            RESULTS+=("FAIL $runner $backend $p $f $s $secs")
        else
            RESULTS+=("PASS $runner $backend $p $f $s $secs")
        fi
        TOTAL_PASSED=$((TOTAL_PASSED + p))
        TOTAL_FAILED=$((TOTAL_FAILED + f))
        TOTAL_SKIPPED=$((TOTAL_SKIPPED + s))
    done

    # Stop this backend's processes (the EXIT trap covers the failure paths).
    local keep=()
    for pid in "${PIDS[@]}"; do
        local mine=0
        for q in "$core_pid" "${app_pid[@]}" "${runner_pid[@]}"; do [ "$pid" = "$q" ] && mine=1; done
        if [ "$mine" = 1 ]; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        else
            keep+=("$pid")
        fi
    done
    PIDS=("${keep[@]+"${keep[@]}"}")
}

# ------------------------------------------------------------------------------------------------
# backends
# ------------------------------------------------------------------------------------------------
start_mock_oauth
if wants_backend memory; then
    run_backend "$(backend_label memory)"
fi

if ! wants_backend postgresql; then
    :
elif [ -n "$PG_URL" ]; then
    db="st_sdk_$(date +%s)_$$"
    if psql "$PG_URL" -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$db\"" >"$LOGS/psql.log" 2>&1; then
        DBS+=("$db")
        run_backend "$(backend_label postgresql)" "$(pg_database_url "$PG_URL" "$db")"
    else
        cat "$LOGS/psql.log"
        echo "FAIL sdk postgresql create-database"
        RESULTS+=("FAIL - postgresql 0 1 0 0")
        TOTAL_FAILED=$((TOTAL_FAILED + 1))
    fi
else
    say "ST_TEST_POSTGRES_URL not set: PostgreSQL backend skipped"
fi

# ------------------------------------------------------------------------------------------------
# summary
# ------------------------------------------------------------------------------------------------
echo
say "summary (logs in $LOGS):"
for r in "${RESULTS[@]}"; do
    read -r verdict sdk backend p f s secs <<<"$r"
    printf 'sdk:   %-4s %-18s %-11s %3s passed, %s failed, %s skipped (%s s)\n' "$verdict" "$sdk" "$backend" "$p" "$f" "$s" "$secs"
done
say "total time $(($(date +%s) - START_TIME)) s"
echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed, $TOTAL_SKIPPED skipped"
[ "$TOTAL_FAILED" -eq 0 ]
