"""Retention analytics on the app's own data: the frames, the use cases and the CLI."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command
from django.db.models import Count, Sum
from typer.testing import CliRunner

from qualityloop.analytics.retention import rfm_summary
from qualityloop.cli import app
from qualityloop.records.customers.models import Customer, Order
from qualityloop.records.organisation.models import OrgUnit
from qualityloop.services.demo import generate_demo
from qualityloop.services.retention import (
    NoOrdersError,
    RetentionOverview,
    customers_frame,
    transactions_frame,
)

AS_OF = dt.date(2026, 11, 25)


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """A 300-customer demo, built once for the module and removed afterwards."""
    with django_db_blocker.unblock():
        generate_demo(n_customers=300, seed=3, as_of=AS_OF)
        yield
        # Empty every table (demo users too), as pytest-django does after transactional tests.
        call_command("flush", interactive=False, verbosity=0)


def cli(*args: str) -> dict:
    result = CliRunner().invoke(app, ["retention", *args, "--json"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def unit_with_children() -> OrgUnit:
    return next(u for u in OrgUnit.objects.all() if u.descendants()
                and Customer.objects.filter(serving_unit__in=u.descendants()).exists())


# frames ----------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_transactions_frame_holds_every_order_once(demo):
    log = transactions_frame()
    totals = Order.objects.aggregate(n=Count("id"), amount=Sum("amount"))
    assert list(log.columns) == ["customer_id", "date", "amount", "segment", "serving_unit"]
    assert len(log) == totals["n"] > 3000
    assert log["amount"].sum() == pytest.approx(float(totals["amount"]), rel=1e-12)
    assert pd.api.types.is_datetime64_any_dtype(log["date"])
    one = Order.objects.select_related("customer__serving_unit").order_by("id").first()
    mine = log[(log["customer_id"] == one.customer.external_id)
               & (log["date"] == pd.Timestamp(one.ordered_on))]
    assert float(one.amount) in mine["amount"].tolist()
    assert set(mine["segment"]) == {one.customer.segment}
    assert set(mine["serving_unit"]) == {one.customer.serving_unit.external_id}


@pytest.mark.django_db
def test_transactions_frame_keeps_a_unit_and_the_units_below_it(demo):
    unit = unit_with_children()
    units = [unit, *unit.descendants()]
    expected = Order.objects.filter(customer__serving_unit__in=units)
    log = transactions_frame(unit)
    assert len(log) == expected.count() < Order.objects.count()
    assert set(log["serving_unit"]) <= {u.external_id for u in units}
    assert len(log) > 0


@pytest.mark.django_db
def test_transactions_frame_stops_at_as_of(demo):
    cut = dt.date(2024, 6, 30)
    log = transactions_frame(as_of=cut)
    assert len(log) == Order.objects.filter(ordered_on__lte=cut).count()
    assert log["date"].max() <= pd.Timestamp(cut)


@pytest.mark.django_db
def test_customers_frame_measures_time_to_churn(demo):
    frame = customers_frame(as_of=AS_OF)
    assert len(frame) == Customer.objects.filter(acquired_on__lte=AS_OF).count()
    churned = Customer.objects.filter(churned_on__isnull=False, churned_on__lte=AS_OF)
    assert frame["event"].sum() == churned.count() > 0
    one = churned.first()
    row = frame.set_index("customer_id").loc[one.external_id]
    assert row["duration"] == (one.churned_on - one.acquired_on).days
    staying = Customer.objects.filter(churned_on__isnull=True).first()
    row = frame.set_index("customer_id").loc[staying.external_id]
    assert row["event"] == 0 and row["duration"] == (AS_OF - staying.acquired_on).days


# use cases -------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_rfm_through_the_service_equals_rfm_summary_on_the_frame(demo):
    end = dt.date(2026, 6, 1)
    got = RetentionOverview().rfm(freq="W", as_of=end)
    expected = rfm_summary(transactions_frame(as_of=end), monetary="amount", freq="W",
                           observation_end=end)
    pd.testing.assert_frame_equal(got, expected)
    assert len(got) == Order.objects.filter(ordered_on__lte=end).values("customer").distinct(
    ).count()


@pytest.mark.django_db
def test_clv_lists_every_customer_with_sane_values(demo):
    values = RetentionOverview().clv(horizon=6)
    assert list(values.columns) == ["probability_alive", "expected_purchases",
                                    "expected_spend", "clv"]
    assert values["probability_alive"].between(0, 1).all()
    assert (values["clv"] >= 0).all() and values["clv"].is_monotonic_decreasing
    longer = RetentionOverview().clv(horizon=12)
    assert (longer["clv"].reindex(values.index) >= values["clv"] - 1e-9).all()


@pytest.mark.django_db
def test_survival_by_segment_has_one_curve_per_segment(demo):
    km = RetentionOverview().survival_by_segment(as_of=AS_OF)
    segments = set(Customer.objects.values_list("segment", flat=True))
    assert set(km.summary().index) == segments
    assert km.summary()["events"].sum() == customers_frame(as_of=AS_OF)["event"].sum()


# CLI -------------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_cli_summary_reports_the_service_figures(demo):
    data = cli("summary")
    headline = RetentionOverview().headline()
    assert data["customers"] == headline["customers"] == Order.objects.values(
        "customer").distinct().count()
    assert data["repeat_purchase_rate"] == pytest.approx(headline["repeat_purchase_rate"])
    assert data["churn_rate"] == pytest.approx(headline["churn_rate"])
    assert {row["segment"] for row in data["survival_by_segment"]} == set(
        Customer.objects.values_list("segment", flat=True))


@pytest.mark.django_db
def test_cli_cohorts_reports_counts_and_rates(demo):
    data = cli("cohorts", "--period", "Q", "--cumulative")
    table = RetentionOverview().cohorts(period="Q", cumulative=True)
    assert len(data["cohorts"]) == len(table.counts)
    first = data["cohorts"][0]
    assert first["size"] == table.sizes.iloc[0]
    assert first["counts"] == table.counts.iloc[0].tolist()
    assert first["rates"] == pytest.approx(table.rates.iloc[0].tolist())
    assert data["cohorts"][-1]["counts"][-1] is None  # not observable yet: null, not NaN


@pytest.mark.django_db
def test_cli_fit_reports_the_estimates(demo):
    data = cli("fit", "--freq", "W")
    models = RetentionOverview().fit_models(freq="W")
    estimates = {row["parameter"]: row["estimate"] for row in data["bg_nbd"]}
    assert estimates == pytest.approx(models.beta_geo.params_)
    spend = {row["parameter"]: row for row in data["gamma_gamma"]}
    assert spend["v"]["lower"] < spend["v"]["estimate"] < spend["v"]["upper"]
    assert data["customers"] == len(models.summary)


@pytest.mark.django_db
def test_cli_clv_lists_the_top_customers(demo):
    data = cli("clv", "--horizon", "6", "--top", "5")
    values = RetentionOverview().clv(horizon=6)
    assert [row["customer_id"] for row in data["top"]] == values.index[:5].tolist()
    assert [row["clv"] for row in data["top"]] == pytest.approx(values["clv"][:5].tolist())
    assert data["total_clv"] == pytest.approx(values["clv"].sum())


@pytest.mark.django_db
def test_cli_unit_option_restricts_and_names_unknown_units(demo):
    unit = unit_with_children()
    data = cli("summary", "--unit", unit.external_id)
    assert data["orders"] == len(transactions_frame(unit))
    result = CliRunner().invoke(app, ["retention", "summary", "--unit", "NOPE"])
    assert result.exit_code == 1 and "no org unit with external id 'NOPE'" in result.output


@pytest.mark.django_db
def test_bad_period_is_one_clear_error(demo):
    result = CliRunner().invoke(app, ["retention", "cohorts", "--period", "X"])
    assert result.exit_code == 1
    assert "freq 'X' is not supported" in result.output
    assert "Traceback" not in result.output


# no data ---------------------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("command", ["summary", "cohorts", "fit", "clv"])
def test_no_orders_is_exit_1_with_a_message(command):
    Order.objects.all().delete()
    result = CliRunner().invoke(app, ["retention", command])
    assert result.exit_code == 1
    assert "no orders in the database" in result.output
    assert "Traceback" not in result.output
    as_json = CliRunner().invoke(app, ["retention", command, "--json"])
    assert as_json.exit_code == 1
    assert "no orders" in json.loads(as_json.stdout)["error"]


@pytest.mark.django_db
def test_empty_frames_have_the_documented_columns():
    Order.objects.all().delete()
    log = transactions_frame()
    assert log.empty and list(log.columns) == ["customer_id", "date", "amount", "segment",
                                               "serving_unit"]
    assert log["amount"].dtype == np.float64
    with pytest.raises(NoOrdersError, match="no orders"):
        RetentionOverview().rfm()


@pytest.mark.django_db
def test_an_overview_reads_the_orders_once(demo, monkeypatch):
    from qualityloop.services import retention

    calls = []
    real = retention.transactions_frame
    monkeypatch.setattr(retention, "transactions_frame",
                        lambda *args: calls.append(args) or real(*args))
    overview = RetentionOverview()
    first = overview.rfm()
    overview.headline()
    pd.testing.assert_frame_equal(overview.rfm(), first)
    assert len(calls) == 1
    overview.rfm(as_of=dt.date(2025, 1, 1))
    assert len(calls) == 2
