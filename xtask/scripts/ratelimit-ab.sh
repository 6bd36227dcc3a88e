#!/bin/bash
# Rate limiter cost, interleaved in one run: bare /verify (st-bench-baseline), session verify
# (no db) on a server with the limiter off and one with it on (limits 1e9, never reached), and
# /recipe/signin off vs on; both servers on one PostgreSQL database; 16 clients.
# (docs/BENCHMARKS.md, "Rate limits: cost"). Needs the release builds of supertokens and
# st-bench-baseline, wrk, psql, and a PostgreSQL the URL's user may create databases on.
# Usage: xtask/scripts/ratelimit-ab.sh <pg-url> <rounds> <verify-secs> <signin-secs>
set -e
BASE=$1; ROUNDS=$2; VS=$3; SS=$4
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$ROOT/target/release/supertokens; BL=$ROOT/target/release/st-bench-baseline
DB=rl_bench_$$
psql "$BASE" -qc "CREATE DATABASE $DB" >/dev/null
URL="${BASE%/*}/$DB"
W=$(mktemp -d /tmp/st-ratelimit-ab.XXXXXX); mkdir -p $W/off $W/on $W/bl
common="core_config_version: 0
postgresql_connection_uri: \"$URL\"
api_keys: \"bench-api-key-0123456789\""
printf '%s\n' "$common" > $W/off/config.yaml
printf '%s\nrate_limit_app_requests: 1000000000\nrate_limit_tenant_requests: 1000000000\n' "$common" > $W/on/config.yaml
wait_up() { for i in $(seq 1 600); do curl -sf http://127.0.0.1:$1/hello >/dev/null && return 0; sleep 0.1; done; echo "no start on $1"; exit 1; }
(cd $W/off; exec $BIN start --foreground --port=38101 --host=127.0.0.1 --with-config=$W/off/config.yaml --with-temp-dir=$W/off > $W/off/log 2>&1 & echo $! > $W/off/pid)
wait_up 38101
(cd $W/on; exec $BIN start --foreground --port=38102 --host=127.0.0.1 --with-config=$W/on/config.yaml --with-temp-dir=$W/on > $W/on/log 2>&1 & echo $! > $W/on/pid)
(cd $W/bl; exec $BL serve --port 38103 --workers 10 > $W/bl/log 2>&1 & echo $! > $W/bl/pid)
wait_up 38102; wait_up 38103
H=(-H "cdi-version: 5.4" -H "api-key: bench-api-key-0123456789" -H "content-type: application/json")
SBODY='{"userId":"bench-user","userDataInJWT":{},"userDataInDatabase":{},"enableAntiCsrf":false}'
TOK=$(curl -sf "${H[@]}" -X POST http://127.0.0.1:38101/recipe/session -d "$SBODY" | python3 -c 'import sys,json; print(json.load(sys.stdin)["accessToken"]["token"])')
BTOK=$(curl -sf "${H[@]}" -X POST http://127.0.0.1:38103/sign -d "$SBODY" | python3 -c 'import sys,json; print(json.load(sys.stdin)["accessToken"]["token"])')
curl -sf "${H[@]}" -H "rid: emailpassword" -X POST http://127.0.0.1:38101/recipe/signup -d '{"email":"bench@example.com","password":"bench-password-1"}' >/dev/null
mklua() { # file body
cat > $1 <<LUA
wrk.method = "POST"
wrk.headers["cdi-version"] = "5.4"
wrk.headers["api-key"] = "bench-api-key-0123456789"
wrk.headers["content-type"] = "application/json"
wrk.headers["rid"] = "emailpassword"
wrk.body = '$2'
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %.2f\n", summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, latency:percentile(99)/1000))
end
LUA
}
mklua $W/verify.lua "{\"accessToken\":\"$TOK\",\"doAntiCsrfCheck\":false,\"enableAntiCsrf\":false,\"checkDatabase\":false}"
mklua $W/bverify.lua "{\"accessToken\":\"$BTOK\",\"doAntiCsrfCheck\":false,\"enableAntiCsrf\":false,\"checkDatabase\":false}"
mklua $W/signin.lua '{"email":"bench@example.com","password":"bench-password-1"}'
for p in 38101 38102; do curl -s "${H[@]}" -X POST http://127.0.0.1:$p/recipe/session/verify -d "{\"accessToken\":\"$TOK\",\"doAntiCsrfCheck\":false,\"enableAntiCsrf\":false,\"checkDatabase\":false}" | head -c 40; echo; done
curl -s "${H[@]}" -X POST http://127.0.0.1:38103/verify -d "{\"accessToken\":\"$BTOK\",\"doAntiCsrfCheck\":false,\"enableAntiCsrf\":false,\"checkDatabase\":false}" | head -c 40; echo
echo "START $(date -u +%H:%M:%S) $(uptime)"
for r in $(seq 1 $ROUNDS); do
  order=("bare off on" "off on bare" "on bare off"); o=${order[$(( (r-1) % 3 ))]}
  for w in $o; do
    case $w in bare) url=http://127.0.0.1:38103/verify; lua=$W/bverify.lua;; off) url=http://127.0.0.1:38101/recipe/session/verify; lua=$W/verify.lua;; on) url=http://127.0.0.1:38102/recipe/session/verify; lua=$W/verify.lua;; esac
    line=$(wrk -t2 -c16 --timeout 30s -d${VS}s -s $lua $url | grep RESULT); set -- $line
    echo "R $r verify $w rps=$(( $2 / VS )) errors=$3 p99_ms=$4"
  done
  so=("off on" "on off"); for w in ${so[$(( (r-1) % 2 ))]}; do
    port=38101; [ $w = on ] && port=38102
    line=$(sleep 3; wrk -t2 -c16 --timeout 30s -d${SS}s -s $W/signin.lua http://127.0.0.1:$port/recipe/signin | grep RESULT); set -- $line
    echo "R $r signin $w rps=$(echo "scale=1; $2 / $SS" | bc) errors=$3 p99_ms=$4"
  done
done
echo "END $(date -u +%H:%M:%S) $(uptime)"
psql "$URL" -Atc "SELECT app_id, quote_literal(tenant_id), window_start, count FROM request_rate_limits"
grep -ci "warn\|error" $W/on/log || true
kill $(cat $W/off/pid) $(cat $W/on/pid) $(cat $W/bl/pid)
sleep 4
psql "$BASE" -qc "DROP DATABASE $DB" >/dev/null || true
