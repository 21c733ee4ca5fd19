"""The SPC page: control charts of the records and of process measurements, the Pareto and
fishbone of nonconformance causes, and one button per chart signal that raises a nonconformance.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from qualityloop.records.organisation.models import OrgUnit
from qualityloop.report import charts
from qualityloop.services import permissions
from qualityloop.services import spc as service
from qualityloop.services.record_kinds import get_kind
from qualityloop.web.views.unit_scope import cached_for_unit, selected_unit, unit_options

RECORD_CHARTS = [
    (service.NC_RATE, "Nonconformance rate (u chart)"),
    (service.COMPLAINTS, "Complaints per month (c chart)"),
    (service.PARETO, "Pareto of causes (12 months)"),
    (service.FISHBONE, "Fishbone of causes (12 months)"),
]
DEFAULT_BASELINE = {"monthly": 12, "process": 20}


def _settings(params: Any, key: str) -> tuple[service.ChartSettings, dict[str, Any]]:
    """Chart settings from the query or form; what the page echoes back into its controls."""
    rules = params.get("rules") or "western_electric"
    phase = "II" if params.get("phase") == "II" else "I"
    family = "process" if key.startswith(service.PROCESS_PREFIX) else "monthly"
    given = params.get("baseline") if params.get("baseline_for", family) == family else None
    try:
        baseline = int(given or DEFAULT_BASELINE[family])
    except ValueError:
        raise service.SpcInputError(f"the number of baseline points must be a whole number; "
                                    f"got {params.get('baseline')!r}") from None
    settings = service.ChartSettings(rules=rules, baseline=baseline if phase == "II" else None)
    return settings, {"rules": rules, "phase": phase, "baseline": baseline,
                      "baseline_for": family}


def _control_figures(key: str, unit: OrgUnit | None,
                     settings: service.ChartSettings) -> dict[str, Any]:
    view = service.control_chart(key, unit, settings)
    figures: dict[str, Any] = {"view": view, "svg": charts.to_svg(view.chart.plot(view.title))}
    if view.capability is not None:
        figures["capability_svg"] = charts.to_svg(view.capability.plot(
            f"Capability: {view.y_title}"))
    return figures


def _cause_figures(key: str, unit: OrgUnit | None) -> dict[str, Any]:
    if key == service.PARETO:
        result = service.cause_pareto(unit)
        return {"svg": charts.to_svg(result.plot("Nonconformances by cause category, "
                                                 "last 12 months")),
                "pareto": result.table.to_dict("records")}
    diagram = service.cause_fishbone(unit)
    return {"svg": charts.to_svg(diagram.plot()), "fishbone": diagram.table.to_dict("records")}


def spc_figures(key: str, unit: OrgUnit | None, settings: service.ChartSettings) -> dict[str, Any]:
    """The chart (its SVG and data) for the page, computed at most once a minute per unit, chart
    and settings: drawing a chart to SVG takes a few hundred milliseconds."""
    # Characteristic names may hold spaces and any text: hash them into a safe cache key.
    digest = hashlib.sha1(f"{key}|{settings.rules}|{settings.baseline}".encode()).hexdigest()
    name = f"spc:{digest[:20]}"
    if key in (service.PARETO, service.FISHBONE):
        return cached_for_unit(name, unit, lambda: _cause_figures(key, unit))
    return cached_for_unit(name, unit, lambda: _control_figures(key, unit, settings))


def _signal_rows(view: service.ChartView, may_raise: bool) -> list[dict[str, Any]]:
    """One row per signalling point, each with its rules: a raise button, or the link to the
    nonconformance already raised from it."""
    signals = view.signals()
    raised = service.existing_nonconformances(signals)
    rows: dict[int, dict[str, Any]] = {}
    for signal in signals:
        row = rows.setdefault(signal.subgroup, {"point": signal, "rules": []})
        row["rules"].append({
            "signal": signal, "raised": signal.external_id in raised,
            "status": raised.get(signal.external_id, ""), "may_raise": may_raise,
            "url": reverse("record-detail", args=["nonconformances", signal.external_id]),
        })
    return list(rows.values())


def _capability_rows(view: service.ChartView) -> list[dict[str, Any]]:
    """One row per index with None for what does not apply (Cp with one limit, say)."""
    if view.capability is None:
        return []
    table = view.capability.summary()
    return [{"index": name, "sigma": row["sigma"],
             **{k: _finite(row[k]) for k in ("value", "lower", "upper")}}
            for name, row in table.iterrows()]


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if number == number else None


def _chart_options(unit: OrgUnit | None) -> list[dict[str, Any]]:
    process = [{"key": c.key, "label": f"{c.name} ({c.unit_name})"}
               for c in service.characteristics(unit)]
    return [{"group": "Records", "options": [{"key": k, "label": v} for k, v in RECORD_CHARTS]},
            {"group": "Process characteristics", "options": process}]


def _context(request: HttpRequest, params: Any) -> dict[str, Any]:
    kind = get_kind("nonconformances")
    allowed = permissions.may(request.user, kind, permissions.Action.READ)
    context: dict[str, Any] = {"allowed": allowed, "rule_sets": service.RULE_SETS.items()}
    if not allowed:
        return context
    unit = selected_unit(request)
    key = params.get("chart") or service.NC_RATE
    context.update(unit=unit, units=unit_options(request.user), chart_key=key,
                   chart_groups=_chart_options(unit), problem="")
    try:
        settings, echoed = _settings(params, key)
        context.update(echoed)
        figures = spc_figures(key, unit, settings)
    except service.SpcInputError as error:
        context["problem"] = str(error)
        context.setdefault("rules", "western_electric")
        return context
    context["figures"] = figures
    view = figures.get("view")
    if view is not None:
        may_raise = permissions.may(request.user, kind, permissions.Action.WRITE)
        context.update(view=view, signals=_signal_rows(view, may_raise),
                       capability=_capability_rows(view))
        if view.capability is not None:
            context["ppm_within"] = view.capability.ppm.loc["expected_within", "total"]
    return context


@login_required
def spc_page(request: HttpRequest) -> HttpResponse:
    """The SPC page; an HTMX request returns only the controls and the chart."""
    context = _context(request, request.GET)
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "qualityloop/_spc_body.html", context)
    return render(request, "qualityloop/spc.html", context)


@login_required
@require_POST
def raise_nonconformance(request: HttpRequest) -> HttpResponse:
    """Raise (once) the nonconformance of one chart signal, then open it."""
    params = request.POST
    key = params.get("chart", "")
    try:
        unit = service.unit_by_id(params.get("unit"))
        settings, _ = _settings(params, key)
        view = spc_figures(key, unit, settings).get("view")
        if view is None:
            raise service.SpcInputError(f"the chart {key!r} has no signals to raise")
        subgroup = int(params.get("subgroup", "-1"))
        signal = service.find_signal(view, subgroup, params.get("rule", ""))
        nc, _created = service.raise_nonconformance(request.user, signal)
    except permissions.NotAllowed as refused:
        return render(request, "qualityloop/forbidden.html", {"reason": str(refused)}, status=403)
    except (service.SpcInputError, ValueError) as error:
        return render(request, "qualityloop/forbidden.html", {"reason": str(error)}, status=400)
    return redirect("record-detail", "nonconformances", nc.external_id)
