#!/usr/bin/env bash
# Install what the test suite needs, skipping whatever is already there:
#   - Debian's chromium (browser tests), PostgreSQL server binaries (database tests) and a Java
#     runtime (PySpark tests), with apt-get when run as root; otherwise it says what is missing;
#   - the package with its `test` extra into the Python environment scripts/test.sh uses
#     ($VIRTUAL_ENV if one is active, else ./.venv, created here).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

have_chromium() { command -v chromium >/dev/null 2>&1 || [[ -x /usr/bin/chromium ]]; }
have_postgres() { compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; }
have_java() { command -v java >/dev/null 2>&1; }

install_system_packages() {
    local missing=()
    have_chromium || missing+=(chromium)
    have_postgres || missing+=(postgresql)
    have_java || missing+=(default-jre-headless)
    [[ ${#missing[@]} -eq 0 ]] && return 0
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
        echo "Missing system packages: ${missing[*]}. Install them (as root: apt-get install -y" \
            "${missing[*]}) or run: sudo bash .ci/run" >&2
        return 1
    fi
    if [[ " ${missing[*]} " == *" postgresql "* ]]; then
        # Only the server binaries are wanted: the tests start their own throwaway cluster.
        mkdir -p /etc/postgresql-common/createcluster.d
        echo "create_main_cluster = off" \
            >/etc/postgresql-common/createcluster.d/qualityloop-no-main-cluster.conf
    fi
    export DEBIAN_FRONTEND=noninteractive
    # A fresh machine's package lists may be empty.
    apt-get update -qq
    echo "Installing ${missing[*]} with apt-get"
    apt-get install -y -qq "${missing[@]}" </dev/null >/dev/null
}

python_env() {
    if [[ -n "${VIRTUAL_ENV:-}" && -x "$VIRTUAL_ENV/bin/python" ]]; then
        echo "$VIRTUAL_ENV"
        return
    fi
    if [[ ! -x "$ROOT/.venv/bin/python" ]]; then
        echo "Creating $ROOT/.venv" >&2
        python3 -m venv "$ROOT/.venv"
    fi
    echo "$ROOT/.venv"
}

# True when the environment already runs this checkout with every test dependency importable.
test_deps_present() {
    local python=$1
    "$python" - "$ROOT/src" <<'EOF' >/dev/null 2>&1
import sys
from pathlib import Path

import mypy, mypy_django_plugin, polars, psycopg, pytest_django, pytest_playwright, ruff, xdist  # noqa
import pyspark  # noqa
import qualityloop

assert Path(qualityloop.__file__).resolve().is_relative_to(Path(sys.argv[1]).resolve())
EOF
}

install_python_packages() {
    local env python
    env=$(python_env)
    python="$env/bin/python"
    if test_deps_present "$python"; then
        return 0
    fi
    echo "Installing qualityloop[test] into $env"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "$python" -m pip install --quiet --upgrade pip
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "$python" -m pip install --quiet -e "$ROOT[test]"
}

install_system_packages
install_python_packages
