"""Hypothesis settings and case counting shared by the fuzz tests (tests/test_fuzz_*.py and
tests/analytics/test_fuzz_analytics.py).

Two profiles: ``ci`` (the default: few examples, so the three fuzz files run in about two minutes)
and ``long`` (``HYPOTHESIS_PROFILE=long``, what scripts/fuzz-long.sh runs). No deadline in either:
the machine is shared and a slow example is not a failure.

Every fuzz test counts the cases it tried under a target name; with ``FUZZ_COUNTS_FILE`` set each
test process keeps its counts in ``FUZZ_COUNTS_FILE.<pid>`` (scripts/fuzz-long.sh adds them up).
"""

from __future__ import annotations

import collections
import json
import os
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings

# CI draws the same cases every run (a red CI is then a change, not luck); the long form,
# scripts/fuzz-long.sh, explores new ones.
settings.register_profile(
    "ci", max_examples=25, deadline=None, derandomize=True, print_blob=True,
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
    """Note one case tried against ``target`` (kept in ``FUZZ_COUNTS_FILE``.<pid> as it goes, so
    a run stopped early still tells what it tried)."""
    CASES[target] += 1
    path = os.environ.get("FUZZ_COUNTS_FILE")
    if path:
        Path(f"{path}.{os.getpid()}").write_text(json.dumps(dict(CASES)), encoding="utf-8")
