#!/usr/bin/env bash
# The load test, long form: the demo on SQLite (the embedded default) served by the production
# server (`qualityloop serve --production`: gunicorn workers with threads) on a loopback port,
# locust holding 200 requests/s of mixed reads and writes for 60 s. Prints locust's table
# (requests, failures, p50/p95/p99 per request type) and the checks; exits non-zero on any
# failed request, any lost write, or an achieved rate under 90 % of the target.
#   scripts/load-test.sh                       # 200 req/s for 60 s
#   scripts/load-test.sh --rate 300 --seconds 120 --workers 4 --json result.json
# docs/load-test.md explains the load and the checks, and gives the figures measured.
# Python: $VIRTUAL_ENV if active, else ./.venv (the `test` extra installs locust).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -n "${VIRTUAL_ENV:-}" && -x "$VIRTUAL_ENV/bin/python" ]]; then
    PYTHON="$VIRTUAL_ENV/bin/python"
else
    PYTHON="$ROOT/.venv/bin/python"
fi
# The load test makes its own data folder and SQLite database; never a user's.
unset QUALITYLOOP_DATABASE_URL QUALITYLOOP_HOME
exec "$PYTHON" "$ROOT/loadtest/run.py" --rate 200 --seconds 60 "$@"
