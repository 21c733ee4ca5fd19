"""The record-based TQM index: each indicator on hand-made records with known answers, the
composite on the demo against the true unit TQM level, the survey comparison and the CLI."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command
from scipy.stats import spearmanr
from typer.testing import CliRunner

from qualityloop.cli import app
from qualityloop.records.customers import models as cm
from qualityloop.records.organisation.models import OrgUnit, Person
from qualityloop.records.quality import models as qm
from qualityloop.services import tqm_index as ti

AS_OF = dt.date(2025, 12, 31)
NC_DAY = dt.date(2025, 3, 1)
D = dt.date


# hand-made records ------------------------------------------------------------------------------

class Maker:
    """Creates records with fresh external ids."""

    def __init__(self) -> None:
        self.n = 0

    def eid(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}-{self.n}"

    def unit(self, key: str, parent=None) -> OrgUnit:
        return OrgUnit.objects.create(external_id=key, name=f"Unit {key}", parent=parent)

    def person(self, unit, active: bool = True) -> Person:
        return Person.objects.create(external_id=self.eid("P"), name="Someone", org_unit=unit,
                                     active=active)

    def objective(self, unit, owner, direction, target, tolerance=0.0, parent=None):
        return qm.QualityObjective.objects.create(
            external_id=self.eid("OBJ"), title="Objective", org_unit=unit, owner=owner,
            kpi="kpi", target=target, direction=direction, tolerance=tolerance,
            due_on=D(2025, 12, 31), parent=parent)

    def measure(self, objective, day, value) -> None:
        qm.ObjectiveMeasurement.objects.create(external_id=self.eid("OM"), objective=objective,
                                               measured_on=day, value=value)

    def customer(self, unit, acquired, churned=None) -> cm.Customer:
        return cm.Customer.objects.create(
            external_id=self.eid("C"), name="Customer", segment="enterprise",
            acquired_on=acquired, serving_unit=unit, churned_on=churned,
            status="churned" if churned else "active")

    def nc(self, unit, stage, day=NC_DAY) -> qm.Nonconformance:
        return qm.Nonconformance.objects.create(
            external_id=self.eid("NC"), title="NC", org_unit=unit, detected_on=day, stage=stage,
            source="inspection", severity="minor")

    def action(self, nc, owner, due, completed=None, status="planned", checked=None):
        return qm.CorrectiveAction.objects.create(
            external_id=self.eid("CA"), nonconformance=nc, kind="corrective",
            description="Fix", owner=owner, due_on=due, completed_on=completed, status=status,
            effectiveness_checked_on=checked)

    def complaint(self, customer, received, acknowledged=None, resolved=None, unit="serving"):
        return cm.Complaint.objects.create(
            external_id=self.eid("CMP"), customer=customer, received_on=received,
            description="Problem", acknowledged_on=acknowledged, resolved_on=resolved,
            org_unit=customer.serving_unit if unit == "serving" else unit)

    def feedback(self, customer, day, channel="survey") -> None:
        cm.FeedbackResponse.objects.create(external_id=self.eid("FB"), customer=customer,
                                           responded_on=day, channel=channel, nps=8)


@pytest.fixture
def org(db):
    """Company C with units A (and its team A1 below it) and B; objectives cascaded to A and B.

    Known answers for 2025 are given next to each record.
    """
    make = Maker()
    company = make.unit("C")
    a, b = make.unit("A", company), make.unit("B", company)
    a1 = make.unit("A1", a)
    boss = make.person(company)
    pa1, pa2, pa3 = make.person(a), make.person(a), make.person(a1)
    make.person(a, active=False)  # not counted
    pb = make.person(b)

    # objectives: A 3 of 5 on track (A1's rolls up), B 1 of 2
    top = make.objective(company, boss, "increase", 90)
    obj_a = make.objective(a, pa1, "increase", 90, parent=top)
    for month, value in ((1, 95), (2, 85), (3, 90), (4, 80)):
        make.measure(obj_a, D(2025, month, 28), value)
    make.measure(make.objective(a1, pa3, "decrease", 5), D(2025, 5, 31), 3)
    obj_b = make.objective(b, pb, "maintain", 10, tolerance=1.0, parent=top)
    make.measure(obj_b, D(2025, 6, 30), 10.5)
    make.measure(obj_b, D(2025, 7, 31), 12)

    # problem-recognition training at 2025-12-31: A 1 of 3, B 1 of 1
    pr = qm.TrainingCourse.objects.create(external_id="CRS-PR", title="Problem recognition",
                                          course_type="problem_recognition", validity_months=12)
    other = qm.TrainingCourse.objects.create(external_id="CRS-X", title="Safety",
                                             course_type="safety")
    for person, course, done, passed, expires in (
        (pa1, pr, D(2025, 3, 1), True, None),  # valid until 2026-03-01: current
        (pa2, pr, D(2024, 6, 1), True, None),  # expired 2025-06-01
        (pa3, pr, D(2025, 5, 1), False, None),  # failed
        (pa2, other, D(2025, 5, 1), True, None),  # another course type
        (pb, pr, D(2025, 1, 10), True, D(2025, 12, 31)),  # expires on the day: still current
    ):
        qm.TrainingRecord.objects.create(external_id=make.eid("TR"), person=person,
                                         course=course, completed_on=done, passed=passed,
                                         expires_on=expires)
    Person.objects.update(created_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))

    # CAPA in A: on time 2 of 4 (A1's action without NC rolls up); effective first 1 of 3
    nc_a = make.nc(a, "production")
    make.action(nc_a, pa1, D(2025, 3, 1), D(2025, 2, 20), "effective", D(2025, 3, 20))
    recheck = make.action(nc_a, pa1, D(2025, 4, 1), D(2025, 4, 10), "ineffective",
                          D(2025, 4, 20))
    recheck.status, recheck.effectiveness_checked_on = "effective", D(2025, 5, 1)
    recheck.save()  # its first verdict stays "ineffective"
    make.action(nc_a, pa1, D(2025, 11, 1))  # overdue, open: late
    make.action(nc_a, pa1, D(2026, 2, 1))  # due after as_of: not counted
    make.action(nc_a, pa1, D(2025, 5, 1), status="cancelled")  # not counted
    make.action(None, pa3, D(2025, 5, 1), D(2025, 5, 1), "ineffective", D(2025, 6, 1))

    # design: A 1 of 2 reviews with customers; caught 4 of 7 (delivery left out); B no reviews
    customer_a = make.customer(a, D(2024, 6, 1))
    project = cm.DesignProject.objects.create(external_id="DP-1", name="Drive", org_unit=a,
                                              started_on=D(2024, 1, 1))
    with_customer = cm.DesignStageReview.objects.create(
        external_id="DR-1", project=project, stage="design", held_on=D(2025, 2, 1),
        defects_found=3)
    with_customer.customer_participants.add(customer_a)
    cm.DesignStageReview.objects.create(external_id="DR-2", project=project,
                                        stage="prototype", held_on=D(2025, 4, 1),
                                        defects_found=1)
    for stage in ("design", "design", "design", "prototype", "production", "field",
                  "delivery"):
        make.nc(a, stage)  # plus nc_a (production) above
    make.nc(b, "production")

    # complaints: A ack median 2, resolution median 20 (one unresolved: censored; its org
    # unit is empty so it falls back to the serving unit A1); B: none resolved
    customer_a1 = make.customer(a1, D(2025, 1, 1), churned=D(2025, 9, 1))
    make.complaint(customer_a, D(2025, 1, 1), D(2025, 1, 2), D(2025, 1, 11))
    make.complaint(customer_a, D(2025, 2, 1), D(2025, 2, 4), D(2025, 2, 21))
    make.complaint(customer_a1, D(2025, 3, 1), D(2025, 3, 3), unit=None)
    customer_b = make.customer(b, D(2024, 1, 1))
    make.complaint(customer_b, D(2025, 5, 1), D(2025, 5, 2))
    make.complaint(customer_b, D(2025, 6, 1), D(2025, 6, 3))

    # feedback: A expects 2 (customer_a, days 365 and 547) + 1 (customer_a1 before churn),
    # answered 2 surveys (the e-mail answer does not count)
    make.feedback(customer_a, D(2025, 6, 5))
    make.feedback(customer_a, D(2025, 7, 5), channel="email")
    make.feedback(customer_a1, D(2025, 7, 10))
    return {"A": a, "B": b, "A1": a1, "C": company}


def value(index: pd.DataFrame, unit: str, indicator: str, period: str = "2025") -> pd.Series:
    row = index[(index["unit"] == unit) & (index["indicator"] == indicator)
                & (index["period"] == period)]
    assert len(row) == 1, row
    return row.iloc[0]


@pytest.fixture
def index(org) -> pd.DataFrame:
    return ti.record_index("year", as_of=AS_OF)


def test_default_units_are_those_objectives_are_cascaded_to(index):
    assert sorted(index["unit"].unique()) == ["A", "B"]
    assert sorted(index["period"].unique()) == ["2024", "2025"]
    assert set(index["indicator"]) == {i.name for i in ti.INDICATORS}
    assert list(index.columns) == ti.LONG_COLUMNS


def test_objectives_on_track_with_sub_unit_roll_up(index):
    a = value(index, "A", "objectives_on_track")
    assert (a["numerator"], a["denominator"], a["value"]) == (3, 5, 0.6)
    assert a["score_0_100"] == pytest.approx(60)
    assert value(index, "B", "objectives_on_track")["value"] == 0.5  # maintain, tolerance 1


def test_no_data_in_a_period_is_nan_with_a_reason(index):
    row = value(index, "A", "objectives_on_track", "2024")
    assert math.isnan(row["value"]) and math.isnan(row["score_0_100"])
    assert row["reason"] == "no objective measurements in the period"
    design_b = value(index, "B", "defects_caught_before_production")
    assert math.isnan(design_b["value"])
    assert design_b["reason"] == "no design stage reviews held in the period"
    assert (index.loc[index["value"].notna(), "reason"] == "").all()
    assert (index.loc[index["value"].isna(), "reason"] != "").all()


def test_training_coverage_counts_current_passed_problem_recognition(index):
    a = value(index, "A", "problem_recognition_training")
    assert (a["numerator"], a["denominator"]) == (1, 3)  # inactive person left out
    assert value(index, "B", "problem_recognition_training")["value"] == 1.0
    assert value(index, "B", "problem_recognition_training", "2024")["value"] == 0.0


def test_capa_on_time_and_effective_at_first_check(index):
    on_time = value(index, "A", "capa_on_time")
    assert (on_time["numerator"], on_time["denominator"]) == (2, 4)
    effective = value(index, "A", "capa_effective_first_check")
    assert (effective["numerator"], effective["denominator"]) == (1, 3)
    assert value(index, "B", "capa_on_time")["reason"] == "no corrective actions due in the period"


def test_design_participation_and_defects_caught(index):
    assert value(index, "A", "design_customer_participation")["value"] == 0.5
    caught = value(index, "A", "defects_caught_before_production")
    assert (caught["numerator"], caught["denominator"]) == (4, 7)


def test_complaint_times_are_censored_medians(index):
    ack = value(index, "A", "complaint_acknowledgement_days")
    assert (ack["value"], ack["numerator"], ack["denominator"]) == (2, 3, 3)
    assert ack["score_0_100"] == pytest.approx(100 * (10 - 2) / 9)
    resolution = value(index, "A", "complaint_resolution_days")
    assert (resolution["value"], resolution["numerator"]) == (20, 2)
    assert resolution["score_0_100"] == pytest.approx(100 * (60 - 20) / 53)
    unresolved = value(index, "B", "complaint_resolution_days")
    assert math.isnan(unresolved["value"])
    assert unresolved["reason"].startswith("fewer than half")


def test_feedback_response_rate_per_expected_invitation(index):
    rate = value(index, "A", "feedback_response_rate")
    assert (rate["numerator"], rate["denominator"]) == (2, 3)


def test_one_unit_alone_and_bad_arguments(org):
    only_a1 = ti.record_index("year", as_of=AS_OF, unit="A1")
    assert set(only_a1["unit"]) == {"A1"}
    assert value(only_a1, "A1", "objectives_on_track")["value"] == 1.0
    whole = ti.record_index("year", as_of=AS_OF, unit=org["C"])
    assert value(whole, "C", "objectives_on_track")["denominator"] == 7
    with pytest.raises(ValueError, match="no org unit"):
        ti.record_index(unit="NOPE")
    with pytest.raises(ValueError, match="period must be one of"):
        ti.record_index(period="month")


def test_quarters_and_halves(org):
    quarters = ti.record_index("quarter", as_of=AS_OF)
    assert value(quarters, "A", "objectives_on_track", "2025-Q1")["value"] == pytest.approx(2 / 3)
    halves = ti.record_index("half", as_of=AS_OF)
    assert value(halves, "B", "objectives_on_track", "2025-H2")["value"] == 0.0


# pure parts -------------------------------------------------------------------------------------

def long_table(scores: dict[str, dict[str, float]], values=None) -> pd.DataFrame:
    rows = []
    for unit, by_indicator in scores.items():
        for indicator in ti.INDICATORS:
            score = by_indicator.get(indicator.name, np.nan)
            shown = (values or {}).get((unit, indicator.name), score / 100)
            rows.append({"unit": unit, "unit_name": f"Unit {unit}", "period": "2025",
                         "indicator": indicator.name, "value": shown, "numerator": np.nan,
                         "denominator": np.nan, "score_0_100": score, "reason": ""})
    return pd.DataFrame(rows)


def test_composite_is_the_equal_weight_mean_of_present_scores():
    names = [i.name for i in ti.INDICATORS]
    full = dict(zip(names, [10, 20, 30, 40, 50, 60, 70, 80, 90], strict=True))
    sparse = dict(zip(names[:4], [50, 60, 70, 80], strict=True))
    wide = ti.summarise(long_table({"X": full, "Y": sparse})).set_index("unit")
    assert wide.loc["X", "composite"] == 50
    assert wide.loc["X", "indicators_scored"] == 9
    assert math.isnan(wide.loc["Y", "composite"])  # 4 scores < 5
    assert ti.summarise(long_table({"Y": sparse}), min_indicators=4)["composite"].iloc[0] == 65


def test_scores_and_period_labels():
    assert ti.days_score(1, 10)(0.5) == 100 and ti.days_score(1, 10)(12) == 0
    assert ti.days_score(7, 60)(33.5) == pytest.approx(50)
    assert ti.share_score(0.41) == pytest.approx(41)
    dates = pd.to_datetime(["2025-01-01", "2025-07-01", "2025-12-31"])
    assert list(ti.period_labels(dates, "half")) == ["2025-H1", "2025-H2", "2025-H2"]
    assert list(ti.period_labels(dates, "quarter")) == ["2025-Q1", "2025-Q3", "2025-Q4"]


def survey_index() -> pd.DataFrame:
    units = ["U1", "U2", "U3", "U4", "U5"]
    training = dict(zip(units, [41, 60, 70, 80, 90], strict=True))
    return long_table({u: {"problem_recognition_training": training[u],
                           "objectives_on_track": 50 + 5 * i} for i, u in enumerate(units)})


def test_compare_with_survey_flags_a_planted_disagreement():
    survey = pd.DataFrame({"training": [82, 62, 68, 79, 88], "planning": [50, 55, 60, 65, 70]},
                          index=["U1", "U2", "U3", "U4", "U5"])
    table = ti.compare_with_survey(survey_index(), survey).set_index(["unit", "construct"])
    planted = table.loc[("U1", "training")]
    assert planted["flag"] and "points" in planted["flag_reason"]
    assert planted["survey_score"] == 82 and planted["record_score"] == 41
    assert planted["difference"] == 41
    assert "Unit U1 rates its training 82/100" in planted["sentence"]
    assert "41% of its staff hold current problem-recognition training" in planted["sentence"]
    agreeing = table.loc[("U4", "training")]
    assert not agreeing["flag"] and "agree" in agreeing["sentence"]
    assert not table.loc[pd.IndexSlice[:, "planning"], "flag"].any()
    assert "customer_focus" not in table.index.get_level_values("construct")  # not surveyed


def test_compare_with_survey_flags_a_rank_swap_and_reads_the_long_survey_table():
    long = pd.DataFrame({
        "unit": ["Unit U1", "Unit U2", "Unit U3", "Unit U4", "Unit U5"] * 2,
        "round": [1] * 5 + [2] * 5, "construct": "planning",
        "maturity": [0, 0, 0, 0, 0, 70, 52, 54, 56, 50]})  # by unit name; round 2 counts
    table = ti.compare_with_survey(survey_index(), long).set_index("unit")
    assert table.loc["U1", "survey_score"] == 70
    assert table.loc["U1", "flag_reason"] == "rank"  # survey first, records last; 20 points
    assert not table.loc["U3", "flag"]


# the demo ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """A 300-customer demo with its true unit TQM levels."""
    from qualityloop.services.demo import generate_demo

    with django_db_blocker.unblock():
        summary = generate_demo(n_customers=300, seed=7, as_of=dt.date(2025, 7, 15))
        yield summary.effects["unit_tqm_practice"]
        call_command("flush", interactive=False, verbosity=0)


@pytest.mark.django_db
def test_demo_composite_ranks_units_like_their_true_tqm_level(demo):
    summary = ti.index_summary("year", as_of=dt.date(2025, 7, 15))
    assert summary["unit_name"].nunique() == 8
    mean_composite = summary.groupby("unit_name")["composite"].mean()
    truth = pd.Series(demo).reindex(mean_composite.index)
    rho = spearmanr(mean_composite, truth).statistic
    assert rho > 0.7, (rho, mean_composite.round(1).to_dict(), demo)
    latest_full = summary[summary["period"] == "2024"].set_index("unit_name")["composite"]
    assert spearmanr(latest_full, truth.reindex(latest_full.index)).statistic > 0.7


@pytest.mark.django_db
def test_cli_json(demo):
    result = CliRunner().invoke(app, ["tqm-index", "--period", "half", "--unit", "UNIT-05",
                                      "--as-of", "2025-07-15", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {i["name"] for i in data["indicators"]} == {i.name for i in ti.INDICATORS}
    assert {row["unit"] for row in data["summary"]} == {"UNIT-05"}
    assert "2025-H1" in {row["period"] for row in data["summary"]}
    assert all(row["composite"] is None or 0 <= row["composite"] <= 100
               for row in data["summary"])
    missing = [row for row in data["values"] if row["value"] is None]
    assert missing and all(row["reason"] for row in missing)
    text = CliRunner().invoke(app, ["tqm-index", "--as-of", "2025-07-15"], terminal_width=200)
    assert text.exit_code == 0 and "Augsburg Plant" in text.output
    for args, message in ((["--period", "month"], "period must be one of"),
                          (["--unit", "NOPE"], "no org unit with external id 'NOPE'"),
                          (["--as-of", "15.07.2025"], "--as-of: expected a date")):
        bad = CliRunner().invoke(app, ["tqm-index", *args, "--json"])
        assert bad.exit_code == 1 and message in json.loads(bad.stdout)["error"]
