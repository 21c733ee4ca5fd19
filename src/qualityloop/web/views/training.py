"""The training pages: the competence matrix of a unit with the training expired or due, and
(loaded after the page) the training-effectiveness comparison of units."""

from __future__ import annotations

import math

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from qualityloop.records.organisation.models import OrgUnit, Person
from qualityloop.report.charts import to_svg
from qualityloop.report.qms_charts import coverage_scatter
from qualityloop.services import training
from qualityloop.web.views.unit_scope import cached_for_unit, selected_unit, unit_options

MAX_PEOPLE = 150


def _default_unit() -> OrgUnit | None:
    """The first unit (by name) that has people of its own: a matrix of the whole organisation
    is too wide to read."""
    unit_id = (Person.objects.filter(active=True, org_unit__isnull=False)
               .order_by("org_unit__name").values_list("org_unit", flat=True).first())
    return OrgUnit.objects.filter(pk=unit_id).first() if unit_id is not None else None


@login_required
def matrix_page(request: HttpRequest) -> HttpResponse:
    """``/training/matrix/?unit=``: people x courses of a unit, colour-coded, and the due list."""
    # No ?unit= at all: a first unit; ?unit= empty: the whole organisation (the select's choice).
    unit = selected_unit(request, default=_default_unit)
    matrix = training.competence_matrix(unit)
    too_many = len(matrix.people) > MAX_PEOPLE
    context = {
        "unit": unit, "units": unit_options(request.user), "matrix": matrix,
        "rows": [] if too_many else matrix.rows(), "too_many": too_many,
        "max_people": MAX_PEOPLE,
        "legend": [(state, training.STATE_LABELS[state], count)
                   for state, count in matrix.counts().items()],
        "levels": [(value, label) for value, label in training.CompetenceLevel.choices],
        "due": training.due_list(unit), "due_days": training.DUE_WITHIN_DAYS,
    }
    template = ("qualityloop/_training_body.html" if request.htmx  # type: ignore[attr-defined]
                else "qualityloop/training_matrix.html")
    return render(request, template, context)


def effectiveness_figures(unit: OrgUnit | None = None) -> dict:
    """The effectiveness table, its charts and the sentences (computed once a minute): every
    unit's row, or those of ``unit`` and the units below it."""
    table = training.effectiveness()
    if unit is not None:
        own = {unit.external_id, *(below.external_id for below in unit.descendants())}
        table = table[table["unit"].isin(own)].reset_index(drop=True)
    if table.empty:
        return {"rows": [], "charts": [], "sentences": []}
    charts = [
        to_svg(coverage_scatter(table, "ncs_per_person", "Nonconformances raised per person",
                                ".1f")),
        to_svg(coverage_scatter(table, "capa_on_time", "Corrective actions on time", "%")),
    ]
    rows = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in table.to_dict("records")]
    return {"rows": rows, "charts": charts, "period": table["period"].iloc[0],
            "sentences": [a.sentence() for a in training.associations(table)]}


@login_required
def effectiveness_part(request: HttpRequest) -> HttpResponse:
    """``/training/effectiveness/``: did trained teams raise and close more problems? A user who
    reads only their own unit (``QUALITYLOOP_READ_SCOPE=unit``) sees the rows of their unit and
    the units below it."""
    unit = selected_unit(request)
    figures = cached_for_unit("training-effectiveness", unit,
                              lambda: effectiveness_figures(unit))
    return render(request, "qualityloop/_training_effectiveness.html", figures)


urlpatterns = [
    path("training/matrix/", matrix_page, name="training-matrix"),
    path("training/effectiveness/", effectiveness_part, name="training-effectiveness"),
]
