"""The problem-solving steps on the nonconformance page, and its 8D report.

Each step posts to its own address and calls :mod:`qualityloop.services.problem_solving`. With
HTMX the page's record part is swapped in place (errors shown in the step's card, history
updated); without JavaScript a step is a plain POST followed by a redirect back to the page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_POST

from qualityloop.records.quality.models import CorrectiveAction, Nonconformance
from qualityloop.services import permissions
from qualityloop.services import problem_solving as service
from qualityloop.services.record_kinds import get_kind
from qualityloop.services.record_writer import RowInvalid
from qualityloop.web.views import nc_workflow
from qualityloop.web.views.edit_conflicts import Stale, step_on_version
from qualityloop.web.views.lockout import signature_refused
from qualityloop.web.views.record_forms import refused
from qualityloop.web.views.records import detail_context, history_entries, record_url, references


def _nc(request: HttpRequest, external_id: str) -> Nonconformance:
    kind = get_kind(service.NCS)
    visible = permissions.restrict(Nonconformance.objects.all(), request.user, kind)
    return get_object_or_404(visible.select_related(*references(kind)), external_id=external_id)


def _page(request: HttpRequest, nc: Nonconformance, status: int,
          problems: dict[str, Any] | None = None,
          forms_given: dict[str, Any] | None = None) -> HttpResponse:
    """The NC page with a step's problems; HTMX swaps its record part, so it gets 200."""
    nc.refresh_from_db()
    context = detail_context(request, get_kind(service.NCS), nc)
    context["workflow"] = nc_workflow.workflow_context(nc, request.user, problems, forms_given)
    code = 200 if request.htmx else status  # type: ignore[attr-defined]
    return render(request, "qualityloop/record_detail.html", context, status=code)


def _done(request: HttpRequest, nc: Nonconformance) -> HttpResponse:
    if request.htmx:  # type: ignore[attr-defined]
        return _page(request, nc, 200)
    return redirect(record_url(nc) + "#workflow")


def _run_step(request: HttpRequest, nc: Nonconformance, step: str,
              run: Callable[[], Any]) -> HttpResponse:
    """Run a step on the version of the record the page showed; a refusal is shown in the
    step's card (or as the 403 page)."""
    try:
        step_on_version(nc, request.POST, run)
    except Stale as stale:
        return _page(request, nc, 409, {step: [str(stale)]})
    except service.ReauthenticationFailed as wrong:
        return signature_refused(wrong, lambda status, message: _page(request, nc, status,
                                                                      {step: [message]}))
    except permissions.NotAllowed as refusal:
        return refused(request, str(refusal))
    except RowInvalid as invalid:
        return _page(request, nc, 400, {step: list(invalid.errors.values())})
    return _done(request, nc)


@login_required
@require_POST
def containment(request: HttpRequest, external_id: str) -> HttpResponse:
    nc = _nc(request, external_id)
    text = request.POST.get("containment", "")
    return _run_step(request, nc, "containment",
                     lambda: service.record_containment(nc, request.user, text))


@login_required
@require_POST
def root_cause(request: HttpRequest, external_id: str) -> HttpResponse:
    nc = _nc(request, external_id)
    whys = [service.Why(request.POST.get(f"why_{n}", ""), request.POST.get(f"because_{n}", ""))
            for n in nc_workflow.WHY_LINES]
    category = request.POST.get("cause_category", "")
    cause = request.POST.get("root_cause", "")
    return _run_step(request, nc, "root_cause",
                     lambda: service.record_root_cause(nc, request.user, whys, category, cause))


@login_required
@require_POST
def add_action(request: HttpRequest, external_id: str) -> HttpResponse:
    nc = _nc(request, external_id)
    form = nc_workflow.action_form(request.POST)
    form.is_valid()
    try:
        service.add_action(nc, request.user, form.values())
    except permissions.NotAllowed as refusal:
        return refused(request, str(refusal))
    except RowInvalid as invalid:
        form.show_problems(invalid.errors)
        return _page(request, nc, 400, forms_given={"action": form})
    return _done(request, nc)


@login_required
@require_POST
def effectiveness_check(request: HttpRequest, external_id: str, action_id: str) -> HttpResponse:
    nc = _nc(request, external_id)
    action = get_object_or_404(CorrectiveAction, nonconformance=nc, external_id=action_id)
    form = nc_workflow.check_form(action, request.POST)
    form.is_valid()
    values = form.cleaned_data
    try:
        step_on_version(action, request.POST, lambda: service.record_effectiveness_check(
            action, request.user, values.get("verified_by") or "",
            values.get("checked_on") or "", values.get("effective") == "yes",
            values.get("evidence") or ""))
    except Stale as stale:
        form.add_error(None, str(stale))
        return _page(request, nc, 409, forms_given={f"check:{action.external_id}": form})
    except permissions.NotAllowed as refusal:
        return refused(request, str(refusal))
    except RowInvalid as invalid:
        names = {"verified_by": "verified_by", "effectiveness_checked_on": "checked_on",
                 "effectiveness_result": "evidence"}
        for column, message in invalid.errors.items():
            form.add_error(names.get(column), message)
        return _page(request, nc, 400, forms_given={f"check:{action.external_id}": form})
    return _done(request, nc)


@login_required
@require_POST
def close(request: HttpRequest, external_id: str) -> HttpResponse:
    nc = _nc(request, external_id)
    password = request.POST.get("password", "")
    closed_on = request.POST.get("closed_on") or None
    day = None
    if closed_on:
        try:
            day = timezone.datetime.fromisoformat(closed_on).date()
        except ValueError:
            return _page(request, nc, 400, {"close": [f"got {closed_on!r}, expected a date "
                                                      "(YYYY-MM-DD)"]})
    return _run_step(request, nc, "close",
                     lambda: service.close_nonconformance(nc, request.user, password, day))


@login_required
def eight_d_report(request: HttpRequest, external_id: str) -> HttpResponse:
    """The 8D report of a nonconformance as a printable page (D1 team ... D8 closure)."""
    nc = _nc(request, external_id)
    readable = permissions.restrict(nc.actions.all(), request.user, get_kind(service.ACTIONS))
    actions = list(readable.select_related("owner", "verified_by").order_by("due_on", "pk"))
    team = {p for p in [nc.detected_by] if p is not None}
    team |= {a.owner for a in actions} | {a.verified_by for a in actions if a.verified_by}
    context = {
        "nc": nc, "actions": actions, "team": sorted(team, key=lambda p: p.name),
        "corrections": [a for a in actions if a.kind == "correction"],
        "corrective": [a for a in actions if a.kind == "corrective"],
        "preventive": [a for a in actions if a.kind == "preventive"],
        "whys": nc.whys(), "history": history_entries(nc),
        "customers": list(nc.affected_customers.order_by("external_id")),
        "printed_at": timezone.now(), "detail_url": record_url(nc),
    }
    return render(request, "qualityloop/nc_8d.html", context)


NC = "records/nonconformances/<str:external_id>/"
urlpatterns = [
    path(NC + "8d/", eight_d_report, name="nc-8d"),
    path(NC + "containment/", containment, name="nc-containment"),
    path(NC + "root-cause/", root_cause, name="nc-root-cause"),
    path(NC + "actions/new/", add_action, name="nc-add-action"),
    path(NC + "actions/<str:action_id>/check/", effectiveness_check, name="nc-check"),
    path(NC + "close/", close, name="nc-close"),
]
