"""Objectives on the web: the cascade page, the status panel of the objective page with its
measurement form, and the computed status column of the objective list.

The status rule lives in :mod:`qualityloop.services.objectives`; these views only show it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_POST

from qualityloop.records.quality.choices import ObjectiveState
from qualityloop.records.quality.models import ObjectiveMeasurement, QualityObjective
from qualityloop.services import objectives as service
from qualityloop.services import permissions
from qualityloop.services.record_kinds import get_kind
from qualityloop.services.record_writer import RowInvalid
from qualityloop.web.views.record_forms import refused
from qualityloop.web.views.records import Cell, detail_context, record_url
from qualityloop.web.views.unit_scope import selected_unit, unit_options

SPARK_WIDTH, SPARK_HEIGHT, SPARK_POINTS = 110, 26, 24
MEASUREMENTS_SHOWN = 12


# Sparkline ------------------------------------------------------------------------------------


def sparkline(values: list[float], target: float | None = None) -> SafeString:
    """A small inline SVG line of the values (the last ``SPARK_POINTS``), the target dashed."""
    values = values[-SPARK_POINTS:]
    if not values:
        return mark_safe('<span class="muted">–</span>')
    span = [*values, *([target] if target is not None else [])]
    low, high = min(span), max(span)
    pad = (high - low) * 0.1 or 1.0
    low, high = low - pad, high + pad

    def y(v: float) -> float:
        return round(SPARK_HEIGHT - (v - low) / (high - low) * SPARK_HEIGHT, 1)

    step = SPARK_WIDTH / max(len(values) - 1, 1)
    points = " ".join(f"{round(i * step, 1)},{y(v)}" for i, v in enumerate(values))
    last_x = round((len(values) - 1) * step, 1)
    target_line = "" if target is None else (
        f'<line class="target" x1="0" x2="{SPARK_WIDTH}" y1="{y(target)}" y2="{y(target)}"/>')
    return format_html(
        '<svg class="sparkline" width="{w}" height="{h}" viewBox="-2 -2 {vw} {vh}" role="img" '
        'aria-label="{n} measurements">{target}<polyline class="line" points="{points}"/>'
        '<circle class="last" cx="{lx}" cy="{ly}" r="2"/></svg>',
        w=SPARK_WIDTH, h=SPARK_HEIGHT, vw=SPARK_WIDTH + 4, vh=SPARK_HEIGHT + 4, n=len(values),
        target=mark_safe(target_line), points=points, lx=last_x, ly=y(values[-1]))


def _series(objective_ids: list[int], as_of: dt.date) -> dict[int, list[float]]:
    rows = (ObjectiveMeasurement.objects.filter(objective_id__in=objective_ids,
                                                measured_on__lte=as_of)
            .order_by("objective_id", "measured_on", "pk").values_list("objective_id", "value"))
    series: dict[int, list[float]] = {}
    for oid, value in rows:
        series.setdefault(oid, []).append(value)
    return series


# The cascade ----------------------------------------------------------------------------------


SHOW_CHOICES = (("active", "Active objectives"), ("all", "All, closed included"))


def _cascade_objectives(show: str, unit) -> list[QualityObjective]:
    qs = QualityObjective.objects.exclude(state=ObjectiveState.CANCELLED)
    if show == "active":
        qs = qs.filter(state=ObjectiveState.ACTIVE)
    qs = service.in_units(qs, unit)
    return list(qs.select_related("org_unit", "owner").order_by("org_unit__kind", "due_on",
                                                                 "title"))


def cascade_nodes(as_of: dt.date, show: str = "active", unit=None) -> list[dict[str, Any]]:
    """The objective trees (roots first; an objective whose parent is not shown is a root),
    each node with its status, latest value, sparkline and children."""
    shown = _cascade_objectives(show, unit)
    ids = [o.pk for o in shown]
    judged = service.statuses(as_of, QualityObjective.objects.filter(pk__in=ids))
    series = _series(ids, as_of)
    by_parent: dict[int | None, list[QualityObjective]] = {}
    present = set(ids)
    for obj in shown:
        parent = obj.parent_id if obj.parent_id in present else None
        by_parent.setdefault(parent, []).append(obj)

    def node(obj: QualityObjective, depth: int) -> dict[str, Any]:
        status = judged.get(obj.pk)
        return {
            "obj": obj, "url": record_url(obj), "status": status, "depth": min(depth, 3),
            "spark": sparkline(series.get(obj.pk, []), obj.target),
            "children": [node(child, depth + 1) for child in by_parent.get(obj.pk, [])],
        }

    return [node(root, 0) for root in by_parent.get(None, [])]


@login_required
def cascade(request: HttpRequest) -> HttpResponse:
    """The objectives as a tree from the company down to the units."""
    kind = get_kind(service.OBJECTIVES)
    if not permissions.may(request.user, kind, permissions.Action.READ):
        return refused(request, f"user {request.user.get_username()!r} may not read objectives")
    show = request.GET.get("show", "active")
    show = show if show in dict(SHOW_CHOICES) else "active"
    unit = selected_unit(request)
    today = timezone.localdate()
    nodes = cascade_nodes(today, show, unit)
    context = {"nodes": nodes, "show": show, "show_choices": SHOW_CHOICES, "unit": unit,
               "units": unit_options(request.user), "today": today, "counts": _count(nodes),
               "rollup_share": round(service.ROLLUP_ON_TRACK_SHARE * 100),
               "may_write": permissions.may(request.user, kind, permissions.Action.WRITE)}
    return render(request, "qualityloop/objectives_cascade.html", context)


def _count(nodes: list[dict[str, Any]]) -> list[tuple[service.Status, int]]:
    found: dict[str, int] = {}
    stack = list(nodes)
    while stack:
        n = stack.pop()
        if n["status"] is not None:
            found[n["status"].rolled_up.value] = found.get(n["status"].rolled_up.value, 0) + 1
        stack.extend(n["children"])
    return [(s, found[s.value]) for s in service.Status if s.value in found]


# The objective page ---------------------------------------------------------------------------


def panel_context(objective: QualityObjective, user: Any,
                  problems: dict[str, str] | None = None,
                  given: dict[str, str] | None = None) -> dict[str, Any]:
    """The status panel of the objective page: status (own and rolled up), why, the latest
    measurements with a sparkline, and the form that adds a measurement."""
    today = timezone.localdate()
    measurements = list(objective.measurements.order_by("-measured_on", "-pk")
                        [:MEASUREMENTS_SHOWN])
    values = list(objective.measurements.filter(measured_on__lte=today)
                  .order_by("measured_on", "pk").values_list("value", flat=True))
    status = service.status_of(objective, today)
    children = [(service.Status(name).label.lower(), n)
                for name, n in (status.children if status else {}).items()]
    return {
        "objective": objective, "status": status, "children": children,
        "measurements": measurements, "spark": sparkline(values, objective.target),
        "expected_today": service.expected_value(objective, today),
        "may_write": objective.state != ObjectiveState.CANCELLED and permissions.may_object(
            user, ObjectiveMeasurement(objective=objective), permissions.Action.CREATE),
        "problems": problems or {}, "given": given or {"measured_on": today.isoformat()},
        "cascade_url": reverse("objectives-cascade"),
    }


@login_required
@require_POST
def add_measurement(request: HttpRequest, external_id: str) -> HttpResponse:
    """Enter a measurement from the objective page."""
    kind = get_kind(service.OBJECTIVES)
    visible = permissions.restrict(QualityObjective.objects.all(), request.user, kind)
    objective = get_object_or_404(visible, external_id=external_id)
    given = {name: request.POST.get(name, "").strip() for name in ("measured_on", "value", "note")}
    try:
        service.add_measurement(objective, request.user, given["measured_on"], given["value"],
                                given["note"])
    except permissions.NotAllowed as refusal:
        return refused(request, str(refusal))
    except RowInvalid as invalid:
        context = detail_context(request, kind, objective)
        context["objective_panel"] = panel_context(objective, request.user, invalid.errors, given)
        status = 200 if request.htmx else 400  # type: ignore[attr-defined]
        return render(request, "qualityloop/record_detail.html", context, status=status)
    if request.htmx:  # type: ignore[attr-defined]
        context = detail_context(request, kind, objective)
        context["objective_panel"] = panel_context(objective, request.user)
        return render(request, "qualityloop/record_detail.html", context)
    return redirect(record_url(objective) + "#objective-status")


# The objective list ---------------------------------------------------------------------------


class StatusColumn:
    """The computed status as an extra column of the objective list (looks like a Column)."""

    name = "computed_status"

    class field:  # noqa: N801  (read by the list template as column.field.verbose_name)
        verbose_name = "status (computed)"


def add_status_column(columns: list, rows: list[dict], objects: list) -> tuple[list, list]:
    """The list's columns and rows with the computed status of each objective appended."""
    today = timezone.localdate()
    ids = [o.pk for o in objects]
    tree = set(ids)
    frontier = ids
    while frontier:  # the roll-up needs every objective below the listed ones
        frontier = [pk for pk in QualityObjective.objects.filter(parent__in=frontier)
                    .values_list("pk", flat=True) if pk not in tree]
        tree.update(frontier)
    judged = service.statuses(today, QualityObjective.objects.filter(pk__in=tree))
    for row, obj in zip(rows, objects, strict=True):
        status = judged.get(obj.pk)
        row["cells"].append(Cell(status.rolled_up.label if status else "–"))
    return [*columns, StatusColumn], rows


urlpatterns = [
    path("objectives/cascade/", cascade, name="objectives-cascade"),
    path("records/objectives/<str:external_id>/measurements/new/", add_measurement,
         name="objective-add-measurement"),
]
