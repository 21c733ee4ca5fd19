"""The demo organisation: complete, deterministic, refreshable, and the causal effect is there."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.contrib.auth import get_user_model

from qualityloop.records.customers.models import Customer, Order
from qualityloop.records.quality.models import (
    CorrectiveAction,
    Nonconformance,
    ObjectiveMeasurement,
    QualityObjective,
)
from qualityloop.services import metrics
from qualityloop.services.demo import generate_demo
from qualityloop.services.demo.causal_model import simulate
from qualityloop.services.record_kinds import KINDS

AS_OF = dt.date(2026, 11, 25)


def _snapshot() -> dict:
    return {
        "counts": {k.name: k.model.objects.count() for k in KINDS},
        "orders": list(Order.objects.order_by("id").values_list(
            "external_id", "customer__external_id", "ordered_on", "amount")[:200]),
        "customers": list(Customer.objects.order_by("id").values_list(
            "external_id", "segment", "acquired_on", "churned_on")),
    }


@pytest.mark.django_db
def test_demo_fills_every_record_kind_and_logs_in():
    summary = generate_demo(n_customers=300, seed=3, as_of=AS_OF).as_dict()
    empty = [k.name for k in KINDS if not k.model.objects.exists()]
    assert empty == []
    assert summary["counts"]["customers"] == 300
    assert summary["counts"]["orders"] == Order.objects.count() > 300 * 10
    assert summary["effects"]["churn_hazard_ratios"]["per_field_defect"] == 1.6
    demo = get_user_model().objects.get(username=summary["login"]["username"])
    assert demo.check_password(summary["login"]["password"]) and demo.is_superuser
    assert get_user_model().objects.filter(username="viewer", profile__role="viewer").exists()


@pytest.mark.django_db
def test_demo_is_deterministic_and_a_rerun_refreshes_instead_of_adding():
    generate_demo(n_customers=300, seed=11, as_of=AS_OF)
    first = _snapshot()
    generate_demo(n_customers=300, seed=11, as_of=AS_OF)
    assert _snapshot() == first
    assert get_user_model().objects.filter(username="demo").count() == 1
    generate_demo(n_customers=300, seed=12, as_of=AS_OF)
    assert _snapshot()["orders"] != first["orders"]


@pytest.mark.django_db
def test_bulk_loaded_records_have_a_created_history_row():
    generate_demo(n_customers=300, seed=3, as_of=AS_OF)
    for model in (Nonconformance, CorrectiveAction, Customer):
        assert model.history.filter(history_type="+").count() == model.objects.count() > 0
    nc = Nonconformance.objects.filter(stage="field").first()
    assert nc.history.first().history_date.date() == nc.detected_on
    assert nc.affected_customers.exists()


@pytest.mark.django_db
def test_records_follow_the_model_rules():
    generate_demo(n_customers=300, seed=3, as_of=AS_OF)
    for customer in Customer.objects.filter(status="churned")[:50]:
        customer.full_clean()
    assert not Order.objects.filter(ordered_on__gte=dt.date(2026, 11, 1)).exists()
    for action in CorrectiveAction.objects.filter(status__in=["effective", "ineffective"])[:50]:
        action.full_clean()
    for nc in Nonconformance.objects.filter(status="closed")[:50]:
        nc.full_clean()


@pytest.mark.django_db
def test_objectives_are_calendar_years_and_this_years_are_on_track_or_at_risk():
    generate_demo(n_customers=300, seed=3, as_of=AS_OF)
    current = QualityObjective.objects.filter(state="active")
    assert current.count() == 36
    assert set(current.values_list("start_on", "due_on")) == {
        (dt.date(2026, 1, 1), dt.date(2026, 12, 31))}
    assert set(QualityObjective.objects.exclude(state="active").values_list(
        "due_on", flat=True)) == {dt.date(y, 12, 31) for y in range(2022, 2026)}
    assert set(QualityObjective.objects.exclude(state="active").values_list(
        "state", flat=True)) == {"achieved", "missed"}
    latest = ObjectiveMeasurement.objects.filter(objective__state="active").order_by(
        "-measured_on").first()
    assert latest.measured_on == dt.date(2026, 10, 31)  # the last full month before AS_OF
    this_year = metrics.objective_status(as_of=AS_OF)
    past_missed = QualityObjective.objects.filter(state="missed").count()
    assert this_year["at_risk"] > 0 and this_year["missed"] == past_missed
    assert this_year["on_track"] > QualityObjective.objects.filter(state="achieved").count()


@pytest.mark.django_db
def test_nonconformances_close_after_a_passed_check_and_few_stay_open():
    generate_demo(n_customers=2000, seed=3, as_of=AS_OF)
    total = Nonconformance.objects.count()
    open_now = metrics.open_nonconformances(as_of=AS_OF)
    assert 0.03 * total < open_now < 0.15 * total
    old_open = Nonconformance.objects.exclude(status="closed").filter(
        detected_on__lt=dt.date(2026, 6, 1))
    assert old_open.count() < open_now / 2  # open ones are mostly recent
    assert 0 < metrics.overdue_actions(as_of=AS_OF) < 0.03 * CorrectiveAction.objects.count()
    actions: dict[int, list] = {}
    for a in CorrectiveAction.objects.values("external_id", "nonconformance_id", "status",
                                             "effectiveness_checked_on", "description"):
        actions.setdefault(a["nonconformance_id"], []).append(a)
    followed = {a["description"].split(",")[0].removeprefix("Follow-up to ")
                for group in actions.values() for a in group}
    closed = Nonconformance.objects.filter(status="closed").values_list("id", "closed_on")
    assert len(closed) > 0.8 * total
    for nc_id, closed_on in closed:
        group = actions[nc_id]
        assert {a["status"] for a in group} <= {"effective", "ineffective"}
        assert all(a["external_id"] in followed for a in group if a["status"] == "ineffective")
        last = max(group, key=lambda a: a["effectiveness_checked_on"])
        assert last["status"] == "effective" and last["effectiveness_checked_on"] == closed_on
    ineffective = CorrectiveAction.objects.filter(status="ineffective")
    assert ineffective.exists()
    assert all(a in followed for a in ineffective.values_list("external_id", flat=True))


def _landmark_churn(acquired, ended, churned, exposure_times, exposure_customers):
    """Pooled landmarks every six months: churn in the next six months for customers with and
    without a field defect in the twelve months before the landmark."""
    rates = {True: [0, 0], False: [0, 0]}
    for landmark in range(12, 54, 6):
        at_risk = (acquired < landmark) & (ended > landmark)
        recent = (exposure_times >= landmark - 12) & (exposure_times < landmark)
        exposed = np.zeros(len(acquired), bool)
        exposed[exposure_customers[recent]] = True
        left = churned & (ended < landmark + 6)
        for flag in (True, False):
            group = at_risk & (exposed == flag)
            rates[flag][0] += int(left[group].sum())
            rates[flag][1] += int(group.sum())
    return rates[True][0] / rates[True][1], rates[False][0] / rates[False][1], rates


def test_simulated_churn_rises_with_field_defects():
    world = simulate(20_000, seed=5)
    c, d = world.customers, world.field_defects
    exposed, unexposed, counts = _landmark_churn(
        c.acquired, c.ended, c.churned, d["time"], d["customer"].astype(int))
    assert counts[True][1] > 3000 and counts[False][1] > 30_000
    assert 1.5 < exposed / unexposed < 4.0


@pytest.mark.django_db
def test_churn_effect_is_recoverable_from_the_records():
    generate_demo(n_customers=3000, seed=7, as_of=AS_OF)
    start = np.datetime64("2021-11-01")

    def months(dates):
        return (np.array(dates, dtype="datetime64[D]") - start).astype(float) / 30.44

    rows = list(Customer.objects.order_by("id").values_list("id", "acquired_on", "churned_on"))
    ids = np.array([r[0] for r in rows])
    acquired = months([r[1] for r in rows])
    churned = np.array([r[2] is not None for r in rows])
    ended = np.where(churned, months([r[2] or dt.date(2026, 11, 1) for r in rows]), 60.0)
    links = list(Nonconformance.affected_customers.through.objects.filter(
        nonconformance__stage="field").values_list("customer_id", "nonconformance__detected_on"))
    position = {pk: i for i, pk in enumerate(ids.tolist())}
    who = np.array([position[pk] for pk, _ in links])
    when = months([day for _, day in links])
    exposed, unexposed, counts = _landmark_churn(acquired, ended, churned, when, who)
    assert counts[True][1] > 400
    assert exposed / unexposed > 1.4


@pytest.mark.slow
@pytest.mark.django_db
def test_hundred_thousand_customers_load_completely():
    # Its speed is measured in benchmarks/demo_generation.py, not here.
    summary = generate_demo(n_customers=100_000, seed=7, as_of=AS_OF)
    assert summary.counts["customers"] == 100_000
    assert summary.counts["orders"] > 2_000_000
    assert Order.objects.count() == summary.counts["orders"]
