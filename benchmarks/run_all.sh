#!/usr/bin/env bash
# Run every benchmark in turn, creating the peer environments first if they are missing.
#
#   benchmarks/run_all.sh            # the sizes of the figures in benchmarks/README.md (~5 min)
#   benchmarks/run_all.sh --quick    # small sizes: checks the scripts work, figures mean little
#   benchmarks/run_all.sh --scale    # as the default, with rfm/cohort also at 10M and 50M rows
#                                    # (generating the data once, then ~10-30 min; see
#                                    # docs/performance.md)
#
# PYTHON is the project's interpreter (default .venv/bin/python, else python3). Not part of the
# test run: the figures depend on the machine.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$root/.venv/bin/python" ]]; then PYTHON="$root/.venv/bin/python"; else PYTHON=python3; fi
fi

if [[ "${1:-}" == "--quick" ]]; then
    km=(20000); bgnbd=(--customers 20000 --repeats 1); cox=(20000 --repeats 1)
    demo=(500); import=(5000); pls=(500 --peer-resamples 20)
    scale=(20000 --repeats 1); api=(--customers 200 --clients 2 --seconds 2)
else
    km=(1000000); bgnbd=(--customers 1000000); cox=(1000000)
    demo=(2000 100000); import=(200000); pls=(5000)
    scale=(1000000); api=()
fi
if [[ "${1:-}" == "--scale" ]]; then
    scale=(1000000 10000000 50000000)
fi

"$here/setup_peers.sh"

run() {
    local name="$1"
    shift
    echo
    echo "== $name: $*"
    local started=$SECONDS
    if "$PYTHON" "$here/$name" "$@"; then
        echo "-- $name took $((SECONDS - started)) s"
    else
        echo "-- $name FAILED after $((SECONDS - started)) s"
        failed+=("$name")
    fi
}

failed=()
run kaplan_meier.py "${km[@]}"
run bgnbd_fit.py "${bgnbd[@]}"
run cox_fit.py "${cox[@]}"
run pls_bootstrap.py "${pls[@]}"
run demo_generation.py "${demo[@]}"
run import_orders.py "${import[@]}"
run retention_scale.py "${scale[@]}"
run api_throughput.py "${api[@]}"

echo
if ((${#failed[@]})); then
    echo "failed: ${failed[*]}"
    exit 1
fi
echo "all benchmarks ran"
