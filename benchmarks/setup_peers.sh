#!/usr/bin/env bash
# Create the peer virtual environments the benchmark scripts compare against.
#
#   benchmarks/setup_peers.sh           # create whichever is missing
#   benchmarks/setup_peers.sh --force   # recreate them all
#
# lifetimes and lifelines clash with our pins and with each other (lifetimes 0.11.3 needs
# pandas<2 and numpy<2; lifelines 0.30 needs pandas>=2), so each gets its own environment under
# benchmarks/.peers/ (gitignored). Neither is ever installed into the project's environment.
# PEERS_BASE_PYTHON chooses the interpreter the environments are made from (default python3).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
peers="${PEERS_DIR:-$here/.peers}"
base="${PEERS_BASE_PYTHON:-python3}"
force="${1:-}"

# The pins that produced tests/reference/ and the figures in benchmarks/README.md.
LIFETIMES_PINS=(lifetimes==0.11.3 'pandas<2' 'numpy<2' 'scipy<1.14' 'setuptools<81' 'pyarrow<16')
LIFELINES_PINS=(lifelines==0.30.3)
# plspm 0.5.x (Python port of R's plspm) breaks with numpy 2 and pandas >= 2.2.
PLSPM_PINS=(plspm==0.5.7 'numpy<2' 'pandas<2.2' 'scipy<1.14')

make_venv() {
    local name="$1" check="$2"
    shift 2
    local venv="$peers/$name"
    if [[ "$force" == "--force" ]]; then
        rm -rf "$venv"
    fi
    if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c "$check" 2>/dev/null; then
        echo "peers: $name ready ($venv)"
        return
    fi
    echo "peers: creating $name in $venv"
    rm -rf "$venv"
    "$base" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
    "$venv/bin/python" -c "$check"
    echo "peers: $name ready ($venv)"
}

mkdir -p "$peers"
make_venv lifetimes "import lifetimes, pyarrow" "${LIFETIMES_PINS[@]}"
make_venv lifelines "import lifelines" "${LIFELINES_PINS[@]}"
make_venv plspm "import plspm.plspm" "${PLSPM_PINS[@]}"
