"""Management review (ISO 9001 9.3): the review pack generated from the records for a period,
and the review's actions (9.3.3 outputs) tracked to completion.

:func:`pack_figures` reads the records into plain numbers and tables (data first);
:func:`qualityloop.report.review_pack.review_pack` turns them into the report document that the
web page shows and prints. Review actions are
corrective actions linked to the review (``CorrectiveAction.management_review``), so they have an
owner, a due date and a status, and count as overdue on the dashboard like any action.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from qualityloop.records.customers.models import Complaint, FeedbackResponse
from qualityloop.records.organisation.models import OrgUnit
from qualityloop.records.quality.choices import ActionStatus, LifecycleStage
from qualityloop.records.quality.models import (
    ChangeRequest,
    CorrectiveAction,
    ManagementReview,
    Nonconformance,
    QualityObjective,
    TrainingRecord,
)
from qualityloop.services import metrics, permissions, problem_solving, training
from qualityloop.services.record_kinds import get_kind, kind_for_model
from qualityloop.services.record_writer import RowInvalid, write_record

REVIEWS = "management-reviews"
ACTIONS = "actions"
DEFAULT_MONTHS = 6


class PeriodInvalid(ValueError):
    """The review period cannot be used (the message says why)."""


@dataclass
class PackFigures:
    """What the review pack says, as numbers and tables, for ``start`` .. ``end`` (inclusive)."""

    start: dt.date
    end: dt.date
    objective_counts: dict[str, int] = field(default_factory=dict)
    objectives: pd.DataFrame = field(default_factory=pd.DataFrame)
    feedback: pd.DataFrame = field(default_factory=pd.DataFrame)
    complaints: dict[str, Any] = field(default_factory=dict)
    nonconformances: pd.DataFrame = field(default_factory=pd.DataFrame)
    capa: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    retention: dict[str, Any] | None = None
    retention_problem: str = ""
    spc_signals: pd.DataFrame = field(default_factory=pd.DataFrame)
    spc_problem: str = ""
    changes: dict[str, int] = field(default_factory=dict)
    review_actions: pd.DataFrame = field(default_factory=pd.DataFrame)
    unit: OrgUnit | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: tables as lists of rows, dates as text, missing numbers as None."""
        found: dict[str, Any] = {}
        for name, value in vars(self).items():
            if isinstance(value, pd.DataFrame):
                value = value.astype(object).where(value.notna(), None).to_dict("records")
            found[name] = _plain(value)
        return found


def _plain(value: Any) -> Any:
    if isinstance(value, OrgUnit):
        return value.external_id
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, pd.Timestamp | dt.date):
        return value.date().isoformat() if isinstance(value, pd.Timestamp) else value.isoformat()
    if isinstance(value, float) and value != value:  # NaN
        return None
    if hasattr(value, "item"):  # numpy scalars
        return _plain(value.item())
    return value


def period(start: str | dt.date | None, end: str | dt.date | None,
           today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The review period from text or dates; default: the :data:`DEFAULT_MONTHS` months to today.

    Raises
    ------
    PeriodInvalid
        A date is not YYYY-MM-DD, or the period ends before it starts.
    """
    day = today or timezone.localdate()
    last = _date(end, "to") or day
    first = _date(start, "from") or (pd.Timestamp(last) - pd.DateOffset(months=DEFAULT_MONTHS)
                                     + pd.Timedelta(days=1)).date()
    if last < first:
        raise PeriodInvalid(f"the period ends ({last}) before it starts ({first})")
    return first, last


def _date(value: str | dt.date | None, name: str) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise PeriodInvalid(f"{name}: got {value!r}, expected a date (YYYY-MM-DD)") from None


def pack_figures(start: dt.date, end: dt.date,
                 retention: Callable[[], dict[str, Any]] | None = None,
                 unit: OrgUnit | None = None) -> PackFigures:
    """Read the review inputs (ISO 9001 9.3.2) for ``start`` .. ``end`` from the records.

    Parameters
    ----------
    start, end
        The period, both days included; stocks (open items, coverage) are taken on ``end``.
    retention
        Gives the retention headline (``RetentionOverview().headline()`` by default); pages pass
        a cached one, since it reads every order.
    unit
        Only the records of this unit and the units below it (a record's unit as the
        permissions find it, ``permissions.UNIT_PATHS``), as for a reader who reads by unit;
        ``None`` for the whole organisation. Review actions name no unit and are left out.
    """
    figures = PackFigures(start, end, unit=unit)
    of = _Scope(unit)
    figures.objective_counts, figures.objectives = _objectives(start, end, of)
    figures.feedback = _feedback(start, end, of)
    figures.complaints = _complaints(start, end, of)
    figures.nonconformances = _nonconformances(start, end, of)
    figures.capa = _capa(start, end, of)
    figures.training = _training(start, end, of)
    figures.retention, figures.retention_problem = _retention(retention)
    figures.spc_signals, figures.spc_problem = _spc(start, end, unit)
    figures.changes = _changes(start, end, of)
    figures.review_actions = review_actions_frame(
        of(CorrectiveAction.objects.filter(management_review__isnull=False)), end)
    return figures


class _Scope:
    """Narrows a queryset of records to one unit and the units below it (all without a unit)."""

    def __init__(self, unit: OrgUnit | None) -> None:
        self.unit = unit
        self.units = metrics.unit_scope(unit)

    def __call__(self, records: QuerySet) -> QuerySet:
        if self.units is None:
            return records
        kind = kind_for_model(records.model)
        assert kind is not None, records.model
        return records.filter(permissions.in_units(kind, self.units))


def _months(start: dt.date, end: dt.date) -> pd.PeriodIndex:
    return pd.period_range(pd.Timestamp(start), pd.Timestamp(end), freq="M")


def _objectives(start: dt.date, end: dt.date,
                of: _Scope) -> tuple[dict[str, int], pd.DataFrame]:
    """Objectives running in the period (started by its end, due after its start), each judged
    on ``end`` by :mod:`qualityloop.services.objectives` (own status)."""
    from qualityloop.services import objectives

    running = of(QualityObjective.objects.all()).filter(due_on__gte=start).filter(
        Q(start_on__isnull=True) | Q(start_on__lte=end))
    judged = objectives.statuses(end, running)
    counts = {s.value: 0 for s in objectives.Status}
    rows = []
    for obj in running.select_related("org_unit").order_by("due_on", "external_id"):
        status = judged.get(obj.pk)
        if status is None:
            continue
        counts[status.own.value] += 1
        rows.append({"objective": obj.external_id, "title": obj.title, "unit": obj.org_unit.name,
                     "status": status.own.label, "latest": status.latest_value,
                     "target": obj.target, "due": obj.due_on})
    return counts, pd.DataFrame(rows, columns=["objective", "title", "unit", "status", "latest",
                                               "target", "due"])


def _feedback(start: dt.date, end: dt.date, of: _Scope) -> pd.DataFrame:
    """Per month: responses, NPS (% promoters 9-10 minus % detractors 0-6), mean CSAT and CES."""
    rows = of(FeedbackResponse.objects.all()).filter(responded_on__gte=start, responded_on__lte=end)
    frame = pd.DataFrame(list(rows.values("responded_on", "nps", "csat", "ces")),
                         columns=["responded_on", "nps", "csat", "ces"])
    frame["month"] = pd.PeriodIndex(pd.to_datetime(frame["responded_on"]), freq="M")
    out = []
    for month in _months(start, end):
        part = frame[frame["month"] == month]
        scores = part["nps"].dropna()
        nps = (100.0 * ((scores >= 9).sum() - (scores <= 6).sum()) / len(scores)
               if len(scores) else float("nan"))
        out.append({"month": month.to_timestamp(), "responses": len(part), "nps": nps,
                    "csat": part["csat"].dropna().astype(float).mean(),
                    "ces": part["ces"].dropna().astype(float).mean()})
    return pd.DataFrame(out, columns=["month", "responses", "nps", "csat", "ces"])


def _complaints(start: dt.date, end: dt.date, of: _Scope) -> dict[str, Any]:
    received = of(Complaint.objects.all()).filter(received_on__gte=start, received_on__lte=end)
    resolved = of(Complaint.objects.all()).filter(resolved_on__gte=start, resolved_on__lte=end)
    days = [(done - got).days for got, done in resolved.values_list("received_on", "resolved_on")
            if done is not None]
    by_category = (received.values("category").annotate(n=Count("id")).order_by("-n", "category")
                   [:5])
    return {"received": received.count(), "resolved": len(days),
            "median_days_to_resolve": statistics.median(days) if days else None,
            "open_at_end": metrics.open_complaints(as_of=end, unit=of.unit),
            "top_categories": [(row["category"] or "(none)", row["n"]) for row in by_category]}


def _nonconformances(start: dt.date, end: dt.date, of: _Scope) -> pd.DataFrame:
    """Nonconformances detected per month of the period, by lifecycle stage (and in all)."""
    rows = of(Nonconformance.objects.all()).filter(detected_on__gte=start, detected_on__lte=end)
    frame = pd.DataFrame(list(rows.values("detected_on", "stage")),
                         columns=["detected_on", "stage"])
    frame["month"] = pd.PeriodIndex(pd.to_datetime(frame["detected_on"]), freq="M")
    table = pd.crosstab(frame["month"], frame["stage"]).reindex(
        index=_months(start, end), columns=LifecycleStage.values, fill_value=0)
    table["total"] = table.sum(axis=1)
    table.index = table.index.to_timestamp()  # type: ignore[attr-defined]
    table.index.name = "month"
    table.columns.name = None
    return table.reset_index()


def _capa(start: dt.date, end: dt.date, of: _Scope) -> dict[str, Any]:
    """Corrective actions due in the period: how many were done by their due date; verdicts
    of effectiveness checks made in the period; actions overdue on ``end``."""
    actions = of(CorrectiveAction.objects.all())
    due = actions.filter(due_on__gte=start, due_on__lte=end).exclude(
        status=ActionStatus.CANCELLED)
    pairs = list(due.values_list("due_on", "completed_on"))
    on_time = sum(1 for due_on, done in pairs if done is not None and done <= due_on)
    checked = actions.filter(effectiveness_checked_on__gte=start,
                             effectiveness_checked_on__lte=end)
    return {"due": len(pairs), "on_time": on_time,
            "on_time_share": on_time / len(pairs) if pairs else None,
            "verified_effective": checked.filter(status=ActionStatus.EFFECTIVE).count(),
            "found_ineffective": checked.filter(status=ActionStatus.INEFFECTIVE).count(),
            "overdue_at_end": metrics.overdue_actions(as_of=end, unit=of.unit),
            "ncs_closed": of(Nonconformance.objects.all()).filter(closed_on__gte=start,
                                                                  closed_on__lte=end).count(),
            "ncs_open_at_end": metrics.open_nonconformances(as_of=end, unit=of.unit)}


def _training(start: dt.date, end: dt.date, of: _Scope) -> dict[str, Any]:
    done = of(TrainingRecord.objects.all()).filter(completed_on__gte=start, completed_on__lte=end)
    people = training.unit_people(of.unit)
    due = training.due_list(of.unit, end)
    return {"completed": done.count(), "passed": done.filter(passed=True).count(),
            "people": len(people),
            "problem_recognition_coverage": training.coverage(people, end),
            "expired_at_end": sum(1 for row in due if row["state"] == "expired"),
            "due_soon_at_end": sum(1 for row in due if row["state"] == "due")}


def _retention(headline: Callable[[], dict[str, Any]] | None) -> tuple[dict | None, str]:
    from qualityloop.services.retention import NoOrdersError, RetentionOverview

    try:
        return (headline or RetentionOverview().headline)(), ""
    except NoOrdersError as missing:
        return None, str(missing)


def _spc(start: dt.date, end: dt.date, unit: OrgUnit | None) -> tuple[pd.DataFrame, str]:
    """Signals of the nonconformance-rate and complaint control charts in the period."""
    from qualityloop.services import spc

    rows, problems = [], []
    for draw in (spc.nc_rate_chart, spc.complaints_chart):
        try:
            view = draw(unit, as_of=end)
            found = view.signals()
        except ValueError as unchartable:  # too few points (SpcInputError), or no spread
            problems.append(str(unchartable))
            continue
        rows += [{"chart": s.chart_title, "month": s.label, "rule": s.rule}
                 for s in found if start <= s.day <= end]
    return pd.DataFrame(rows, columns=["chart", "month", "rule"]), "; ".join(problems)


def _changes(start: dt.date, end: dt.date, of: _Scope) -> dict[str, int]:
    changes = of(ChangeRequest.objects.all())
    requested = changes.filter(requested_on__gte=start, requested_on__lte=end)
    return {"requested": requested.count(),
            "approved": changes.filter(approved_on__gte=start, approved_on__lte=end).count(),
            "implemented": changes.filter(implemented_on__gte=start,
                                          implemented_on__lte=end).count(),
            "verified": changes.filter(verified_on__gte=start, verified_on__lte=end).count(),
            "rejected": requested.filter(status="rejected").count()}


# Review actions -----------------------------------------------------------------------------


def review_actions_frame(actions: Any, today: dt.date | None = None) -> pd.DataFrame:
    """Review actions with their review, owner, due date, status and whether overdue."""
    day = today or timezone.localdate()
    rows = [{"action": a.external_id, "review": a.management_review.external_id,
             "description": a.description, "owner": a.owner.name, "due": a.due_on,
             "status": a.get_status_display(), "overdue": problem_solving.is_overdue(a, day)}
            for a in actions.select_related("owner", "management_review").order_by("due_on",
                                                                                    "pk")]
    return pd.DataFrame(rows, columns=["action", "review", "description", "owner", "due",
                                       "status", "overdue"])


def add_review_action(review: ManagementReview, user: Any,
                      values: Mapping[str, Any]) -> CorrectiveAction:
    """Record an action decided by the review (owner and due date needed).

    ``values`` are action columns (``kind``, ``description``, ``owner`` by external id,
    ``due_on``); the external id defaults to ``<review id>-A<n>``. Only those who may change
    management reviews (quality and top management) add their actions.

    Raises
    ------
    NotAllowed
        The user may not change management reviews.
    RowInvalid
        A value is missing or wrong (by column).
    """
    permissions.check_object(user, review, permissions.Action.CHANGE)
    data = {name: value for name, value in values.items() if value not in (None, "")}
    for needed in ("description", "owner", "due_on"):
        if needed not in data:
            raise RowInvalid({needed: "required for a review action"})
    data["management_review"] = review.external_id
    data.setdefault("kind", "preventive")
    data.setdefault("status", ActionStatus.PLANNED)
    # <review id>-A<n>, numbered as an NC's actions are (only the external id is read).
    data.setdefault("external_id", problem_solving.next_action_id(review))  # type: ignore[arg-type]
    with transaction.atomic():
        added, _ = write_record(get_kind(ACTIONS), data, instance=get_kind(ACTIONS).model(),
                                history_user=user,
                                change_reason=f"Action decided by {review.external_id}")
    return added  # type: ignore[return-value]


def review_period(review: ManagementReview) -> tuple[dt.date, dt.date]:
    """The period a review's pack covers: its own, or the months before it was held."""
    return period(review.period_start, review.period_end or review.held_on, review.held_on)
