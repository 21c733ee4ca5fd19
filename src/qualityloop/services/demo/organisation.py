"""The demo manufacturer's organisation and quality system: units, people, policy, strategies,
cascaded objectives with monthly measurements, training, change requests, management reviews."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from qualityloop.records.organisation.models import OrgUnit, Person
from qualityloop.records.quality import models as q
from qualityloop.services.demo.calendar import Calendar, plus_days
from qualityloop.services.demo.causal_model import N_MONTHS, World, logistic
from qualityloop.services.demo.writer import stamp

COMPANY = "Halvorsen Precision Drives"
DIVISIONS = ("Drive Systems", "Sensors & Controls")
OPERATING_UNITS = (
    ("Augsburg Plant", "site", 0), ("Brno Plant", "site", 0),
    ("Servo Motor Engineering", "department", 0), ("Gearbox Assembly", "department", 0),
    ("Eindhoven Plant", "site", 1), ("Porto Plant", "site", 1),
    ("Encoder Line", "department", 1), ("Control Electronics", "department", 1),
)
FIRST = ("Anna", "Ben", "Carla", "David", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas",
         "Katrin", "Luca", "Maja", "Nils", "Olga", "Pavel", "Rosa", "Stefan", "Tereza", "Umar",
         "Vera", "Wim", "Yara", "Zoltan")
LAST = ("Almeida", "Berg", "Novak", "de Vries", "Fischer", "Horvat", "Jansen", "Kowalski",
        "Lindqvist", "Moreau", "Nielsen", "Oliveira", "Petrov", "Rossi", "Schmidt", "Tanaka",
        "Ulrich", "Visser", "Weber", "Yilmaz")
STAFF_TITLES = ("Quality Engineer", "Production Engineer", "Design Engineer", "Operator",
                "Customer Service Representative", "Key Account Manager", "Process Technician",
                "Inspector", "Planner")
UNIT_ID_COMPANY, UNIT_ID_QUALITY = 1, 4
FIRST_OPERATING_UNIT_ID = 5

Write = Callable[[type, dict, str], int]


@dataclass
class Organisation:
    """What later builders need to know about the organisation."""

    unit_ids: np.ndarray  # database id of each operating unit
    head_of: dict[int, int]  # unit id -> person id
    people_in: dict[int, list[int]] = field(default_factory=dict)  # unit id -> person ids
    account_managers: dict[int, list[int]] = field(default_factory=dict)
    top_management: list[int] = field(default_factory=list)
    quality_people: list[int] = field(default_factory=list)
    ceo: int = 0
    quality_director: int = 0
    # (unit id, calendar year) -> that year's objective ids of the unit
    objectives_of_unit_year: dict[tuple[int, int], list[int]] = field(default_factory=dict)


def build_units(write: Write, founded, org: Organisation) -> None:
    rows = [(COMPANY, "company", None), *[(d, "division", UNIT_ID_COMPANY) for d in DIVISIONS],
            ("Quality Management", "department", UNIT_ID_COMPANY)]
    rows += [(name, kind, 2 + division) for name, kind, division in OPERATING_UNITS]
    n = len(rows)
    write(OrgUnit, {
        "id": np.arange(1, n + 1), "external_id": [f"UNIT-{i:02d}" for i in range(1, n + 1)],
        "name": [r[0] for r in rows], "kind": [r[1] for r in rows],
        "parent_id": [r[2] for r in rows], "head_id": [org.head_of.get(i) for i in range(1, n + 1)],
        "created_at": stamp(np.full(n, founded)),
    }, "Organisation")


def _add_person(units: list[int], titles: list[str], top: list[bool], unit_id: int,
                title: str, is_top: bool) -> None:
    units.append(unit_id)
    titles.append(title)
    top.append(is_top)


def build_people(rng, write: Write, founded) -> Organisation:
    """People per unit; unit heads and top management first so they get the low ids."""
    units: list[int] = []
    titles: list[str] = []
    top: list[bool] = []
    for unit_id, title in ((1, "Chief Executive Officer"), (1, "Chief Operating Officer"),
                           (2, "Division Director"), (3, "Division Director"),
                           (4, "Quality Director")):
        _add_person(units, titles, top, unit_id, title, True)
    for _ in range(3):
        _add_person(units, titles, top, UNIT_ID_QUALITY, "Quality Auditor", False)
    op_ids = np.arange(FIRST_OPERATING_UNIT_ID, FIRST_OPERATING_UNIT_ID + len(OPERATING_UNITS))
    for op_id in op_ids.tolist():
        _add_person(units, titles, top, op_id, "Unit Manager", False)
        for t in ("Key Account Manager", "Customer Service Representative", "Quality Engineer"):
            _add_person(units, titles, top, op_id, t, False)
        for t in rng.choice(STAFF_TITLES, size=int(rng.integers(6, 11))):
            _add_person(units, titles, top, op_id, str(t), False)
    n = len(units)
    ids = np.arange(1, n + 1)
    names = [f"{FIRST[i % len(FIRST)]} {LAST[(i * 7 + i // len(FIRST)) % len(LAST)]}"
             for i in range(n)]
    write(Person, {
        "id": ids, "external_id": [f"P-{i:04d}" for i in ids], "name": names,
        "email": [f"{nm.lower().replace(' ', '.')}.{i}@halvorsen.example" for nm, i in
                  zip(names, ids, strict=True)],
        "job_title": titles, "org_unit_id": units, "is_top_management": top,
        "active": True, "created_at": stamp(np.full(n, founded)),
    }, "Organisation")
    org = Organisation(unit_ids=op_ids, head_of={1: 1, 2: 3, 3: 4, 4: 5})
    for pid, unit_id, title in zip(ids.tolist(), units, titles, strict=True):
        org.people_in.setdefault(unit_id, []).append(pid)
        if title == "Unit Manager":
            org.head_of[unit_id] = pid
        if title in ("Key Account Manager", "Customer Service Representative"):
            org.account_managers.setdefault(unit_id, []).append(pid)
    org.top_management = [i for i, t in zip(ids.tolist(), top, strict=True) if t]
    org.quality_people = org.people_in[UNIT_ID_QUALITY]
    org.ceo, org.quality_director = 1, 5
    return org


def build_policy_and_strategies(write: Write, cal: Calendar, org: Organisation) -> None:
    old = cal.start - 3 * 365
    new = cal.month_start(24)
    write(q.QualityPolicy, {
        "id": [1, 2], "external_id": ["POL-1", "POL-2"],
        "title": ["Quality policy", "Quality policy: customers first, defects never"],
        "statement": [
            "We deliver drives and sensors that meet our customers' specifications.",
            "We involve our customers from the first sketch to the field, prevent defects instead "
            "of inspecting them out, train every colleague to recognise problems, and measure "
            "ourselves by whether customers stay with us.",
        ],
        "version": ["1", "2"], "status": ["retired", "approved"],
        "approved_by_id": [org.ceo, org.ceo], "approved_on": np.array([old, new]),
        "effective_from": np.array([old, new]), "created_at": stamp(np.array([old, new])),
    }, "Quality system")
    titles = ("Zero field defects through design with customers",
              "Every colleague recognises and reports problems",
              "Complaints resolved within 30 days")
    starts = np.array([cal.month_start(24)] * 3)
    write(q.QualityStrategy, {
        "id": [1, 2, 3], "external_id": ["STR-1", "STR-2", "STR-3"], "title": list(titles),
        "policy_id": [2, 2, 2], "owner_id": [org.ceo, org.quality_director, 2],
        "period_start": starts, "period_end": np.array([cal.today + 3 * 365] * 3),
        "description": ["Customer participants in every design stage review.",
                        "Problem-recognition training for all staff, refreshed every two years.",
                        "ISO 10002 complaint handling with response-time targets."],
        "created_at": stamp(starts),
    }, "Quality system")


OBJECTIVE_KPIS = (
    # title, kpi, unit of measure, direction, target, noise scale, strategy
    ("Reduce field defects", "Field defects per 1,000 customer-months", "per 1,000", "decrease",
     8.0, 3.0, 1),
    ("Deliver on time", "On-time delivery", "%", "increase", 95.0, 2.5, 1),
    ("Train everyone to recognise problems", "Problem-recognition training coverage", "%",
     "increase", 90.0, 6.0, 2),
    ("Close corrective actions on time", "CAPAs closed on time", "%", "increase", 85.0, 7.0, 3),
)


OBJECTIVE_YEARS = 5  # the current calendar year and the four before it


@dataclass(frozen=True)
class ObjectiveYear:
    """A calendar year of objectives: Jan-Dec, measured monthly up to the last full month."""

    year: int
    january: int  # window month of its January (simulation time)
    measured: int  # months with a measurement: 12 for past years, the full months so far now
    current: bool


def objective_years(cal: Calendar) -> list[ObjectiveYear]:
    """The current calendar year (the year of the demo's today) and the four before it.

    The window starts in the current month five years back, so the four past years lie in it
    whole and the current year has one measurement per full month so far (none in January).
    """
    this_year = cal.end_month.astype("datetime64[Y]")
    months_so_far = int((cal.end_month - this_year.astype("datetime64[M]")).astype(int))
    first = int(this_year.astype(int)) + 1970 - (OBJECTIVE_YEARS - 1)
    years = []
    for year in range(first, first + OBJECTIVE_YEARS):
        january = int((np.datetime64(f"{year}-01", "M") - cal.start_month).astype(int))
        current = year == first + OBJECTIVE_YEARS - 1
        years.append(ObjectiveYear(year, january, months_so_far if current else 12, current))
    return years


def build_objectives(rng, write: Write, cal: Calendar, org: Organisation, world: World) -> None:
    """Calendar-year objectives set by top management and cascaded to every operating unit; unit
    measurements are on track with probability logistic(a + b * TQM). Past years are achieved
    or missed by their December measurement; this year's are active and due on 31 December."""
    objectives: dict[str, list] = {k: [] for k in (
        "id", "external_id", "title", "kpi", "unit_of_measure", "direction", "target", "baseline",
        "parent_id", "org_unit_id", "owner_id", "strategy_id", "start_on", "due_on", "state",
        "resources", "budget")}
    measures: dict[str, list] = {k: [] for k in ("objective_id", "measured_on", "value")}
    for period in objective_years(cal):
        for kpi in OBJECTIVE_KPIS:
            _cascade_objective(rng, objectives, measures, cal, org, world, period, kpi)
    start_on = np.array(objectives["start_on"])
    write(q.QualityObjective, {**objectives, "start_on": start_on,
                               "due_on": np.array(objectives["due_on"]),
                               "created_at": stamp(start_on)}, "Objectives")
    m = len(measures["value"])
    dates = np.array(measures["measured_on"], dtype="datetime64[D]")
    write(q.ObjectiveMeasurement, {
        "id": np.arange(1, m + 1), "external_id": [f"OM-{i:06d}" for i in range(1, m + 1)],
        "objective_id": measures["objective_id"], "measured_on": dates,
        "value": np.round(measures["value"], 2).tolist(), "created_at": stamp(dates),
    }, "Objectives")


def _cascade_objective(rng, objectives, measures, cal: Calendar, org: Organisation,
                       world: World, period: ObjectiveYear, kpi: tuple) -> None:
    """One company objective for a year and its eight unit objectives, with measurements."""
    a, b = world.effects.objective_on_track
    title, kpi_name, uom, direction, target, scale, strategy = kpi
    sign = -1 if direction == "decrease" else 1
    start = cal.month_start(period.january)
    due = cal.month_start(period.january + 12) - 1
    n = period.measured
    parent = len(objectives["id"]) + 1
    _objective(objectives, parent, f"{title} ({period.year})", kpi_name, uom, direction, target,
               target - sign * scale, None, UNIT_ID_COMPANY, org.ceo, strategy, start, due)
    unit_values = []
    for u, unit_id in enumerate(org.unit_ids.tolist()):
        oid = len(objectives["id"]) + 1
        on_track = rng.random(12) < logistic(a + b * world.units.tqm[u])
        gap = np.abs(rng.normal(0, scale, 12))
        values = (target + sign * np.where(on_track, gap * 0.5, -gap))[:n]
        _objective(objectives, oid, f"{title}: {_unit_name(u)} ({period.year})", kpi_name, uom,
                   direction, target, target - sign * scale, parent, unit_id, org.head_of[unit_id],
                   strategy, start, due, met=bool(on_track[-1]), current=period.current)
        org.objectives_of_unit_year.setdefault((unit_id, period.year), []).append(oid)
        _measurements(measures, oid, cal, period, values)
        unit_values.append(values)
    mean = np.mean(unit_values, axis=0)
    objectives["state"][parent - 1] = _state(
        direction, target, mean[-1] if n else None, current=period.current)
    _measurements(measures, parent, cal, period, mean)


def _unit_name(u: int) -> str:
    return OPERATING_UNITS[u][0]


def _state(direction: str, target: float, last: float | None, current: bool) -> str:
    if current or last is None:
        return "active"
    met = last <= target if direction == "decrease" else last >= target
    return "achieved" if met else "missed"


def _objective(rows, oid, title, kpi, uom, direction, target, baseline, parent, unit, owner,
               strategy, start, due, met: bool = True, current: bool = False) -> None:
    values = dict(id=oid, external_id=f"OBJ-{oid:04d}", title=title, kpi=kpi, unit_of_measure=uom,
                  direction=direction, target=target, baseline=round(baseline, 2),
                  parent_id=parent, org_unit_id=unit, owner_id=owner, strategy_id=strategy,
                  start_on=start, due_on=due,
                  state="active" if current else ("achieved" if met else "missed"),
                  resources="Quality engineer time, measurement system" if parent is None else "",
                  budget=25000.0 if parent is None else None)
    for key, value in values.items():
        rows[key].append(value)


def _measurements(rows, oid, cal: Calendar, period: ObjectiveYear, values) -> None:
    """Month-end measurements from January on, one per value."""
    for month, value in enumerate(np.asarray(values).tolist()):
        rows["objective_id"].append(oid)
        rows["measured_on"].append(cal.month_start(period.january + month + 1) - 1)
        rows["value"].append(float(value))


COURSES = (
    ("Recognising problems at the workstation", "problem_recognition", 4.0, 24),
    ("Problem recognition for team leaders", "problem_recognition", 8.0, 24),
    ("8D problem solving", "problem_solving", 16.0, None),
    ("5 Whys and the Ishikawa diagram", "problem_solving", 4.0, None),
    ("Statistical process control basics", "quality_tools", 8.0, 36),
    ("Reading work instructions", "process", 2.0, None),
    ("ISO 9001 awareness", "qms_awareness", 2.0, 36),
    ("Machine safety", "safety", 4.0, 12),
)


def build_training(rng, write: Write, cal: Calendar, org: Organisation, world: World) -> None:
    """Courses and records; coverage and competence rise with the unit's TQM practice."""
    n_courses = len(COURSES)
    write(q.TrainingCourse, {
        "id": np.arange(1, n_courses + 1),
        "external_id": [f"COURSE-{i:02d}" for i in range(1, n_courses + 1)],
        "title": [c[0] for c in COURSES], "course_type": [c[1] for c in COURSES],
        "duration_hours": [c[2] for c in COURSES], "validity_months": [c[3] for c in COURSES],
        "created_at": stamp(np.full(n_courses, cal.start - 365)),
    }, "Training")
    fx = world.effects
    tqm_of_unit = dict(zip(org.unit_ids.tolist(), world.units.tqm.tolist(), strict=True))
    rows: dict[str, list] = {k: [] for k in ("person_id", "course_id", "month", "score",
                                             "competence_level", "validity")}
    for unit_id, people in org.people_in.items():
        tqm = tqm_of_unit.get(unit_id, 0.5)
        for person in people:
            for c, (_title, kind, _hours, validity) in enumerate(COURSES):
                a, b = fx.training_coverage if kind == "problem_recognition" else (0.8, 0.5)
                if rng.random() >= logistic(a + b * tqm):
                    continue
                month = rng.uniform(0, 24)
                while month < N_MONTHS:
                    score = float(np.clip(rng.normal(75 + 6 * tqm, 12), 20, 100))
                    level = int(np.clip(np.rint(2.3 + 0.6 * tqm + rng.normal(0, 0.7)), 1, 4))
                    for key, value in (("person_id", person), ("course_id", c + 1),
                                       ("month", month), ("score", round(score, 1)),
                                       ("competence_level", level), ("validity", validity)):
                        rows[key].append(value)
                    if validity is None:
                        break
                    month += validity + rng.uniform(-1, 3)
    n = len(rows["person_id"])
    done = cal.dates(rows["month"])
    valid_months = np.array([v if v is not None else 0 for v in rows["validity"]])
    expires = (done.astype("datetime64[M]") + valid_months).astype("datetime64[D]")
    expires[np.array([v is None for v in rows["validity"]], dtype=bool)] = np.datetime64("NaT")
    scores = np.array(rows["score"])
    write(q.TrainingRecord, {
        "id": np.arange(1, n + 1), "external_id": [f"TR-{i:05d}" for i in range(1, n + 1)],
        "person_id": rows["person_id"], "course_id": rows["course_id"], "completed_on": done,
        "score": scores, "passed": scores >= 60,
        "competence_level": np.where(scores >= 60, rows["competence_level"], 1),
        "assessed_by_id": org.quality_director, "expires_on": expires,
        "created_at": stamp(done),
    }, "Training")


CHANGE_TITLES = ("Add customer sign-off to prototype review", "New torque test fixture",
                 "Revise incoming inspection plan", "Update packaging specification",
                 "Introduce SPC on bore diameter", "Change supplier for encoder discs",
                 "Shorten complaint acknowledgement time", "New work instruction for final test")


def build_change_requests(rng, write: Write, link, cal: Calendar, org: Organisation,
                          ncs_of_unit: dict[int, list[int]]) -> None:
    rows: dict[str, list] = {k: [] for k in ("org_unit_id", "month", "title")}
    for unit_id in org.unit_ids.tolist():
        for quarter in range(N_MONTHS // 3):
            for _ in range(rng.poisson(1.2)):
                rows["org_unit_id"].append(unit_id)
                rows["month"].append(3 * quarter + rng.uniform(0, 3))
                rows["title"].append(str(rng.choice(CHANGE_TITLES)))
    n = len(rows["month"])
    months = np.array(rows["month"])
    requested = cal.dates(months)
    age = N_MONTHS - months
    approved = plus_days(requested, rng.integers(3, 20, n))
    implemented = plus_days(approved, rng.integers(10, 60, n))
    verified = plus_days(implemented, rng.integers(20, 60, n))
    status = np.select([age < 0.5, age < 1.5, age < 3, age < 5, age < 8],
                       ["submitted", "approved", "implemented", "verified", "closed"], "closed")
    rejected = rng.random(n) < 0.08
    status = np.where(rejected & (age > 1), "rejected", status)
    has_approval = np.isin(status, ["approved", "implemented", "verified", "closed"])
    nat = np.datetime64("NaT")
    write(q.ChangeRequest, {
        "id": np.arange(1, n + 1), "external_id": [f"CR-{i:04d}" for i in range(1, n + 1)],
        "title": rows["title"], "reason": "Prevent recurrence of nonconformities; see links.",
        "org_unit_id": rows["org_unit_id"],
        "requested_by_id": [org.head_of[u] for u in rows["org_unit_id"]],
        "requested_on": requested, "risk_level": rng.choice(["low", "medium", "high"], n,
                                                            p=[0.5, 0.35, 0.15]),
        "risk_assessment": "Assessed with the change risk checklist.", "status": status,
        "approver_id": [org.quality_director if a else None for a in has_approval.tolist()],
        "approved_on": np.where(has_approval, approved, nat),
        "implemented_on": np.where(np.isin(status, ["implemented", "verified", "closed"]),
                                   implemented, nat),
        "verified_on": np.where(np.isin(status, ["verified", "closed"]), verified, nat),
        "created_at": stamp(requested),
    }, "Quality system")
    left: list[int] = []
    right_nc: list[int] = []
    left_obj: list[int] = []
    right_obj: list[int] = []
    years = cal.year_of(months).tolist() if n else []
    for i in range(n):
        unit_id, year = rows["org_unit_id"][i], years[i]
        candidates = ncs_of_unit.get(unit_id, [])
        for nc in rng.choice(candidates, size=min(len(candidates), int(rng.integers(0, 3))),
                             replace=False).tolist() if candidates else []:
            left.append(i + 1)
            right_nc.append(nc)
        objectives = org.objectives_of_unit_year.get((unit_id, year), [])
        if objectives and rng.random() < 0.5:
            left_obj.append(i + 1)
            right_obj.append(int(rng.choice(objectives)))
    link(q.ChangeRequest.related_nonconformances, left, right_nc)
    link(q.ChangeRequest.related_objectives, left_obj, right_obj)


def build_management_reviews(write: Write, link, cal: Calendar, org: Organisation,
                             summaries: list[str]) -> None:
    """Twice a year; inputs quote the half-year's figures."""
    n = N_MONTHS // 6
    held = np.array([cal.month_start(6 * (i + 1)) + 14 for i in range(n)])
    status = ["closed"] * (n - 1) + ["held"]
    write(q.ManagementReview, {
        "id": np.arange(1, n + 1), "external_id": [f"MR-{i:02d}" for i in range(1, n + 1)],
        "title": [f"Management review {str(h)[:7]}" for h in held], "held_on": held,
        "chair_id": org.ceo, "status": status,
        "customer_satisfaction": summaries, "nonconformities_and_actions": summaries,
        "objectives_performance": "See the objectives pages for the cascaded targets.",
        "decisions": "Continue the design-with-customers strategy; fund training refreshers.",
        "created_at": stamp(held),
    }, "Quality system")
    attendees = sorted(set(org.top_management) | set(org.quality_people))
    left = [i for i in range(1, n + 1) for _ in attendees]
    link(q.ManagementReview.attendees, left, attendees * n)
