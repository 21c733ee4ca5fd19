"""The relationship engine on the demo organisation (planted effects found, what-if and
priorities behave), PLS on a researcher's file (the published ECSI coefficients), the CLI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from django.core.management import call_command
from typer.testing import CliRunner

from qualityloop.cli import app
from qualityloop.records.customers.models import Customer
from qualityloop.records.organisation.models import OrgUnit
from qualityloop.records.quality.models import Nonconformance
from qualityloop.services import relationship as rel

DATA = Path(__file__).parent / "data" / "ecsi"
DEMO_AS_OF = dt.date(2026, 11, 25)
# Planted hazard ratios (docs/demo-model.md) that 3,000 customers estimate precisely enough to
# test. Too weak at this size to test: requirement_missed (1.5) and requirement_surpassed (0.8)
# concern only the key accounts (intervals about 0.5-2); designed_without_customers (1.3) is
# estimable but travels with the unit's TQM level (escaped design defects), so its estimate
# sits near the top of its interval.
TESTABLE = {"field_defects": 1.6, "open_complaint": 2.0, "slow_complaint": 1.4}


@pytest.mark.django_db
def test_too_few_churns_is_a_clear_error():
    # before the demo tests: the module's demo stays in the database until the module ends
    with pytest.raises(rel.RelationshipError, match="only 0 customers churned"):
        rel.customer_drivers(as_of=DEMO_AS_OF)


# the demo (one per module) -----------------------------------------------------------------

@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """A 3,000-customer demo and the whole answer on it (computed once, not cached)."""
    from qualityloop.services.demo import generate_demo

    with django_db_blocker.unblock():
        generate_demo(n_customers=3000, seed=7, as_of=DEMO_AS_OF)
        answer = rel.relationship_answer(as_of=DEMO_AS_OF, use_cache=False)
        clv = rel._clv(12, DEMO_AS_OF, None)
        yield answer, clv
        call_command("flush", interactive=False, verbosity=0)


@pytest.mark.slow
@pytest.mark.django_db
def test_drivers_find_the_planted_hazard_ratios(demo):
    drivers = demo[0].drivers
    summary = drivers.summary
    outside = {name: (round(summary.loc[name, "lower"], 2), round(summary.loc[name, "upper"], 2))
               for name, truth in TESTABLE.items()
               if not summary.loc[name, "lower"] <= truth <= summary.loc[name, "upper"]}
    assert not outside, f"planted hazard ratio outside its 95% interval: {outside}"
    assert summary.loc["field_defects", "lower"] > 1.2  # the strongest effect is clearly found
    assert drivers.customers == 3000 and drivers.events > 300
    assert list(summary["p"]) == sorted(summary["p"])  # strongest evidence first
    assert drivers.sentences[0].startswith("Customers who met a field defect left 1.")
    assert set(drivers.ph_check.index) == set(summary.index)
    assert 0.5 < drivers.concordance < 1
    curves = drivers.survival_by_exposure
    field = curves[curves["exposure"] == "field_defects"]
    assert set(field["group"]) == {"After a field defect", "No field defect yet"}
    assert field["survival"].between(0, 1).all()


@pytest.mark.slow
@pytest.mark.django_db
def test_unit_link_finds_a_positive_tqm_to_retention_total_effect(demo):
    link = demo[0].unit_link
    assert link is not None, demo[0].problems
    total = link.effects.set_index(["kind", "from", "to"]).loc[("total", "TQM", "Retention")]
    assert total["coefficient"] > 0  # the sign, not the size: 8 units cannot pin the size
    assert link.units == 8 and len(link.data) == link.data[["unit", "period"]].drop_duplicates(
        ).shape[0]
    assert any(f"only {link.units} units" in s for s in link.sentences)  # sample size visible
    assert list(link.paths.columns) == ["from", "to", "coefficient", "lower", "upper", "p"]
    assert (link.paths["lower"] <= link.paths["coefficient"]).all()


@pytest.mark.slow
@pytest.mark.django_db
def test_what_if_is_zero_for_no_change_and_keeps_more_for_bigger_cuts(demo):
    drivers, clv = demo[0].drivers, demo[1]
    none = rel.what_if_from(drivers, {"field_defects": 0.0}, clv, draws=50)
    assert none.customers_kept == (0.0, 0.0, 0.0) and none.clv_gained == (0.0, 0.0, 0.0)
    results = [rel.what_if_from(drivers, {"field_defects": c}, clv, draws=200)
               for c in (-0.1, -0.3, -0.6, -1.0)]
    kept = [r.customers_kept[0] for r in results]
    value = [r.clv_gained[0] for r in results]
    assert 0 < kept[0] < kept[1] < kept[2] < kept[3]
    assert 0 < value[0] < value[1] < value[2] < value[3]
    lower, estimate, upper = (results[1].customers_kept[i] for i in (1, 0, 2))
    assert 0 < lower < estimate < upper
    segments = results[1].by_segment
    assert segments["customers_kept"].sum() == pytest.approx(kept[1])
    assert "field defects cut by 30%" in results[1].sentence
    assert demo[0].what_if.changes == {"field_defects": -0.3}
    with pytest.raises(rel.RelationshipError, match="cannot change 'nps'"):
        rel.what_if_from(drivers, {"nps": -0.3}, clv)


@pytest.mark.slow
@pytest.mark.django_db
def test_priorities_rank_many_valuable_customers_above_one_small_one(demo):
    drivers, clv = demo[0].drivers, demo[1]
    active = set(drivers.fit.current.index)
    values = clv[clv.index.isin(active)].sort_values()
    unit = OrgUnit.objects.get(external_id="UNIT-05")

    def field_nc(external_id: str, customers: list[str]) -> None:
        nc = Nonconformance.objects.create(
            external_id=external_id, title="Planted field failure", org_unit=unit,
            detected_on=DEMO_AS_OF - dt.timedelta(days=3), stage="field",
            source="customer_complaint", severity="major", status="open")
        nc.affected_customers.set(Customer.objects.filter(external_id__in=customers))

    field_nc("NC-TEST-MANY", list(values.index[-10:]))
    field_nc("NC-TEST-ONE", list(values.index[:1]))
    ranked = rel.priorities_from(drivers, clv, as_of=DEMO_AS_OF, limit=10_000)
    order = list(ranked["external_id"])
    assert order.index("NC-TEST-MANY") < order.index("NC-TEST-ONE")
    many = ranked.set_index("external_id").loc["NC-TEST-MANY"]
    assert many["customers"] == 10 and many["clv_at_risk"] > 0
    assert many["url_name"] == "record-detail"
    assert many["url_args"] == ("nonconformances", "NC-TEST-MANY")
    assert list(ranked["clv_at_risk"]) == sorted(ranked["clv_at_risk"], reverse=True)


@pytest.mark.slow
@pytest.mark.django_db
def test_answer_headline_and_cli_json(demo):
    answer = demo[0]
    assert 3 <= len(answer.headline) <= 5
    assert answer.headline[0].startswith("Customers who met a field defect")
    assert not answer.priorities.empty
    runner = CliRunner()
    result = runner.invoke(app, ["relate", "drivers", "--as-of", "2026-11-25", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["customers"] == 3000
    assert {row["exposure"] for row in data["summary"]} >= set(TESTABLE)
    result = runner.invoke(app, ["relate", "what-if", "--change", "field_defects=-0.3",
                                 "--horizon", "6", "--draws", "50", "--as-of", "2026-11-25",
                                 "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["horizon_months"] == 6 and data["customers_kept"]["estimate"] > 0
    result = runner.invoke(app, ["relate", "priorities", "--limit", "3", "--unit", "UNIT-05",
                                 "--as-of", "2026-11-25", "--json"])
    assert result.exit_code == 0, result.output
    assert [row["rank"] for row in json.loads(result.stdout)["priorities"]] == [1, 2, 3]
    for args, message in (
            (["what-if", "--change", "field_defects"], "expected EXPOSURE=RELATIVE_CHANGE"),
            (["what-if", "--change", "nps=-0.3"], "cannot change 'nps'"),
            (["what-if", "--change", "field_defects=-1.5"], "at least -1"),
            (["drivers", "--unit", "NOPE"], "no org unit with external id 'NOPE'"),
            (["drivers", "--as-of", "25.11.2026"], "--as-of: expected a date")):
        bad = runner.invoke(app, ["relate", *args, "--as-of", "2026-11-25", "--json"]
                            if "--as-of" not in args else ["relate", *args, "--json"])
        assert bad.exit_code == 1, bad.output
        assert message in json.loads(bad.stdout)["error"]


# PLS on a researcher's file --------------------------------------------------------------

ECSI_PATHS = {("Image", "Expectation"): 0.5049, ("Image", "Satisfaction"): 0.1787,
              ("Image", "Loyalty"): 0.1958, ("Expectation", "Quality"): 0.5567,
              ("Expectation", "Value"): 0.0500, ("Expectation", "Satisfaction"): 0.0625,
              ("Quality", "Value"): 0.5583, ("Quality", "Satisfaction"): 0.5120,
              ("Value", "Satisfaction"): 0.1948, ("Satisfaction", "Complaints"): 0.5281,
              ("Satisfaction", "Loyalty"): 0.4855, ("Complaints", "Loyalty"): 0.0669}


def test_pls_from_file_gives_the_published_ecsi_coefficients():
    result = rel.pls_from_file(DATA / "ecsi_mobi.csv", DATA / "ecsi_model.yaml")
    paths = result.paths.set_index(["from", "to"])["coefficient"]
    assert set(paths.index) == set(ECSI_PATHS)
    for path, published in ECSI_PATHS.items():
        assert paths[path] == pytest.approx(published, abs=0.001), path
    assert result.r2["Satisfaction"] == pytest.approx(0.6811, abs=0.001)
    assert result.r2["Loyalty"] == pytest.approx(0.4569, abs=0.001)
    assert result.rows == 250


def test_pls_from_file_accepts_yaml_text_pairs_excel_and_bootstrap(tmp_path):
    frame = pd.read_csv(DATA / "ecsi_mobi.csv")
    excel = tmp_path / "mobi.xlsx"
    frame.to_excel(excel, index=False)
    spec = ("measurement:\n  Image: [IMAG1, IMAG2, IMAG3]\n  Loyalty: [CUSL1, CUSL2, CUSL3]\n"
            "structural:\n  - [Image, Loyalty]\nbootstrap: 100\nseed: 1\n")
    result = rel.pls_from_file(excel, spec)
    row = result.paths.iloc[0]
    assert row["lower"] < row["coefficient"] < row["upper"] and row["p"] < 0.05


@pytest.mark.parametrize("spec, cell, message", [
    ("measurement:\n  Image: [IMAG1, NOPE]\nstructural: [Image -> Loyalty]\n", None,
     "ecsi.csv: no column 'NOPE'"),
    ("measurement:\n  Image: [IMAG1]\n  Loyalty: [CUSL1]\nstructural: [Image => Loyalty]\n",
     None, "key 'structural', item 1"),
    ("measurement:\n  Image: [IMAG1]\nstructural: [Image -> Loyalty]\npaths: []\n", None,
     "unknown key 'paths'"),
    ("measurement: [IMAG1]\nstructural: [Image -> Loyalty]\n", None, "key 'measurement'"),
    ("measurement: {Image: [IMAG1\n", None, "not valid YAML"),
    ("measurement:\n  Image: [IMAG1]\n  Loyalty: [CUSL1]\nstructural: [Image -> Loyalty]\n",
     "seven", "ecsi.csv, row 4, column 'IMAG1': expected a number, got 'seven'"),
    ("measurement:\n  Image: [IMAG1]\n  Loyalty: [CUSL1]\nstructural: [Image -> Nowhere]\n",
     None, "Nowhere"),
])
def test_pls_from_file_errors_name_file_row_column_and_key(tmp_path, spec, cell, message):
    frame = pd.read_csv(DATA / "ecsi_mobi.csv").astype(object)
    if cell is not None:
        frame.loc[2, "IMAG1"] = cell  # spreadsheet row 4: header is row 1
    data = tmp_path / "ecsi.csv"
    frame.to_csv(data, index=False)
    model = tmp_path / "model.yaml"
    model.write_text(spec, encoding="utf-8")
    with pytest.raises(rel.ModelSpecError, match=message.replace("[", r"\[")):
        rel.pls_from_file(data, model)


def test_cli_pls_json_and_errors(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["relate", "pls", str(DATA / "ecsi_mobi.csv"), "--model",
                                 str(DATA / "ecsi_model.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    paths = {(p["from"], p["to"]): p["coefficient"] for p in data["paths"]}
    assert paths[("Image", "Expectation")] == pytest.approx(0.5049, abs=0.001)
    missing = runner.invoke(app, ["relate", "pls", str(tmp_path / "none.csv"), "--model",
                                  str(DATA / "ecsi_model.yaml"), "--json"])
    assert missing.exit_code == 1 and "no such file" in json.loads(missing.stdout)["error"]
