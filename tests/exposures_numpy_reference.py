"""The exposure table as services/exposures.py built it with numpy before the aggregation moved
into Ibis (qualityloop.analytics.exposures): the oracle that tests/test_exposures_ibis_parity.py
holds the new table to, row for row, column for column, dtype for dtype.

Kept as it was (only the imports changed); do not "improve" it, it is the reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from qualityloop.services.exposures import (
    SLOW_COMPLAINT_DAYS,
    ExposureRecords,
    _categorical,
    _fill_by_unit,
)

SAME_DAY_CHURN_STOP = 0.5
_KEY = 1 << 20


# changes ---------------------------------------------------------------------------------------

@dataclass
class Changes:
    """Dated changes of one covariate: counter steps (``delta``) or new latest values."""

    pos: np.ndarray
    day: np.ndarray
    value: np.ndarray


def _counter_changes(records: ExposureRecords) -> dict[str, Changes]:
    d, c, r = records.defects, records.complaints, records.design_reviews
    one = np.ones
    resolved = c.dropna(subset=["resolved"])
    slow = c[~(c["resolved"] - c["day"] <= SLOW_COMPLAINT_DAYS)]  # unresolved ones too
    changes = {
        "complaint_count": Changes(c["pos"].to_numpy(), c["day"].to_numpy(), one(len(c))),
        "open_complaints": Changes(
            np.concatenate([c["pos"], resolved["pos"]]),
            np.concatenate([c["day"], resolved["resolved"]]),
            np.concatenate([one(len(c)), -one(len(resolved))])),
        "slow_complaints": Changes(slow["pos"].to_numpy(),
                                   slow["day"].to_numpy() + SLOW_COMPLAINT_DAYS, one(len(slow))),
        "design_reviews": Changes(r["pos"].to_numpy(), r["day"].to_numpy(), one(len(r))),
    }
    for stage in sorted(set(d["stage"])):
        at = d[d["stage"] == stage]
        name = "field_defects" if stage == "field" else f"defects_{stage}"
        changes[name] = Changes(at["pos"].to_numpy(), at["day"].to_numpy(), one(len(at)))
    changes.setdefault("field_defects", Changes(*(np.zeros(0),) * 3))
    return changes


def _latest_changes(records: ExposureRecords) -> dict[str, Changes]:
    q, f = records.requirements, records.feedback.sort_values(["pos", "day"], kind="stable")
    changes = {"requirement": Changes(q["pos"].to_numpy(), q["day"].to_numpy(),
                                      q["value"].to_numpy())}
    for score in ("nps", "csat"):
        answered = f.dropna(subset=[score])
        changes[score] = Changes(answered["pos"].to_numpy(), answered["day"].to_numpy(),
                                 answered[score].to_numpy(dtype=float))
    changes["feedback"] = Changes(f["pos"].to_numpy(), f["day"].to_numpy(), np.ones(len(f)))
    return changes


def _next_month_start(day: np.ndarray) -> np.ndarray:
    """The first day of the calendar month after the one holding each day."""
    month = day.astype(np.int64).astype("datetime64[D]").astype("datetime64[M]")
    return (month + 1).astype("datetime64[D]").astype(np.int64).astype(float)


# the table -------------------------------------------------------------------------------------

@dataclass
class Subjects:
    """Acquisition day, follow-up length (days) and churn flag per customer position."""

    acquired: np.ndarray
    length: np.ndarray
    event: np.ndarray

    @classmethod
    def of(cls, customers: pd.DataFrame) -> Subjects:
        acquired = customers["acquired_on"].to_numpy(dtype="datetime64[D]").astype(np.int64)
        return cls(acquired.astype(float), customers["duration"].to_numpy(dtype=float),
                   customers["event"].to_numpy(dtype=np.int64))


def _relative(changes: Changes, subjects: Subjects, monthly: bool) -> Changes:
    """Changes as days since acquisition (from day 0), dropping those on or after the stop."""
    day = _next_month_start(changes.day) if monthly else changes.day
    pos = changes.pos.astype(np.int64)
    t = np.maximum(day - subjects.acquired[pos], 0.0)
    keep = ~np.isnan(t) & (t < subjects.length[pos])
    return Changes(pos[keep], t[keep], changes.value[keep])


def _month_boundaries(subjects: Subjects) -> tuple[np.ndarray, np.ndarray]:
    """(position, days since acquisition) of every month start strictly inside each follow-up."""
    first = _next_month_start(subjects.acquired)
    start_month = first.astype(np.int64).astype("datetime64[D]").astype("datetime64[M]")
    end = (subjects.acquired + subjects.length).astype(np.int64).astype("datetime64[D]")
    end_month = end.astype("datetime64[M]")
    counts = np.maximum((end_month - start_month).astype(np.int64)
                        + (end > end_month.astype("datetime64[D]")), 0)
    pos = np.repeat(np.arange(len(counts)), counts)
    step = np.arange(len(pos)) - np.repeat(np.cumsum(counts) - counts, counts)
    month = np.repeat(start_month, counts) + step
    day = month.astype("datetime64[D]").astype(np.int64).astype(float)
    return pos, day - subjects.acquired[pos]


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct integers (a plain sort: faster here than numpy's hashing ``unique``)."""
    values = np.sort(values)
    return values[np.append(True, values[1:] != values[:-1])] if len(values) else values


@dataclass
class Grid:
    """The rows: sorted (customer position, start) with each row's stop and its customer's
    first row."""

    pos: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    first_row: np.ndarray
    keys: np.ndarray

    @classmethod
    def build(cls, subjects: Subjects, splits: list[tuple[np.ndarray, np.ndarray]]) -> Grid:
        at_risk = np.flatnonzero((subjects.length > 0) | (subjects.event == 1))
        pos = np.concatenate([at_risk, *(p for p, _ in splits)]).astype(np.int64)
        start = np.concatenate([np.zeros(len(at_risk)), *(t for _, t in splits)])
        keys = _distinct(pos * _KEY + start.astype(np.int64))
        pos, start = keys // _KEY, (keys % _KEY).astype(float)
        length = np.where(subjects.length > 0, subjects.length, SAME_DAY_CHURN_STOP)
        last = np.append(pos[1:] != pos[:-1], True)
        stop = np.where(last, length[pos], np.append(start[1:], 0.0))
        first = np.append(True, last[:-1])
        first_row = np.maximum.accumulate(np.where(first, np.arange(len(pos)), 0))
        return cls(pos, start, stop, first_row, keys)


def _row_of(grid: Grid, changes: Changes) -> np.ndarray:
    return np.searchsorted(grid.keys, changes.pos * _KEY + changes.day.astype(np.int64))


def _running_total(grid: Grid, changes: Changes) -> np.ndarray:
    """A counter's value on each row: the sum of its steps up to the row, per customer."""
    steps = np.bincount(_row_of(grid, changes), weights=changes.value, minlength=len(grid.pos))
    total = np.cumsum(steps)
    before = total[grid.first_row] - steps[grid.first_row]
    return total - before


def _latest_value(grid: Grid, changes: Changes) -> np.ndarray:
    """The latest value on each row, carried forward within a customer (NaN before the first).
    Changes come in time order; the last one on a row wins."""
    n = len(grid.pos)
    value = np.full(n, np.nan)
    order = np.argsort(_row_of(grid, changes), kind="stable")
    rows, values = _row_of(grid, changes)[order], changes.value[order]
    last_on_row = np.append(rows[1:] != rows[:-1], True)[:len(rows)]
    value[rows[last_on_row]] = values[last_on_row]
    source = np.maximum.accumulate(np.where(np.isnan(value), -1, np.arange(n)))
    carried = source >= grid.first_row
    return np.where(carried, value[np.maximum(source, 0)], np.nan)


def build_exposures(records: ExposureRecords, interval: str | None = "month",
                    unit_tqm: Mapping[str, float] | None = None) -> pd.DataFrame:
    """The start/stop table from records already read (see :func:`customer_exposures`)."""
    if interval not in ("month", None):
        raise ValueError(f"interval must be 'month' or None, got {interval!r}")
    monthly = interval == "month"
    subjects = Subjects.of(records.customers)
    counters = {name: _relative(c, subjects, monthly)
                for name, c in _counter_changes(records).items()}
    latest = {name: _relative(c, subjects, monthly)
              for name, c in _latest_changes(records).items()}
    splits = [(c.pos, c.day) for c in (*counters.values(), *latest.values())]
    if monthly:
        splits.append(_month_boundaries(subjects))
    grid = Grid.build(subjects, splits)
    return _assemble(records, subjects, grid, counters, latest, unit_tqm)



def _assemble(records, subjects, grid, counters, latest, unit_tqm) -> pd.DataFrame:
    customers = records.customers
    total = {name: _running_total(grid, c) for name, c in counters.items()}
    value = {name: _latest_value(grid, c) for name, c in latest.items()}
    last = np.append(grid.pos[1:] != grid.pos[:-1], True)
    units = _categorical(customers["serving_unit"], grid.pos)
    frame = pd.DataFrame({
        "customer": _categorical(customers["customer_id"], grid.pos),
        "unit": units,
        "segment": _categorical(customers["segment"], grid.pos),
        "start": grid.start,
        "stop": grid.stop,
        "event": (last & (subjects.event[grid.pos] == 1)).astype(np.int64),
        "field_defects": total.pop("field_defects").astype(np.int64),
    })
    for name in sorted(n for n in total if n.startswith("defects_")):
        frame[name] = total.pop(name).astype(np.int64)
    frame["complaint_count"] = total["complaint_count"].astype(np.int64)
    frame["open_complaint"] = (total["open_complaints"] > 0).astype(np.int64)
    frame["slow_complaint"] = (total["slow_complaints"] > 0).astype(np.int64)
    frame["took_part_in_design"] = (total["design_reviews"] > 0).astype(np.int64)
    without = _fill_by_unit(records.designed_without_customers,
                            customers["serving_unit"].to_numpy())
    frame["designed_without_customers"] = without[grid.pos]
    frame["requirement_missed"] = (value["requirement"] == 0).astype(np.int64)
    frame["requirement_surpassed"] = (value["requirement"] == 2).astype(np.int64)
    frame["nps"] = value["nps"]
    frame["csat"] = value["csat"]
    frame["no_feedback_yet"] = np.isnan(value["feedback"]).astype(np.int64)
    tqm = pd.Series(unit_tqm, dtype=float) if unit_tqm else pd.Series(dtype=float)
    frame["unit_tqm"] = tqm.reindex(units.categories).to_numpy(dtype=float)[units.codes]
    return frame

