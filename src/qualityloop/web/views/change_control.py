"""The change-control workflow on the change-request page: the steps reached (with day and who),
the risk and the links, the form of the next step (approve and reject ask for the password) and
the signature once decided.

Each step posts to its own address and calls :mod:`qualityloop.services.change_control`. With
HTMX the page's record part is swapped in place (errors shown in the panel, history updated);
without JavaScript a step is a plain POST followed by a redirect back to the page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_POST

from qualityloop.records.quality.choices import ChangeStatus
from qualityloop.records.quality.models import ChangeRequest
from qualityloop.services import change_control as service
from qualityloop.services import permissions
from qualityloop.services.record_kinds import get_kind
from qualityloop.services.record_writer import RowInvalid
from qualityloop.web.views.edit_conflicts import Stale, step_on_version
from qualityloop.web.views.lockout import signature_refused
from qualityloop.web.views.record_forms import refused
from qualityloop.web.views.records import detail_context, record_url

STEP_LABELS = (
    (ChangeStatus.DRAFT, "Draft", "requested_on", "requested_by"),
    (ChangeStatus.SUBMITTED, "Submitted", None, None),
    (ChangeStatus.APPROVED, "Approved", "approved_on", "approver"),
    (ChangeStatus.IMPLEMENTED, "Implemented", "implemented_on", None),
    (ChangeStatus.VERIFIED, "Verified (closed)", "verified_on", "verified_by"),
)


def steps(change: ChangeRequest) -> list[dict[str, Any]]:
    """The steps with their state (done, current, todo), day and who; a rejected change shows
    the decision step as rejected."""
    order = [str(status) for status, *_ in STEP_LABELS]
    status = ChangeStatus.VERIFIED if change.status == ChangeStatus.CLOSED else change.status
    reached = order.index(ChangeStatus.APPROVED) if status == ChangeStatus.REJECTED else (
        order.index(status) if status in order else -1)
    shown = []
    for i, (step, label, date_field, person_field) in enumerate(STEP_LABELS):
        state = "done" if i < reached else "current" if i == reached else "todo"
        if step == ChangeStatus.APPROVED and change.status == ChangeStatus.REJECTED:
            label, state = "Rejected", "rejected"
        who = getattr(change, person_field) if person_field else None
        shown.append({"label": label, "state": state,
                      "on": getattr(change, date_field) if date_field and state != "todo" else None,
                      "who": who.name if who is not None and state != "todo" else ""})
    return shown


def workflow_context(change: ChangeRequest, user: Any,
                     problems: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Everything the workflow panel of the change-request page needs."""
    may_change = permissions.may_object(user, change, permissions.Action.CHANGE)
    refusal = service.decision_refusal(user, change)
    return {
        "change": change, "steps": steps(change), "problems": problems or {},
        "may_change": may_change, "may_decide": refusal is None,
        "decision_refusal": refusal, "today": timezone.localdate(),
        "nonconformances": list(change.related_nonconformances.order_by("external_id")),
        "objectives": list(change.related_objectives.order_by("external_id")),
        "finished": change.status in service.FINISHED,
    }


def _change(request: HttpRequest, external_id: str) -> ChangeRequest:
    kind = get_kind(service.CHANGES)
    visible = permissions.restrict(ChangeRequest.objects.all(), request.user, kind)
    return get_object_or_404(visible, external_id=external_id)


def _page(request: HttpRequest, change: ChangeRequest, status: int = 200,
          problems: dict[str, list[str]] | None = None) -> HttpResponse:
    change.refresh_from_db()
    context = detail_context(request, get_kind(service.CHANGES), change)
    context["change_workflow"] = workflow_context(change, request.user, problems)
    code = 200 if request.htmx else status  # type: ignore[attr-defined]
    return render(request, "qualityloop/record_detail.html", context, status=code)


@login_required
def change_detail(request: HttpRequest, external_id: str) -> HttpResponse:
    """The change-request page: its fields, the workflow panel and its history."""
    return _page(request, _change(request, external_id))


def _run(request: HttpRequest, change: ChangeRequest, run: Callable[[], Any]) -> HttpResponse:
    """Run a step on the version of the change the page showed; a wrong password, a refused
    step or a change made meanwhile is shown in the panel, other refusals as the 403 page."""
    try:
        step_on_version(change, request.POST, run)
    except Stale as stale:
        return _page(request, change, 409, {"step": [str(stale)]})
    except service.ReauthenticationFailed as wrong:
        return signature_refused(wrong, lambda status, message: _page(request, change, status,
                                                                      {"step": [message]}))
    except permissions.NotAllowed as refusal:
        return refused(request, str(refusal))
    except RowInvalid as invalid:
        return _page(request, change, 400, {"step": list(invalid.errors.values())})
    if request.htmx:  # type: ignore[attr-defined]
        return _page(request, change)
    return redirect(record_url(change) + "#change-workflow")


def _day(raw: str | None) -> dt.date | None:
    """A date from a form field; a bad one is the record writer's kind of problem."""
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise RowInvalid({"date": f"got {raw!r}, expected a date (YYYY-MM-DD)"}) from None


@login_required
@require_POST
def step(request: HttpRequest, external_id: str, name: str) -> HttpResponse:
    """Take one step of the change: submit, approve, reject, implement or verify."""
    change = _change(request, external_id)
    form, user = request.POST, request.user
    note, password = form.get("note", ""), form.get("password", "")
    actions: dict[str, Callable[[], Any]] = {
        "submit": lambda: service.submit(change, user),
        "approve": lambda: service.approve(change, user, password, note, _day(form.get("on"))),
        "reject": lambda: service.reject(change, user, password, note),
        "implement": lambda: service.record_implementation(change, user, note,
                                                           _day(form.get("on"))),
        "verify": lambda: service.record_verification(change, user, note, _day(form.get("on"))),
    }
    if name not in actions:
        return _page(request, change, 400, {"step": [f"unknown step {name!r}; expected one of "
                                                     + ", ".join(actions)]})
    return _run(request, change, actions[name])


CHANGE = "records/change-requests/<str:external_id>/"
urlpatterns = [
    path(CHANGE, change_detail, name="change-detail"),
    path(CHANGE + "step/<str:name>/", step, name="change-step"),
]
