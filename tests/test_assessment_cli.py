"""``qualityloop assess ...``: every command's JSON and its clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from qualityloop.analytics.assessment import builtin_instrument
from qualityloop.cli import app
from qualityloop.records.organisation.models import OrgUnit, Person

pytestmark = pytest.mark.django_db
runner = CliRunner()


def _run(*args: str) -> tuple[int, dict | list]:
    result = runner.invoke(app, ["assess", *args, "--json"])
    return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def units():
    north = OrgUnit.objects.create(external_id="U1", name="North")
    OrgUnit.objects.create(external_id="U2", name="South")
    Person.objects.create(external_id="P1", name="Ann", org_unit=north)
    return north


def _answer_sheet(path, n=60, seed=3):
    """Answers driven by one level per respondent (so the constructs are reliable)."""
    spec = builtin_instrument()
    rng = np.random.default_rng(seed)
    level = rng.normal(size=n)
    lines = ["unit," + ",".join(spec.item_ids)]
    for r in range(n):
        cells = []
        for item in spec.items:
            sign = -1 if item.reverse else 1
            cells.append(str(int(np.clip(np.rint(4 + sign * 1.3 * level[r]
                                                  + rng.normal(0, 0.8)), 1, 7))))
        lines.append(("U1" if r % 2 else "U2") + "," + ",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_open_progress_import_scores_reliability(units, tmp_path):
    code, opened = _run("open", "Spring", "--units", "U1,U2", "--per-unit", "3",
                        "--closes", "2999-01-01", "--base-url", "https://ql.example")
    assert code == 0 and opened["round"] == "SR-001" and opened["anonymous"] is True
    assert len(opened["links"]) == 6
    assert opened["links"][0]["url"].startswith("https://ql.example/survey/sv_")

    code, listed = _run("rounds")
    assert code == 0 and [r["id"] for r in listed] == ["SR-001"]
    assert listed[0]["invited"] == 6 and listed[0]["closes_on"] == "2999-01-01"

    sheet = _answer_sheet(tmp_path / "answers.csv")
    code, dry = _run("import", "SR-001", str(sheet), "--dry-run")
    assert code == 0 and dry["dry_run"] and dry["created"] == 60
    assert _run("progress", "SR-001")[1]["answered"] == 0
    code, done = _run("import", "SR-001", str(sheet))
    assert code == 0 and done["units"] == {"U1": 30, "U2": 30}
    code, progress = _run("progress", "SR-001")
    assert [(u["unit"], u["invited"], u["answered"]) for u in progress["units"]] == [
        ("U1", 3, 30), ("U2", 3, 30)]

    code, scores = _run("scores", "SR-001", "--unit", "U1")
    assert code == 0 and {row["unit"] for row in scores["scores"]} == {"U1"}
    assert [row["construct"] for row in scores["scores"]] == [
        c.id for c in builtin_instrument().constructs]
    assert all(row["n"] == 30 and 1 <= row["mean"] <= 7 for row in scores["scores"])

    code, reliability = _run("reliability", "SR-001")
    assert code == 0 and reliability["respondents"] == 60
    assert all(row["alpha"] > 0.7 and row["alpha_ok"] for row in reliability["constructs"])
    assert {row["item"] for row in reliability["loadings"]} == set(builtin_instrument().item_ids)

    code, closed = _run("close", "SR-001")
    assert code == 0 and closed["status"] == "closed"


def test_instruments_and_loading_one(units, tmp_path):
    code, listed = _run("instruments")
    assert code == 0 and listed["instruments"] == [] and "tqm-core" in listed["builtin"]
    mine = tmp_path / "mine.yaml"
    mine.write_text(builtin_instrument().to_yaml().replace("id: tqm-core", "id: mine", 1))
    code, loaded = _run("instrument-load", str(mine))
    assert code == 0 and loaded["id"] == "mine@1.0" and loaded["items"] == 39
    code, opened = _run("open", "Mine", "--units", "U1", "--instrument", "mine")
    assert code == 0 and len(opened["links"]) == 1  # one person in U1


@pytest.mark.parametrize("args, message", [
    (("open", "X", "--units", "U9"), "--units: no org unit with external id 'U9'"),
    (("open", "X", "--units", "U2"), "U2 (South) has no active people"),
    (("open", "X", "--units", "U1", "--closes", "tomorrow"), "expected a date as YYYY-MM-DD"),
    (("open", "X", "--units", "U1", "--instrument", "nope"), "no instrument 'nope'"),
    (("progress", "SR-404"), "no survey round 'SR-404'"),
    (("scores", "SR-404"), "no survey round 'SR-404'"),
])
def test_clear_errors(units, args, message):
    code, payload = _run(*args)
    assert code == 1 and payload["ok"] is False
    assert message in payload["error"]


def test_import_problems_are_listed(units, tmp_path):
    _run("open", "Spring", "--units", "U1", "--per-unit", "1")
    bad = tmp_path / "bad.csv"
    bad.write_text("unit,lead1\nU1,0\nU3,4\n")
    code, payload = _run("import", "SR-001", str(bad))
    assert code == 1 and "2 problems found; nothing was imported" in payload["error"]
    assert [(p["row"], p["column"]) for p in payload["problems"]] == [(2, "lead1"), (3, "unit")]


def test_reliability_of_a_round_without_answers_is_a_clear_error(units):
    _run("open", "Spring", "--units", "U1", "--per-unit", "1")
    code, payload = _run("reliability", "SR-001")
    assert code == 1 and payload["error"] == "the round has no responses yet"
