"""``qualityloop demo``: a fictional manufacturer generated from a documented causal model.

The simulation (``causal_model``) is pure numpy; the builders turn it into record tables and the
writer bulk-loads them in one transaction. See ``docs/demo-model.md`` for the equations.
"""

from __future__ import annotations

import datetime as dt
import gc
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from qualityloop.services.demo import customer_side, organisation, process, survey
from qualityloop.services.demo.calendar import Calendar
from qualityloop.services.demo.causal_model import Effects, World, simulate
from qualityloop.services.demo.writer import (
    insert_link_history,
    insert_links,
    insert_with_history,
    reset_sequences,
    wipe_records,
)

DEMO_LOGIN = ("demo", "demo-quality-2026")
VIEWER_LOGIN = ("viewer", "viewer-quality-2026")
ROLE_LOGINS = (("quality", "quality-manager", "quality-demo-2026"),
               ("lead", "unit-lead", "lead-demo-2026"),
               ("staff", "staff", "staff-demo-2026"))
"""Demo users for trying each role: (username, role, password); see docs/roles.md."""
Progress = Callable[[str, float, float], None]


@dataclass
class DemoSummary:
    """What ``generate_demo`` made: row counts per record kind, time taken, logins, true effects."""

    counts: dict[str, int]
    seconds: float
    seed: int
    effects: dict
    login: dict[str, str] = field(default_factory=dict)
    viewer_login: dict[str, str] = field(default_factory=dict)
    role_logins: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"counts": self.counts, "seconds": round(self.seconds, 2), "login": self.login,
                "viewer_login": self.viewer_login, "role_logins": self.role_logins,
                "seed": self.seed, "effects": self.effects}


class _Loader:
    """Writes tables, counts rows per record kind and reports progress per step."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress or (lambda step, done, total: None)
        self.counts: dict[str, int] = {}

    def write(self, model, columns: dict, step: str) -> int:
        def report(done: int, total: int) -> None:
            self.progress(step, done, total)

        n = insert_with_history(model, columns, progress=report)
        self.counts[model._meta.label] = self.counts.get(model._meta.label, 0) + n
        return n

    def link(self, m2m_field, left, right) -> int:
        f = m2m_field.field
        left_ids, right_ids = np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64)
        n = insert_links(f.remote_field.through, f.m2m_field_name(), f.m2m_reverse_field_name(),
                         left_ids, right_ids)
        insert_link_history(f, left_ids, right_ids)
        return n


def generate_demo(
    n_customers: int = 2000, seed: int = 7, progress: Progress | None = None,
    as_of: dt.date | None = None,
) -> DemoSummary:
    """Create or refresh the demo organisation: wipe the record tables, simulate, bulk-load.

    Parameters
    ----------
    n_customers
        Number of customers to simulate (orders scale with it: about 35 per customer).
    seed
        Random seed; the same seed and ``as_of`` give the same data.
    progress
        Called as ``progress(step, done, total)`` while it works.
    as_of
        The demo's "today" (default: the real today). The five simulated years end at the start
        of this month.

    Returns
    -------
    DemoSummary
        Counts per record kind, seconds taken, the demo logins and the true effect sizes.
    """
    started = time.perf_counter()
    loader = _Loader(progress)
    loader.progress("Simulating customers", 0, 1)
    world = simulate(n_customers, seed)
    loader.progress("Simulating customers", 1, 1)
    today = as_of or dt.date.today()
    cal = Calendar(today)
    rng = np.random.default_rng([seed, 1])
    with _no_gc(), _fast_sqlite(), transaction.atomic():
        loader.progress("Clearing old records", 0, 1)
        wipe_records()
        loader.progress("Clearing old records", 1, 1)
        _build_all(rng, loader, cal, world, np.datetime64(today, "D"))
        reset_sequences()
    login = _create_users()
    return DemoSummary(counts=_kind_counts(loader.counts), seconds=time.perf_counter() - started,
                       seed=seed, effects=_effects_summary(world), login=login[0],
                       viewer_login=login[1], role_logins=_create_role_users())


def _build_all(rng, loader: _Loader, cal: Calendar, world: World, today: np.datetime64) -> None:
    write, link = loader.write, loader.link
    founded = cal.start - 5 * 365
    org = organisation.build_people(rng, write, founded)
    organisation.build_units(write, founded, org)
    organisation.build_policy_and_strategies(write, cal, org)
    organisation.build_objectives(rng, write, cal, org, world)
    organisation.build_training(rng, write, cal, org, world)
    customer_side.build_customers(rng, write, cal, org, world)
    customer_side.build_requirements(rng, write, cal, world)
    customer_side.build_orders(write, cal, world)
    customer_side.build_feedback(write, cal, world)
    kept = customer_side.build_complaints(rng, write, cal, org, world)
    ncs = customer_side.Nonconformances()
    customer_side.build_design(rng, write, link, cal, org, world, ncs)
    customer_side.add_internal_ncs(rng, world, org, ncs)
    customer_side.add_field_ncs(rng, world, org, ncs, kept)
    ncs_by_unit = customer_side.write_nonconformances(rng, write, link, cal, org, world, ncs,
                                                       today)
    organisation.build_change_requests(rng, write, link, cal, org, ncs_by_unit)
    organisation.build_management_reviews(write, link, cal, org, _review_inputs(cal, world))
    survey.build_survey_rounds(rng, write, link, cal, org, world)
    process.build_process_measurements(rng, write, cal, org, world)


def _review_inputs(cal: Calendar, world: World) -> list[str]:
    """Half-year figures quoted in each management review's inputs."""
    c = world.customers
    texts = []
    for half in range(len(range(0, 60, 6))):
        lo, hi = 6 * half, 6 * half + 6
        churned = int(((c.ended >= lo) & (c.ended < hi) & c.churned).sum())
        defects = int(((world.field_defects["time"] >= lo) & (world.field_defects["time"] < hi))
                      .sum())
        complaints = int(((world.complaints["time"] >= lo) & (world.complaints["time"] < hi))
                         .sum())
        texts.append(f"Last six months: {defects} field defects reached customers, "
                     f"{complaints} complaints received, {churned} customers lost.")
    return texts


def _kind_counts(by_label: dict[str, int]) -> dict[str, int]:
    from qualityloop.services.record_kinds import KINDS

    return {kind.name: by_label.get(kind.model._meta.label, 0) for kind in KINDS}


def _effects_summary(world: World) -> dict:
    fx: Effects = world.effects
    return {
        "churn_hazard_ratios": {
            "per_field_defect": fx.hr_field_defect,
            "unresolved_complaint": fx.hr_open_complaint,
            "slow_complaint_resolution": fx.hr_slow_resolution,
            "no_customer_involvement_in_design": fx.hr_no_design_involvement,
            "requirement_missed": fx.hr_requirement_missed,
            "requirement_surpassed": fx.hr_requirement_surpassed,
            "segment": fx.hr_segment,
        },
        "baseline_hazard": {"weibull_scale_per_month": fx.weibull_scale,
                            "weibull_shape": fx.weibull_shape},
        "unit_tqm_practice": {name: round(float(q), 3) for (name, _k, _d), q in
                              zip(organisation.OPERATING_UNITS, world.units.tqm, strict=True)},
        "parameters": fx.as_dict(),
    }


def _create_users() -> tuple[dict, dict]:
    from qualityloop.services.users import add_user

    User = get_user_model()
    User.objects.filter(username__in=[DEMO_LOGIN[0], VIEWER_LOGIN[0]]).delete()
    add_user(DEMO_LOGIN[0], "admin", password=DEMO_LOGIN[1])
    add_user(VIEWER_LOGIN[0], "viewer", password=VIEWER_LOGIN[1])
    return ({"username": DEMO_LOGIN[0], "password": DEMO_LOGIN[1]},
            {"username": VIEWER_LOGIN[0], "password": VIEWER_LOGIN[1]})


def _create_role_users() -> list[dict[str, str]]:
    """A quality manager (the Quality Director's login), a unit lead of the first operating unit
    (its Unit Manager's login) and a staff member of that unit who owns the most corrective
    actions there (their login), so each role can be tried on real records."""
    from django.db.models import Count

    from qualityloop.records.accounts.models import Profile
    from qualityloop.records.organisation.models import OrgUnit, Person
    from qualityloop.records.quality.models import CorrectiveAction
    from qualityloop.services.users import add_user

    unit = OrgUnit.objects.get(pk=organisation.FIRST_OPERATING_UNIT_ID)
    lead = Person.objects.filter(org_unit=unit, job_title="Unit Manager").first()
    busiest = (CorrectiveAction.objects.filter(nonconformance__org_unit=unit, owner__org_unit=unit)
               .exclude(owner=lead).values("owner").annotate(n=Count("pk")).order_by("-n", "owner")
               .first())
    people = {"quality-manager": Person.objects.filter(job_title="Quality Director").first(),
              "unit-lead": lead,
              "staff": Person.objects.filter(pk=busiest["owner"]).first() if busiest else None}
    get_user_model().objects.filter(username__in=[name for name, _r, _p in ROLE_LOGINS]).delete()
    logins = []
    for username, role, password in ROLE_LOGINS:
        add_user(username, role, password=password)
        user = get_user_model().objects.get(username=username)
        if role == "unit-lead":
            Profile.objects.filter(user=user).update(org_unit=unit)
        person = people[role]
        if person is not None:
            Person.objects.filter(pk=person.pk).update(user=user)
        logins.append({"username": username, "password": password, "role": role,
                       "person": person.external_id if person else "",
                       "unit": unit.external_id if role == "unit-lead" else ""})
    return logins


@contextmanager
def _no_gc():
    """The load allocates millions of short-lived tuples and nothing cyclic; the cyclic garbage
    collector would only rescan them again and again."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def _fast_sqlite():
    """On SQLite, load without fsync, without the write-ahead log and with a large page cache:
    a refresh regenerates everything, so crash safety during the load buys nothing."""
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode=MEMORY")
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute("PRAGMA cache_size=-262144")  # 256 MiB
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size=-2000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA journal_mode=WAL")
