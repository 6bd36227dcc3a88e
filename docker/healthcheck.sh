#!/bin/bash
# Container health check for the SuperTokens (Rust) image: GET <base_path>/hello must answer
# HTTP 200. /hello also checks the database connection, so a core that lost PostgreSQL turns
# unhealthy. Uses bash's /dev/tcp, so the image needs neither curl nor wget.
#
# Environment (all optional):
#   SUPERTOKENS_HEALTHCHECK_HOST  address to probe (default 127.0.0.1)
#   SUPERTOKENS_HEALTHCHECK_PORT  port to probe (default SUPERTOKENS_PORT, else 3567)
#   BASE_PATH                     the core's base_path, as given to the server (default "")
#   SUPERTOKENS_HEALTHCHECK_TIMEOUT  seconds to wait for the answer (default 4)
# Exit status: 0 healthy, 1 unhealthy (the two values Docker defines).

host="${SUPERTOKENS_HEALTHCHECK_HOST:-127.0.0.1}"
port="${SUPERTOKENS_HEALTHCHECK_PORT:-${SUPERTOKENS_PORT:-3567}}"
timeout="${SUPERTOKENS_HEALTHCHECK_TIMEOUT:-4}"
# Normalise the base path like the server does: leading "/", no trailing "/".
base="${BASE_PATH:-}"
base="/${base#/}"
base="${base%/}"

# (The braces keep bash's own "connection refused" noise off stderr; fd 3 stays open.)
if ! { exec 3<>"/dev/tcp/${host}/${port}"; } 2>/dev/null; then
    echo "unhealthy: cannot connect to ${host}:${port}" >&2
    exit 1
fi
printf 'GET %s/hello HTTP/1.0\r\nHost: %s:%s\r\nConnection: close\r\n\r\n' "$base" "$host" "$port" >&3
status=""
if ! IFS= read -r -t "$timeout" status <&3; then
    echo "unhealthy: no answer from ${host}:${port}${base}/hello" >&2
    exit 1
fi
status="${status%$'\r'}"
case "$status" in
    "HTTP/1."?" 200"*) exit 0 ;;
    *)
        echo "unhealthy: ${host}:${port}${base}/hello answered '${status}'" >&2
        exit 1
        ;;
esac
