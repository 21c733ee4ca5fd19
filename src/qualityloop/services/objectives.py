"""Quality objectives (ISO 9001 6.2): their status, rolled up the cascade, and new measurements.

The status rule
---------------
An objective's **own status** on a day ``as_of`` comes from its latest measurement taken on or
before that day:

- *cancelled* objectives have no status (they are left out of counts and roll-ups);
- an objective marked *achieved* or *missed* by hand keeps that status;
- once the due date has passed, it is **achieved** when the latest measurement meets the target
  (in the objective's direction) and **missed** otherwise (also when nothing was measured);
- before the due date, it is **on track** when the latest measurement is at least as good as the
  planned trajectory on the day it was measured, and **at risk** otherwise (also when nothing was
  measured yet). The trajectory runs in a straight line from the baseline on the start date to
  the target on the due date; without a baseline (or a start date, which defaults to the day the
  objective was recorded) the trajectory is the target itself. A measurement that already meets
  the target is always on track. "Maintain" objectives are on track while within ``tolerance``
  of the target.

The **rolled-up status** of an objective with sub-objectives (the cascade) takes its children
into account, using their own rolled-up statuses:

- an achieved or missed objective keeps its own status (the year is over);
- a running objective is **at risk** when any child has missed, or when fewer than
  ``ROLLUP_ON_TRACK_SHARE`` (80 %) of its children are on track or achieved; otherwise it keeps
  its own status.

Every write goes through :mod:`qualityloop.services.record_writer`, so measurements added from
the objective page are validated and recorded in history like an import or an API call.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from qualityloop.records.organisation.models import OrgUnit
from qualityloop.records.quality.choices import ObjectiveDirection, ObjectiveState
from qualityloop.records.quality.models import ObjectiveMeasurement, QualityObjective
from qualityloop.services import permissions
from qualityloop.services.record_kinds import CellError, get_kind
from qualityloop.services.record_writer import RowInvalid, write_record

OBJECTIVES = "objectives"
MEASUREMENTS = "objective-measurements"
ROLLUP_ON_TRACK_SHARE = 0.8


class Status(StrEnum):
    """What an objective's status can be (cancelled objectives have none)."""

    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    MISSED = "missed"
    ACHIEVED = "achieved"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


GOOD = (Status.ON_TRACK, Status.ACHIEVED)
FINAL = (Status.ACHIEVED, Status.MISSED)


@dataclass
class ObjectiveStatus:
    """The status of one objective on a day, with what it rests on.

    Attributes
    ----------
    own
        From the objective's own measurements (see the module docstring).
    rolled_up
        Also taking the sub-objectives into account; equals ``own`` without children.
    latest_value, latest_on
        The latest measurement on or before the day (None when there is none).
    expected
        The trajectory's value on the day of the latest measurement (None without one).
    reason
        One sentence saying why, for tooltips and the objective page.
    children
        Rolled-up statuses of the direct children, counted by status.
    """

    objective_id: int
    own: Status
    rolled_up: Status
    latest_value: float | None
    latest_on: dt.date | None
    expected: float | None
    reason: str
    children: dict[str, int] = field(default_factory=dict)


def _start_of(objective: QualityObjective) -> dt.date:
    if objective.start_on is not None:
        return objective.start_on
    created = getattr(objective, "created_at", None)
    return created.date() if created is not None else objective.due_on


def expected_value(objective: QualityObjective, on: dt.date) -> float:
    """The planned value on ``on``: a straight line from the baseline at the start date to the
    target at the due date (the target itself without a baseline or a span of days)."""
    if objective.baseline is None or objective.direction == ObjectiveDirection.MAINTAIN:
        return objective.target
    start = _start_of(objective)
    span = (objective.due_on - start).days
    if span <= 0:
        return objective.target
    share = min(max((on - start).days / span, 0.0), 1.0)
    return objective.baseline + (objective.target - objective.baseline) * share


def _at_least_as_good(objective: QualityObjective, value: float, reference: float) -> bool:
    if objective.direction == ObjectiveDirection.DECREASE:
        return value <= reference
    return value >= reference


def own_status(
    objective: QualityObjective, latest_value: float | None, latest_on: dt.date | None,
    as_of: dt.date,
) -> tuple[Status, float | None, str] | None:
    """The objective's own status from its latest measurement (None when cancelled).

    Returns
    -------
    (status, expected, reason)
        ``expected`` is the trajectory value on the day of the latest measurement.
    """
    if objective.state == ObjectiveState.CANCELLED:
        return None
    if objective.state == ObjectiveState.ACHIEVED:
        return Status.ACHIEVED, None, "Marked achieved."
    if objective.state == ObjectiveState.MISSED:
        return Status.MISSED, None, "Marked missed."
    if latest_value is None or latest_on is None:
        if objective.due_on < as_of:
            return Status.MISSED, None, "Past its due date with no measurement."
        return Status.AT_RISK, None, "Nothing measured yet."
    met = objective.is_met_by(latest_value)
    if objective.due_on < as_of:
        if met:
            return Status.ACHIEVED, None, "Past its due date; the latest value meets the target."
        return Status.MISSED, None, "Past its due date; the latest value misses the target."
    expected = expected_value(objective, latest_on)
    if met:
        return Status.ON_TRACK, expected, "The latest value already meets the target."
    if objective.direction == ObjectiveDirection.MAINTAIN:
        return Status.AT_RISK, expected, "The latest value is outside the tolerance."
    if objective.baseline is not None and _at_least_as_good(objective, latest_value, expected):
        return (Status.ON_TRACK, expected,
                f"The latest value is on the way from baseline to target (planned "
                f"{expected:.4g} by {latest_on.isoformat()}).")
    if objective.baseline is None:
        return Status.AT_RISK, expected, "The latest value misses the target (no baseline set)."
    return (Status.AT_RISK, expected,
            f"The latest value is behind the planned {expected:.4g} for {latest_on.isoformat()}.")


def roll_up(own: Status, children: Iterable[Status]) -> tuple[Status, dict[str, int]]:
    """The rolled-up status of an objective from its own status and its children's.

    Returns the status and the children counted by status.
    """
    kids = list(children)
    counts = {s.value: kids.count(s) for s in Status if s in kids}
    if not kids or own in FINAL:
        return own, counts
    good = sum(1 for s in kids if s in GOOD)
    if Status.MISSED in kids or good < ROLLUP_ON_TRACK_SHARE * len(kids):
        return Status.AT_RISK, counts
    return own, counts


def with_latest(objectives: QuerySet, as_of: dt.date) -> QuerySet:
    """Objectives annotated with ``latest_value`` and ``latest_on`` (measured on or before
    ``as_of``), two correlated subqueries instead of a query per objective."""
    latest = ObjectiveMeasurement.objects.filter(
        objective=OuterRef("pk"), measured_on__lte=as_of).order_by("-measured_on", "-pk")
    return objectives.annotate(latest_value=Subquery(latest.values("value")[:1]),
                               latest_on=Subquery(latest.values("measured_on")[:1]))


def statuses(
    as_of: dt.date | None = None, objectives: QuerySet | None = None,
) -> dict[int, ObjectiveStatus]:
    """The status of every objective (not cancelled), own and rolled up, by primary key.

    Parameters
    ----------
    as_of
        The day judged (default today); later measurements are ignored.
    objectives
        The objectives to judge (default all). Children outside this set do not count in the
        roll-up, so a unit filter judges the unit's part of the cascade.
    """
    day = as_of or timezone.localdate()
    qs = objectives if objectives is not None else QualityObjective.objects.all()
    rows = list(with_latest(qs.exclude(state=ObjectiveState.CANCELLED), day))
    children: dict[int | None, list[QualityObjective]] = {}
    for obj in rows:
        children.setdefault(obj.parent_id, []).append(obj)
    found: dict[int, ObjectiveStatus] = {}

    def judge(obj: QualityObjective) -> ObjectiveStatus:
        if obj.pk in found:
            return found[obj.pk]
        judged = own_status(obj, obj.latest_value, obj.latest_on, day)  # type: ignore[attr-defined]
        assert judged is not None  # cancelled ones were left out above
        own, expected, reason = judged
        kids = [judge(child).rolled_up for child in children.get(obj.pk, [])]
        rolled, counts = roll_up(own, kids)
        if rolled != own:
            reason += f" Rolled up to at risk: {_children_sentence(counts)}."
        found[obj.pk] = ObjectiveStatus(obj.pk, own, rolled, obj.latest_value,  # type: ignore[attr-defined]
                                        obj.latest_on, expected, reason, counts)  # type: ignore[attr-defined]
        return found[obj.pk]

    for obj in rows:
        judge(obj)
    return found


def _children_sentence(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    parts = [f"{n} {Status(name).label.lower()}" for name, n in counts.items()]
    return f"of {total} sub-objective{'s' if total != 1 else ''}, " + ", ".join(parts)


def status_of(objective: QualityObjective, as_of: dt.date | None = None) -> ObjectiveStatus | None:
    """The status of one objective, rolled up over its whole subtree (None when cancelled)."""
    tree = [objective.pk, *_descendant_ids(objective.pk)]
    return statuses(as_of, QualityObjective.objects.filter(pk__in=tree)).get(objective.pk)


def _descendant_ids(root: int) -> list[int]:
    found: list[int] = []
    frontier = [root]
    while frontier:
        frontier = list(QualityObjective.objects.filter(parent__in=frontier)
                        .values_list("pk", flat=True))
        found.extend(frontier)
    return found


def in_units(objectives: QuerySet, unit: OrgUnit | None) -> QuerySet:
    """Objectives of ``unit`` and the units below it (all when ``unit`` is None)."""
    if unit is None:
        return objectives
    return objectives.filter(org_unit__in=[unit.pk, *(u.pk for u in unit.descendants())])


def counts(as_of: dt.date | None = None, unit: OrgUnit | None = None) -> dict[str, int]:
    """How many objectives (not cancelled) have each own status."""
    judged = statuses(as_of, in_units(QualityObjective.objects.all(), unit))
    found = {s.value: 0 for s in Status}
    for status in judged.values():
        found[status.own.value] += 1
    return found


def add_measurement(
    objective: QualityObjective, user: Any, measured_on: dt.date | str, value: float | str,
    note: str = "",
) -> ObjectiveMeasurement:
    """Record a measured value of the objective's KPI (an external id is made up).

    Raises
    ------
    NotAllowed
        The user may not change records.
    RowInvalid
        A value or date that cannot be used, by column.
    """
    kind = get_kind(MEASUREMENTS)
    permissions.check_object(user, ObjectiveMeasurement(objective=objective),
                             permissions.Action.CREATE)
    if objective.state == ObjectiveState.CANCELLED:
        raise RowInvalid({"objective": f"{objective.external_id} is cancelled"})
    try:
        day = kind.column("measured_on").parse(measured_on)
    except CellError as bad:
        raise RowInvalid({"measured_on": str(bad)}) from None
    if day > timezone.localdate():
        raise RowInvalid({"measured_on": f"got {day.isoformat()}, a day in the future; "
                                         "expected the day the value was measured"})
    data = {"external_id": next_measurement_id(objective), "objective": objective.external_id,
            "measured_on": day, "value": value, "note": note.strip()}
    with transaction.atomic():
        added, _ = write_record(kind, data, instance=kind.model(), history_user=user,
                                change_reason=f"Measurement of {objective.external_id} entered")
    return added  # type: ignore[return-value]


def next_measurement_id(objective: QualityObjective) -> str:
    """A free external id for the next measurement: ``<objective id>-M1``, ``-M2`` ..."""
    prefix = f"{objective.external_id}-M"
    taken = set(ObjectiveMeasurement.objects.filter(external_id__startswith=prefix)
                .values_list("external_id", flat=True))
    number = len(taken) + 1
    while f"{prefix}{number}" in taken:
        number += 1
    return f"{prefix}{number}"
