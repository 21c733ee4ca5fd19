"""A record-based TQM index: what the records show about each unit's quality practice.

Nine indicators, each a share or a median computed from the records of a unit (and the units
below it) in a period, each turned into a 0-100 score; the composite index is the equal-weight
mean of the scores a unit has. ``docs/tqm-index.md`` gives the exact definitions; the registry
:data:`INDICATORS` holds the same text for the CLI and pages.

The database is read once per record kind (big tables aggregated per unit and day in SQL, the
rest as plain value rows); everything after that is small pure functions on pandas frames, so
the indicator arithmetic is tested without a database. :func:`compare_with_survey` sets the
index beside a survey's construct scores and flags where they disagree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from django.db import connection
from django.db.models import Count, QuerySet

from qualityloop.analytics.survival import KaplanMeier

PERIODS = ("year", "half", "quarter")
DAYS_PER_HALF_YEAR = 365.25 / 2
MIN_INDICATORS_FOR_COMPOSITE = 5
POINTS_THRESHOLD = 25.0
RANK_THRESHOLD = 3
LONG_COLUMNS = ["unit", "unit_name", "period", "indicator", "value", "numerator", "denominator",
                "score_0_100", "reason"]


class IndexInputError(ValueError):
    """An argument the index cannot use: an unknown period or unit, a survey table without the
    columns it needs."""


# the registry -----------------------------------------------------------------------------------

def share_score(value: float) -> float:
    """A share (0-1) as a 0-100 score: 100 times the share, capped at 100."""
    return float(np.clip(100.0 * value, 0.0, 100.0))


def days_score(best: float, worst: float) -> Callable[[float], float]:
    """Median days as a 0-100 score: 100 at ``best`` days or fewer, 0 at ``worst`` or more,
    linear in between."""
    def score(value: float) -> float:
        return float(np.clip(100.0 * (worst - value) / (worst - best), 0.0, 100.0))
    return score


@dataclass(frozen=True)
class Indicator:
    """One record-based indicator: what it measures, which way is better, how it is scored."""

    name: str
    label: str
    definition: str
    direction: str  # "higher" or "lower" is better
    scoring: str
    score: Callable[[float], float]
    evidence: str  # fills a sentence: "... but {evidence}"; {value} is the indicator's value

    def describe(self, value: float) -> str:
        return self.evidence.format(value=value)


INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        "objectives_on_track", "Objectives on track",
        "Share of the measurements of the unit's quality objectives, taken in the period, that "
        "meet the objective's target in its direction (increase: value >= target; decrease: "
        "value <= target; maintain: |value - target| <= tolerance).",
        "higher", "100 x share", share_score,
        "{value:.0%} of its objective measurements were on track"),
    Indicator(
        "problem_recognition_training", "Problem-recognition training coverage",
        "Share of the unit's active people (their record created by then) who, on the last day "
        "of the period (or the as-of day if earlier), hold a passed training record of a "
        "problem-recognition course completed by that day and not expired (expires_on, or "
        "completion + the course's validity months, is on or after that day).",
        "higher", "100 x share", share_score,
        "only {value:.0%} of its staff hold current problem-recognition training"),
    Indicator(
        "capa_on_time", "CAPA completed on time",
        "Share of the unit's corrective actions (not cancelled) due in the period and due by "
        "the as-of day that were completed on or before their due date; an action still open "
        "after its due date counts as late.",
        "higher", "100 x share", share_score,
        "{value:.0%} of its corrective actions were completed by their due date"),
    Indicator(
        "capa_effective_first_check", "CAPA verified effective at the first check",
        "Share of the unit's corrective actions whose first effectiveness verdict (the earliest "
        "version in the action's history with status effective or ineffective; the current "
        "record if the history has none) falls in the period and says effective.",
        "higher", "100 x share", share_score,
        "{value:.0%} of its corrective actions were effective at the first check"),
    Indicator(
        "design_customer_participation", "Design reviews with customer participation",
        "Share of the design stage reviews of the unit's design projects, held in the period, "
        "with at least one customer participant.",
        "higher", "100 x share", share_score,
        "customers took part in {value:.0%} of its design stage reviews"),
    Indicator(
        "defects_caught_before_production", "Defects caught before production",
        "Nonconformances of the unit detected in the period at the design or prototype stage "
        "(caught by design reviews and prototype tests), as a share of those plus the "
        "production and field nonconformances detected in the period (escaped). Delivery "
        "nonconformances are not design defects and are left out. Needs at least one design "
        "stage review of the unit in the period.",
        "higher", "100 x share", share_score,
        "{value:.0%} of its defects were caught before production"),
    Indicator(
        "complaint_acknowledgement_days", "Complaint acknowledgement time",
        "Median days from receipt to acknowledgement of the complaints the unit received in "
        "the period (Kaplan-Meier median: complaints not yet acknowledged count as censored at "
        "their age on the as-of day).",
        "lower", "100 at 1 day or less, 0 at 10 days or more, linear between", days_score(1, 10),
        "its complaints wait {value:.0f} days (median) for an acknowledgement"),
    Indicator(
        "complaint_resolution_days", "Complaint resolution time",
        "Median days from receipt to resolution of the complaints the unit received in the "
        "period (Kaplan-Meier median: unresolved complaints count as censored at their age on "
        "the as-of day).",
        "lower", "100 at 7 days or less, 0 at 60 days or more, linear between", days_score(7, 60),
        "its complaints take {value:.0f} days (median) to resolve"),
    Indicator(
        "feedback_response_rate", "Feedback response rate",
        "Relationship-survey answers (feedback responses with channel 'survey') of the unit's "
        "customers received in the period, divided by the invitations expected: one at every "
        "six months of a customer's tenure (182.6, 365.25, ... days after acquisition) that "
        "falls in the period before the customer churned. The records hold no invitations, so "
        "this is a proxy that assumes a survey every six months of tenure.",
        "higher", "100 x rate, capped at 100", share_score,
        "only {value:.0%} of the expected relationship surveys were answered"),
)
BY_NAME = {indicator.name: indicator for indicator in INDICATORS}

DEFAULT_MAPPING: dict[str, tuple[str, ...]] = {
    "planning": ("objectives_on_track",),
    "training": ("problem_recognition_training",),
    "customer_focus": ("design_customer_participation", "complaint_acknowledgement_days",
                       "complaint_resolution_days"),
    "improvement": ("capa_on_time", "capa_effective_first_check"),
    "process": ("defects_caught_before_production",),
}
CONSTRUCT_LABELS = {
    "leadership": "leadership", "planning": "quality planning",
    "customer_focus": "customer focus", "training": "training",
    "process": "process management", "supplier": "supplier quality",
    "information": "quality information", "involvement": "employee involvement",
    "improvement": "continuous improvement",
}


# periods ----------------------------------------------------------------------------------------

def period_labels(dates: pd.Series | pd.DatetimeIndex, period: str) -> np.ndarray:
    """The period each date falls in: ``2024``, ``2024-H2`` or ``2024-Q3``."""
    stamps = pd.DatetimeIndex(pd.to_datetime(dates))
    years = stamps.year.astype(str)
    if period == "year":
        return np.asarray(years, dtype=object)
    if period == "half":
        return np.asarray(years + "-H" + ((stamps.month - 1) // 6 + 1).astype(str), dtype=object)
    return np.asarray(years + "-Q" + stamps.quarter.astype(str), dtype=object)


def period_table(first: dt.date, as_of: dt.date, period: str) -> pd.DataFrame:
    """Every period from the one holding ``first`` to the one holding ``as_of``.

    Returns
    -------
    pandas.DataFrame
        Columns ``period``, ``start``, ``end`` (last day), ``ref`` (``end`` or ``as_of`` if
        earlier: the day a stock such as training coverage is taken).
    """
    months = {"year": 12, "half": 6, "quarter": 3}[period]
    start = pd.Timestamp(first).to_period("M").start_time
    start = start - pd.DateOffset(months=(start.month - 1) % months)
    starts = pd.date_range(start, pd.Timestamp(as_of), freq=pd.DateOffset(months=months))
    ends = starts + pd.DateOffset(months=months) - pd.Timedelta(days=1)
    return pd.DataFrame({"period": period_labels(starts, period), "start": starts, "end": ends,
                         "ref": ends.where(ends <= pd.Timestamp(as_of), pd.Timestamp(as_of))})


# units ------------------------------------------------------------------------------------------

def unit_members(units: pd.DataFrame, chosen: list[int]) -> pd.DataFrame:
    """Which record units roll up into which reported unit: each chosen unit and all below it.

    Parameters
    ----------
    units : DataFrame
        Columns ``id``, ``parent_id``.
    chosen : list of int
        Ids of the reported units.

    Returns
    -------
    pandas.DataFrame
        Columns ``unit_id`` (a unit holding records) and ``report_id`` (the chosen unit it
        rolls up into); a unit can roll up into several chosen units when they are nested.
    """
    children: dict[Any, list[int]] = {}
    for uid, parent in zip(units["id"], units["parent_id"], strict=True):
        if pd.notna(parent):
            children.setdefault(int(parent), []).append(int(uid))
    rows = []
    for top in chosen:
        frontier = [top]
        while frontier:
            node = frontier.pop()
            rows.append((node, top))
            frontier.extend(children.get(node, []))
    return pd.DataFrame(rows, columns=["unit_id", "report_id"])


def roll_up(frame: pd.DataFrame, members: pd.DataFrame) -> pd.DataFrame:
    """Records of ``frame`` (with a ``unit_id``) under the reported unit ``report_id``."""
    return frame.merge(members, on="unit_id", how="inner")


# indicator arithmetic (pure) --------------------------------------------------------------------

def _result(keys: pd.DataFrame, numerator, denominator, value=None) -> pd.DataFrame:
    out = keys[["report_id", "period"]].copy()
    out["numerator"] = np.asarray(numerator, dtype=float)
    out["denominator"] = np.asarray(denominator, dtype=float)
    if value is None:
        with np.errstate(invalid="ignore", divide="ignore"):
            value = out["numerator"] / out["denominator"].where(out["denominator"] > 0)
    out["value"] = np.asarray(value, dtype=float)
    return out


def _share_by(frame: pd.DataFrame, success: str) -> pd.DataFrame:
    """Share of rows where ``success`` is true, per reported unit and period."""
    if frame.empty:
        return _result(pd.DataFrame(columns=["report_id", "period"]), [], [])
    grouped = frame.groupby(["report_id", "period"], sort=True)[success]
    counts = grouped.agg(["sum", "size"]).reset_index()
    return _result(counts, counts["sum"], counts["size"])


def objectives_on_track(measurements: pd.DataFrame) -> pd.DataFrame:
    """Share of objective measurements meeting their target.

    ``measurements`` has ``report_id``, ``period``, ``value``, ``direction``, ``target``,
    ``tolerance``.
    """
    m = measurements
    met = np.select(
        [m["direction"] == "increase", m["direction"] == "decrease"],
        [m["value"] >= m["target"], m["value"] <= m["target"]],
        (m["value"] - m["target"]).abs() <= m["tolerance"])
    return _share_by(m.assign(met=met.astype(bool)), "met")


def training_coverage(people: pd.DataFrame, training: pd.DataFrame,
                      periods: pd.DataFrame) -> pd.DataFrame:
    """Share of people holding a current passed problem-recognition record at each period's
    reference day.

    ``people``: ``report_id``, ``person_id``, ``since`` (record created). ``training``:
    ``person_id``, ``completed_on``, ``valid_until`` (NaT: no expiry), ``passed``.
    """
    passed = training[training["passed"].astype(bool)]
    rows: list[tuple[Any, Any, float, float]] = []
    for period, ref in zip(periods["period"], periods["ref"], strict=True):
        current = passed[(passed["completed_on"] <= ref)
                         & (passed["valid_until"].isna() | (passed["valid_until"] >= ref))]
        present = people[people["since"] <= ref]
        held = present["person_id"].isin(current["person_id"])
        counts = held.groupby(present["report_id"]).agg(["sum", "size"]).astype(float)
        if current.empty and not (training["completed_on"] <= ref).any():
            counts["sum"] = np.nan  # no such training recorded anywhere yet: records not kept
        rows.extend((uid, period, s, n) for uid, (s, n) in counts.iterrows())
    keys = pd.DataFrame(rows, columns=["report_id", "period", "sum", "size"])
    return _result(keys, keys["sum"], keys["size"])


def capa_on_time(actions: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Share of actions due (by ``as_of``) completed on or before the due date.

    ``actions``: ``report_id``, ``period`` (of the due date), ``due_on``, ``completed_on``.
    """
    due = actions[actions["due_on"] <= as_of]
    on_time = due["completed_on"].notna() & (due["completed_on"] <= due["due_on"])
    return _share_by(due.assign(on_time=on_time), "on_time")


def capa_effective(verdicts: pd.DataFrame) -> pd.DataFrame:
    """Share of first effectiveness verdicts that say effective.

    ``verdicts``: ``report_id``, ``period`` (of the check), ``effective`` (bool).
    """
    return _share_by(verdicts, "effective")


def design_participation(reviews: pd.DataFrame) -> pd.DataFrame:
    """Share of design stage reviews with a customer participant.

    ``reviews``: ``report_id``, ``period``, ``participants`` (count).
    """
    return _share_by(reviews.assign(with_customer=reviews["participants"] > 0), "with_customer")


def defects_caught(ncs: pd.DataFrame, reviews: pd.DataFrame) -> pd.DataFrame:
    """Design- and prototype-stage NCs as a share of those plus production and field NCs, in
    unit-periods with at least one design stage review.

    ``ncs``: ``report_id``, ``period``, ``stage``, ``count``. ``reviews``: ``report_id``,
    ``period``.
    """
    early = ncs["stage"].isin(["design", "prototype"])
    late = ncs["stage"].isin(["production", "field"])
    counted = ncs.assign(caught=np.where(early, ncs["count"], 0),
                         seen=np.where(early | late, ncs["count"], 0))
    sums = counted.groupby(["report_id", "period"])[["caught", "seen"]].sum()
    reviewed = reviews[["report_id", "period"]].drop_duplicates()
    keys = reviewed.merge(sums.reset_index(), on=["report_id", "period"], how="left").fillna(0)
    return _result(keys, keys["caught"], keys["seen"])


def median_days(episodes: pd.DataFrame, done: str, as_of: pd.Timestamp) -> pd.DataFrame:
    """Kaplan-Meier median days from ``received_on`` to the date column ``done``; episodes
    without that date are censored at their age on ``as_of``.

    ``episodes``: ``report_id``, ``period``, ``received_on``, ``done``. Numerator: episodes
    done; denominator: all episodes. NaN value where fewer than half are done.
    """
    e = episodes[episodes["received_on"] <= as_of]
    if e.empty:
        return _result(pd.DataFrame(columns=["report_id", "period"]), [], [])
    finished = e[done].notna() & (e[done] <= as_of)
    end = e[done].where(finished, as_of)
    frame = pd.DataFrame({
        "group": e["report_id"].astype(str) + "|" + e["period"].astype(str),
        "duration": (end - e["received_on"]).dt.days.clip(lower=0).astype(float),
        "event": finished.astype(int)})
    summary = KaplanMeier().fit(frame, group_col="group").summary()
    keys = summary.index.to_series().str.split("|", n=1, expand=True)
    keys.columns = ["report_id", "period"]
    keys["report_id"] = keys["report_id"].astype(int)
    median = summary["median"].to_numpy(dtype=float)
    median = np.where(np.isfinite(median), median, np.nan)  # inf: never falls to one half
    return _result(keys.reset_index(drop=True), summary["events"].to_numpy(),
                   summary["subjects"].to_numpy(), median)


def expected_invitations(customers: pd.DataFrame, periods: pd.DataFrame) -> pd.DataFrame:
    """Relationship-survey invitations expected per reported unit and period: one at every
    six months of a customer's tenure (day 183, 365, ... after acquisition) that falls in the
    period while the customer is active.

    ``customers``: ``report_id``, ``acquired_on``, ``ended_on`` (churn date or as-of day).
    """
    def completed_half_years(day: pd.Timestamp) -> pd.Series:
        ended = customers["ended_on"]
        last = ended.where(ended <= day, day)
        days = (last - customers["acquired_on"]).dt.days.clip(lower=0)
        return days // DAYS_PER_HALF_YEAR

    rows = []
    for period, start, ref in zip(periods["period"], periods["start"], periods["ref"],
                                  strict=True):
        due = completed_half_years(ref) - completed_half_years(start - pd.Timedelta(days=1))
        for uid, total in due.groupby(customers["report_id"]).sum().items():
            rows.append((uid, period, float(total)))
    return pd.DataFrame(rows, columns=["report_id", "period", "expected"])


def feedback_rate(answers: pd.DataFrame, expected: pd.DataFrame) -> pd.DataFrame:
    """Survey answers per expected invitation. ``answers``: ``report_id``, ``period``,
    ``count``; ``expected``: ``report_id``, ``period``, ``expected``."""
    got = answers.groupby(["report_id", "period"])["count"].sum().rename("answered")
    keys = expected.merge(got.reset_index(), on=["report_id", "period"], how="left").fillna(0)
    keys = keys[keys["expected"] > 0]
    return _result(keys, keys["answered"], keys["expected"])


# reasons for a missing value --------------------------------------------------------------------

NO_DATA = {
    "objectives_on_track": "no objective measurements in the period",
    "problem_recognition_training": "no people in the unit",
    "capa_on_time": "no corrective actions due in the period",
    "capa_effective_first_check": "no effectiveness checks in the period",
    "design_customer_participation": "no design stage reviews held in the period",
    "defects_caught_before_production": "no design stage reviews held in the period",
    "complaint_acknowledgement_days": "no complaints received in the period",
    "complaint_resolution_days": "no complaints received in the period",
    "feedback_response_rate": "no customers served in the period",
}
NO_VALUE = {
    "problem_recognition_training": "no problem-recognition training recorded in the "
                                    "organisation by the period's end",
    "defects_caught_before_production": "no design, prototype, production or field "
                                        "nonconformances in the period",
    "complaint_acknowledgement_days": "fewer than half of the complaints are acknowledged yet",
    "complaint_resolution_days": "fewer than half of the complaints are resolved yet",
}


def assemble(results: Mapping[str, pd.DataFrame], units: pd.DataFrame,
             periods: pd.DataFrame) -> pd.DataFrame:
    """One row per reported unit, period and indicator, with score and, where the value is
    missing, the reason.

    ``units``: ``report_id``, ``unit`` (external id), ``unit_name``.
    """
    grid = units.merge(periods[["period"]], how="cross")
    parts = []
    for indicator in INDICATORS:
        found = results.get(indicator.name, pd.DataFrame(columns=["report_id", "period"]))
        rows = grid.merge(found, on=["report_id", "period"], how="left", indicator="_seen")
        seen = (rows.pop("_seen") == "both").to_numpy()
        value = rows["value"].astype(float)
        rows["indicator"] = indicator.name
        rows["score_0_100"] = value.map(lambda v, s=indicator.score: s(v) if pd.notna(v)
                                        else np.nan)
        rows["reason"] = np.where(
            value.notna(), "",
            np.where(seen, NO_VALUE.get(indicator.name, "no value"), NO_DATA[indicator.name]))
        parts.append(rows)
    table = pd.concat(parts, ignore_index=True)
    for column in ("numerator", "denominator"):
        table[column] = table[column].astype(float)
    return table[LONG_COLUMNS].reset_index(drop=True)


# reading the records ----------------------------------------------------------------------------

def _frame(rows, columns: list[str], dates: tuple[str, ...] = ()) -> pd.DataFrame:
    """A frame from value rows: a ``values_list`` queryset without annotations is run straight
    on the cursor, because Django's per-row converters (dates parsed one by one on SQLite) cost
    more than the query on big tables; pandas parses the date columns at once instead."""
    if isinstance(rows, QuerySet) and not rows.query.annotations:
        sql, params = rows.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
    frame = pd.DataFrame.from_records(list(rows), columns=columns)
    for column in dates:
        frame[column] = pd.to_datetime(frame[column])
    return frame


def _per_day(queryset, date_field: str, unit_field: str, *extra: str) -> pd.DataFrame:
    """Counts per unit, day (and ``extra`` fields), aggregated in SQL: a few thousand rows
    instead of one per record (grouping by the plain date needs no per-row date function)."""
    rows = (queryset.values(unit_field, date_field, *extra).annotate(count=Count("id"))
            .values_list(unit_field, date_field, *extra, "count").order_by())
    return _frame(rows, ["unit_id", "date", *extra, "count"], ("date",))


@dataclass
class Records:
    """The rows the indicators need, read from the database once."""

    units: pd.DataFrame
    measurements: pd.DataFrame
    people: pd.DataFrame
    training: pd.DataFrame
    actions: pd.DataFrame
    verdicts: pd.DataFrame
    reviews: pd.DataFrame
    ncs: pd.DataFrame
    complaints: pd.DataFrame
    customers: pd.DataFrame
    answers: pd.DataFrame


def read_records(as_of: dt.date) -> Records:
    """Read every table the indicators use (records after ``as_of`` left out)."""
    from qualityloop.records.customers import models as cm
    from qualityloop.records.organisation.models import OrgUnit, Person
    from qualityloop.records.quality import models as qm

    units = _frame(OrgUnit.objects.values_list("id", "external_id", "name", "parent_id"),
                   ["id", "external_id", "name", "parent_id"])
    measurements = _frame(
        qm.ObjectiveMeasurement.objects.filter(measured_on__lte=as_of).values_list(
            "objective__org_unit_id", "measured_on", "value", "objective__direction",
            "objective__target", "objective__tolerance"),
        ["unit_id", "date", "value", "direction", "target", "tolerance"], ("date",))
    people = _frame(Person.objects.filter(active=True).values_list("id", "org_unit_id",
                                                                   "created_at"),
                    ["person_id", "unit_id", "since"])
    people["since"] = pd.to_datetime(people["since"], utc=True).dt.tz_localize(None).dt.normalize()
    training = _training(qm.TrainingRecord.objects.filter(
        course__course_type=qm.choices.CourseType.PROBLEM_RECOGNITION, completed_on__lte=as_of))
    actions = _frame(
        qm.CorrectiveAction.objects.exclude(status=qm.choices.ActionStatus.CANCELLED)
        .values_list("nonconformance__org_unit_id", "owner__org_unit_id", "due_on",
                     "completed_on"),
        ["nc_unit", "owner_unit", "date", "completed_on"], ("date", "completed_on"))
    actions = _action_unit(actions)
    actions["due_on"] = actions["date"]
    reviews = _frame(
        cm.DesignStageReview.objects.filter(held_on__lte=as_of)
        .annotate(participants=Count("customer_participants"))
        .values_list("project__org_unit_id", "held_on", "participants"),
        ["unit_id", "date", "participants"], ("date",))
    ncs = _per_day(qm.Nonconformance.objects.filter(detected_on__lte=as_of), "detected_on",
                  "org_unit_id", "stage")
    complaints = _frame(
        cm.Complaint.objects.filter(received_on__lte=as_of).values_list(
            "org_unit_id", "customer__serving_unit_id", "received_on", "acknowledged_on",
            "resolved_on"),
        ["unit_id", "serving_unit", "date", "acknowledged_on", "resolved_on"],
        ("date", "acknowledged_on", "resolved_on"))
    complaints["unit_id"] = complaints["unit_id"].fillna(complaints["serving_unit"]).astype(int)
    complaints["received_on"] = complaints["date"]
    customers = _frame(
        cm.Customer.objects.filter(acquired_on__lte=as_of).values_list(
            "serving_unit_id", "acquired_on", "churned_on"),
        ["unit_id", "acquired_on", "churned_on"], ("acquired_on", "churned_on"))
    ended = customers["churned_on"].fillna(pd.Timestamp(as_of))
    customers["ended_on"] = ended.where(ended <= pd.Timestamp(as_of), pd.Timestamp(as_of))
    answers = _per_day(cm.FeedbackResponse.objects.filter(
        channel=cm.choices.Channel.SURVEY, responded_on__lte=as_of), "responded_on",
        "customer__serving_unit_id")
    return Records(units, measurements, people, training, actions, _first_verdicts(qm, as_of),
                   reviews, ncs, complaints, customers, answers)


def _training(queryset) -> pd.DataFrame:
    frame = _frame(queryset.values_list("person_id", "completed_on", "expires_on", "passed",
                                        "course__validity_months"),
                   ["person_id", "completed_on", "expires_on", "passed", "validity"],
                   ("completed_on", "expires_on"))
    by_validity = [c + pd.DateOffset(months=int(v)) if pd.notna(v) else pd.NaT
                   for c, v in zip(frame["completed_on"], frame["validity"], strict=True)]
    frame["valid_until"] = frame["expires_on"].fillna(
        pd.Series(by_validity, index=frame.index, dtype="datetime64[ns]"))
    return frame


def _action_unit(actions: pd.DataFrame) -> pd.DataFrame:
    """An action belongs to its nonconformance's unit, or its owner's when it has none."""
    unit = actions["nc_unit"].fillna(actions["owner_unit"])
    return actions[unit.notna()].assign(unit_id=unit[unit.notna()].astype(int))


def _first_verdicts(qm, as_of: dt.date) -> pd.DataFrame:
    """Each action's first effectiveness verdict: the earliest history version with one, else
    the current record."""
    verdicts = [qm.choices.ActionStatus.EFFECTIVE, qm.choices.ActionStatus.INEFFECTIVE]
    columns = ["id", "nc_unit", "owner_unit", "status", "date"]
    fields = ("id", "nonconformance__org_unit_id", "owner__org_unit_id", "status",
              "effectiveness_checked_on")
    history = qm.CorrectiveAction.history.filter(status__in=verdicts).order_by(
        "history_date", "history_id").values_list("id", "status", "effectiveness_checked_on")
    first = _frame(history, ["id", "status", "date"], ("date",))
    first = first.drop_duplicates("id", keep="first").set_index("id")
    current = _frame(qm.CorrectiveAction.objects.filter(status__in=verdicts)
                     .values_list(*fields), columns, ("date",)).set_index("id")
    current.loc[current.index.intersection(first.index), ["status", "date"]] = (
        first.loc[current.index.intersection(first.index), ["status", "date"]])
    current = current[current["date"].notna() & (current["date"] <= pd.Timestamp(as_of))]
    frame = _action_unit(current.reset_index())
    return frame.assign(effective=frame["status"] == qm.choices.ActionStatus.EFFECTIVE)


# the use cases ----------------------------------------------------------------------------------

def _chosen_units(records: Records, unit: Any) -> list[int]:
    """The reported units: the one asked for, else those objectives are cascaded to, else
    those serving customers."""
    from qualityloop.records.customers.models import Customer
    from qualityloop.records.organisation.models import OrgUnit
    from qualityloop.records.quality.models import QualityObjective

    if unit is not None:
        key = unit.external_id if isinstance(unit, OrgUnit) else str(unit)
        found = records.units.loc[records.units["external_id"] == key, "id"]
        if found.empty:
            raise IndexInputError(f"no org unit with external id {key!r}")
        return [int(found.iloc[0])]
    cascaded = QualityObjective.objects.filter(parent__isnull=False)
    ids = sorted(set(cascaded.values_list("org_unit_id", flat=True)))
    return ids or sorted(set(Customer.objects.values_list("serving_unit_id", flat=True)))


def _first_day(records: Records, as_of: dt.date) -> dt.date:
    dated = [records.measurements["date"], records.actions["date"], records.reviews["date"],
             records.ncs["date"], records.complaints["date"], records.answers["date"],
             records.training["completed_on"]]
    firsts = [d.min() for d in dated if len(d) and pd.notna(d.min())]
    return min(firsts).date() if firsts else as_of


def _in_periods(frame: pd.DataFrame, members: pd.DataFrame, period: str) -> pd.DataFrame:
    rolled = roll_up(frame, members)
    return rolled.assign(period=period_labels(rolled["date"], period))


def compute_index(records: Records, period: str, as_of: dt.date, chosen: list[int]
                  ) -> pd.DataFrame:
    """All indicators for the chosen units from records already read (see :func:`record_index`)."""
    members = unit_members(records.units, chosen)
    periods = period_table(_first_day(records, as_of), as_of, period)
    day = pd.Timestamp(as_of)

    def rolled(frame: pd.DataFrame) -> pd.DataFrame:
        return _in_periods(frame, members, period)

    people = roll_up(records.people.dropna(subset=["unit_id"]).astype({"unit_id": int}),
                     members)
    customers = roll_up(records.customers, members)
    reviews, complaints = rolled(records.reviews), rolled(records.complaints)
    results = {
        "objectives_on_track": objectives_on_track(rolled(records.measurements)),
        "problem_recognition_training": training_coverage(people, records.training, periods),
        "capa_on_time": capa_on_time(rolled(records.actions), day),
        "capa_effective_first_check": capa_effective(rolled(records.verdicts)),
        "design_customer_participation": design_participation(reviews),
        "defects_caught_before_production": defects_caught(rolled(records.ncs), reviews),
        "complaint_acknowledgement_days": median_days(complaints, "acknowledged_on", day),
        "complaint_resolution_days": median_days(complaints, "resolved_on", day),
        "feedback_response_rate": feedback_rate(rolled(records.answers),
                                                expected_invitations(customers, periods)),
    }
    names = records.units.set_index("id").loc[chosen]
    units = pd.DataFrame({"report_id": chosen, "unit": names["external_id"].to_numpy(),
                          "unit_name": names["name"].to_numpy()})
    return assemble(results, units, periods)


def _check_period(period: str) -> None:
    if period not in PERIODS:
        raise IndexInputError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")


def record_index(period: str = "year", as_of: dt.date | None = None,
                 unit: Any = None) -> pd.DataFrame:
    """The record-based TQM indicators per unit and period, as a long table.

    Parameters
    ----------
    period : {"year", "half", "quarter"}
        Calendar periods; labels ``2024``, ``2024-H1``, ``2024-Q1``.
    as_of : date, optional
        Leave out records after this day (default today); open items are judged on this day.
    unit : str or OrgUnit, optional
        Report only this unit (external id); its sub-units' records roll up into it. Default:
        the units quality objectives are cascaded to (else the units serving customers), each
        with its sub-units.

    Returns
    -------
    pandas.DataFrame
        One row per unit, period and indicator: ``unit`` (external id), ``unit_name``,
        ``period``, ``indicator``, ``value`` (a share 0-1 or median days), ``numerator``,
        ``denominator``, ``score_0_100`` and ``reason`` (why the value is missing; empty if
        it is not). Missing is NaN, never 0.

    See Also
    --------
    index_summary : one row per unit and period with the composite index.
    """
    _check_period(period)
    as_of = as_of or dt.date.today()
    records = read_records(as_of)
    return compute_index(records, period, as_of, _chosen_units(records, unit))


def summarise(index: pd.DataFrame, min_indicators: int = MIN_INDICATORS_FOR_COMPOSITE
              ) -> pd.DataFrame:
    """Wide table from :func:`record_index`'s long one: one score column per indicator, the
    number scored, and the composite (equal-weight mean of the scores present; NaN when fewer
    than ``min_indicators`` are)."""
    keys = ["unit", "unit_name", "period", "indicator"]
    wide = index.set_index(keys)["score_0_100"].unstack("indicator")
    wide = wide.reindex(columns=[i.name for i in INDICATORS])
    scored = wide.notna().sum(axis=1)
    wide["indicators_scored"] = scored
    wide["composite"] = wide[[i.name for i in INDICATORS]].mean(axis=1).where(
        scored >= min_indicators)
    wide.columns.name = None
    return wide.reset_index()


def index_summary(period: str = "year", as_of: dt.date | None = None, unit: Any = None,
                  min_indicators: int = MIN_INDICATORS_FOR_COMPOSITE) -> pd.DataFrame:
    """The record-based TQM index per unit and period, with the composite.

    Parameters
    ----------
    period, as_of, unit
        As for :func:`record_index`.
    min_indicators : int
        The composite needs at least this many indicator scores (default 5 of 9).

    Returns
    -------
    pandas.DataFrame
        Columns ``unit``, ``unit_name``, ``period``, one 0-100 score per indicator,
        ``indicators_scored`` and ``composite``: the equal-weight mean of the indicator scores
        the unit has in the period.
    """
    return summarise(record_index(period, as_of, unit), min_indicators)


# survey versus records --------------------------------------------------------------------------

def survey_wide(survey_scores: pd.DataFrame) -> pd.DataFrame:
    """Survey scores as one row per unit (index) and one 0-100 column per construct.

    Accepts that shape (units in the index or a ``unit`` column) or a long table with ``unit``,
    ``construct`` and a 0-100 column named ``maturity``, ``maturity_0_100`` or ``score_0_100``
    (as :func:`qualityloop.analytics.assessment.aggregate_scores` gives); with a ``round``
    column, each unit's latest round is used.
    """
    frame = survey_scores
    if "construct" in frame.columns:
        value = next((c for c in ("maturity", "maturity_0_100", "score_0_100")
                      if c in frame.columns), None)
        if value is None or "unit" not in frame.columns:
            raise IndexInputError("a long survey table needs columns unit, construct and maturity")
        if "round" in frame.columns:
            latest = frame.groupby("unit")["round"].transform("max")
            frame = frame[frame["round"] == latest]
        return frame.pivot_table(index="unit", columns="construct", values=value,
                                 aggfunc="mean")
    if "unit" in frame.columns:
        frame = frame.set_index("unit")
    return frame


@dataclass
class _Latest:
    """Scores, values and unit names of the latest period of a long index table."""

    scores: dict[tuple[Any, str], float]
    values: dict[tuple[Any, str], float]
    names: dict[Any, str]

    @classmethod
    def of(cls, index: pd.DataFrame) -> _Latest:
        latest = index[index["period"] == sorted(index["period"].unique())[-1]]
        keyed = latest.set_index(["unit", "indicator"])
        scored = keyed[keyed["score_0_100"].notna()]
        return cls(scored["score_0_100"].astype(float).to_dict(),
                   scored["value"].astype(float).to_dict(),
                   latest.groupby("unit")["unit_name"].first().to_dict())

    def unit_of(self, label: Any) -> Any:
        """The index unit a survey label names: by external id, else by name."""
        if label in self.names:
            return label
        return next((uid for uid, name in self.names.items() if name == label), None)


def _ranks(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame.groupby("construct")[column].rank(ascending=False, method="average")


def _sentence(row: pd.Series, evidence: list[str]) -> str:
    label = CONSTRUCT_LABELS.get(row["construct"], row["construct"].replace("_", " "))
    head = f"{row['unit_name']} rates its {label} {row['survey_score']:.0f}/100"
    records = f"the records score it {row['record_score']:.0f}/100"
    detail = ("; ".join(evidence)) if evidence else ""
    if not row["flag"]:
        text = f"{head} and the records agree ({row['record_score']:.0f}/100)"
    elif row["difference"] > 0:
        text = f"{head} but {records}"
    else:
        text = f"{head}, yet {records}"
    return f"{text}: {detail}." if detail else f"{text}."


def compare_with_survey(index: pd.DataFrame, survey_scores: pd.DataFrame,
                        mapping: Mapping[str, tuple[str, ...]] | None = None,
                        points_threshold: float = POINTS_THRESHOLD,
                        rank_threshold: int = RANK_THRESHOLD) -> pd.DataFrame:
    """Set a survey's construct scores beside the record-based indicators and flag where they
    disagree.

    Parameters
    ----------
    index : DataFrame
        The long table of :func:`record_index`. With several periods, the latest is used
        (filter it first to compare another).
    survey_scores : DataFrame
        One row per unit (external id or name, as index or ``unit`` column) and one column
        per construct on a 0-100 maturity scale; or a long table (``unit``, ``construct``,
        ``maturity``, optionally ``round``: the latest is used) such as ``aggregate_scores``
        returns.
    mapping : dict, optional
        Survey construct -> indicator names whose mean score is the record score
        (default :data:`DEFAULT_MAPPING`). Constructs absent from the survey are skipped.
    points_threshold : float
        Flag when survey and record scores differ by more than this many points (25).
    rank_threshold : int
        Flag when the unit's rank among the units differs by this many places or more (3);
        applied only when at least ``rank_threshold + 1`` units are compared.

    Returns
    -------
    pandas.DataFrame
        One row per unit and construct: ``unit``, ``unit_name``, ``construct``,
        ``indicators``, ``survey_score``, ``record_score``, ``difference`` (survey minus
        records), ``survey_rank``, ``record_rank``, ``flag``, ``flag_reason`` and
        ``sentence``.
    """
    mapping = DEFAULT_MAPPING if mapping is None else mapping
    survey = survey_wide(survey_scores).astype(float)
    latest = _Latest.of(index)
    rows = []
    for label, answers in survey.iterrows():
        uid = latest.unit_of(label)
        if uid is None:
            continue
        for construct, names in mapping.items():
            said = float(answers.get(construct, np.nan))
            if np.isnan(said):
                continue
            have = [n for n in names if (uid, n) in latest.scores]
            rows.append({
                "unit": uid, "unit_name": latest.names[uid], "construct": construct,
                "indicators": ", ".join(names), "survey_score": said,
                "record_score": float(np.mean([latest.scores[(uid, n)] for n in have]))
                if have else np.nan,
                "evidence": [BY_NAME[n].describe(latest.values[(uid, n)]) for n in have]})
    return _flag(pd.DataFrame(rows), points_threshold, rank_threshold)


def _flag(table: pd.DataFrame, points_threshold: float, rank_threshold: int) -> pd.DataFrame:
    columns = ["unit", "unit_name", "construct", "indicators", "survey_score", "record_score",
               "difference", "survey_rank", "record_rank", "flag", "flag_reason", "sentence"]
    if table.empty:
        return pd.DataFrame(columns=columns)
    table["difference"] = table["survey_score"] - table["record_score"]
    scored = table["record_score"].notna()
    table["survey_rank"] = _ranks(table.where(scored), "survey_score")
    table["record_rank"] = _ranks(table.where(scored), "record_score")
    per_construct = table[scored].groupby("construct")["unit"].transform("size")
    by_points = table["difference"].abs() > points_threshold
    by_rank = ((table["survey_rank"] - table["record_rank"]).abs() >= rank_threshold) & (
        per_construct.reindex(table.index).fillna(0) > rank_threshold)
    table["flag"] = (by_points | by_rank).astype(bool)
    table["flag_reason"] = [", ".join(r for r, on in (("points", p), ("rank", k)) if on)
                            for p, k in zip(by_points, by_rank, strict=True)]
    table["sentence"] = [
        _sentence(row, row["evidence"]) if pd.notna(row["record_score"])
        else f"{row['unit_name']}: the records hold no data for {row['construct']}."
        for _, row in table.iterrows()]
    return table[columns].reset_index(drop=True)
