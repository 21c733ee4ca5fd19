"""The design page: customers in design and development (ISO 9001 8.3), one row per project."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from qualityloop.records.customers.choices import DesignStage
from qualityloop.services import design_reviews
from qualityloop.web.views.unit_scope import selected_unit, unit_options


@login_required
def design_page(request: HttpRequest) -> HttpResponse:
    """``/design/?unit=``: per project, customers and defects per stage, escapes, co-design."""
    unit = selected_unit(request)
    rows = design_reviews.project_table(unit)
    context = {
        "unit": unit, "units": unit_options(), "rows": rows,
        "totals": design_reviews.totals(rows), "stage_labels": DesignStage.labels,
    }
    template = ("qualityloop/_design_body.html" if request.htmx  # type: ignore[attr-defined]
                else "qualityloop/design.html")
    return render(request, template, context)
