"""Customers' quality experiences as a start/stop table: exact splits on hand-made records, and
the demo's planted hazard ratios recovered by a time-varying Cox model fitted on the table."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command
from exposures_numpy_reference import build_exposures as numpy_build_exposures
from scipy.stats import norm

from qualityloop.analytics.survival import CoxPH
from qualityloop.records.customers.models import (
    Complaint,
    Customer,
    CustomerRequirement,
    DesignProject,
    DesignStageReview,
    FeedbackResponse,
    Order,
    RequirementMeasurement,
)
from qualityloop.records.organisation.models import OrgUnit
from qualityloop.records.quality.models import Nonconformance
from qualityloop.services.demo import generate_demo
from qualityloop.services.exposures import (
    build_exposures,
    customer_exposures,
    exposure_summary,
    read_records,
    value_at_risk,
)

ACQUIRED = dt.date(2024, 1, 10)
CHURNED = dt.date(2024, 6, 15)
AS_OF = dt.date(2024, 8, 1)
_ids = itertools.count(1)


def day(date: dt.date) -> float:
    """Days since customer A's acquisition."""
    return float((date - ACQUIRED).days)


def _xid(prefix: str) -> str:
    return f"{prefix}-{next(_ids):05d}"


def customer(unit: OrgUnit, acquired: dt.date, churned: dt.date | None = None,
             segment: str = "mid_market") -> Customer:
    return Customer.objects.create(
        external_id=_xid("C"), name="Customer", segment=segment, acquired_on=acquired,
        serving_unit=unit, status="churned" if churned else "active", churned_on=churned)


def complaint(who: Customer, received: dt.date, resolved: dt.date | None = None,
              category: str = "Delivery delay") -> Complaint:
    return Complaint.objects.create(external_id=_xid("CMP"), customer=who, received_on=received,
                                    resolved_on=resolved, description="Late", category=category)


def nonconformance(unit: OrgUnit, detected: dt.date, affected: list[Customer],
                   stage: str = "field", status: str = "open") -> Nonconformance:
    nc = Nonconformance.objects.create(
        external_id=_xid("NC"), title=f"{stage} failure", org_unit=unit, detected_on=detected,
        stage=stage, source="customer_complaint", severity="major", status=status,
        closed_on=detected + dt.timedelta(days=20) if status == "closed" else None)
    nc.affected_customers.set(affected)
    return nc


def measurement(who: Customer, measured: dt.date, value: float) -> None:
    requirement = CustomerRequirement.objects.get_or_create(
        customer=who, defaults={"external_id": _xid("REQ"), "title": "On-time delivery",
                                "characteristic": "On-time delivery", "target": 95.0,
                                "surpass_threshold": 98.0})[0]
    RequirementMeasurement.objects.create(external_id=_xid("RM"), requirement=requirement,
                                          measured_on=measured, value=value)


def design_project(unit: OrgUnit, product: str, participants: list[list[Customer]]) -> None:
    project = DesignProject.objects.create(external_id=_xid("DP"), name=product, product=product,
                                           org_unit=unit, started_on=dt.date(2022, 1, 1))
    for k, people in enumerate(participants):
        review = DesignStageReview.objects.create(
            external_id=_xid("DR"), project=project, stage="concept",
            held_on=dt.date(2023, 1, 1) + dt.timedelta(days=90 * k))
        review.customer_participants.set(people)


def orders(who: Customer, products: list[str]) -> None:
    Order.objects.bulk_create([
        Order(external_id=_xid("ORD"), customer=who, ordered_on=ACQUIRED + dt.timedelta(days=i),
              amount=100, product=product) for i, product in enumerate(products)])


@pytest.fixture
def records(db):
    """Customer A (churned 15 June) with one of every experience; B censored at AS_OF with a
    churn after it; C lost on the day they were won; D won after AS_OF."""
    unit = OrgUnit.objects.create(external_id="U-PLANT", name="Plant")
    a = customer(unit, ACQUIRED, CHURNED)
    b = customer(unit, dt.date(2024, 2, 1), dt.date(2024, 9, 10), segment="enterprise")
    c = customer(unit, dt.date(2024, 3, 5), dt.date(2024, 3, 5))
    customer(unit, dt.date(2024, 9, 1))
    complaint(a, dt.date(2024, 1, 20), dt.date(2024, 2, 29))  # 40 days: slow from day 30
    complaint(a, CHURNED)  # on the churn day: does not explain the churn
    nonconformance(unit, dt.date(2024, 3, 20), [a, b])
    nonconformance(unit, dt.date(2024, 4, 1), [a], stage="delivery")
    nonconformance(unit, dt.date(2024, 7, 1), [a])  # after A's churn
    nonconformance(unit, dt.date(2024, 7, 5), [b], status="closed")  # closed, still a defect
    measurement(a, dt.date(2024, 3, 31), 90.0)  # missed
    measurement(a, dt.date(2024, 5, 10), 99.0)  # surpassed
    FeedbackResponse.objects.create(external_id=_xid("FB"), customer=a,
                                    responded_on=dt.date(2024, 4, 15), nps=4, csat=2)
    FeedbackResponse.objects.create(external_id=_xid("FB"), customer=b,
                                    responded_on=dt.date(2024, 8, 20), nps=9)  # after AS_OF
    complaint(b, dt.date(2024, 7, 20), dt.date(2024, 9, 1))  # open at AS_OF, not yet slow
    orders(a, ["Gear 100", "Gear 100", "Gear 200"])
    orders(b, ["Gear 200"])
    design_project(unit, "Gear 100", [[a], [], [], []])  # customers in 1 review of 4
    design_project(unit, "Gear 200", [[b], [b], [], []])  # in 2 of 4: co-designed
    return {"unit": unit, "a": a, "b": b, "c": c}


def rows_of(table: pd.DataFrame, who: Customer) -> pd.DataFrame:
    return table[table["customer"] == who.external_id].reset_index(drop=True)


# hand-made records --------------------------------------------------------------------------

def test_rows_split_exactly_at_each_record_day(records):
    a = rows_of(customer_exposures(as_of=AS_OF, interval=None), records["a"])
    splits = [dt.date(2024, 1, 20), dt.date(2024, 2, 19), dt.date(2024, 2, 29),
              dt.date(2024, 3, 20), dt.date(2024, 3, 31), dt.date(2024, 4, 1),
              dt.date(2024, 4, 15), dt.date(2024, 5, 10)]
    assert a["start"].tolist() == [0.0, *map(day, splits)]
    assert a["stop"].tolist() == [*map(day, splits), day(CHURNED)]
    assert a["event"].tolist() == [0] * 8 + [1]
    assert a["complaint_count"].tolist() == [0, 1, 1, 1, 1, 1, 1, 1, 1]
    assert a["open_complaint"].tolist() == [0, 1, 1, 0, 0, 0, 0, 0, 0]
    assert a["field_defects"].tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 1]
    assert a["defects_delivery"].tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 1]
    assert a["requirement_missed"].tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 0]
    assert a["requirement_surpassed"].tolist() == [0] * 8 + [1]
    assert a["nps"].isna().tolist() == [True] * 7 + [False] * 2
    assert a["nps"].iloc[-1] == 4 and a["csat"].iloc[-1] == 2
    assert a["no_feedback_yet"].tolist() == [1] * 7 + [0] * 2


def test_a_complaint_resolved_on_day_40_is_slow_from_its_day_30(records):
    a = rows_of(customer_exposures(as_of=AS_OF, interval=None), records["a"])
    received = day(dt.date(2024, 1, 20))
    slow = a.loc[a["slow_complaint"] == 1]
    assert slow["start"].min() == received + 30
    assert a.loc[a["stop"] <= received + 30, "slow_complaint"].eq(0).all()
    assert a["slow_complaint"].iloc[-1] == 1  # it stays


def test_nothing_after_churn_counts(records):
    a = rows_of(customer_exposures(as_of=AS_OF, interval=None), records["a"])
    assert a["stop"].max() == day(CHURNED) and a["event"].sum() == 1
    assert a["field_defects"].max() == 1  # the NC of 1 July is after the churn
    assert a["complaint_count"].max() == 1  # the complaint on the churn day is not counted
    assert (a["start"] < a["stop"]).all()


def test_censored_at_as_of_and_records_after_it_left_out(records):
    table = customer_exposures(as_of=AS_OF, interval=None)
    b = rows_of(table, records["b"])
    won = dt.date(2024, 2, 1)
    assert b["stop"].iloc[-1] == (AS_OF - won).days and b["event"].sum() == 0  # churned later
    assert b["open_complaint"].iloc[-1] == 1 and b["slow_complaint"].sum() == 0
    assert b["no_feedback_yet"].eq(1).all()  # the answer of 20 August is after AS_OF
    assert b["field_defects"].iloc[-1] == 2 and b["segment"].iloc[0] == "enterprise"
    assert set(table["customer"]) == {records[k].external_id for k in "abc"}  # D not yet won


def test_customer_lost_on_the_day_won_has_one_short_row(records):
    c = rows_of(customer_exposures(as_of=AS_OF, interval=None), records["c"])
    assert c[["start", "stop", "event"]].values.tolist() == [[0.0, 0.5, 1]]


def test_monthly_rows_hold_the_covariates_known_at_the_month_start(records):
    a = rows_of(customer_exposures(as_of=AS_OF), records["a"])
    months = [dt.date(2024, m, 1) for m in (2, 3, 4, 5, 6)]
    assert a["start"].tolist() == [0.0, *map(day, months)]
    assert a["stop"].tolist() == [*map(day, months), day(CHURNED)]
    assert a["open_complaint"].tolist() == [0, 1, 0, 0, 0, 0]  # 20 Jan - 29 Feb: open 1 Feb
    assert a["slow_complaint"].tolist() == [0, 0, 1, 1, 1, 1]  # slow on 19 Feb: known 1 March
    assert a["field_defects"].tolist() == [0, 0, 0, 1, 1, 1]
    assert a["requirement_missed"].tolist() == [0, 0, 0, 1, 1, 0]
    assert a["requirement_surpassed"].tolist() == [0, 0, 0, 0, 0, 1]
    assert a["no_feedback_yet"].tolist() == [1, 1, 1, 1, 0, 0]


def test_design_involvement_from_reviews_and_the_main_product(records):
    table = customer_exposures(as_of=AS_OF, interval=None, unit_tqm={"U-PLANT": 0.7})
    a, b, c = (rows_of(table, records[k]) for k in "abc")
    assert a["took_part_in_design"].eq(1).all()  # a review before they became a customer
    assert a["designed_without_customers"].eq(1).all()  # Gear 100: customers in 1 of 4
    assert b["designed_without_customers"].eq(0).all()  # Gear 200: in 2 of 4
    assert c["designed_without_customers"].iloc[0] == 0.5  # no orders: the unit's share
    assert c["took_part_in_design"].iloc[0] == 0
    assert table["unit_tqm"].eq(0.7).all()
    assert customer_exposures(as_of=AS_OF)["unit_tqm"].isna().all()


def test_summary_counts_person_time_and_churns_per_level(records):
    table = customer_exposures(as_of=AS_OF, interval=None)
    summary = exposure_summary(table).set_index(["exposure", "level"])
    months = (table["stop"] - table["start"]).sum() / 30.44
    assert summary.loc[("all", "all"), "customers"] == 3
    assert summary.loc[("all", "all"), "events"] == 2
    assert summary.loc[("all", "all"), "customer_months"] == pytest.approx(months)
    defect = summary.loc[("field_defects", "1")]
    exposed = table[table["field_defects"] == 1]
    assert defect["customers"] == 2 and defect["events"] == 1
    assert defect["churn_per_1000_months"] == pytest.approx(
        1000 / ((exposed["stop"] - exposed["start"]).sum() / 30.44))
    assert summary.loc[("nps", "detractor (0-6)"), "customers"] == 1


def test_value_at_risk_follows_the_documented_formula(records):
    b = records["b"]
    ratios = {"field_defects": 1.6, "open_complaint": 2.0}
    risk = value_at_risk(ratios, 12, as_of=AS_OF, clv=pd.Series({b.external_id: 1000.0}),
                         baseline=pd.Series({b.external_id: 0.02})).set_index("kind")
    assert list(risk.columns) == ["external_id", "title", "customers", "clv_at_risk",
                                  "expected_customers_lost"]
    s0 = np.exp(-0.02 * 12)
    for kind, ratio in (("nonconformance", 1.6), ("complaint", 2.0)):
        row = risk.loc[kind]
        assert row["customers"] == 1  # A churned: only B counts
        assert row["expected_customers_lost"] == pytest.approx(s0 - s0**ratio)
        assert row["clv_at_risk"] == pytest.approx(
            1000 * (1 - (1 - s0**ratio) / (ratio * (1 - s0))))
    assert len(risk) == 2  # the closed NC and the delivery NC (no hazard ratio) are left out


# the same table as the numpy builder it replaced ----------------------------------------------

@pytest.mark.parametrize("interval", ["month", None])
def test_same_table_as_the_numpy_builder_on_hand_made_records(records, interval):
    read = read_records(None, AS_OF)
    tqm = {"U-PLANT": 0.7}
    pd.testing.assert_frame_equal(build_exposures(read, interval, tqm),
                                  numpy_build_exposures(read, interval, tqm), check_exact=True)


@pytest.fixture(scope="module")
def demo_records(django_db_setup, django_db_blocker):
    """The records of a 2,000-customer demo (the size ``qualityloop demo`` makes by default)."""
    with django_db_blocker.unblock():
        generate_demo(n_customers=2_000, seed=7, as_of=DEMO_AS_OF)
        records = read_records(None, DEMO_AS_OF)
        call_command("flush", interactive=False, verbosity=0)
    return records


@pytest.mark.django_db
@pytest.mark.parametrize("interval", ["month", None])
def test_same_table_as_the_numpy_builder_on_the_demo(demo_records, interval):
    units = sorted(set(demo_records.customers["serving_unit"]))
    tqm = {unit: 0.1 * k for k, unit in enumerate(units[::2])}  # some units without a level
    table = build_exposures(demo_records, interval, tqm)
    expected = numpy_build_exposures(demo_records, interval, tqm)
    assert len(expected) > 10_000 and expected["event"].sum() > 100
    pd.testing.assert_frame_equal(table, expected, check_exact=True)


# the demo's planted effects -----------------------------------------------------------------

DEMO_AS_OF = dt.date(2026, 11, 25)
PLANTED = {"field_defects": 1.6, "open_complaint": 2.0, "slow_complaint": 1.4,
           "designed_without_customers": 1.3, "requirement_missed": 1.5,
           "requirement_surpassed": 0.8, "enterprise": 0.7, "small_business": 1.3,
           "public_sector": 0.6}


@pytest.fixture(scope="module")
def demo_table(django_db_setup, django_db_blocker):
    """The exposure table of a 10,000-customer demo (the default seed). At this size a wrong
    table fails the Cox test: records counted from their own day instead of the next month start
    (the demo's hazard reads covariates at month starts: open complaint HR 1.15), records dated
    on or after the churn counted, or every record a month early."""
    with django_db_blocker.unblock():
        generate_demo(n_customers=10_000, seed=7, as_of=DEMO_AS_OF)
        table = customer_exposures(as_of=DEMO_AS_OF)
        call_command("flush", interactive=False, verbosity=0)
    for segment in ("enterprise", "small_business", "public_sector"):
        table[segment] = (table["segment"] == segment).astype(float)
    return table


@pytest.mark.slow
@pytest.mark.django_db
def test_cox_model_on_the_table_recovers_the_planted_hazard_ratios(demo_table):
    model = CoxPH().fit(demo_table, event_col="event", start_col="start", stop_col="stop",
                        covariates=list(PLANTED))
    # Nine intervals at once: Bonferroni, so a correct table fails by chance in < 5 % of seeds.
    z = norm.ppf(1 - 0.05 / (2 * len(PLANTED)))
    low = np.exp(model.params_ - z * model.standard_errors_)
    high = np.exp(model.params_ + z * model.standard_errors_)
    outside = {name: (round(low[name], 2), round(high[name], 2))
               for name, truth in PLANTED.items() if not low[name] <= truth <= high[name]}
    assert not outside, f"planted hazard ratio outside the interval: {outside}"
    assert (high - low)["field_defects"] < 0.5  # precise enough to notice a wrong table


@pytest.mark.slow
@pytest.mark.django_db
def test_the_demo_table_is_consistent(demo_table):
    per_customer = demo_table.groupby("customer", observed=True)
    assert per_customer["event"].sum().le(1).all()
    assert (demo_table["start"] < demo_table["stop"]).all()
    last = per_customer.tail(1)
    assert last["event"].sum() == demo_table["event"].sum()  # churn only on the last row
    assert per_customer["field_defects"].apply(lambda s: s.is_monotonic_increasing).all()


def test_value_at_risk_judges_open_records_on_as_of(records):
    b, unit = records["b"], records["unit"]
    later = nonconformance(unit, dt.date(2024, 7, 10), [b], status="closed")
    later.closed_on = dt.date(2024, 9, 1)  # closed after AS_OF: open on AS_OF
    later.save()
    Complaint.objects.filter(customer=b).update(resolved_on=None, closed_on=dt.date(2024, 7, 25))
    risk = value_at_risk({"field_defects": 1.6, "open_complaint": 2.0}, as_of=AS_OF,
                         clv=pd.Series({b.external_id: 1000.0}),
                         baseline=pd.Series({b.external_id: 0.02}))
    assert later.external_id in set(risk["external_id"])
    assert "complaint" not in set(risk["kind"])  # closed on 25 July without a resolution date
    table = rows_of(customer_exposures(as_of=AS_OF, interval=None), b)
    assert table["open_complaint"].iloc[-1] == 0  # the closing date ends it
