#!/usr/bin/env bash
# Validates the deployment packaging without a Docker engine, a Kubernetes cluster or any network
# but PyPI:
#   (a) hadolint docker/Dockerfile (warnings fail), shellcheck the shell scripts, and check the
#       Dockerfile's structure: its planner stage and dependency-caching layer (emulated from
#       the parsed Dockerfile) hold every workspace member and resolve with the unchanged
#       Cargo.lock, and every COPY source is in the .dockerignore'd build context;
#   (b) docker/docker-compose.yml against the vendored compose-spec JSON schema, plus the
#       wiring the file must keep (pg_isready, service_healthy, health check, build context);
#   (c) helm lint --strict + render (the real Helm engine) of helm/supertokens for the default
#       values and helm/supertokens/ci/*.yaml, kubernetes-validate --strict of every rendered
#       object for each pinned Kubernetes version, the chart's guards, and the values README;
#   (d) the image's ENTRYPOINT (parsed from the Dockerfile, binary path swapped for $ST_BIN)
#       with the image's environment: in memory with API_KEYS, /hello, /apiversion 401/200, the
#       health check script, SIGTERM -> exit 0 within 10 s; then the same command with the
#       config.yaml and env the Helm chart renders;
#   (e) the compose file's supertokens environment against a throw-away PostgreSQL (skipped,
#       and reported as such, when no PostgreSQL binaries are installed).
#
# Usage: tests/deploy/run.sh            (ST_BIN=path/to/supertokens to test another binary)
# Environment: ST_BIN (default target/debug/supertokens, built with `cargo build -p supertokens`
# if missing), DEPLOY_VENV (default target/deploy-venv), KUBE_VERSIONS (default "1.25.0 1.37.0"),
# PG_BIN (directory with initdb/pg_ctl; default the newest /usr/lib/postgresql/*/bin).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
HERE="$ROOT/tests/deploy"
VENV="${DEPLOY_VENV:-$ROOT/target/deploy-venv}"
ST_BIN="${ST_BIN:-$ROOT/target/debug/supertokens}"
read -r -a KUBE_VERSIONS <<<"${KUBE_VERSIONS:-1.25.0 1.37.0}"
DOCKERFILE="docker/Dockerfile"
COMPOSE="docker/docker-compose.yml"
CHART="helm/supertokens"
STARTED=$SECONDS

WORK="$(mktemp -d "${TMPDIR:-/tmp}/st-deploy.XXXXXX")"
chmod 755 "$WORK"
SERVER_PIDS=()
PG_DIR=""
PG_CTL=()
# Stop what a check started (servers by PID, the PostgreSQL cluster by its data directory).
# Runs when a check's subshell exits, whether the check passed or failed half-way.
cleanup_children() {
    local pid
    for pid in "${SERVER_PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null && grep -qF "$ST_BIN" "/proc/$pid/cmdline" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    if [[ -n "$PG_DIR" && -d "$PG_DIR/data" ]]; then
        (cd / && "${PG_CTL[@]}" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1) || true
    fi
    if [[ -n "$PG_DIR" ]]; then rm -rf "$PG_DIR"; fi
}
trap 'rm -rf "$WORK"' EXIT

log() { printf '%s\n' "$*"; }
PASSED=()
FAILED=()
SKIPPED=()

# check NAME FUNCTION [ARGS...]: run a check, keep its output, record PASS/FAIL.
check() {
    local name="$1"
    shift
    local out
    out="$WORK/$(printf '%s' "$name" | tr -c 'A-Za-z0-9' '_').log"
    local t=$SECONDS
    log "--- $name"
    # A subshell with errexit on (outside any `if`, so errexit really applies): the first
    # failing command fails the check; its EXIT trap stops the processes the check started.
    local status=0
    set +e
    (
        set -e
        trap cleanup_children EXIT
        "$@"
    ) >"$out" 2>&1
    status=$?
    set -e
    if [[ $status -eq 0 ]]; then
        sed 's/^/    /' "$out"
        log "PASS $name ($((SECONDS - t)) s)"
        PASSED+=("$name")
    else
        sed 's/^/    /' "$out"
        log "FAIL $name"
        FAILED+=("$name")
    fi
}

skip() {
    log "--- $1"
    log "SKIP $1: $2"
    SKIPPED+=("$1 ($2)")
}

# ------------------------------------------------------------------------------------------
# Tools: a venv with the pinned requirements, reinstalled when requirements.txt changes.
# ------------------------------------------------------------------------------------------
setup_venv() {
    local stamp="$VENV/.requirements.sha256"
    local want
    want="$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)"
    if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        return 0
    fi
    log "setting up $VENV (pinned tools from tests/deploy/requirements.txt)"
    local python="${PYTHON:-python3}"
    "$python" -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 needed (tomllib)"'
    rm -rf "$VENV"
    "$python" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
    printf '%s\n' "$want" >"$stamp"
}
setup_venv
PY="$VENV/bin/python"
TOOL=("$PY" "$HERE/deploy_checks.py")

if [[ ! -x "$ST_BIN" ]]; then
    log "building $ST_BIN (cargo build -p supertokens)"
    cargo build --quiet -p supertokens
fi

# ------------------------------------------------------------------------------------------
# (a) Dockerfile
# ------------------------------------------------------------------------------------------
hadolint_check() {
    "$VENV/bin/hadolint" --version
    # Fails on findings of level warning or error (style/info findings are printed only).
    "$VENV/bin/hadolint" --no-color --failure-threshold warning "$DOCKERFILE"
    echo "hadolint: no warning or error"
}
shellcheck_check() {
    "$VENV/bin/shellcheck" --version | sed -n 2p
    "$VENV/bin/shellcheck" docker/healthcheck.sh docker/cargo-recipe.sh tests/deploy/run.sh
    echo "shellcheck: docker/healthcheck.sh docker/cargo-recipe.sh tests/deploy/run.sh clean"
}
dockerfile_structure() {
    "${TOOL[@]}" copy-sources . "$DOCKERFILE"
    # Emulate the planner stage and the builder up to its first `cargo build`.
    local dir
    dir="$("${TOOL[@]}" dep-layer . "$DOCKERFILE" "$WORK/dep-layer")"
    echo "dependency layer emulated in $dir: $(cd "$dir" && find . -name Cargo.toml | wc -l) manifests, $(cd "$dir" && find . -name '*.rs' | wc -l) stub sources"
    # Every workspace member must be there, the stub workspace must resolve with the unchanged
    # lock file, and -p supertokens must exist.
    local member
    while IFS= read -r member; do
        [[ -f "$dir/$member/Cargo.toml" && -f "$dir/$member/src/lib.rs" ]] ||
            { echo "workspace member $member is missing from the dependency layer"; return 1; }
    done < <(cargo metadata --no-deps --offline --format-version 1 |
        "$PY" -c 'import json, os, sys; m = json.load(sys.stdin); [print(os.path.relpath(os.path.dirname(p["manifest_path"]), m["workspace_root"])) for p in m["packages"]]')
    echo "all workspace members are in the dependency layer"
    local tree=(cargo tree --locked -p supertokens -e normal --prefix none)
    if ! (cd "$dir" && "${tree[@]}" --offline >"$WORK/tree.txt" 2>"$WORK/tree.err"); then
        cat "$WORK/tree.err"
        echo "(offline resolution failed; retrying with the registry)"
        (cd "$dir" && "${tree[@]}" >"$WORK/tree.txt")
    fi
    echo "cargo tree --locked -p supertokens: $(sort -u "$WORK/tree.txt" | wc -l) packages, Cargo.lock unchanged"
    # The final stage must run as the numeric non-root user the Helm chart assumes, expose the
    # port and probe /hello with the script the compose file and `helm test` use too.
    "${TOOL[@]}" final-stage "$DOCKERFILE" >"$WORK/final-stage.txt"
    grep -q '^USER 10001:10001$' "$WORK/final-stage.txt" || { echo "final stage must be USER 10001:10001"; return 1; }
    grep -q '^EXPOSE 3567$' "$WORK/final-stage.txt" || { echo "EXPOSE 3567 missing"; return 1; }
    grep -q '^HEALTHCHECK .*CMD \["/usr/lib/supertokens/healthcheck"\]$' "$WORK/final-stage.txt" ||
        { echo "HEALTHCHECK must run /usr/lib/supertokens/healthcheck"; return 1; }
    grep -q '^COPY --chmod=0755 docker/healthcheck.sh /usr/lib/supertokens/healthcheck$' "$WORK/final-stage.txt" ||
        { echo "docker/healthcheck.sh must be installed as /usr/lib/supertokens/healthcheck"; return 1; }
    echo "USER 10001:10001, EXPOSE 3567 and the HEALTHCHECK are in place"
}
check "a1 hadolint docker/Dockerfile" hadolint_check
check "a2 shellcheck" shellcheck_check
check "a3 Dockerfile layers and build context" dockerfile_structure

# ------------------------------------------------------------------------------------------
# (b) docker-compose.yml
# ------------------------------------------------------------------------------------------
compose_schema() {
    local vendored="$HERE/compose-spec.json"
    local shipped
    shipped="$("$PY" -c 'import check_jsonschema, pathlib; print(pathlib.Path(check_jsonschema.__file__).parent / "builtin_schemas/vendor/compose-spec.json")')"
    cmp -s "$vendored" "$shipped" ||
        { echo "tests/deploy/compose-spec.json differs from the copy in the pinned check-jsonschema ($shipped); see compose-spec.SOURCE.md"; return 1; }
    echo "vendored schema: sha256 $(sha256sum "$vendored" | cut -c1-16)... = check-jsonschema's vendor.compose-spec"
    "$VENV/bin/check-jsonschema" --schemafile "$vendored" "$COMPOSE"
    # The validator must not be vacuous: a misspelt service key has to be rejected.
    sed 's/^    depends_on:/    depend_on:/' "$COMPOSE" >"$WORK/broken-compose.yml"
    if "$VENV/bin/check-jsonschema" --schemafile "$vendored" "$WORK/broken-compose.yml" >/dev/null 2>&1; then
        echo "the schema accepted a compose file with 'depend_on'"
        return 1
    fi
    echo "a compose file with a misspelt key is rejected"
}
compose_wiring() {
    local get=("${TOOL[@]}" compose-get "$COMPOSE")
    [[ "$("${get[@]}" services.db.image)" == postgres:15 ]] || { echo "db must be postgres:15"; return 1; }
    "${get[@]}" services.db.healthcheck.test | grep pg_isready >/dev/null || { echo "db health check must use pg_isready"; return 1; }
    "${get[@]}" services.db.volumes | grep /var/lib/postgresql/data >/dev/null || { echo "db needs a data volume"; return 1; }
    [[ "$("${get[@]}" services.supertokens.depends_on.db.condition)" == service_healthy ]] ||
        { echo "supertokens must depend on db with condition service_healthy"; return 1; }
    "${get[@]}" services.supertokens.healthcheck.test | grep /usr/lib/supertokens/healthcheck >/dev/null ||
        { echo "supertokens health check must run the image's health check"; return 1; }
    "${get[@]}" services.supertokens.ports | grep ':3567"' >/dev/null || { echo "port 3567 must be published"; return 1; }
    "${get[@]}" services.supertokens.restart | grep unless-stopped >/dev/null || { echo "restart policy missing"; return 1; }
    local context dockerfile
    context="$(cd "docker/$("${get[@]}" services.supertokens.build.context)" && pwd)"
    dockerfile="$("${get[@]}" services.supertokens.build.dockerfile)"
    [[ "$context" == "$ROOT" && -f "$context/$dockerfile" && "$context/$dockerfile" -ef "$DOCKERFILE" ]] ||
        { echo "build must use the repository root as context and docker/Dockerfile"; return 1; }
    "${TOOL[@]}" compose-env "$COMPOSE" supertokens | grep '^POSTGRESQL_CONNECTION_URI=postgresql://[^@]*@db:5432/' >/dev/null ||
        { echo "POSTGRESQL_CONNECTION_URI must point at the db service"; return 1; }
    echo "pg_isready health check, data volume, service_healthy, /hello health check, port, restart, build context: ok"
}
check "b1 compose file vs compose-spec schema" compose_schema
check "b2 compose wiring" compose_wiring

# ------------------------------------------------------------------------------------------
# (c) Helm chart
# ------------------------------------------------------------------------------------------
helm_values_doc() {
    "${TOOL[@]}" values-doc "$CHART"
}
# helm_render NAME [VALUES_FILE]: lint + render, then kubernetes-validate --strict per version.
helm_render() {
    local name="$1"
    shift
    local out="$WORK/helm-$name"
    "${TOOL[@]}" helm "$CHART" "$out" "v${KUBE_VERSIONS[0]}" "$@"
    local version
    for version in "${KUBE_VERSIONS[@]}"; do
        "$VENV/bin/kubernetes-validate" --strict --quiet -k "$version" "$out/manifests.yaml"
        echo "  kubernetes-validate --strict -k $version: $(grep -c '^kind:' "$out/manifests.yaml") objects valid"
    done
}
helm_guards() {
    local c=("${TOOL[@]}" helm-must-fail "$CHART")
    "${c[@]}" replicaCount=3                                   # in memory, several pods
    "${c[@]}" autoscaling.enabled=true                         # in memory, autoscaled
    "${c[@]}" podDisruptionBudget.enabled=true                 # PDB blocking drains of 1 pod
    "${c[@]}" 'apiKeys="too-short"'                            # schema: API key format
    "${c[@]}" 'config.api_keys="abcdefghijklmnopqrstuvwxyz"'   # schema: secret in ConfigMap
    "${c[@]}" 'env.POSTGRESQL_PASSWORD="hunter2"'              # schema: secret in ConfigMap
    "${c[@]}" 'database.connectionUri="mysql://u:p@h/db"'      # schema: PostgreSQL URI
    "${c[@]}" 'replicas=2'                                     # schema: unknown value (typo)
}
check "c1 chart README documents every value" helm_values_doc
check "c2 helm lint+template+validate: default values" helm_render default
for values in "$CHART"/ci/*.yaml; do
    check "c3 helm lint+template+validate: ci/$(basename "$values")" helm_render "$(basename "$values" .yaml)" "$values"
done
check "c4 chart guards reject bad values" helm_guards

# ------------------------------------------------------------------------------------------
# (d) the image's start command against the real binary
# ------------------------------------------------------------------------------------------
free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# http GET URL [HEADER...]: prints "<status> <body>" (curl if present, else Python).
http() {
    local url="$1"
    shift
    rm -f "$WORK/body"
    if command -v curl >/dev/null; then
        local args=(-s -m 5 -o "$WORK/body" -w '%{http_code}')
        local h
        for h in "$@"; do args+=(-H "$h"); done
        local code
        code="$(curl "${args[@]}" "$url" || true)"
        printf '%s %s\n' "${code:-000}" "$(tr -d '\r' <"$WORK/body" 2>/dev/null | head -c 300)"
    else
        "$PY" - "$url" "$@" <<'EOF'
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1], headers=dict(h.split(": ", 1) for h in sys.argv[2:]))
try:
    r = urllib.request.urlopen(req, timeout=5); print(r.status, r.read().decode()[:300].strip())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode()[:300].strip())
except Exception:
    print("000")
EOF
    fi
}

# The image's ENTRYPOINT with its paths mapped to this machine: argv[0] -> $ST_BIN,
# --with-config=... -> $1, --with-temp-dir=... -> $2. Sets ENTRY (array).
image_command() {
    local config="$1" tempdir="$2" arg
    ENTRY=()
    mapfile -t raw < <("$PY" -c 'import json, sys; print("\n".join(json.loads(sys.argv[1])))' "$("${TOOL[@]}" entrypoint "$DOCKERFILE")")
    [[ "${raw[0]}" == /usr/lib/supertokens/supertokens ]] || { echo "unexpected entrypoint binary ${raw[0]}"; return 1; }
    ENTRY+=("$ST_BIN")
    for arg in "${raw[@]:1}"; do
        case "$arg" in
            --with-config=*) ENTRY+=("--with-config=$config") ;;
            --with-temp-dir=*) ENTRY+=("--with-temp-dir=$tempdir") ;;
            *) ENTRY+=("$arg") ;;
        esac
    done
}

# start_server DIR CONFIG [NAME=VALUE...]: run the image command with only the image's ENV plus
# the given variables (as in a container: nothing leaks from this shell), wait for the
# "Started SuperTokens on" line. Sets SERVER_PID.
start_server() {
    local dir="$1" config="$2"
    shift 2
    mkdir -p "$dir/tmp"
    image_command "$config" "$dir/tmp"
    local env_args=(PATH=/usr/bin:/bin)
    mapfile -t image_env < <("${TOOL[@]}" image-env "$DOCKERFILE")
    env_args+=("${image_env[@]}" "$@")
    echo "command: ${ENTRY[*]}"
    echo "environment: ${env_args[*]//API_KEYS=*/API_KEYS=<test key>}"
    env -i "${env_args[@]}" "${ENTRY[@]}" >"$dir/stdout" 2>"$dir/stderr" &
    SERVER_PID=$!
    SERVER_PIDS+=("$SERVER_PID")
    local i
    for ((i = 0; i < 300; i++)); do
        if grep -q '^Started SuperTokens on' "$dir/stdout" 2>/dev/null; then
            echo "  $(grep '^Started SuperTokens on' "$dir/stdout")"
            return 0
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "the server exited before starting:"
            tail -n 20 "$dir/stdout" "$dir/stderr"
            return 1
        fi
        sleep 0.1
    done
    echo "no 'Started SuperTokens on' line within 30 s"
    tail -n 20 "$dir/stdout" "$dir/stderr"
    return 1
}

# stop_server DIR: SIGTERM, must exit 0 within 10 s and remove its pid file.
stop_server() {
    local dir="$1" t0=$SECONDS status=0 i
    kill -TERM "$SERVER_PID"
    for ((i = 0; i < 100; i++)); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "still running 10 s after SIGTERM"
        return 1
    fi
    wait "$SERVER_PID" || status=$?
    echo "  SIGTERM -> exit status $status after $((SECONDS - t0)) s"
    [[ $status -eq 0 ]] || { tail -n 20 "$dir/stderr"; return 1; }
    if compgen -G "$dir/tmp/.started/*" >/dev/null; then
        echo "pid file left behind: $(ls "$dir/tmp/.started")"
        return 1
    fi
    echo "  pid file removed"
}

expect() { # expect WHAT ACTUAL PATTERN
    if [[ "$2" =~ $3 ]]; then
        echo "  ok: $1 -> ${2:0:80}"
    else
        echo "  FAILED: $1 -> '$2' (expected /$3/)"
        return 1
    fi
}

API_KEY="deploy-test-key-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"

image_runtime() {
    local dir="$WORK/run-image" port
    mkdir -p "$dir"
    cp config.yaml "$dir/config.yaml"
    port="$(free_port)"
    start_server "$dir" "$dir/config.yaml" "API_KEYS=$API_KEY" "SUPERTOKENS_PORT=$port"
    local started
    started="$(grep '^Started SuperTokens on' "$dir/stdout")"
    expect "start line" "$started" "^Started SuperTokens on 0\.0\.0\.0:$port with PID: $SERVER_PID\$"
    expect "pid file" "$(head -n1 "$dir/tmp/.started/0.0.0.0-$port" 2>/dev/null)" "^$SERVER_PID\$"
    expect "GET /hello" "$(http "http://127.0.0.1:$port/hello")" '^200 Hello'
    expect "GET /apiversion without key" "$(http "http://127.0.0.1:$port/apiversion")" '^401 '
    expect "GET /apiversion wrong key" "$(http "http://127.0.0.1:$port/apiversion" "api-key: wrong-key-wrong-key-wrong-key")" '^401 '
    expect "GET /apiversion with key" "$(http "http://127.0.0.1:$port/apiversion" "api-key: $API_KEY")" '^200 .*"5\.4"'
    grep -q 'Using in memory storage' "$dir/stdout" || { echo "  FAILED: no 'Using in memory storage' log line"; return 1; }
    echo "  ok: no database variables -> in-memory storage, logs on stdout"
    # The image's health check script: healthy here, unhealthy on a closed port.
    env -i PATH=/usr/bin:/bin SUPERTOKENS_PORT="$port" bash docker/healthcheck.sh
    echo "  ok: healthcheck.sh -> 0 (healthy)"
    local closed rc=0
    closed="$(free_port)"
    env -i PATH=/usr/bin:/bin SUPERTOKENS_PORT="$closed" bash docker/healthcheck.sh 2>&1 || rc=$?
    expect "healthcheck.sh on a closed port" "$rc" '^1$'
    stop_server "$dir"
}

helm_config_runtime() {
    # The config.yaml and env ConfigMap the chart renders for ci/values-postgres-existing-secret
    # (base_path /auth, Argon2, JSON logs, pool sizes), as the pod would see them.
    local rendered="$WORK/helm-values-postgres-existing-secret"
    [[ -f "$rendered/config.yaml" ]] || { echo "chart not rendered (c3 failed?)"; return 1; }
    local dir="$WORK/run-helm" port metrics_port
    mkdir -p "$dir"
    port="$(free_port)"
    metrics_port="$(free_port)"
    grep -q '^metrics_port: 9464$' "$rendered/config.yaml" || { echo "metrics.enabled did not set metrics_port"; return 1; }
    mapfile -t cm_env <"$rendered/env.txt"
    # SUPERTOKENS_PORT / METRICS_PORT (free ports) override the rendered ports, as env would.
    start_server "$dir" "$rendered/config.yaml" "${cm_env[@]}" "API_KEYS=$API_KEY" "SUPERTOKENS_PORT=$port" \
        "METRICS_PORT=$metrics_port"
    expect "GET /auth/hello (probe path)" "$(http "http://127.0.0.1:$port/auth/hello")" '^200 Hello'
    expect "GET /auth/apiversion with key" "$(http "http://127.0.0.1:$port/auth/apiversion" "api-key: $API_KEY")" '^200 '
    expect "GET :metrics/metrics without key" "$(http "http://127.0.0.1:$metrics_port/metrics")" '^200 '
    env -i PATH=/usr/bin:/bin SUPERTOKENS_PORT="$port" BASE_PATH=/auth bash docker/healthcheck.sh
    echo "  ok: healthcheck.sh with BASE_PATH=/auth -> 0"
    grep -q '^{.*Started SuperTokens on' "$dir/stdout" || { echo "  FAILED: LOG_FORMAT=JSON gave no JSON log line"; return 1; }
    echo "  ok: LOG_FORMAT=JSON from the env ConfigMap -> JSON log lines"
    stop_server "$dir"
}
check "d1 image ENTRYPOINT + env, in memory" image_runtime
check "d2 image ENTRYPOINT with the chart's config.yaml" helm_config_runtime

# ------------------------------------------------------------------------------------------
# (e) compose environment against a throw-away PostgreSQL
# ------------------------------------------------------------------------------------------
find_pg_bin() {
    if [[ -n "${PG_BIN:-}" ]]; then
        printf '%s\n' "$PG_BIN"
        return
    fi
    local d
    d="$(shopt -s nullglob; printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
    if [[ -n "$d" && -x "$d/initdb" ]]; then printf '%s\n' "$d"; fi
}

compose_runtime() {
    local bin="$1" as=()
    if [[ $EUID -eq 0 ]]; then as=(runuser -u postgres --); fi
    PG_DIR="$(mktemp -d /tmp/st-deploy-pg.XXXXXX)"
    chmod 755 "$PG_DIR"
    [[ $EUID -eq 0 ]] && chown postgres "$PG_DIR"
    PG_CTL=("${as[@]}" "$bin/pg_ctl")
    local pg_port
    pg_port="$(free_port)"
    (cd "$PG_DIR" && "${as[@]}" "$bin/initdb" -D "$PG_DIR/data" -U postgres --auth-local=trust \
        --auth-host=scram-sha-256 --encoding=UTF8 --no-locale --no-sync >"$PG_DIR/initdb.log" 2>&1) ||
        { cat "$PG_DIR/initdb.log"; return 1; }
    (cd "$PG_DIR" && "${PG_CTL[@]}" -w -t 30 -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" \
        -o "-p $pg_port -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null) ||
        { cat "$PG_DIR/postgres.log"; return 1; }
    echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$pg_port"

    # The db service's user / database, with a password given through the compose variable.
    local get=("${TOOL[@]}" compose-get "$COMPOSE") pg_user pg_db password
    pg_user="$("${get[@]}" services.db.environment.POSTGRES_USER)"
    pg_db="$("${get[@]}" services.db.environment.POSTGRES_DB)"
    password="pw-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
    local psql=("${as[@]}" "$bin/psql" -v ON_ERROR_STOP=1 -q -h "$PG_DIR" -p "$pg_port" -U postgres)
    (cd "$PG_DIR" && "${psql[@]}" -d postgres -c "CREATE ROLE $pg_user LOGIN PASSWORD '$password'" \
        -c "CREATE DATABASE $pg_db OWNER $pg_user")

    # The supertokens service's environment, interpolated as compose would, db:5432 -> here.
    local env_lines=() line
    while IFS= read -r line; do
        line="${line//@db:5432\//@127.0.0.1:$pg_port/}"
        env_lines+=("$line")
    done < <(POSTGRES_PASSWORD="$password" API_KEYS="$API_KEY" "${TOOL[@]}" compose-env "$COMPOSE" supertokens)
    local dir="$WORK/run-compose" port
    mkdir -p "$dir"
    cp config.yaml "$dir/config.yaml"
    port="$(free_port)"
    start_server "$dir" "$dir/config.yaml" "${env_lines[@]}" "SUPERTOKENS_PORT=$port"
    if grep -q 'Using in memory storage' "$dir/stdout"; then
        echo "  FAILED: the compose environment fell back to in-memory storage"
        return 1
    fi
    expect "GET /hello (checks the database)" "$(http "http://127.0.0.1:$port/hello")" '^200 Hello'
    expect "GET /apiversion with key" "$(http "http://127.0.0.1:$port/apiversion" "api-key: $API_KEY")" '^200 '
    env -i PATH=/usr/bin:/bin SUPERTOKENS_PORT="$port" bash docker/healthcheck.sh
    echo "  ok: compose health check command -> 0"
    local tables
    tables="$(cd "$PG_DIR" && "${psql[@]}" -d "$pg_db" -tA -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")"
    expect "tables created by $pg_user in $pg_db" "$tables" '^[1-9][0-9]*$'
    stop_server "$dir"
}
if PG_BIN_DIR="$(find_pg_bin)" && [[ -n "$PG_BIN_DIR" ]] && { [[ $EUID -ne 0 ]] || id postgres >/dev/null 2>&1; }; then
    check "e1 compose environment against PostgreSQL" compose_runtime "$PG_BIN_DIR"
else
    skip "e1 compose environment against PostgreSQL" "no PostgreSQL binaries (or no postgres user to run them as root)"
fi

# ------------------------------------------------------------------------------------------
log ""
log "================ deploy checks summary ================"
for name in "${PASSED[@]}"; do log "PASS  $name"; done
for name in "${SKIPPED[@]}"; do log "SKIP  $name"; done
for name in "${FAILED[@]}"; do log "FAIL  $name"; done
log "time: $((SECONDS - STARTED)) s"
log "deploy: ${#PASSED[@]} passed, ${#FAILED[@]} failed, ${#SKIPPED[@]} skipped"
[[ ${#FAILED[@]} -eq 0 ]]
