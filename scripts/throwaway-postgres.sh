#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the test suite: a temporary folder, a free port on
# 127.0.0.1, no fsync, trust authentication, nothing written under the system's own clusters.
#
# Source this file, then call `throwaway_postgres_start`: it exports
# QUALITYLOOP_TEST_POSTGRES_URL and installs an EXIT trap that stops the server and removes
# the folder. `throwaway_postgres_stop` does the same by hand.
#
# Run on its own (`scripts/throwaway-postgres.sh`) it starts a cluster, prints the URL and keeps
# it up until Ctrl+C.

_QL_PG_DIR=""
_QL_PG_BIN=""

_ql_pg_find_bin() {
    local initdb
    initdb=$(ls -1 /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -z "$initdb" ]]; then
        initdb=$(command -v initdb || true)
    fi
    if [[ -z "$initdb" ]]; then
        echo "PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb)." >&2
        echo "Install them with: apt-get install -y postgresql   (or run: bash .ci/run)" >&2
        return 1
    fi
    _QL_PG_BIN=$(dirname "$initdb")
}

# Run a PostgreSQL binary as an unprivileged user: initdb and postgres refuse to run as root.
_ql_pg_as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

_ql_pg_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

throwaway_postgres_start() {
    _ql_pg_find_bin || return 1
    _QL_PG_DIR=$(mktemp -d /tmp/qualityloop-pg.XXXXXX)
    if [[ $(id -u) -eq 0 ]]; then
        if ! id postgres >/dev/null 2>&1; then
            echo "No 'postgres' system user to run the server as (install the postgresql package)." >&2
            return 1
        fi
        chown postgres: "$_QL_PG_DIR"
    fi
    trap throwaway_postgres_stop EXIT
    local port
    port=$(_ql_pg_free_port)
    _ql_pg_as_owner "$_QL_PG_BIN/initdb" -D "$_QL_PG_DIR/data" -U postgres -A trust -E UTF8 \
        --no-sync >"$_QL_PG_DIR/initdb.log" 2>&1 || {
        cat "$_QL_PG_DIR/initdb.log" >&2
        return 1
    }
    _ql_pg_as_owner "$_QL_PG_BIN/pg_ctl" -D "$_QL_PG_DIR/data" -l "$_QL_PG_DIR/server.log" -w \
        start -o "-p $port -k $_QL_PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off \
-c synchronous_commit=off -c full_page_writes=off" >/dev/null || {
        cat "$_QL_PG_DIR/server.log" >&2
        return 1
    }
    export QUALITYLOOP_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$port/postgres"
    echo "Throwaway PostgreSQL ($("$_QL_PG_BIN/postgres" --version | awk '{print $3}')) at" \
        "$QUALITYLOOP_TEST_POSTGRES_URL"
}

throwaway_postgres_stop() {
    if [[ -n "$_QL_PG_DIR" && -d "$_QL_PG_DIR" ]]; then
        if [[ -f "$_QL_PG_DIR/data/postmaster.pid" ]]; then
            _ql_pg_as_owner "$_QL_PG_BIN/pg_ctl" -D "$_QL_PG_DIR/data" -m immediate -w stop \
                >/dev/null 2>&1 || true
        fi
        rm -rf "$_QL_PG_DIR"
    fi
    _QL_PG_DIR=""
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    throwaway_postgres_start
    echo "Press Ctrl+C to stop and remove it."
    # Sleep in the background so a signal is handled at once, not after the sleep.
    trap 'kill "$sleeper" 2>/dev/null; exit 0' INT TERM
    while true; do
        sleep 3600 &
        sleeper=$!
        wait "$sleeper"
    done
fi
