#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#   0. install what is missing (scripts/install-test-deps.sh: chromium and PostgreSQL binaries
#      when root, the `test` extra into $VIRTUAL_ENV or ./.venv),
#   1. start a throwaway PostgreSQL server (unless QUALITYLOOP_TEST_POSTGRES_URL is already set),
#   2. lint (ruff) and type-check (mypy),
#   3. every test on the default embedded SQLite database, slow and browser tests included
#      (all but the Spark ones),
#   4. the analytics engine parity tests (-m spark): the retention suite on a local PySpark
#      session and on DuckDB, one Spark session in one process (no -n),
#   5. every test again (all but the Spark ones, slow and browser included) with the Django test
#      database on PostgreSQL.
# Every check runs even when an earlier one failed (one run shows everything); the script exits
# non-zero if any failed, pytest's "no tests collected" (exit 5) included.
# Python: $VIRTUAL_ENV if active, else ./.venv.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

pick_python() {
    if [[ -n "${VIRTUAL_ENV:-}" && -x "$VIRTUAL_ENV/bin/python" ]]; then
        echo "$VIRTUAL_ENV/bin/python"
    elif [[ -x "$ROOT/.venv/bin/python" ]]; then
        echo "$ROOT/.venv/bin/python"
    else
        echo "$ROOT/.venv/bin/python"
    fi
}

step() {
    echo
    echo "=== $* ==="
    STEP_STARTED=$SECONDS
}

step_done() {
    echo "--- done in $((SECONDS - STEP_STARTED)) s"
}

FAILED=()

# Run a check; on failure remember it and carry on with the next one.
check() {
    local name=$1
    shift
    local status=0
    "$@" || status=$?
    if [[ $status -ne 0 ]]; then
        echo "!!! $name failed (exit $status)"
        FAILED+=("$name (exit $status)")
    fi
}

main() {
    local python
    step "Test dependencies"
    "$ROOT/scripts/install-test-deps.sh"
    step_done
    python=$(pick_python)
    echo "Python: $python ($("$python" --version 2>&1))"

    step "PostgreSQL for the tests"
    if [[ -z "${QUALITYLOOP_TEST_POSTGRES_URL:-}" ]]; then
        # shellcheck source=scripts/throwaway-postgres.sh
        source "$ROOT/scripts/throwaway-postgres.sh"
        throwaway_postgres_start
    else
        echo "Using the server at QUALITYLOOP_TEST_POSTGRES_URL"
    fi
    step_done

    step "ruff check"
    check "ruff" "$python" -m ruff check .
    step_done

    step "mypy"
    # The django-stubs plugin imports the settings, which create the data folder: keep it out of
    # the checkout.
    local mypy_home
    mypy_home=$(mktemp -d)
    check "mypy" env QUALITYLOOP_HOME="$mypy_home" "$python" -m mypy
    rm -rf "$mypy_home"
    step_done

    # The suite must not touch a user's data folder or database (nor create ./qualityloop-data:
    # pytest-django reads the settings before tests/conftest.py can choose a folder).
    unset QUALITYLOOP_DATABASE_URL
    QUALITYLOOP_HOME=$(mktemp -d /tmp/qualityloop-test-home.XXXXXX)
    export QUALITYLOOP_HOME
    export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

    step "pytest: all tests on SQLite (slow and browser included, Spark in the next step)"
    check "pytest on SQLite" "$python" -m pytest -n 2 -m "not spark" -p no:cacheprovider
    step_done

    step "pytest: retention analytics on PySpark (local mode) and DuckDB"
    check "pytest on PySpark" "$python" -m pytest -m spark -p no:cacheprovider
    step_done

    # The same tests again with the Django test database on PostgreSQL (test_<name>, one per
    # worker); processes a test starts (the served demo, CLI runs) get scratch databases of their
    # own on the same server (tests/pg_support.py).
    step "pytest: all tests on PostgreSQL (slow and browser included)"
    check "pytest on PostgreSQL" env QUALITYLOOP_DATABASE_URL="$QUALITYLOOP_TEST_POSTGRES_URL" \
        "$python" -m pytest -n 2 -m "not spark" -p no:cacheprovider
    step_done

    rm -rf "$QUALITYLOOP_HOME"
    echo
    if [[ ${#FAILED[@]} -gt 0 ]]; then
        echo "FAILED after $SECONDS s: ${FAILED[*]}"
        exit 1
    fi
    echo "All checks passed in $SECONDS s."
}

main "$@"
