"""The dashboard: what needs attention today, headline tiles and charts for the whole
organisation or one unit."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from qualityloop.records.organisation.models import OrgUnit
from qualityloop.report import charts
from qualityloop.services import attention, metrics
from qualityloop.web.views.unit_scope import cached_for_unit, selected_unit, unit_options


def _tiles(unit: OrgUnit | None) -> dict:
    as_of = timezone.localdate()
    return cached_for_unit("dashboard:tiles", unit, lambda: metrics.headline_figures(as_of, unit))


def _charts(unit: OrgUnit | None) -> list[str]:
    as_of = timezone.localdate()

    def render_all() -> list[str]:
        return [
            charts.to_svg(charts.customers_chart(metrics.monthly_customers(as_of, unit))),
            charts.to_svg(
                charts.nonconformance_stage_chart(metrics.nonconformances_by_stage(as_of, unit))
            ),
            charts.to_svg(charts.complaints_chart(metrics.monthly_complaints(as_of, unit))),
        ]

    return cached_for_unit("dashboard:charts", unit, render_all)


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The first page after login; an HTMX request for a unit returns only the tiles and charts."""
    unit = selected_unit(request)
    context = {
        # Not cached: taking a step on a record must take it off the list at once.
        "attention": attention.needs_attention(timezone.localdate(), unit),
        "attention_parameter": attention.PARAMETER,
        "my_work": attention.my_work(request.user),
        "figures": _tiles(unit),
        "charts": _charts(unit),
        "unit": unit,
        "units": unit_options(),
    }
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "qualityloop/_dashboard_body.html", context)
    return render(request, "qualityloop/dashboard.html", context)
