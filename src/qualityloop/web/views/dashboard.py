"""The dashboard: what needs attention today, headline tiles and charts for the whole
organisation or one unit.

The customer figures (active, retention, churn, revenue, NPS and the customers chart) read the
order stream and change once a day: they come from the shared daily cache
(:mod:`qualityloop.web.page_cache`). The quality-record tiles and charts change with every step
taken on a record and are recomputed at most once a minute; the attention list on every request.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from qualityloop.records.organisation.models import OrgUnit
from qualityloop.report import charts
from qualityloop.services import attention, metrics
from qualityloop.web import page_cache
from qualityloop.web.views.unit_scope import cached_for_unit, selected_unit, unit_options


def customer_figures(unit: OrgUnit | None) -> dict[str, Any]:
    """Today's customer tiles and the customers chart of ``unit`` (daily cache)."""
    def compute() -> dict[str, Any]:
        day = timezone.localdate()
        return {
            "active_customers": metrics.active_customers(day, unit),
            "retention_rate": metrics.retention_rate(day, unit),
            "churned_customers": metrics.churned_customers(day, unit),
            "revenue": metrics.revenue(day, unit),
            "nps": metrics.nps(day, unit),
            "chart": charts.to_svg(charts.customers_chart(metrics.monthly_customers(day, unit))),
        }

    return page_cache.daily("dashboard:customers", unit, compute)


def _quality_figures(unit: OrgUnit | None) -> dict[str, Any]:
    def compute() -> dict[str, Any]:
        day = timezone.localdate()
        objectives = metrics.objective_status(day, unit)
        return {
            "open_nonconformances": metrics.open_nonconformances(day, unit),
            "overdue_actions": metrics.overdue_actions(day, unit),
            "objectives_on_track": objectives["on_track"],
            "objectives_at_risk": objectives["at_risk"],
            "objectives_missed": objectives["missed"],
            "open_complaints": metrics.open_complaints(day, unit),
            "median_days_to_resolution": metrics.median_days_to_resolution(day, unit),
            "design_customer_participation": metrics.design_customer_participation(day, unit),
            "field_defects": metrics.field_defects(day, unit),
            "defects_caught_in_design": metrics.defects_caught_in_design(day, unit),
            "charts": [
                charts.to_svg(charts.nonconformance_stage_chart(
                    metrics.nonconformances_by_stage(day, unit))),
                charts.to_svg(charts.complaints_chart(metrics.monthly_complaints(day, unit))),
            ],
        }

    return cached_for_unit("dashboard:quality", unit, compute)


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The first page after login; an HTMX request for a unit returns only the tiles and charts.

    A user who reads only their own unit and has none gets their own work and why there are no
    figures (the other unit pages refuse them with that reason)."""
    try:
        unit = selected_unit(request)
    except PermissionDenied as no_unit:
        return render(request, "qualityloop/dashboard.html", {
            "my_work": attention.my_work(request.user), "no_unit": str(no_unit)})
    customers = customer_figures(unit)
    quality = _quality_figures(unit)
    figures = {"as_of": timezone.localdate().isoformat(), **customers, **quality}
    context = {
        # Not cached: taking a step on a record must take it off the list at once.
        "attention": attention.needs_attention(timezone.localdate(), unit),
        "attention_parameter": attention.PARAMETER,
        "my_work": attention.my_work(request.user),  # the user's own work (not cached either)
        "figures": figures,
        "charts": [customers["chart"], *quality["charts"]],
        "unit": unit,
        "units": unit_options(request.user),
    }
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "qualityloop/_dashboard_body.html", context)
    return render(request, "qualityloop/dashboard.html", context)
