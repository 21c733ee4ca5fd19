"""The ISO 10002 complaint workflow on the complaint page: the steps reached (with day and who),
the service-level timers, the form of the next step, satisfaction with the handling and
"raise a nonconformance".

Each step posts to its own address and calls :mod:`qualityloop.services.complaints`. With HTMX
the page's record part is swapped in place (errors shown in the panel); without JavaScript a step
is a plain POST followed by a redirect back to the page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_POST

from qualityloop.records.customers.choices import ComplaintOutcome, ComplaintStatus
from qualityloop.records.customers.models import Complaint
from qualityloop.services import complaints as service
from qualityloop.services import permissions
from qualityloop.services.record_kinds import get_kind
from qualityloop.services.record_writer import RowInvalid
from qualityloop.web.forms.records import form_field
from qualityloop.web.views.edit_conflicts import Stale, step_on_version
from qualityloop.web.views.record_forms import refused
from qualityloop.web.views.records import Cell, detail_context, record_url

STEP_LABELS = (
    (ComplaintStatus.RECEIVED, "Received", "received_on", None),
    (ComplaintStatus.ACKNOWLEDGED, "Acknowledged", "acknowledged_on", "acknowledged_by"),
    (ComplaintStatus.ASSESSED, "Assessed", "assessed_on", "assessed_by"),
    (ComplaintStatus.INVESTIGATED, "Investigated", "investigated_on", "investigated_by"),
    (ComplaintStatus.RESPONDED, "Responded", "responded_on", "responded_by"),
    (ComplaintStatus.CLOSED, "Closed", "closed_on", "closed_by"),
)


def steps(complaint: Complaint) -> list[dict[str, Any]]:
    """The lifecycle steps with their state (done, current, todo), day and who took them."""
    reached = service.ORDER.index(ComplaintStatus(complaint.status))
    shown = []
    for i, (_status, label, date_field, user_field) in enumerate(STEP_LABELS):
        who = getattr(complaint, user_field) if user_field else None
        shown.append({"label": label, "state": "done" if i < reached else
                      "current" if i == reached else "todo",
                      "on": getattr(complaint, date_field),
                      "who": who.get_username() if who else ""})
    return shown


class AssessForm(forms.Form):
    """The initial assessment: severity, handler and unit, as the record forms offer them."""

    def __init__(self, complaint: Complaint) -> None:
        super().__init__(initial={
            "severity": complaint.severity,
            "handler": complaint.handler.external_id if complaint.handler else "",
            "org_unit": complaint.org_unit.external_id if complaint.org_unit else ""})
        kind = get_kind(service.COMPLAINTS)
        for name in ("severity", "handler", "org_unit"):
            self.fields[name] = form_field(kind.column(name))

    @property
    def searchable_fields(self) -> frozenset[str]:
        """Fields typed with search help (as on the record forms)."""
        return frozenset(name for name, field in self.fields.items()
                         if "data-search" in field.widget.attrs)


def workflow_context(complaint: Complaint, user: Any,
                     problems: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Everything the workflow panel of the complaint page needs."""
    today = timezone.localdate()
    upcoming = service.next_status(complaint)
    return {
        "complaint": complaint, "steps": steps(complaint), "problems": problems or {},
        "may_write": permissions.may_object(
            user, complaint, service.step_action(upcoming) if upcoming
            else permissions.Action.CHANGE),
        "may_rate": permissions.may_object(user, complaint, permissions.Action.CHANGE)
        and complaint.status in (ComplaintStatus.RESPONDED, ComplaintStatus.CLOSED),
        "may_raise": permissions.may(user, get_kind(service.NCS), permissions.Action.CREATE)
        and permissions.may_object(user, complaint, permissions.Action.CHANGE),
        "next": str(upcoming) if upcoming else "",
        "next_label": service.STEP_NAMES[upcoming] if upcoming else "",
        "timers": service.timers(complaint, today), "today": today,
        "assess_form": AssessForm(complaint) if upcoming == ComplaintStatus.ASSESSED else None,
        "outcomes": ComplaintOutcome.choices,
        "nonconformances": list(permissions.restrict(  # raised from it, perhaps elsewhere
            complaint.nonconformances.all(), user, get_kind(service.NCS)).order_by("pk")),
        "sla": {"acknowledge": service.acknowledge_days(), "resolve": service.resolve_days()},
    }


class SlaColumn:
    """The service-level flags as an extra column of the complaint list (looks like a Column)."""

    name = "service_level"

    class field:  # noqa: N801  (read by the list template as column.field.verbose_name)
        verbose_name = "service level"


def sla_flag(complaint: Complaint, today: Any = None) -> str:
    """The most urgent service-level state of the complaint's running timers: "Overdue:
    acknowledge, resolve", "Due soon: resolve" ... or "" when none is overdue or due soon."""
    found = service.timers(complaint, today)
    for state, word in (("overdue", "Overdue"), ("due-soon", "Due soon")):
        names = [t.name for t in found if t.state == state]
        if names:
            return f"{word}: {', '.join(names)}"
    return ""


def add_sla_column(columns: list, rows: list[dict], objects: list) -> tuple[list, list]:
    """The list's columns and rows with each complaint's service-level flags appended."""
    today = timezone.localdate()
    for row, complaint in zip(rows, objects, strict=True):
        row["cells"].append(Cell(sla_flag(complaint, today) or "–"))
    return [*columns, SlaColumn], rows


def _complaint(request: HttpRequest, external_id: str) -> Complaint:
    kind = get_kind(service.COMPLAINTS)
    visible = permissions.restrict(Complaint.objects.all(), request.user, kind)
    return get_object_or_404(visible, external_id=external_id)


def _page(request: HttpRequest, complaint: Complaint, status: int,
          problems: dict[str, list[str]] | None = None) -> HttpResponse:
    complaint.refresh_from_db()
    context = detail_context(request, get_kind(service.COMPLAINTS), complaint)
    context["complaint_workflow"] = workflow_context(complaint, request.user, problems)
    code = 200 if request.htmx else status  # type: ignore[attr-defined]
    return render(request, "qualityloop/record_detail.html", context, status=code)


def _run(request: HttpRequest, complaint: Complaint, run: Callable[[], Any],
         go_to: Callable[[Any], str] | None = None) -> HttpResponse:
    """Run a step on the version of the complaint the page showed; a refusal is shown in the
    panel (or as the 403 page)."""
    try:
        result = step_on_version(complaint, request.POST, run)
    except Stale as stale:
        return _page(request, complaint, 409, {"step": [str(stale)]})
    except permissions.NotAllowed as refusal:
        return refused(request, str(refusal))
    except RowInvalid as invalid:
        return _page(request, complaint, 400, {"step": list(invalid.errors.values())})
    target = go_to(result) if go_to else record_url(complaint) + "#complaint-workflow"
    if request.htmx:  # type: ignore[attr-defined]
        if go_to:
            return HttpResponse(status=204, headers={"HX-Redirect": target})
        return _page(request, complaint, 200)
    return redirect(target)


@login_required
@require_POST
def step(request: HttpRequest, external_id: str) -> HttpResponse:
    """Take the complaint's next step; the form says which one (``step``)."""
    complaint = _complaint(request, external_id)
    form = request.POST
    wanted = form.get("step", "")
    on = form.get("on") or None
    actions: dict[str, Callable[[], Any]] = {
        "acknowledged": lambda: service.acknowledge(complaint, request.user, on),
        "assessed": lambda: service.assess(complaint, request.user, on, form.get("severity", ""),
                                           form.get("handler", ""), form.get("org_unit", "")),
        "investigated": lambda: service.investigate(complaint, request.user,
                                                    form.get("investigation", ""), on),
        "responded": lambda: service.respond(complaint, request.user, form.get("outcome", ""),
                                             form.get("response", ""), on,
                                             resolved=form.get("resolved") == "yes"),
        "closed": lambda: service.close(complaint, request.user, on,
                                        form.get("satisfaction") or None),
    }
    if wanted not in actions:
        return _page(request, complaint, 400, {"step": [f"unknown step {wanted!r}"]})
    return _run(request, complaint, actions[wanted])


@login_required
@require_POST
def satisfaction(request: HttpRequest, external_id: str) -> HttpResponse:
    complaint = _complaint(request, external_id)
    score = request.POST.get("satisfaction", "")
    return _run(request, complaint,
                lambda: service.record_satisfaction(complaint, request.user, score))


@login_required
@require_POST
def raise_nc(request: HttpRequest, external_id: str) -> HttpResponse:
    """Raise a nonconformance from the complaint and open it."""
    complaint = _complaint(request, external_id)
    return _run(request, complaint, lambda: service.raise_nonconformance(complaint, request.user),
                go_to=record_url)



COMPLAINT = "records/complaints/<str:external_id>/"
urlpatterns = [
    path(COMPLAINT + "step/", step, name="complaint-step"),
    path(COMPLAINT + "satisfaction/", satisfaction, name="complaint-satisfaction"),
    path(COMPLAINT + "raise-nc/", raise_nc, name="complaint-raise-nc"),
]
