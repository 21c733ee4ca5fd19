"""The load test, short form (CI): ``loadtest/run.py`` serves the demo with the production server
on SQLite (the embedded default) and runs locust at RATE requests/s of mixed reads and writes for
SECONDS. No request may fail, no acknowledged write may be lost (creates, concurrent PATCHes of
different columns of one record, read-modify-write with If-Match on contended records, one
history version per write). The rate achieved is a speed figure, not asserted here (a shared
CI machine sets it): the long form measures it.

The long form is ``scripts/load-test.sh`` (200 requests/s for 60 s); docs/load-test.md has the
figures. Latency is reported, not asserted: it depends on the machine and what else runs on it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
# CI runs this next to another test process on 2 cores, which the server and locust share.
# Measured here with other sessions' test runs going (load average 6-9): 37.8 req/s of 40 in
# 12 s (the first second ramps up), answers p50 110 ms, so the server had room to spare.
RATE = int(os.environ.get("QUALITYLOOP_LOAD_RATE", "40"))
SECONDS = int(os.environ.get("QUALITYLOOP_LOAD_SECONDS", "15"))


@pytest.fixture(scope="module")
def load_result(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("load") / "result.json"
    env = {key: value for key, value in os.environ.items()
           if key not in ("QUALITYLOOP_DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "loadtest" / "run.py"), "--rate", str(RATE),
         "--seconds", str(SECONDS), "--customers", "100", "--min-share", "0",
         "--json", str(out)],
        env=env, capture_output=True, text=True, timeout=900,
    )
    print(done.stdout[-6000:])  # the table, shown when a test fails
    assert out.exists(), done.stderr[-4000:]
    result = json.loads(out.read_text())
    result["returncode"] = done.returncode
    return result


@pytest.mark.slow
def test_no_request_fails(load_result):
    assert load_result["failures"] == 0, load_result["stats"]["_failures"]
    assert load_result["requests"] > 0


@pytest.mark.slow
def test_no_acknowledged_write_is_lost(load_result):
    assert load_result["problems"] == [] or all(
        problem.startswith("achieved") for problem in load_result["problems"]
    ), load_result["problems"]
    assert load_result["creates"] > 0
    assert load_result["appends"] > 0


@pytest.mark.slow
def test_the_run_passes_as_a_whole(load_result):
    assert load_result["passed"] and load_result["returncode"] == 0, load_result["problems"]


# --- the checks themselves (fast): they catch what they are there to catch ----------------------

def _runner():
    spec = importlib.util.spec_from_file_location("loadtest_run", ROOT / "loadtest" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Records:
    """Stands in for a model: ``objects.get(external_id=...)`` gives a stored description."""

    def __init__(self, descriptions: dict[str, str]):
        self.objects = SimpleNamespace(
            get=lambda external_id: SimpleNamespace(description=descriptions[external_id]))


def test_an_append_written_over_is_reported():
    ledger = {"appended": {"HOT-0": ["u1n1", "u2n2", "u1n3"]}}
    check_appends = _runner().check_appends
    assert check_appends(_Records({"HOT-0": "u1n1 u2n2 u1n3"}), ["HOT-0"], ledger) == []
    lost = check_appends(_Records({"HOT-0": "u1n1 u1n3"}), ["HOT-0"], ledger)
    assert len(lost) == 1 and "1 acknowledged appends lost ['u2n2']" in lost[0]
    repeated = check_appends(_Records({"HOT-0": "u1n1 u2n2 u2n2 u1n3"}), ["HOT-0"], ledger)
    assert "1 repeated ['u2n2']" in repeated[0]
    stray = check_appends(_Records({"HOT-0": "u1n1 u2n2 u1n3 u9n9"}), ["HOT-0"], ledger)
    assert "1 never sent ['u9n9']" in stray[0]
    # A write whose answer never came (the run stopped) may or may not have been made.
    ledger["pending"] = [["HOT-0", "description", "u9n9"]]
    assert check_appends(_Records({"HOT-0": "u1n1 u2n2 u1n3 u9n9"}), ["HOT-0"], ledger) == []


def test_the_users_split_the_rate_and_updaters_come_in_pairs():
    counts = _runner().user_counts(200)
    assert counts["OwnFieldUpdater"] % 2 == 0
    assert sum(counts.values()) >= 200


def test_the_slowest_stretch_of_the_run_is_found(tmp_path):
    """A run that averages the target can still have sagged for a while: the report gives the
    slowest WINDOW_SECONDS while all users ran (the stop, here the last second, is left out)."""
    history = tmp_path / "history.csv"
    counts, total = [], 0
    for second in range(30):
        total += 100 if 10 <= second < 20 else 300  # ten slow seconds in the middle
        counts.append(f"{1000 + second},{0 if second == 29 else 200},,Aggregated,0,0,{total},0")
    history.write_text("Timestamp,User Count,Type,Name,Requests/s,Failures/s,"
                       "Total Request Count,Total Failure Count\n" + "\n".join(counts) + "\n")
    run = _runner()
    assert run.lowest_window_rate(history, window=10) == 100.0
    assert run.lowest_window_rate(history, window=5) == 100.0
    assert run.lowest_window_rate(history, window=60) is None  # shorter than the window
