"""Training and competence (ISO 9001 7.2): the competence matrix of a unit, the training that
has expired or falls due, and whether trained teams raise and close more problems.

A person's standing in a course is their **latest** training record of it (by completion day):

* ``expired``: its expiry day (``expires_on``, else completion + the course's validity months)
  is before the day looked at;
* ``due``: it expires within :data:`DUE_WITHIN_DAYS` days: re-training is due;
* ``failed``: the latest attempt was not passed;
* ``current``: passed and valid; the cell shows the assessed competence level (1-4).

There is no separate training-session record: a training record is one person's attendance of a
course on a day, with the score, pass and assessed competence.

Training effectiveness compares units, using the record-based TQM indicators
(:mod:`qualityloop.services.tqm_index`) so that "coverage" and "CAPA on time" mean here what
they mean in the index: problem-recognition coverage against nonconformances raised per person
and corrective actions completed on time. Units differ in more than training, so this is an
association, not an effect of training.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from dateutil.relativedelta import relativedelta
from django.utils import timezone

from qualityloop.records.organisation.models import OrgUnit, Person
from qualityloop.records.quality.choices import CompetenceLevel, CourseType
from qualityloop.records.quality.models import Nonconformance, TrainingCourse, TrainingRecord
from qualityloop.services.attention import TRAINING_HORIZON_DAYS

# The dashboard's "training expiring" horizon, so both lists agree on what is due.
DUE_WITHIN_DAYS = TRAINING_HORIZON_DAYS
STATES = ("current", "due", "expired", "failed", "none")
STATE_LABELS = {
    "current": "Passed and current (competence level shown)",
    "due": f"Re-training due within {DUE_WITHIN_DAYS} days",
    "expired": "Expired: re-training overdue",
    "failed": "Latest attempt not passed",
    "none": "Not trained",
}


@dataclass(frozen=True)
class Cell:
    """One person's standing in one course."""

    state: str
    level: int | None = None
    completed_on: dt.date | None = None
    valid_until: dt.date | None = None
    record_id: str = ""

    @property
    def text(self) -> str:
        """What the matrix cell shows: the competence level, or a short word."""
        if self.state in ("current", "due") and self.level:
            return str(self.level)
        return {"current": "✓", "due": "due", "expired": "exp.", "failed": "✗", "none": ""}[
            self.state]

    @property
    def title(self) -> str:
        """The cell's tooltip."""
        if self.state == "none":
            return STATE_LABELS["none"]
        parts = [STATE_LABELS[self.state], f"completed {self.completed_on}"]
        if self.level:
            parts.append(CompetenceLevel(self.level).label)
        if self.valid_until:
            parts.append(f"valid until {self.valid_until}")
        return "; ".join(parts)


@dataclass
class Matrix:
    """People (rows) x courses (columns) of a unit, with a standing per cell."""

    unit: OrgUnit | None
    as_of: dt.date
    people: list[Person]
    courses: list[TrainingCourse]
    cells: dict[tuple[int, int], Cell] = field(default_factory=dict)

    def cell(self, person: Person, course: TrainingCourse) -> Cell:
        return self.cells.get((person.pk, course.pk), Cell("none"))

    def rows(self) -> list[dict[str, Any]]:
        """One row per person: the person and their cell in each course, in course order."""
        return [{"person": p, "cells": [self.cell(p, c) for c in self.courses]}
                for p in self.people]

    def counts(self) -> dict[str, int]:
        """How many cells are in each state."""
        found = dict.fromkeys(STATES, 0)
        for row in self.rows():
            for one in row["cells"]:
                found[one.state] += 1
        return found


def valid_until(record: TrainingRecord | dict[str, Any],
                validity_months: int | None = None) -> dt.date | None:
    """The last day a training record counts: ``expires_on``, else completion + the course's
    validity months, else never (None)."""
    get = record.get if isinstance(record, dict) else lambda name: getattr(record, name)
    if get("expires_on"):
        return get("expires_on")
    if validity_months:
        return get("completed_on") + relativedelta(months=int(validity_months))
    return None


def standing(record: dict[str, Any], as_of: dt.date) -> Cell:
    """The standing a person's latest record of a course gives on ``as_of``."""
    until = valid_until(record, record.get("course__validity_months"))
    if not record["passed"]:
        state = "failed"
    elif until is not None and until < as_of:
        state = "expired"
    elif until is not None and until <= as_of + dt.timedelta(days=DUE_WITHIN_DAYS):
        state = "due"
    else:
        state = "current"
    return Cell(state, record["competence_level"], record["completed_on"], until,
                record["external_id"])


def unit_people(unit: OrgUnit | None) -> list[Person]:
    """Active people of the unit and the units below it (everyone when ``unit`` is None)."""
    people = Person.objects.filter(active=True).select_related("org_unit")
    if unit is not None:
        people = people.filter(org_unit__in=[unit, *unit.descendants()])
    return list(people.order_by("org_unit__name", "name"))


def _latest_records(people: list[Person],
                    as_of: dt.date) -> dict[tuple[int, int], dict[str, Any]]:
    """Each person's latest record of each course completed by ``as_of``."""
    latest: dict[tuple[int, int], dict[str, Any]] = {}
    records = TrainingRecord.objects.filter(
        person__in=people, completed_on__lte=as_of).order_by("completed_on", "pk").values(
        "external_id", "person_id", "course_id", "completed_on", "passed", "competence_level",
        "expires_on", "course__validity_months")
    for record in records:
        latest[(record["person_id"], record["course_id"])] = dict(record)
    return latest


def competence_matrix(unit: OrgUnit | None, as_of: dt.date | None = None) -> Matrix:
    """The competence matrix of a unit (and the units below it) on ``as_of`` (default today).

    Returns
    -------
    Matrix
        Rows are the unit's active people, columns every course (problem recognition first);
        a cell is the person's standing from their latest record of the course.
    """
    day = as_of or timezone.localdate()
    people = unit_people(unit)
    order = {value: i for i, value in enumerate(CourseType.values)}
    courses = sorted(TrainingCourse.objects.all(),
                     key=lambda c: (order.get(c.course_type, len(order)), c.title))
    cells = {key: standing(record, day) for key, record in _latest_records(people, day).items()}
    return Matrix(unit, day, people, courses, cells)


def due_list(unit: OrgUnit | None, as_of: dt.date | None = None,
             within_days: int = DUE_WITHIN_DAYS) -> list[dict[str, Any]]:
    """Training that has expired or expires within ``within_days``: one row per person and
    course (from their latest record), soonest first.

    Rows have ``person``, ``course``, ``record``, ``valid_until``, ``days_left`` (negative when
    expired) and ``state`` (``expired`` or ``due``).
    """
    day = as_of or timezone.localdate()
    people = {p.pk: p for p in unit_people(unit)}
    courses = {c.pk: c for c in TrainingCourse.objects.all()}
    rows = []
    for (person_id, course_id), record in _latest_records(list(people.values()), day).items():
        if not record["passed"]:
            continue
        until = valid_until(record, record["course__validity_months"])
        if until is None or until > day + dt.timedelta(days=within_days):
            continue
        rows.append({"person": people[person_id], "course": courses[course_id],
                     "record": record["external_id"], "valid_until": until,
                     "days_left": (until - day).days,
                     "state": "expired" if until < day else "due"})
    return sorted(rows, key=lambda r: (r["valid_until"], r["person"].name))


def coverage(people: list[Person], day: dt.date) -> float:
    """Share of ``people`` holding a passed problem-recognition record completed by ``day`` and
    valid on it (the TQM index's definition); NaN without people."""
    if not people:
        return float("nan")
    records = TrainingRecord.objects.filter(
        person__in=people, course__course_type=CourseType.PROBLEM_RECOGNITION, passed=True,
        completed_on__lte=day).values("person_id", "completed_on", "expires_on",
                                      "course__validity_months")
    holders = {r["person_id"] for r in records
               if (until := valid_until(dict(r), r["course__validity_months"])) is None
               or until >= day}
    return len(holders) / len(people)


# Training effectiveness ---------------------------------------------------------------------


def effectiveness(as_of: dt.date | None = None) -> pd.DataFrame:
    """Per unit, for the calendar year to ``as_of``: problem-recognition coverage against
    problems raised and closed on time.

    ``coverage`` and ``capa_on_time`` are the TQM index's indicators
    (``problem_recognition_training``, ``capa_on_time``) for the year, so they are the same
    numbers there; ``people`` is the coverage's denominator (people of the unit and the units
    below it); ``ncs_raised`` counts the nonconformances of those units detected in the year up
    to ``as_of`` and ``ncs_per_person`` divides it by ``people``.

    Returns
    -------
    pandas.DataFrame
        ``unit`` (external id), ``unit_name``, ``period``, ``people``, ``coverage``,
        ``ncs_raised``, ``ncs_per_person``, ``capa_on_time`` (NaN when nothing was due).
    """
    from qualityloop.services import tqm_index

    day = as_of or timezone.localdate()
    index = tqm_index.record_index("year", as_of=day)
    index = index[index["period"] == str(day.year)]
    wide = index.pivot(index=["unit", "unit_name"], columns="indicator", values="value")
    people = index[index["indicator"] == "problem_recognition_training"].set_index(
        ["unit", "unit_name"])["denominator"]
    rows = []
    for key, values in wide.iterrows():
        unit_id, name = str(key[0]), str(key[1])  # type: ignore[index]
        unit = OrgUnit.objects.get(external_id=unit_id)
        raised = Nonconformance.objects.filter(
            org_unit__in=[unit, *unit.descendants()], detected_on__gte=dt.date(day.year, 1, 1),
            detected_on__lte=day).count()
        headcount = float(people.get((unit_id, name), np.nan))
        rows.append({"unit": unit_id, "unit_name": name, "period": str(day.year),
                     "people": headcount,
                     "coverage": values.get("problem_recognition_training", np.nan),
                     "ncs_raised": raised,
                     "ncs_per_person": raised / headcount if headcount else np.nan,
                     "capa_on_time": values.get("capa_on_time", np.nan)})
    return pd.DataFrame(rows, columns=["unit", "unit_name", "period", "people", "coverage",
                                       "ncs_raised", "ncs_per_person", "capa_on_time"])


@dataclass(frozen=True)
class Association:
    """How two unit-level figures go together: Spearman's rank correlation and its p-value."""

    x: str
    y: str
    n: int
    rho: float
    p_value: float

    def sentence(self) -> str:
        """The association in words, with the caveat."""
        if self.n < 3 or np.isnan(self.rho):
            return f"Too few units ({self.n}) to judge how {self.x} and {self.y} go together."
        direction = "higher" if self.rho > 0 else "lower"
        return (f"Across {self.n} units, those with more {self.x} tend to have {direction} "
                f"{self.y} (Spearman rho {self.rho:+.2f}, {_p_text(self.p_value)}). This is an "
                "association between units, not proof that training caused it: units also "
                "differ in work, size and management.")


def _p_text(p_value: float) -> str:
    return "p < 0.01" if p_value < 0.01 else f"p = {p_value:.2f}"


def associations(table: pd.DataFrame) -> list[Association]:
    """Spearman correlations of coverage with NCs raised per person and with CAPA on time."""
    from scipy.stats import spearmanr

    found = []
    for column, words in (("ncs_per_person", "nonconformances raised per person"),
                          ("capa_on_time", "corrective actions completed on time")):
        pair = table[["coverage", column]].dropna()
        if len(pair) >= 3 and pair["coverage"].nunique() > 1 and pair[column].nunique() > 1:
            result = spearmanr(pair["coverage"], pair[column])
            rho, p = float(result.statistic), float(result.pvalue)
        else:
            rho, p = float("nan"), float("nan")
        found.append(Association("problem-recognition coverage", words, len(pair), rho, p))
    return found
