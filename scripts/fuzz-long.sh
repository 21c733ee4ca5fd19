#!/usr/bin/env bash
# The long form of the fuzz and property tests (CI runs the short form with the rest of the
# suite): the same three test files under the hypothesis profile "long" (hundreds of examples per
# target instead of tens; schemathesis 60 cases per API operation and role instead of 4).
# Prints the cases tried per target at the end.
#
#   scripts/fuzz-long.sh              # everything, about 30-60 minutes on 2 cores
#   scripts/fuzz-long.sh -k importers # pytest options are passed on
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
export FUZZ_COUNTS_FILE="$WORK/counts.jsonl"
export QUALITYLOOP_HOME="$WORK/home"
unset QUALITYLOOP_DATABASE_URL

STARTED=$SECONDS
status=0
"$PYTHON" -m pytest -m "" -p no:cacheprovider --hypothesis-show-statistics \
    tests/test_fuzz_importers.py tests/analytics/test_fuzz_analytics.py tests/test_fuzz_api.py \
    "$@" || status=$?

echo
echo "=== cases tried per target (profile long, $((SECONDS - STARTED)) s) ==="
"$PYTHON" - "$FUZZ_COUNTS_FILE" <<'EOF'
import collections, json, sys
from pathlib import Path

totals = collections.Counter()
path = Path(sys.argv[1])
if path.exists():
    for line in path.read_text().splitlines():
        totals.update(json.loads(line))
for target, cases in sorted(totals.items()):
    print(f"{cases:>8}  {target}")
print(f"{sum(totals.values()):>8}  in all")
EOF
exit $status
