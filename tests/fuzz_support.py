"""Hypothesis settings and case counting shared by the fuzz tests (tests/test_fuzz_*.py and
tests/analytics/test_fuzz_analytics.py).

Two profiles: ``ci`` (the default: few examples, so the three fuzz files run in about two minutes)
and ``long`` (``HYPOTHESIS_PROFILE=long``, what scripts/fuzz-long.sh runs). No deadline in either:
the machine is shared and a slow example is not a failure.

Every fuzz test counts the cases it tried under a target name; with ``FUZZ_COUNTS_FILE`` set the
counts are added to that JSON file when the test process ends (scripts/fuzz-long.sh prints them).
"""

from __future__ import annotations

import atexit
import collections
import json
import os
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings

settings.register_profile(
    "ci", max_examples=25, deadline=None, derandomize=False, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.differing_executors],
)
settings.register_profile(
    "long", max_examples=1000, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.differing_executors, HealthCheck.data_too_large],
)
# Exploring: every failure at once, without the time shrinking takes.
settings.register_profile("explore", parent=settings.get_profile("ci"),
                          phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target])
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)
LONG = PROFILE == "long"

CASES: collections.Counter[str] = collections.Counter()


def examples(ci: int, long: int) -> int:
    """The number of examples a test asks for under the active profile."""
    return long if LONG else ci


def count(target: str) -> None:
    """Note one case tried against ``target``."""
    CASES[target] += 1


def _write_counts() -> None:
    path = os.environ.get("FUZZ_COUNTS_FILE")
    if not path or not CASES:
        return
    # Several pytest processes may add to the same file (one per worker): one line each.
    with Path(path).open("a", encoding="utf-8") as out:
        out.write(json.dumps(dict(CASES)) + "\n")


atexit.register(_write_counts)
