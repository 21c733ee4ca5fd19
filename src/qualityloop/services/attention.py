"""What needs attention today: the home dashboard's work list.

Each group is a named filter on one record kind; the dashboard shows its count, its most urgent
records and a link to the record list narrowed by ``?attention=<filter>``, which runs the very
same filter (:func:`filtered`), so the count and the list always agree.

Groups (``as_of`` defaults to today; a unit stands for itself and every unit below it):

- ``actions?attention=overdue``: corrective and preventive actions planned or in progress after
  their due date (as ``metrics.overdue_actions``); most overdue first.
- ``objectives?attention=at-risk``: active objectives whose own status is at risk or missed
  (``services.objectives``); objectives already closed as achieved or missed are done with.
- ``complaints?attention=past-sla``: complaints with an overdue service-level timer, not
  acknowledged or not resolved in time (``services.complaints``); oldest first.
- ``training-records?attention=expiring``: the latest training of a person (still active) in a
  course that expired or expires within ``TRAINING_HORIZON_DAYS`` (30): re-training is due.
  A record followed by a newer one of the same person and course is not counted.
- ``nonconformances?attention=awaiting-check``: open nonconformances with an action done and
  waiting for its effectiveness check (the check must pass before the NC may close).

:func:`my_work` is the user's own list: the open actions their person owns and the open
complaints their person handles (a login is linked to a person by ``Person.user``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from qualityloop.records.accounts.models import Role, role_of
from qualityloop.records.customers.choices import ComplaintStatus
from qualityloop.records.customers.models import Complaint
from qualityloop.records.organisation.models import OrgUnit, Person
from qualityloop.records.quality.choices import ActionStatus, ObjectiveState
from qualityloop.records.quality.models import CorrectiveAction, QualityObjective, TrainingRecord
from qualityloop.services import complaints, objectives, problem_solving
from qualityloop.services.metrics import unit_scope
from qualityloop.services.record_kinds import get_kind

TRAINING_HORIZON_DAYS = 30
TOP_ITEMS = 5
PARAMETER = "attention"


@dataclass(frozen=True)
class Item:
    """One record that needs attention."""

    external_id: str
    text: str
    detail: str
    urgent: bool = True


@dataclass(frozen=True)
class Group:
    """One kind of work that needs attention: how many, which first, where to see them all."""

    key: str
    kind: str
    title: str
    count: int
    items: list[Item]


@dataclass(frozen=True)
class Filter:
    """A named filter on one record kind."""

    kind: str
    key: str
    title: str
    select: Callable[[QuerySet, dt.date, list[int] | None], QuerySet]


# The filters ----------------------------------------------------------------------------------


def _overdue_actions(qs: QuerySet, day: dt.date, units: list[int] | None) -> QuerySet:
    qs = qs.filter(status__in=problem_solving.OPEN_ACTION_STATUSES, due_on__lt=day)
    if units is not None:
        qs = qs.filter(Q(nonconformance__org_unit__in=units)
                       | Q(nonconformance__isnull=True, owner__org_unit__in=units))
    return qs


def _objectives_at_risk(qs: QuerySet, day: dt.date, units: list[int] | None) -> QuerySet:
    running = QualityObjective.objects.filter(state=ObjectiveState.ACTIVE)
    if units is not None:
        running = running.filter(org_unit__in=units)
    bad = (objectives.Status.AT_RISK, objectives.Status.MISSED)
    judged = _own_statuses(objectives.with_latest(running, day), day)
    return qs.filter(pk__in=[pk for pk, own in judged.items() if own in bad])


def _own_statuses(rows: Any, day: dt.date) -> dict[int, objectives.Status]:
    """The own status of each objective of ``rows`` (from ``objectives.with_latest``): the
    work list shows objectives by their own status, which needs no roll-up over the cascade."""
    judged = {}
    for o in rows:
        own = objectives.own_status(o, o.latest_value, o.latest_on, day)
        judged[o.pk] = own[0] if own else objectives.Status.AT_RISK
    return judged


def _complaints_past_sla(qs: QuerySet, day: dt.date, units: list[int] | None) -> QuerySet:
    qs = qs.filter(complaints.past_sla(day), received_on__lte=day)
    if units is not None:
        qs = qs.filter(Q(org_unit__in=units)
                       | Q(org_unit__isnull=True, customer__serving_unit__in=units))
    return qs


def _training_expiring(qs: QuerySet, day: dt.date, units: list[int] | None) -> QuerySet:
    newer = TrainingRecord.objects.filter(person=OuterRef("person"), course=OuterRef("course"),
                                          completed_on__gt=OuterRef("completed_on"))
    qs = qs.filter(expires_on__lte=day + dt.timedelta(days=TRAINING_HORIZON_DAYS),
                   person__active=True).filter(~Exists(newer))
    if units is not None:
        qs = qs.filter(person__org_unit__in=units)
    return qs


def _awaiting_check(qs: QuerySet, day: dt.date, units: list[int] | None) -> QuerySet:
    done = CorrectiveAction.objects.filter(nonconformance=OuterRef("pk"),
                                           status=ActionStatus.DONE)
    qs = qs.exclude(status__in=problem_solving.FINISHED).filter(Exists(done))
    if units is not None:
        qs = qs.filter(org_unit__in=units)
    return qs


FILTERS = (
    Filter("actions", "overdue", "Overdue corrective actions", _overdue_actions),
    Filter("objectives", "at-risk", "Objectives at risk or missed", _objectives_at_risk),
    Filter("complaints", "past-sla", "Open complaints past their service level",
           _complaints_past_sla),
    Filter("training-records", "expiring", "Training expired or expiring within 30 days",
           _training_expiring),
    Filter("nonconformances", "awaiting-check",
           "Nonconformances waiting for an effectiveness check", _awaiting_check),
)
_BY_KIND = {(f.kind, f.key): f for f in FILTERS}


def filter_named(kind_name: str, key: str) -> Filter | None:
    """The named filter ``key`` of a record kind (None when there is none)."""
    return _BY_KIND.get((kind_name, key))


def filtered(kind_name: str, key: str, qs: QuerySet, as_of: dt.date | None = None,
             unit: OrgUnit | None = None) -> QuerySet:
    """``qs`` narrowed by the named filter (unchanged when the kind has no such filter)."""
    found = filter_named(kind_name, key)
    if found is None:
        return qs
    return found.select(qs, as_of or timezone.localdate(), unit_scope(unit))


# The work list ----------------------------------------------------------------------------------


def needs_attention(as_of: dt.date | None = None, unit: OrgUnit | None = None,
                    top: int = TOP_ITEMS) -> list[Group]:
    """Every group with its count and its ``top`` most urgent records.

    Parameters
    ----------
    as_of
        The day (default today).
    unit
        Narrow to this unit and the units below it (None: the whole organisation).
    top
        How many records of each group to list.
    """
    day = as_of or timezone.localdate()
    units = unit_scope(unit)
    return [_group(f, day, units, top, lister) for f, lister in (
        (FILTERS[0], _action_items), (FILTERS[1], _objective_items),
        (FILTERS[2], _complaint_items), (FILTERS[3], _training_items),
        (FILTERS[4], _nc_items))]


def _group(found: Filter, day: dt.date, units: list[int] | None, top: int,
           lister: Callable[[QuerySet, dt.date, int], list[Item]]) -> Group:
    qs = found.select(get_kind(found.kind).model._default_manager.all(), day, units)
    return Group(found.key, found.kind, found.title, qs.count(), lister(qs, day, top))


def _days(n: int) -> str:
    return f"{n} day{'s' if n != 1 else ''}"


def _action_items(qs: QuerySet, day: dt.date, top: int) -> list[Item]:
    rows = qs.select_related("owner").order_by("due_on", "pk")[:top]
    return [Item(a.external_id, a.description[:80],
                 f"{a.owner.name} · {_days((day - a.due_on).days)} overdue") for a in rows]


def _objective_items(qs: QuerySet, day: dt.date, top: int) -> list[Item]:
    rows = list(objectives.with_latest(qs.select_related("org_unit"), day))
    own = _own_statuses(rows, day)
    order = {objectives.Status.MISSED: 0, objectives.Status.AT_RISK: 1}
    ranked = sorted(rows, key=lambda o: (order.get(own[o.pk], 2), o.due_on, o.pk))[:top]
    return [Item(o.external_id, o.title[:80],
                 f"{own[o.pk].label} · {o.org_unit.name} · due {o.due_on.isoformat()}",
                 urgent=own[o.pk] == objectives.Status.MISSED) for o in ranked]


def _complaint_items(qs: QuerySet, day: dt.date, top: int) -> list[Item]:
    rows = qs.select_related("customer").order_by("received_on", "pk")[:top]
    items = []
    for c in rows:
        late = [t for t in complaints.timers(c, day) if t.overdue]
        what = " and ".join(f"{t.name} {_days(-t.days_left)} late" for t in late)
        items.append(Item(c.external_id, f"{c.customer.name}: {(c.category or c.description)[:60]}",
                          f"{c.get_status_display()} · {what}"))
    return items


def _training_items(qs: QuerySet, day: dt.date, top: int) -> list[Item]:
    rows = qs.select_related("person", "course").order_by("expires_on", "pk")[:top]
    items = []
    for r in rows:
        gap = (r.expires_on - day).days
        when = f"expired {_days(-gap)} ago" if gap < 0 else f"expires in {_days(gap)}"
        items.append(Item(r.external_id, f"{r.person.name}: {r.course.title[:60]}", when,
                          urgent=gap < 0))
    return items


def _nc_items(qs: QuerySet, day: dt.date, top: int) -> list[Item]:
    waiting = Prefetch("actions", to_attr="waiting", queryset=CorrectiveAction.objects.filter(
        status=ActionStatus.DONE).order_by("pk").only("external_id", "nonconformance_id"))
    rows = qs.order_by("detected_on", "pk").prefetch_related(waiting)[:top]
    items = []
    for nc in rows:
        ids = ", ".join(a.external_id for a in nc.waiting[:3])
        items.append(Item(nc.external_id, nc.title[:80], f"check {ids}", urgent=False))
    return items


# My work ----------------------------------------------------------------------------------------

MY_WORK_SHOWN = 10


@dataclass(frozen=True)
class MyWork:
    """The records assigned to the user's own person (``Person.user``): what they work on.

    Each group's ``key`` is the field naming the person (``owner``, ``handler``), so
    ``?<key>=<person>`` lists all of them."""

    person: Person | None
    groups: list[Group]
    unlinked_staff: bool = False
    """A staff login without a person: nothing can be assigned to it (the page says so)."""


def my_work(user: Any, as_of: dt.date | None = None, top: int = MY_WORK_SHOWN) -> MyWork:
    """The open corrective actions the user's person owns and the open complaints they handle.

    Parameters
    ----------
    user
        The login; its person is the one whose ``user`` it is (none: nothing is assigned).
    as_of
        The day overdue actions and service-level timers are judged on (default today).
    top
        How many of each to list (the counts say how many there are).
    """
    day = as_of or timezone.localdate()
    person = (Person.objects.filter(user=user).first()
              if getattr(user, "is_authenticated", False) else None)
    if person is None:
        return MyWork(None, [], unlinked_staff=role_of(user) == Role.STAFF)
    actions = CorrectiveAction.objects.filter(
        owner=person, status__in=problem_solving.OPEN_ACTION_STATUSES)
    handled = Complaint.objects.filter(handler=person).exclude(status=ComplaintStatus.CLOSED)
    return MyWork(person, [
        Group("owner", "actions", "Actions I own", actions.count(),
              _my_action_items(actions, day, top)),
        Group("handler", "complaints", "Complaints I handle", handled.count(),
              _my_complaint_items(handled, day, top)),
    ])


def _my_action_items(qs: QuerySet, day: dt.date, top: int) -> list[Item]:
    rows = qs.select_related("nonconformance").order_by("due_on", "pk")[:top]
    items = []
    for a in rows:
        late = (day - a.due_on).days
        when = f"{_days(late)} overdue" if late > 0 else f"due {a.due_on.isoformat()}"
        where = a.nonconformance.external_id if a.nonconformance else "review action"
        items.append(Item(a.external_id, a.description[:80],
                          f"{a.get_status_display()} · {where} · {when}", urgent=late > 0))
    return items


def _my_complaint_items(qs: QuerySet, day: dt.date, top: int) -> list[Item]:
    rows = qs.select_related("customer").order_by("received_on", "pk")[:top]
    items = []
    for c in rows:
        late = [t.name for t in complaints.timers(c, day) if t.overdue]
        upcoming = complaints.next_status(c)
        step = complaints.STEP_NAMES[upcoming] if upcoming else ""
        detail = f"{c.get_status_display()} · next: {step.lower()}"
        if late:
            detail += f" · {' and '.join(late)} overdue"
        items.append(Item(c.external_id, f"{c.customer.name}: {(c.category or c.description)[:60]}",
                          detail, urgent=bool(late)))
    return items
