"""Complaint handling through the ISO 10002 lifecycle, with service-level timers.

received -> acknowledged -> assessed -> investigated -> responded -> closed

Each step is one function used by the web page and the API alike; it records the day (default
today; never in the future, never before the step before it) and who took it (the ``*_by`` user
fields, which only these functions set), and moves the complaint to the next status. A step can
only be taken from the status just before it. Satisfaction with the handling (1-5) may be
recorded once the complaint is responded to or closed. Every write goes through
:mod:`qualityloop.services.record_writer`, so the model's rules and history hold as for any
other change. Who may take a step is the permission table's answer for changing the complaint
(``close`` for closing), asked of the complaint before and after the change; the viewer role
never may.

Service levels (settings, in calendar days from receipt)
--------------------------------------------------------
- ``COMPLAINT_ACKNOWLEDGE_DAYS`` (default 2, env ``QUALITYLOOP_COMPLAINT_ACKNOWLEDGE_DAYS``):
  the acknowledgement is due ``received_on + N``.
- ``COMPLAINT_RESOLVE_DAYS`` (default 30, env ``QUALITYLOOP_COMPLAINT_RESOLVE_DAYS``): the
  resolution is due ``received_on + M``. A complaint is resolved on its ``resolved_on`` date, or
  on its closing date when it was closed without one.

A timer runs until its step is done. It is **overdue** when still running after its due day, and
**due soon** when still running with at most a quarter of its days left (at least one day: on the
due day itself and the day before for a 2-day acknowledgement; the last 7 days of a 30-day
resolution). A step done after its due day is marked **late**.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from qualityloop.records.customers.choices import ComplaintOutcome, ComplaintStatus
from qualityloop.records.customers.models import Complaint
from qualityloop.records.quality.choices import (
    LifecycleStage,
    NonconformanceSource,
    NonconformanceStatus,
)
from qualityloop.records.quality.models import Nonconformance
from qualityloop.services import permissions
from qualityloop.services.record_kinds import CellError, get_kind
from qualityloop.services.record_writer import RowInvalid, write_record

COMPLAINTS = "complaints"
NCS = "nonconformances"
ACKNOWLEDGE_DAYS_DEFAULT = 2
RESOLVE_DAYS_DEFAULT = 30
ORDER = (
    ComplaintStatus.RECEIVED, ComplaintStatus.ACKNOWLEDGED, ComplaintStatus.ASSESSED,
    ComplaintStatus.INVESTIGATED, ComplaintStatus.RESPONDED, ComplaintStatus.CLOSED,
)
# status reached -> (date field, user field) of the step that reaches it
STEP_FIELDS = {
    ComplaintStatus.ACKNOWLEDGED: ("acknowledged_on", "acknowledged_by"),
    ComplaintStatus.ASSESSED: ("assessed_on", "assessed_by"),
    ComplaintStatus.INVESTIGATED: ("investigated_on", "investigated_by"),
    ComplaintStatus.RESPONDED: ("responded_on", "responded_by"),
    ComplaintStatus.CLOSED: ("closed_on", "closed_by"),
}
STEP_NAMES = {
    ComplaintStatus.ACKNOWLEDGED: "Acknowledge", ComplaintStatus.ASSESSED: "Assess",
    ComplaintStatus.INVESTIGATED: "Record investigation", ComplaintStatus.RESPONDED: "Respond",
    ComplaintStatus.CLOSED: "Close",
}


def acknowledge_days() -> int:
    """Days from receipt within which a complaint must be acknowledged."""
    return int(getattr(settings, "COMPLAINT_ACKNOWLEDGE_DAYS", ACKNOWLEDGE_DAYS_DEFAULT))


def resolve_days() -> int:
    """Days from receipt within which a complaint must be resolved."""
    return int(getattr(settings, "COMPLAINT_RESOLVE_DAYS", RESOLVE_DAYS_DEFAULT))


# Timers -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timer:
    """One service-level timer of a complaint on a day."""

    name: str
    days: int
    due_on: dt.date
    done_on: dt.date | None
    today: dt.date

    @property
    def running(self) -> bool:
        return self.done_on is None

    @property
    def overdue(self) -> bool:
        return self.running and self.today > self.due_on

    @property
    def due_soon(self) -> bool:
        return self.running and not self.overdue and self.days_left <= _soon(self.days)

    @property
    def late(self) -> bool:
        return self.done_on is not None and self.done_on > self.due_on

    @property
    def days_left(self) -> int:
        return (self.due_on - self.today).days

    @property
    def days_over(self) -> int:
        """Days past the due day (0 when not past it)."""
        return max(0, -self.days_left)

    @property
    def state(self) -> str:
        """One word for a badge: overdue, due-soon, running, late or met."""
        if self.running:
            return "overdue" if self.overdue else "due-soon" if self.due_soon else "running"
        return "late" if self.late else "met"


def _soon(days: int) -> int:
    return max(1, math.ceil(days / 4))


def resolved_on(complaint: Complaint) -> dt.date | None:
    """The day the complaint counts as resolved: its resolution date, else its closing date."""
    return complaint.resolved_on or complaint.closed_on


def timers(complaint: Complaint, today: dt.date | None = None) -> tuple[Timer, Timer]:
    """The acknowledgement and resolution timers of a complaint."""
    day = today or timezone.localdate()
    received = complaint.received_on
    acknowledged = complaint.acknowledged_on or (
        _first_later_step_date(complaint) if complaint.status != ComplaintStatus.RECEIVED
        else None)
    ack = Timer("acknowledge", acknowledge_days(),
                received + dt.timedelta(days=acknowledge_days()), acknowledged, day)
    resolve = Timer("resolve", resolve_days(), received + dt.timedelta(days=resolve_days()),
                    resolved_on(complaint), day)
    return ack, resolve


def _first_later_step_date(complaint: Complaint) -> dt.date | None:
    dates = [getattr(complaint, f) for f in ("assessed_on", "investigated_on", "responded_on",
                                             "closed_on")]
    return next((d for d in dates if d is not None), None)


def unresolved() -> Q:
    """Complaints neither resolved nor closed (the dashboard's open complaints)."""
    return Q(resolved_on__isnull=True, closed_on__isnull=True)


def past_sla(today: dt.date | None = None) -> Q:
    """Complaints with an overdue timer: not acknowledged by their acknowledgement due day, or
    not resolved by their resolution due day."""
    day = today or timezone.localdate()
    not_acknowledged = Q(status=ComplaintStatus.RECEIVED, acknowledged_on__isnull=True,
                         received_on__lt=day - dt.timedelta(days=acknowledge_days()))
    not_resolved = unresolved() & Q(received_on__lt=day - dt.timedelta(days=resolve_days()))
    return not_acknowledged | not_resolved


def due_soon(today: dt.date | None = None) -> Q:
    """Complaints with a timer due soon and none overdue (see the module docstring)."""
    day = today or timezone.localdate()
    ack, res = acknowledge_days(), resolve_days()
    ack_soon = Q(status=ComplaintStatus.RECEIVED, acknowledged_on__isnull=True,
                 received_on__lte=day - dt.timedelta(days=ack - _soon(ack)),
                 received_on__gte=day - dt.timedelta(days=ack))
    res_soon = unresolved() & Q(received_on__lte=day - dt.timedelta(days=res - _soon(res)),
                                received_on__gte=day - dt.timedelta(days=res))
    return (ack_soon | res_soon) & ~past_sla(day)


def overdue_days(complaint: Complaint, today: dt.date | None = None) -> int:
    """Days the most overdue timer is past its due day (0 when none is overdue)."""
    return max((-t.days_left for t in timers(complaint, today) if t.overdue), default=0)


# Steps --------------------------------------------------------------------------------------


def next_status(complaint: Complaint) -> ComplaintStatus | None:
    """The status the next step reaches (None once closed)."""
    index = ORDER.index(ComplaintStatus(complaint.status))
    return ORDER[index + 1] if index + 1 < len(ORDER) else None


def acknowledge(complaint: Complaint, user: Any, on: dt.date | str | None = None) -> Complaint:
    """Acknowledge receipt to the customer."""
    return _step(complaint, user, ComplaintStatus.ACKNOWLEDGED, on, {})


def assess(
    complaint: Complaint, user: Any, on: dt.date | str | None = None, severity: str = "",
    handler: str = "", org_unit: str = "",
) -> Complaint:
    """Record the initial assessment: severity, who handles it and which unit (external ids);
    a value left empty keeps the complaint's current one."""
    values = {"severity": severity, "handler": handler, "org_unit": org_unit}
    return _step(complaint, user, ComplaintStatus.ASSESSED, on,
                 {k: v for k, v in values.items() if v})


def investigate(complaint: Complaint, user: Any, findings: str,
                on: dt.date | str | None = None) -> Complaint:
    """Record what the investigation found."""
    if not findings.strip():
        raise RowInvalid({"investigation": "describe what the investigation found"})
    return _step(complaint, user, ComplaintStatus.INVESTIGATED, on,
                 {"investigation": findings.strip()})


def respond(
    complaint: Complaint, user: Any, outcome: str, response: str,
    on: dt.date | str | None = None, resolved: bool = True,
) -> Complaint:
    """Tell the customer the decision (upheld, partly upheld, rejected, withdrawn) and remedy.

    With ``resolved`` the complaint counts as resolved on the response day (the remedy was
    delivered with it); otherwise it is resolved when it is closed.
    """
    problems = {}
    if outcome not in ComplaintOutcome.values:
        problems["outcome"] = (f"got {outcome!r}, expected one of: "
                               + ", ".join(ComplaintOutcome.values))
    if not response.strip():
        problems["response"] = "say what the customer was told"
    if problems:
        raise RowInvalid(problems)
    day = _day(on)
    data: dict[str, Any] = {"outcome": outcome, "response": response.strip()}
    if resolved:
        data["resolved_on"] = day
    return _step(complaint, user, ComplaintStatus.RESPONDED, day, data)


def close(complaint: Complaint, user: Any, on: dt.date | str | None = None,
          satisfaction: int | str | None = None) -> Complaint:
    """Close the complaint (resolved on the closing day unless resolved before), optionally with
    the customer's satisfaction with the handling (1-5)."""
    day = _day(on)
    data: dict[str, Any] = {}
    if complaint.resolved_on is None:
        data["resolved_on"] = day
    if satisfaction not in (None, ""):
        data["satisfaction_with_handling"] = satisfaction
    return _step(complaint, user, ComplaintStatus.CLOSED, day, data)


def record_satisfaction(complaint: Complaint, user: Any, satisfaction: int | str) -> Complaint:
    """Record the customer's satisfaction with the handling (1-5), after the response."""
    _check(user, complaint)
    if complaint.status not in (ComplaintStatus.RESPONDED, ComplaintStatus.CLOSED):
        raise RowInvalid({"satisfaction_with_handling":
                          f"{complaint.external_id} has not been responded to yet; ask the "
                          "customer about the handling after the response"})
    if satisfaction in (None, ""):
        raise RowInvalid({"satisfaction_with_handling": "a value is required: 1 to 5"})
    return _write(complaint, user, {"satisfaction_with_handling": satisfaction},
                  "Satisfaction with handling recorded")


def raise_nonconformance(complaint: Complaint, user: Any) -> Nonconformance:
    """Raise a nonconformance from the complaint, linked both ways (the NC names the complaint,
    its customer is an affected customer); refused when one was raised already.

    A step on the complaint: it takes the right to change the complaint and to create the
    nonconformance (in the complaint's unit)."""
    kind = get_kind(NCS)
    permissions.check(user, kind, permissions.Action.CREATE)
    permissions.check_object(user, complaint, permissions.Action.CHANGE)  # a step on it
    existing = complaint.nonconformances.order_by("pk").first()
    if existing is not None:
        raise RowInvalid({"complaint": f"{existing.external_id} was already raised from "
                                       f"{complaint.external_id}"})
    unit = complaint.org_unit or complaint.customer.serving_unit
    data = {
        "external_id": _free_id(Nonconformance, f"NC-{complaint.external_id}"),
        "title": f"Complaint {complaint.external_id}: {_short(complaint)}",
        "description": complaint.description, "org_unit": unit.external_id,
        "detected_on": complaint.received_on, "stage": LifecycleStage.FIELD,
        "source": NonconformanceSource.CUSTOMER_COMPLAINT, "severity": complaint.severity,
        "complaint": complaint.external_id, "status": NonconformanceStatus.OPEN,
        "affected_customers": [complaint.customer.external_id],
    }
    with transaction.atomic():
        raised, _ = write_record(kind, data, instance=kind.model(), history_user=user,
                                 change_reason=f"Raised from complaint {complaint.external_id}")
        permissions.check_object(user, raised, permissions.Action.CREATE)
    return raised  # type: ignore[return-value]


def _short(complaint: Complaint) -> str:
    lines = complaint.description.strip().splitlines()
    return (complaint.category or (lines[0] if lines else "") or "customer complaint")[:120]


def _free_id(model: Any, base: str) -> str:
    taken = set(model.objects.filter(external_id__startswith=base)
                .values_list("external_id", flat=True))
    if base not in taken:
        return base
    number = 2
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"


def _check(user: Any, complaint: Complaint, action: str = permissions.Action.CHANGE) -> None:
    """The permission table decides (services/permissions.py): changing this complaint, or the
    ``close`` step; the viewer role is always refused."""
    permissions.check_object(user, complaint, action)


def step_action(reaches: ComplaintStatus) -> str:
    """The permission action of the step that reaches ``reaches``."""
    return permissions.Action.CLOSE if reaches == ComplaintStatus.CLOSED else \
        permissions.Action.CHANGE


def _day(on: dt.date | str | None) -> dt.date:
    if on in (None, ""):
        return timezone.localdate()
    try:
        day = get_kind(COMPLAINTS).column("received_on").parse(on)
    except CellError as bad:
        raise RowInvalid({"date": str(bad)}) from None
    return day


def _step(complaint: Complaint, user: Any, reaches: ComplaintStatus,
          on: dt.date | str | None, values: Mapping[str, Any]) -> Complaint:
    action = step_action(reaches)
    _check(user, complaint, action)
    expected = next_status(complaint)
    if expected != reaches:
        raise RowInvalid({"status": _out_of_order(complaint, reaches, expected)})
    day = _day(on)
    date_field, user_field = STEP_FIELDS[reaches]
    _check_day(complaint, day, reaches)
    data = {**values, "status": reaches, date_field: day}
    before = getattr(complaint, f"{user_field}_id")
    setattr(complaint, user_field, user)
    try:
        return _write(complaint, user, data,
                      f"{STEP_NAMES[reaches]}: step taken by {user.get_username()}", action)
    except RowInvalid:
        setattr(complaint, f"{user_field}_id", before)
        raise


def _out_of_order(complaint: Complaint, reaches: ComplaintStatus,
                  expected: ComplaintStatus | None) -> str:
    now = complaint.get_status_display().lower()
    if expected is None:
        return f"{complaint.external_id} is closed; nothing more to do"
    return (f"{complaint.external_id} is {now}: the next step is "
            f"'{STEP_NAMES[expected].lower()}', not '{STEP_NAMES[reaches].lower()}'")


def _check_day(complaint: Complaint, day: dt.date, reaches: ComplaintStatus) -> None:
    """A step's day is not in the future nor before the days of the steps before it."""
    date_field = STEP_FIELDS[reaches][0]
    if day > timezone.localdate():
        raise RowInvalid({date_field: f"got {day.isoformat()}, a day in the future; expected "
                                      "the day the step was taken"})
    earlier_steps = list(STEP_FIELDS)[:list(STEP_FIELDS).index(reaches)]
    before = [complaint.received_on, *(getattr(complaint, STEP_FIELDS[s][0])
                                       for s in earlier_steps)]
    latest = max(d for d in before if d is not None)
    if day < latest:
        raise RowInvalid({date_field: f"got {day.isoformat()}, before the step before it "
                                      f"({latest.isoformat()})"})


def _write(complaint: Complaint, user: Any, data: Mapping[str, Any], reason: str,
           action: str = permissions.Action.CHANGE) -> Complaint:
    with transaction.atomic():
        written, _ = write_record(get_kind(COMPLAINTS), dict(data), instance=complaint,
                                  partial=True, history_user=user, change_reason=reason)
        _check(user, written, action)  # type: ignore[arg-type]  # still theirs after it
    return written  # type: ignore[return-value]


def open_complaints(qs: QuerySet | None = None) -> QuerySet:
    """Complaints neither resolved nor closed."""
    return (qs if qs is not None else Complaint.objects.all()).filter(unresolved())
