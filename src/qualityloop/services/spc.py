"""Statistical process control on the records: the charts of the SPC page and ``qualityloop spc
records``, and raising a nonconformance from a chart's signal.

What is charted
---------------
- **Nonconformance rate** (u chart): nonconformances detected per month per 100 orders placed
  that month by the customers the unit serves. Orders are the work the organisation delivers,
  so the rate follows volume the way "defects per 100 units shipped" does in a plant; the u
  chart's limits widen in months with few orders. (A p chart, the share of orders with a
  nonconformance, would need nonconformances linked to orders; the records link them to
  customers, so it is not offered.)
- **Complaints** (c chart): complaints received per month. The c chart assumes a steady
  exposure; when volume changes a lot, read it together with the u chart.
- **Causes**: nonconformances of the last 12 months by 6M cause category as a Pareto table and
  as a cause-and-effect (fishbone) diagram whose causes are the recorded root causes.
- **Process characteristics**: ``ProcessMeasurement`` records of one characteristic in one unit,
  grouped by their subgroup (sample) id: an x-bar/R chart, or I-MR when every subgroup holds one
  value, with capability indices when specification limits are recorded.

Monthly charts use complete calendar months only (the month of ``as_of`` is still running) and
leave out months without orders (no exposure). Phase I estimates the limits from every point
shown; phase II takes them from the first ``baseline`` points and judges every point by them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from django.db import IntegrityError, transaction
from django.db.models import Count, QuerySet
from django.utils import timezone

from qualityloop.analytics import spc
from qualityloop.records.customers.models import Order
from qualityloop.records.organisation.models import OrgUnit
from qualityloop.records.quality.choices import (
    CauseCategory,
    LifecycleStage,
    NonconformanceSource,
    NonconformanceStatus,
    Severity,
)
from qualityloop.records.quality.models import Nonconformance, ProcessMeasurement
from qualityloop.services import permissions
from qualityloop.services.metrics import (
    _complaints,
    _daily_counts,
    _month_ends,
    _per_month,
    unit_scope,
)
from qualityloop.services.record_kinds import get_kind
from qualityloop.services.record_writer import write_record
from qualityloop.services.spc_common import capability_dict, number, phased

NC_RATE, COMPLAINTS, PARETO, FISHBONE = "nc-rate", "complaints", "pareto", "fishbone"
PROCESS_PREFIX = "m"
RULE_SETS = {"western_electric": "Western Electric", "nelson": "Nelson"}
PER_ORDERS = 100
MONTHS = 24
CAUSE_MONTHS = 12
MAX_SUBGROUPS = 100
CAUSES_PER_BONE = 4
CAUSE_TEXT = 60
NO_CAUSE = "No cause category yet"


class SpcInputError(ValueError):
    """A chart cannot be drawn from what was asked (unknown chart, too few points, no signal)."""


@dataclass(frozen=True)
class ChartSettings:
    """How a control chart is drawn.

    Attributes
    ----------
    rules : str
        ``"western_electric"`` or ``"nelson"``.
    baseline : int or None
        Phase II: limits from the first ``baseline`` points. None: phase I on every point.
    months : int
        Monthly charts: how many complete months to show.
    """

    rules: str = "western_electric"
    baseline: int | None = None
    months: int = MONTHS

    def __post_init__(self) -> None:
        if self.rules not in RULE_SETS:
            raise SpcInputError(f"rules must be one of {', '.join(RULE_SETS)}; got {self.rules!r}")
        if self.baseline is not None and self.baseline < 2:
            raise SpcInputError(f"phase II needs limits from at least 2 points; got "
                                f"{self.baseline}")
        if not 2 <= self.months <= 120:
            raise SpcInputError(f"months must be between 2 and 120; got {self.months}")


@dataclass(frozen=True)
class Signal:
    """One rule violation on a chart, with what a nonconformance raised from it needs."""

    chart_key: str
    chart_title: str
    subgroup: int  # 0-based
    label: str
    day: dt.date
    rule: str  # the rule's description, e.g. "1 point beyond 3 sigma"
    statistic: float | None
    lower_limit: float | None
    upper_limit: float | None
    unit_external_id: str | None

    @property
    def external_id(self) -> str:
        """The id of the nonconformance raised from this signal: the same chart, unit, subgroup
        and rule always give the same id, so a second click finds the first NC."""
        key = "|".join([self.chart_key, self.unit_external_id or "", self.label, self.rule])
        return "SPC-" + hashlib.sha1(key.encode()).hexdigest()[:16].upper()


@dataclass
class ChartView:
    """A control chart drawn from the records, with what the page and the CLI show around it.

    ``labels`` and ``days`` name and date each subgroup (a month, or a sample id).
    """

    key: str
    title: str
    chart: spc.ControlChart
    labels: list[str]
    days: list[dt.date]
    unit_external_id: str | None
    unit_name: str
    y_title: str
    note: str = ""
    capability: spc.Capability | None = None
    unit_of_measure: str = ""
    extra: dict[str, list[Any]] = field(default_factory=dict)

    def signals(self) -> list[Signal]:
        """Every run-rule violation of the chart and the beyond-limits points of its R or MR
        chart (run rules do not apply to ranges)."""
        table = self.chart.violations
        found = [self._signal(self.chart, int(index), str(rule)) for index, rule in
                 zip(table["subgroup"], table["description"], strict=True)]
        companion = self.chart.companion
        if companion is not None:
            name = "R chart" if companion.chart == "R" else f"{companion.chart} chart"
            found += [self._signal(companion, int(i), f"{name}: point beyond the limits")
                      for i in companion.out_of_control]
        return sorted(found, key=lambda s: (s.subgroup, s.rule))

    def _signal(self, chart: spc.ControlChart, index: int, rule: str) -> Signal:
        index = int(index)
        return Signal(
            chart_key=self.key, chart_title=self.title, subgroup=index, label=self.labels[index],
            day=self.days[index], rule=rule, statistic=number(chart.statistic[index]),
            lower_limit=number(chart.lower_limit[index]),
            upper_limit=number(chart.upper_limit[index]), unit_external_id=self.unit_external_id,
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the library's chart description plus labels, dates and signals."""
        described = self.chart.as_dict()
        for point, label, day in zip(described["points"], self.labels, self.days, strict=True):
            point["label"], point["date"] = label, day.isoformat()
            for name, values in self.extra.items():
                point[name] = values[point["subgroup"]]
        return {
            "key": self.key, "title": self.title, "unit": self.unit_external_id,
            "unit_name": self.unit_name, "y_title": self.y_title, "note": self.note,
            "chart": described,
            "signals": [{"subgroup": s.subgroup, "label": s.label, "date": s.day.isoformat(),
                         "rule": s.rule, "nonconformance_id": s.external_id}
                        for s in self.signals()],
            "capability": capability_dict(self.capability),
        }


# Monthly charts ----------------------------------------------------------------------------------


def _today(as_of: dt.date | None) -> dt.date:
    return as_of or timezone.localdate()


def _complete_month_ends(as_of: dt.date | None, months: int) -> pd.DatetimeIndex:
    last_day = _today(as_of).replace(day=1) - dt.timedelta(days=1)
    return _month_ends(last_day, months)


def _in_scope(qs: QuerySet, lookup: str, unit: OrgUnit | None) -> QuerySet:
    units = unit_scope(unit)
    return qs if units is None else qs.filter(**{f"{lookup}__in": units})


def _until(qs: QuerySet, date_field: str, month_ends: pd.DatetimeIndex) -> QuerySet:
    first = (month_ends[0].to_period("M").start_time).date()
    return qs.filter(**{f"{date_field}__gte": first, f"{date_field}__lte": month_ends[-1].date()})


def monthly_nonconformances(unit: OrgUnit | None = None, as_of: dt.date | None = None,
                            months: int = MONTHS) -> pd.DataFrame:
    """Per complete month: nonconformances detected (cancelled ones left out) and orders placed.

    Returns
    -------
    pandas.DataFrame
        ``month`` ("YYYY-MM"), ``month_end`` (date), ``nonconformances``, ``orders``.
    """
    ends = _complete_month_ends(as_of, months)
    ncs = _in_scope(Nonconformance.objects.exclude(status=NonconformanceStatus.CANCELLED),
                    "org_unit", unit)
    orders = _in_scope(Order.objects.all(), "customer__serving_unit", unit)
    return pd.DataFrame({
        "month": ends.strftime("%Y-%m"), "month_end": [d.date() for d in ends],
        "nonconformances": _per_month(_daily_counts(_until(ncs, "detected_on", ends),
                                                    "detected_on"), ends),
        "orders": _per_month(_daily_counts(_until(orders, "ordered_on", ends), "ordered_on"),
                             ends),
    })


def monthly_complaints(unit: OrgUnit | None = None, as_of: dt.date | None = None,
                       months: int = MONTHS) -> pd.DataFrame:
    """Per complete month: complaints received (``month``, ``month_end``, ``complaints``)."""
    ends = _complete_month_ends(as_of, months)
    received = _daily_counts(_until(_complaints(unit), "received_on", ends), "received_on")
    return pd.DataFrame({"month": ends.strftime("%Y-%m"), "month_end": [d.date() for d in ends],
                         "complaints": _per_month(received, ends)})


def _unit_fields(unit: OrgUnit | None) -> dict[str, Any]:
    return {"unit_external_id": unit.external_id if unit else None,
            "unit_name": unit.name if unit else "Whole organisation"}


def nc_rate_chart(unit: OrgUnit | None = None, settings: ChartSettings | None = None,
                  as_of: dt.date | None = None) -> ChartView:
    """u chart of nonconformances per 100 orders, one point per complete month with orders."""
    settings = settings or ChartSettings()
    table = monthly_nonconformances(unit, as_of, settings.months)
    kept = table[table["orders"] > 0].reset_index(drop=True)
    _need_points(len(kept), "months with orders", settings)
    chart = phased(spc.u_chart, settings, kept["nonconformances"].to_numpy(),
                   kept["orders"].to_numpy() / PER_ORDERS)
    dropped = len(table) - len(kept)
    note = (f"u chart: nonconformances detected per {PER_ORDERS} orders placed in the month. "
            + (f"{dropped} month(s) without orders left out. " if dropped else ""))
    return ChartView(
        key=NC_RATE, title="Nonconformances per 100 orders (u chart)", chart=chart,
        labels=kept["month"].tolist(), days=kept["month_end"].tolist(),
        y_title=f"NCs per {PER_ORDERS} orders", note=note.strip(),
        extra={"nonconformances": kept["nonconformances"].tolist(),
               "orders": kept["orders"].tolist()},
        **_unit_fields(unit),
    )


def complaints_chart(unit: OrgUnit | None = None, settings: ChartSettings | None = None,
                     as_of: dt.date | None = None) -> ChartView:
    """c chart of complaints received per complete month."""
    settings = settings or ChartSettings()
    table = monthly_complaints(unit, as_of, settings.months)
    _need_points(len(table), "months", settings)
    chart = phased(spc.c_chart, settings, table["complaints"].to_numpy())
    return ChartView(
        key=COMPLAINTS, title="Complaints received per month (c chart)", chart=chart,
        labels=table["month"].tolist(), days=table["month_end"].tolist(),
        y_title="Complaints", note="c chart: complaints received in each calendar month.",
        **_unit_fields(unit),
    )


def _need_points(count: int, what: str, settings: ChartSettings) -> None:
    if count < 2:
        raise SpcInputError(f"a control chart needs at least 2 points; there are {count} {what}")
    if settings.baseline is not None and settings.baseline > count:
        raise SpcInputError(f"phase II limits from the first {settings.baseline} points, but "
                            f"there are only {count} {what}")


# Causes ------------------------------------------------------------------------------------------


def _recent_ncs(unit: OrgUnit | None, as_of: dt.date | None, months: int) -> QuerySet:
    end = _today(as_of)
    start = (pd.Timestamp(end) - pd.DateOffset(months=months)).date()
    qs = Nonconformance.objects.exclude(status=NonconformanceStatus.CANCELLED)
    return _in_scope(qs, "org_unit", unit).filter(detected_on__gt=start, detected_on__lte=end)


def cause_pareto(unit: OrgUnit | None = None, as_of: dt.date | None = None,
                 months: int = CAUSE_MONTHS) -> spc.Pareto:
    """Pareto of the nonconformances of the last ``months`` by 6M cause category (those without
    a category yet are a bar of their own, so the picture does not hide them)."""
    rows = _recent_ncs(unit, as_of, months).values("cause_category").annotate(n=Count("pk"))
    labels = dict(CauseCategory.choices)
    counts = {str(labels.get(r["cause_category"], NO_CAUSE)): r["n"] for r in rows.order_by()}
    if not counts:
        raise SpcInputError(f"no nonconformances in the last {months} months to rank")
    return spc.pareto(counts)


def cause_fishbone(unit: OrgUnit | None = None, as_of: dt.date | None = None,
                   months: int = CAUSE_MONTHS) -> spc.CauseAndEffect:
    """Cause-and-effect diagram: one bone per 6M category, the most frequent recorded root causes
    of the last ``months`` on it (with how many nonconformances each explains)."""
    rows = (_recent_ncs(unit, as_of, months).exclude(cause_category="")
            .values("cause_category", "root_cause").annotate(n=Count("pk")).order_by())
    by_category: dict[str, Counter[str]] = {value: Counter() for value in CauseCategory.values}
    for row in rows:
        text = (row["root_cause"] or "").strip() or "root cause not recorded"
        by_category[row["cause_category"]][_shorten(text)] += row["n"]
    labels = dict(CauseCategory.choices)
    causes = {
        str(labels[value]): [f"{text} ({n})" for text, n in counts.most_common(CAUSES_PER_BONE)]
        for value, counts in by_category.items()
    }
    where = unit.name if unit else "whole organisation"
    return spc.cause_and_effect(f"Nonconformances, {where}, last {months} months", causes)


def _shorten(text: str) -> str:
    return text if len(text) <= CAUSE_TEXT else text[: CAUSE_TEXT - 1].rstrip() + "…"


# Process characteristics -------------------------------------------------------------------------


@dataclass(frozen=True)
class Characteristic:
    """A measured characteristic of one unit, as offered in the chart selector."""

    key: str
    name: str
    unit_external_id: str
    unit_name: str
    measurements: int


def characteristic_key(unit_pk: int, name: str) -> str:
    """The chart key of a characteristic: ``m<unit pk>:<name>``."""
    return f"{PROCESS_PREFIX}{unit_pk}:{name}"


def characteristics(unit: OrgUnit | None = None) -> list[Characteristic]:
    """The characteristics measured in ``unit`` and the units below it, by unit then name."""
    rows = (_in_scope(ProcessMeasurement.objects.all(), "org_unit", unit)
            .values("org_unit_id", "org_unit__external_id", "org_unit__name", "characteristic")
            .annotate(n=Count("pk")).order_by("org_unit__name", "characteristic"))
    return [Characteristic(characteristic_key(r["org_unit_id"], r["characteristic"]),
                           r["characteristic"], r["org_unit__external_id"], r["org_unit__name"],
                           r["n"]) for r in rows]


def process_chart(key: str, settings: ChartSettings | None = None) -> ChartView:
    """x-bar/R chart (I-MR for subgroups of one) of a characteristic, with capability when
    specification limits are recorded. Subgroups whose size differs from the most common one
    are left out (and said so in the note); the latest ``MAX_SUBGROUPS`` are charted."""
    settings = settings or ChartSettings()
    unit, name = _parse_key(key)
    frame = pd.DataFrame(list(
        ProcessMeasurement.objects.filter(org_unit=unit, characteristic=name)
        .order_by("measured_at", "pk")
        .values("subgroup", "measured_at", "value", "lsl", "usl", "unit_of_measure")))
    if frame.empty:
        raise SpcInputError(f"no measurements of {name!r} in {unit.name}")
    groups, dropped = _complete_subgroups(frame)
    _need_points(len(groups), "subgroups", settings)
    size = len(groups[0][1])
    values = np.array([g[1] for g in groups], dtype=float)
    if size == 1:
        chart = phased(spc.individuals, settings, values[:, 0])
        kind = "I-MR"
    elif size <= 25:
        chart = phased(spc.xbar_r, settings, values)
        kind = "x-bar/R"
    else:
        raise SpcInputError(f"subgroups of {size} values are too large for an x-bar/R chart "
                            f"(2 to 25); split them into smaller samples")
    lsl, usl = _latest_specs(frame)
    capability = None
    if lsl is not None or usl is not None:
        capability = spc.capability(values[:, 0] if size == 1 else values, lsl=lsl, usl=usl)
    uom = next((u for u in reversed(frame["unit_of_measure"].tolist()) if u), "")
    note = f"{kind} chart, subgroups of {size}."
    if dropped:
        note += f" {dropped} subgroup(s) of another size left out."
    return ChartView(
        key=key, title=f"{name}, {unit.name} ({kind} chart)", chart=chart,
        labels=[g[0] for g in groups], days=[g[2] for g in groups],
        unit_external_id=unit.external_id, unit_name=unit.name,
        y_title=f"{name} ({uom})" if uom else name, note=note, capability=capability,
        unit_of_measure=uom,
    )


def _parse_key(key: str) -> tuple[OrgUnit, str]:
    head, _, name = key.partition(":")
    unit = None
    if head.startswith(PROCESS_PREFIX) and head[1:].isdigit() and name:
        unit = OrgUnit.objects.filter(pk=int(head[1:])).first()
    if unit is None:
        raise SpcInputError(f"unknown chart {key!r}")
    return unit, name


def _complete_subgroups(frame: pd.DataFrame) -> tuple[list[tuple[str, list[float], dt.date]], int]:
    """(sample id, values, date of the last value) per subgroup of the most common size, in
    time order, the latest ``MAX_SUBGROUPS``; and how many subgroups were left out."""
    grouped = frame.groupby("subgroup", sort=False)
    sizes = grouped.size()
    common = int(sizes.mode().max())
    groups = [
        (str(sample), rows["value"].tolist(), timezone.localtime(rows["measured_at"].max()).date())
        for sample, rows in grouped if len(rows) == common
    ]
    return groups[-MAX_SUBGROUPS:], int((sizes != common).sum())


def _latest_specs(frame: pd.DataFrame) -> tuple[float | None, float | None]:
    last = frame.iloc[-1]
    lsl, usl = last["lsl"], last["usl"]
    return (None if pd.isna(lsl) else float(lsl)), (None if pd.isna(usl) else float(usl))


# Dispatch and signals ----------------------------------------------------------------------------


def control_chart(key: str, unit: OrgUnit | None = None, settings: ChartSettings | None = None,
                  as_of: dt.date | None = None) -> ChartView:
    """The control chart named by ``key``: ``nc-rate``, ``complaints`` or a characteristic key
    (see :func:`characteristics`)."""
    makers = {NC_RATE: lambda: nc_rate_chart(unit, settings, as_of),
              COMPLAINTS: lambda: complaints_chart(unit, settings, as_of)}
    if key.startswith(PROCESS_PREFIX):
        makers[key] = lambda: process_chart(key, settings)
    if key in makers:
        try:
            view = makers[key]()
            view.signals()  # the run rules refuse a chart without spread (all counts zero)
        except SpcInputError:
            raise
        except ValueError as problem:
            raise SpcInputError(f"cannot chart {key}: {problem}") from None
        return view
    raise SpcInputError(f"unknown chart {key!r}; expected {NC_RATE}, {COMPLAINTS} or a process "
                        "characteristic")


def find_signal(view: ChartView, subgroup: int, rule: str) -> Signal:
    """The signal of ``view`` at ``subgroup`` for ``rule``; SpcInputError if there is none."""
    for signal in view.signals():
        if signal.subgroup == subgroup and signal.rule == rule:
            return signal
    raise SpcInputError(f"the chart {view.title!r} has no signal {rule!r} at point "
                        f"{subgroup + 1}; it may have changed since the page was shown")


def existing_nonconformances(signals: list[Signal]) -> dict[str, str]:
    """External id of each signal's nonconformance that already exists -> its status label."""
    ids = [s.external_id for s in signals]
    labels = dict(NonconformanceStatus.choices)
    found = Nonconformance.objects.filter(external_id__in=ids).values_list("external_id",
                                                                          "status")
    return {external_id: str(labels.get(status, status)) for external_id, status in found}


def raise_nonconformance(user: Any, signal: Signal) -> tuple[Nonconformance, bool]:
    """Create the nonconformance for a chart signal, once.

    The nonconformance's ``external_id`` is derived from the chart, unit, subgroup and rule
    (:attr:`Signal.external_id`), so raising the same signal again returns the first one.

    Returns
    -------
    (Nonconformance, bool)
        The nonconformance and whether it was created now.

    Raises
    ------
    permissions.NotAllowed
        When the user may not create this nonconformance (a unit lead: one outside their
        unit).
    """
    kind = get_kind("nonconformances")
    permissions.check(user, kind, permissions.Action.CREATE)
    existing = Nonconformance.objects.filter(external_id=signal.external_id).first()
    if existing is not None:
        return existing, False
    data = _nonconformance_data(signal)
    permissions.check_object(user, _unsaved_nonconformance(data), permissions.Action.CREATE)
    try:
        with transaction.atomic():
            nc, _ = write_record(kind, data, history_user=user,
                                 change_reason="Raised from a control chart signal")
            permissions.check_object(user, nc, permissions.Action.CREATE)
    except IntegrityError:  # the same signal raised at the same moment by someone else
        return Nonconformance.objects.get(external_id=signal.external_id), False
    return nc, True  # type: ignore[return-value]


def _nonconformance_data(signal: Signal) -> dict[str, Any]:
    unit = signal.unit_external_id or _top_unit()
    limits = ", ".join(f"{name} {value:.4g}" for name, value in (
        ("value", signal.statistic), ("lower limit", signal.lower_limit),
        ("upper limit", signal.upper_limit)) if value is not None)
    title = f"SPC signal: {signal.chart_title}, {signal.label}: {signal.rule}"
    beyond = "beyond" in signal.rule
    return {
        "external_id": signal.external_id,
        "title": title[:200],
        "description": (f"Raised from the SPC page. Chart: {signal.chart_title}. Point "
                        f"{signal.subgroup + 1} ({signal.label}, {signal.day.isoformat()}): "
                        f"{signal.rule}. {limits}."),
        "org_unit": unit,
        "detected_on": min(signal.day, timezone.localdate()).isoformat(),
        "stage": LifecycleStage.PRODUCTION,
        "source": NonconformanceSource.PROCESS_MONITORING,
        "severity": Severity.MAJOR if beyond and "3 sigma" in signal.rule else Severity.MINOR,
    }


def _unsaved_nonconformance(data: dict[str, Any]) -> Nonconformance:
    """The nonconformance about to be raised, as the permission table judges it (by its unit)."""
    unit = OrgUnit.objects.get(external_id=data["org_unit"])
    return Nonconformance(external_id=data["external_id"], org_unit=unit)


def _top_unit() -> str:
    top = OrgUnit.objects.filter(parent__isnull=True).order_by("pk").first()
    if top is None:
        raise SpcInputError("there is no org unit to raise the nonconformance in")
    return top.external_id


def unit_by_id(external_id: str | None) -> OrgUnit | None:
    """The org unit with this external id (None for None or ""); SpcInputError if unknown."""
    if not external_id:
        return None
    unit = OrgUnit.objects.filter(external_id=external_id).first()
    if unit is None:
        raise SpcInputError(f"unknown org unit {external_id!r}")
    return unit


__all__ = [
    "COMPLAINTS", "FISHBONE", "NC_RATE", "PARETO", "RULE_SETS", "Characteristic", "ChartSettings",
    "ChartView", "Signal", "SpcInputError", "capability_dict", "cause_fishbone", "cause_pareto",
    "characteristics", "complaints_chart", "control_chart", "existing_nonconformances",
    "find_signal", "monthly_complaints", "monthly_nonconformances", "nc_rate_chart", "phased",
    "process_chart", "raise_nonconformance", "unit_by_id",
]
