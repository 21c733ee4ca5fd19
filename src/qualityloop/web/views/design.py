"""The design page: customers in design and development (ISO 9001 8.3), one row per project;
and the panel of a design project's own page (its reviews, customers and escaped defects)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from qualityloop.records.customers.choices import DesignStage
from qualityloop.records.customers.models import DesignProject
from qualityloop.records.quality.choices import LifecycleStage
from qualityloop.services import design_reviews, permissions
from qualityloop.services.record_kinds import get_kind
from qualityloop.web.views.new_links import new_record_url
from qualityloop.web.views.unit_scope import selected_unit, unit_options


@login_required
def design_page(request: HttpRequest) -> HttpResponse:
    """``/design/?unit=``: per project, customers and defects per stage, escapes, co-design."""
    unit = selected_unit(request)
    rows = design_reviews.project_table(unit)
    context = {
        "unit": unit, "units": unit_options(request.user), "rows": rows,
        "totals": design_reviews.totals(rows), "stage_labels": DesignStage.labels,
    }
    template = ("qualityloop/_design_body.html" if request.htmx  # type: ignore[attr-defined]
                else "qualityloop/design.html")
    return render(request, template, context)


def project_panel(project: DesignProject, user: Any) -> dict[str, Any]:
    """What the design project's page adds: its stage reviews with the customers who took part
    (by name) and the defects found, the defects that escaped to production and the field, the
    share caught before production, and links that record a review or an escape for it."""
    reviews = list(project.reviews.prefetch_related("customer_participants")
                   .order_by("held_on", "pk"))
    readable = permissions.restrict(project.nonconformances.all(), user,
                                    get_kind("nonconformances"))
    escapes = list(readable.filter(stage__in=design_reviews.ESCAPE_STAGES)
                   .order_by("detected_on", "pk"))
    found = sum(r.defects_found for r in reviews)
    return {
        "project": project,
        "reviews": [{"review": r, "customers": sorted(r.customer_participants.all(),
                                                      key=lambda c: c.name)} for r in reviews],
        "escapes": escapes, "found": found,
        "caught_share": design_reviews.caught_share(found, len(escapes)),
        "add_review": new_record_url(user, "design-reviews", {"project": project.external_id}),
        "add_escape": new_record_url(user, "nonconformances", {
            "design_project": project.external_id, "stage": LifecycleStage.PRODUCTION.value,
            "org_unit": project.org_unit.external_id}),
    }
