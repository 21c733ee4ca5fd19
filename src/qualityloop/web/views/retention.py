"""The Retention page: cohort heat map, survival by segment, probability alive, lifetime value and
the valuable customers most likely lost, for the whole organisation or one unit."""

from __future__ import annotations

from typing import Any

import pandas as pd
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from qualityloop.records.customers.choices import Segment
from qualityloop.records.customers.models import Customer
from qualityloop.records.organisation.models import OrgUnit
from qualityloop.report import charts
from qualityloop.services import permissions, retention
from qualityloop.services.record_kinds import get_kind
from qualityloop.web import page_cache
from qualityloop.web.views.unit_scope import selected_unit, unit_options

AT_RISK_SHOWN = 20
AT_RISK_BELOW = 0.5
CLV_HORIZON_MONTHS = 12
CURVE_POINTS = 300


def at_risk_customers(values, limit: int = AT_RISK_SHOWN) -> list[dict[str, Any]]:
    """The ``limit`` customers of highest lifetime value whose probability alive is below 0.5.

    Parameters
    ----------
    values
        The per-customer frame of ``services.retention.clv`` (index: customer external id).
    limit
        How many rows to return.

    Returns
    -------
    list of dict
        ``external_id``, ``name``, ``segment``, ``url``, ``probability_alive``, ``clv`` and
        ``expected_purchases``, highest lifetime value first.
    """
    risky = values[values["probability_alive"] < AT_RISK_BELOW]
    top = risky.sort_values("clv", ascending=False).head(limit)
    ids = [str(i) for i in top.index]
    customers = {c.external_id: c for c in Customer.objects.filter(external_id__in=ids)
                 .only("external_id", "name", "segment")}
    rows = []
    for external_id, row in zip(ids, top.itertuples(), strict=True):
        customer = customers.get(external_id)
        rows.append({
            "external_id": external_id,
            "name": customer.name if customer else external_id,
            "segment": customer.get_segment_display() if customer else "",
            "url": reverse("record-detail", args=["customers", external_id]),
            "probability_alive": float(row.probability_alive),
            "expected_purchases": float(row.expected_purchases),
            "clv": float(row.clv),
        })
    return rows


def _segment_labels(survival_function):
    """The fitted curves with segment names as users read them ("Mid-market", not "mid_market"),
    thinned to at most about ``CURVE_POINTS`` points per segment."""
    labels = dict(Segment.choices)
    frame = thinned_curves(survival_function.reset_index())
    frame["segment"] = frame["segment"].map(lambda s: str(labels.get(s, s)))
    return frame.set_index(["segment", "time"])


def thinned_curves(frame, points: int = CURVE_POINTS):
    """Step curves (columns ``segment``, ``time``, ...) with at most about ``points`` rows per
    segment: the last row of each of ``points`` equal time steps, so every kept row is exact.

    On 100,000 customers the curves have one row per distinct churn day (7,000+ rows), more than
    a chart needs or Altair accepts (5,000).
    """
    span = float(frame["time"].max() - frame["time"].min()) if len(frame) else 0.0
    if len(frame) <= points or span <= 0:
        return frame
    step = span / points
    bucket = ((frame["time"] - frame["time"].min()) // step).astype("int64")
    kept = frame.assign(_bucket=bucket).groupby(["segment", "_bucket"], sort=False).tail(1)
    firsts = frame.groupby("segment", sort=False).head(1)
    merged = pd.concat([firsts, kept.drop(columns="_bucket")])
    return merged[~merged.index.duplicated()].sort_index()


def _figures(unit: OrgUnit | None) -> dict[str, Any]:
    overview = retention.RetentionOverview(unit)
    cohort_table = overview.cohorts(period="M", kind="first_time")
    survival = overview.survival_by_segment()
    values = overview.clv(horizon=CLV_HORIZON_MONTHS, discount_rate=0.01)
    at_risk = at_risk_customers(values)
    risky = values["probability_alive"] < AT_RISK_BELOW
    return {
        "customers": len(values),
        "cohorts": len(cohort_table.sizes),
        "at_risk_count": int(risky.sum()),
        "at_risk_value": float(values.loc[risky, "clv"].sum()),
        "total_clv": float(values["clv"].sum()),
        "at_risk": at_risk,
        "charts": {
            "cohorts": charts.to_svg(
                charts.cohort_heatmap_chart(cohort_table.rates, cohort_table.sizes)
            ),
            "survival": charts.to_svg(
                charts.survival_by_segment_chart(_segment_labels(survival.survival_function_))
            ),
            "alive": charts.to_svg(charts.histogram_chart(
                values["probability_alive"], "Probability each customer is still active",
                "Probability alive", x_format=".0%", bins=20,
            )),
            "clv": charts.to_svg(charts.histogram_chart(
                values["clv"].clip(lower=0), f"Lifetime value, next {CLV_HORIZON_MONTHS} months",
                "Expected discounted spend", color=charts.PALETTE[2], clip_quantile=0.95,
            )),
        },
    }


def retention_figures(unit: OrgUnit | None) -> dict[str, Any]:
    """Everything the page shows for ``unit``, computed once a day (or when customers or orders
    are added) and shared by every server process (:mod:`qualityloop.web.page_cache`).

    Fitting the customer-base models and rendering four charts takes a second or two on the
    2,000-customer demo and about 40 s for the whole organisation of the 100,000-customer demo
    (3.4 million orders): far too slow for a page view, and the same all day.
    """
    return page_cache.daily("retention", unit, lambda: _figures(unit))


@login_required
def retention_page(request: HttpRequest) -> HttpResponse:
    """The Retention page; an HTMX request for a unit returns only the figures and charts."""
    allowed = permissions.may(request.user, get_kind("customers"), permissions.Action.READ)
    unit = selected_unit(request) if allowed else None
    figures, problem = None, ""
    if allowed:
        try:
            figures = retention_figures(unit)
        except retention.NoOrdersError as error:
            problem = f"Nothing to show yet: {error}."
    context: dict[str, Any] = {
        "allowed": allowed,
        "unit": unit,
        "units": unit_options(request.user) if allowed else [],
        "figures": figures,
        "problem": problem,
        "horizon": CLV_HORIZON_MONTHS,
        "threshold": AT_RISK_BELOW,
    }
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "qualityloop/_retention_body.html", context)
    return render(request, "qualityloop/retention.html", context)
