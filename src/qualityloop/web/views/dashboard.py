"""The dashboard: headline tiles and charts for the whole organisation or one unit."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from qualityloop.records.organisation.models import OrgUnit
from qualityloop.report import charts
from qualityloop.services import metrics

CACHE_SECONDS = 60


def _selected_unit(request: HttpRequest) -> OrgUnit | None:
    external_id = request.GET.get("unit", "").strip()
    if not external_id:
        return None
    return OrgUnit.objects.filter(external_id=external_id).first()


def _cached(key: str, compute):
    """Figures are recomputed at most once a minute: the order stream can be millions of rows."""
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, CACHE_SECONDS)
    return value


def _tiles(unit: OrgUnit | None) -> dict:
    as_of = timezone.localdate()
    key = f"ql:dashboard:tiles:{as_of}:{unit.pk if unit else 'all'}"
    return _cached(key, lambda: metrics.headline_figures(as_of, unit))


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

    return _cached(f"ql:dashboard:charts:{as_of}:{unit.pk if unit else 'all'}", render_all)


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The first page after login; an HTMX request for a unit returns only the tiles and charts."""
    unit = _selected_unit(request)
    context = {
        "figures": _tiles(unit),
        "charts": _charts(unit),
        "unit": unit,
        "units": OrgUnit.objects.order_by("name").only("external_id", "name"),
    }
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "qualityloop/_dashboard_body.html", context)
    return render(request, "qualityloop/dashboard.html", context)
