#!/usr/bin/env bash
# The long form of the fuzz and property tests (CI runs the short form with the rest of the
# suite): the same three test files under the hypothesis profile "long" (hundreds of examples per
# target instead of tens; schemathesis 60 cases per API operation and role instead of 4).
# Prints the cases tried per target at the end.
#
#   scripts/fuzz-long.sh                                # everything (hours on 2 busy cores)
#   FUZZ_FILES=tests/test_fuzz_importers.py scripts/fuzz-long.sh -k csv   # some of it
#   FUZZ_SECONDS=1800 scripts/fuzz-long.sh             # at most half an hour
#
# Python: $VIRTUAL_ENV if active, else ./.venv.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

if [[ -n "${VIRTUAL_ENV:-}" && -x "$VIRTUAL_ENV/bin/python" ]]; then
    PYTHON="$VIRTUAL_ENV/bin/python"
else
    PYTHON="$ROOT/.venv/bin/python"
fi

WORK=$(mktemp -d /tmp/qualityloop-fuzz.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export HYPOTHESIS_PROFILE=long
export FUZZ_COUNTS_FILE="$WORK/counts.json"
export QUALITYLOOP_HOME="$WORK/home"
unset QUALITYLOOP_DATABASE_URL

STARTED=$SECONDS
status=0
read -r -a FILES <<< "${FUZZ_FILES:-tests/test_fuzz_importers.py tests/analytics/test_fuzz_analytics.py tests/test_fuzz_api.py}"
# FUZZ_SECONDS bounds the run (pytest is stopped then; the cases tried so far are still counted).
timeout "${FUZZ_SECONDS:-86400}" \
    "$PYTHON" -m pytest -m "" -p no:cacheprovider --hypothesis-show-statistics "${FILES[@]}" "$@" \
    || status=$?

echo
echo "=== cases tried per target (profile long, $((SECONDS - STARTED)) s) ==="
"$PYTHON" - "$FUZZ_COUNTS_FILE" <<'EOF'
import collections, json, sys
from pathlib import Path

totals = collections.Counter()
base = Path(sys.argv[1])
for part in base.parent.glob(base.name + ".*"):  # one file per test process
    totals.update(json.loads(part.read_text()))
for target, cases in sorted(totals.items()):
    print(f"{cases:>8}  {target}")
# "outcome: ..." lines split cases already counted (imported or failed).
print(f"{sum(v for k, v in totals.items() if not k.startswith('outcome')):>8}  cases in all")
EOF
exit $status
