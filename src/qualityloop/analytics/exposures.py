"""Time-varying covariates in counting-process (start/stop) form, as Ibis expressions.

A Cox model with time-varying covariates wants one row per subject and stretch of time over
which the covariates stay the same: ``(start, stop]`` in days since the subject's entry, the
covariates holding on it, and ``event`` = 1 on the row that ends with the event. This module
builds that table from two inputs:

- **subjects**: one row per subject with its entry date, how many days it was followed and
  whether the follow-up ended with the event;
- **changes**: a long table of dated changes, one row per subject, day and covariate. A
  *counter* covariate adds up its values (a defect: +1; a complaint opened +1, resolved -1);
  a *latest* covariate holds its most recent value (a survey score), NaN before the first.

Everything is one Ibis expression, so it runs where the data lives: DuckDB for DataFrames by
default, Spark with ``QUALITYLOOP_ENGINE=pyspark`` or for a PySpark table. Days are whole days;
the arithmetic is on integers and the results are the same on every backend.

How: the changes are summed per subject and row start; running sums and carried-forward values
are windows over those change rows only (a carried value is the one of the last change row
that set it, found by a window maximum and a join: a last-value ignoring NULLs compiles
differently per backend); each change row then stops at the next one (a lead), and with
``interval="month"`` the month starts inside its stretch are generated from it with their
covariates copied (``range`` + ``unnest``), so the millions of month rows need no window, join
or grouping of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from qualityloop.analytics import engine
from qualityloop.analytics.validation import require_table_columns

SAME_DAY_EVENT_STOP = 0.5  # a subject with the event on its entry day is at risk for half a day
INTERVALS = ("month", None)


def counting_process(subjects: Any, changes: Any, *, counters: Sequence[str] = (),
                     latest: Sequence[str] = (), interval: str | None = "month",
                     subject: str = "customer_id", entry: str = "acquired_on",
                     duration: str = "duration", event: str = "event") -> pd.DataFrame:
    """The start/stop table of subjects and their dated covariate changes, as a DataFrame.

    Rules:

    - Time is in days since the subject's entry; a row covers ``(start, stop]``. Rows split at
      every day on which a covariate changes (with ``interval="month"``: also at every
      calendar month start), and the last row stops at the subject's ``duration``.
    - A change dated day ``d`` holds from ``d`` on. Changes dated before the entry count from
      day 0; changes on or after the stop (the event day, or the end of the follow-up) are
      left out: a change on the event day does not explain the event.
    - ``interval="month"``: a change counts from the first day of the month after its own
      (covariates known at each month start hold for the month, as in a monthly discrete-time
      model); ``interval=None``: from its own day.
    - A subject followed for 0 days with the event gets one row ``(0, 0.5]``; one followed
      for 0 days without it gets none (never at risk).
    - Several changes of a *latest* covariate on one row: the one with the latest day wins,
      then the greatest ``order`` (a column of ``changes``, optional), then the greatest value.

    Parameters
    ----------
    subjects : pandas.DataFrame, polars.DataFrame or ibis.Table
        One row per subject: ``subject`` (a sortable key), ``entry`` (date, timestamp or an
        integer day number since 1970-01-01), ``duration`` (whole days followed, >= 0) and
        ``event`` (1 if the follow-up ended with the event, else 0).
    changes : pandas.DataFrame, polars.DataFrame or ibis.Table
        One row per change: ``subject``, ``day`` (date, timestamp or integer day number),
        ``covariate`` (a name from ``counters`` or ``latest``; other names are ignored),
        ``value`` (number) and optionally ``order``. An Ibis table must be on the same backend
        as ``subjects``.
    counters : sequence of str
        Covariates that add up their values: on each row, the sum of the values dated up to
        the row's start (0 before the first).
    latest : sequence of str
        Covariates that hold their most recent value (NaN before the first).
    interval : {"month", None}, default "month"
        See above.
    subject, entry, duration, event : str
        Column names in ``subjects`` (``subject`` names the subject in ``changes`` too).

    Returns
    -------
    pandas.DataFrame
        ``subject``, ``start``, ``stop`` (floats, days since entry), ``event`` (int64), one
        float column per counter, then one per latest covariate; ordered by subject and start.

    Examples
    --------
    >>> import pandas as pd
    >>> subjects = pd.DataFrame({"customer_id": [1], "acquired_on": pd.to_datetime(["2024-01-10"]),
    ...                          "duration": [60], "event": [1]})
    >>> changes = pd.DataFrame({"customer_id": [1, 1], "covariate": ["defects", "nps"],
    ...                         "day": pd.to_datetime(["2024-01-20", "2024-02-01"]),
    ...                         "value": [1.0, 7.0]})
    >>> counting_process(subjects, changes, counters=["defects"], latest=["nps"],
    ...                  interval=None)
       customer_id  start  stop  event  defects  nps
    0            1    0.0  10.0      0      0.0  NaN
    1            1   10.0  22.0      0      1.0  NaN
    2            1   22.0  60.0      1      1.0  7.0
    """
    expr = counting_process_expr(subjects, changes, counters=counters, latest=latest,
                                 interval=interval, subject=subject, entry=entry,
                                 duration=duration, event=event)
    return engine.execute_arrow(expr).to_pandas()


def counting_process_expr(subjects: Any, changes: Any, *, counters: Sequence[str] = (),
                          latest: Sequence[str] = (), interval: str | None = "month",
                          subject: str = "customer_id", entry: str = "acquired_on",
                          duration: str = "duration", event: str = "event") -> ir.Table:
    """The expression behind :func:`counting_process`, not run: to write the table where it
    is built (a Spark table of millions of rows) rather than bring it into pandas.

    Parameters and columns as in :func:`counting_process`.
    """
    if interval not in INTERVALS:
        raise ValueError(f"interval must be 'month' or None, got {interval!r}")
    names = [*counters, *latest]
    if len(set(names)) != len(names) or {subject, "start", "stop", "event"} & set(names):
        raise ValueError(f"covariate names must be distinct and not {subject!r}, 'start', "
                         f"'stop' or 'event'; got {names}")
    people = _subjects_table(subjects, subject, entry, duration, event)
    moves = _changes_table(changes, subject, names)
    monthly = interval == "month"
    steps = _relative_changes(people, moves, monthly)
    so_far = _running(_steps_per_row(steps, counters, latest), counters, latest)
    rows = _change_rows(people, so_far, counters, latest)
    parts = [_first_stretch(rows, monthly)]
    if monthly:
        parts.append(_month_rows(rows))
    return _finished(ibis.union(*parts, distinct=False), counters, latest, subject)


# inputs ----------------------------------------------------------------------------------------

def _day_number(value: ir.Value) -> ir.IntegerValue:
    """Days since 1970-01-01 of a date, a timestamp (its date) or an integer day number."""
    kind = value.type()
    if kind.is_integer():
        return value.cast("int64")
    if kind.is_timestamp():
        value = value.date()
    return value.epoch_days().cast("int64")


def _require_days(table: ir.Table, column: str, what: str) -> None:
    kind = table.schema()[column]
    if not (kind.is_date() or kind.is_timestamp() or kind.is_integer()):
        raise ValueError(f"column {column!r} of {what} must hold dates, timestamps or integer "
                         f"day numbers; it holds {kind}")


def _subjects_table(subjects: Any, subject: str, entry: str, duration: str,
                    event: str) -> ir.Table:
    table = engine.to_table(subjects)
    require_table_columns(table, {subject: None, entry: None, duration: "numeric",
                                  event: "numeric"}, what="subjects")
    _require_days(table, entry, "subjects")
    return table.select(
        subject=table[subject], entry=_day_number(table[entry]),
        length=table[duration].cast("float64"), event=table[event].cast("int64"))


def _changes_table(changes: Any, subject: str, names: list[str]) -> ir.Table:
    table = engine.to_table(changes)
    require_table_columns(table, {subject: None, "day": None, "covariate": None,
                                  "value": "numeric"}, what="changes")
    _require_days(table, "day", "changes")
    order = table["order"].cast("int64") if "order" in table.columns else ibis.literal(0)
    table = table.filter(table["day"].notnull() & table["covariate"].isin(names or [""]))
    return table.select(subject=table[subject], day=_day_number(table["day"]),
                        covariate=table["covariate"], value=table["value"].cast("float64"),
                        order=order)


# calendar --------------------------------------------------------------------------------------

_EPOCH = ibis.date(1970, 1, 1)


def _month_index(day: ir.IntegerValue) -> ir.IntegerValue:
    """Months since January of year 0 of a day number (its calendar month)."""
    date = _EPOCH + day.as_interval("D")
    return date.year().cast("int64") * 12 + date.month().cast("int64") - 1


def _month_start(index: ir.IntegerValue) -> ir.IntegerValue:
    """Day number of the first day of the month with this :func:`_month_index`."""
    return ibis.date(index // 12, index % 12 + 1, 1).epoch_days().cast("int64")


# the table -------------------------------------------------------------------------------------

def _relative_changes(people: ir.Table, moves: ir.Table, monthly: bool) -> ir.Table:
    """Changes in days since entry (from day 0), without those on or after the stop."""
    joined = moves.inner_join(people, moves.subject == people.subject)
    day = _month_start(_month_index(joined.day) + 1) if monthly else joined.day
    start = ibis.greatest(day - joined.entry, 0)
    relative = joined.select(subject=joined.subject, start=start, covariate=joined.covariate,
                             value=joined.value, day=joined.day, order=joined.order,
                             length=joined.length)
    return relative.filter(relative.start < relative.length).drop("length")


def _steps_per_row(steps: ir.Table, counters: Sequence[str], latest: Sequence[str]) -> ir.Table:
    """Per subject and row start, one column per covariate: the counters' summed steps, the
    latest covariates' last value on that row (NULL where nothing changed)."""
    last_first = ibis.row_number().over(
        group_by=[steps.subject, steps.start, steps.covariate],
        order_by=[steps.day.desc(), steps.order.desc(), steps.value.desc()])
    ranked = steps.mutate(rank=last_first)
    kept = ranked.filter(ranked.covariate.isin(list(counters) or [""]) | (ranked.rank == 0))
    sums = {name: kept.value.sum(where=kept.covariate == name) for name in counters}
    values = {name: kept.value.max(where=kept.covariate == name) for name in latest}
    return kept.group_by(["subject", "start"]).aggregate(**sums, **values)


def _running(steps: ir.Table, counters: Sequence[str], latest: Sequence[str]) -> ir.Table:
    """On each row start with a change: the counters' running sums and the latest values so
    far (NULL before the first). Computed on these rows only: the month rows copy them."""
    so_far = ibis.window(group_by=steps.subject, order_by=steps.start, rows=(None, 0))
    totals = {name: steps[name].sum().over(so_far).fill_null(0) for name in counters}
    # A latest value is carried forward as the start of the last row so far that set one,
    # then looked up: plain window maxima and joins, fast everywhere and the same on every
    # backend (a last-value ignoring NULLs compiles differently on each).
    set_on = {f"_set_on_{name}": ibis.ifelse(steps[name].notnull(), steps.start, None)
              .max().over(so_far) for name in latest}
    table = steps.mutate(**totals, **set_on).drop(*latest)
    for name in latest:
        table = _look_up(table, steps, name)
    return table


def _change_rows(people: ir.Table, so_far: ir.Table, counters: Sequence[str],
                 latest: Sequence[str]) -> ir.Table:
    """Each subject at risk from day 0 and at each day with a change, with the covariates from
    there on and the end of that stretch (the next change, or the subject's stop)."""
    at_risk = people.filter((people.length > 0) | (people.event == 1))
    starts = ibis.union(at_risk.select(subject=at_risk.subject, start=ibis.literal(0, "int64")),
                        so_far.select(subject=so_far.subject, start=so_far.start),
                        distinct=True)
    rows = starts.inner_join(at_risk, starts.subject == at_risk.subject)
    rows = rows.select(subject=rows.subject, start=rows.start, entry=rows.entry,
                       length=rows.length, event=rows.event)
    found = rows.left_join(so_far, [rows.subject == so_far.subject,
                                    rows.start == so_far.start])
    rows = found.select(*[rows[c] for c in rows.columns],
                        **{name: so_far[name].fill_null(0) for name in counters},
                        **{name: so_far[name] for name in latest})
    last_day = ibis.ifelse(rows.length > 0, rows.length, SAME_DAY_EVENT_STOP)
    after = rows.start.lead().over(group_by=rows.subject, order_by=rows.start)
    return rows.mutate(last_day=last_day, end=after.cast("float64").coalesce(last_day))


def _first_stretch(rows: ir.Table, monthly: bool) -> ir.Table:
    """The change rows themselves, stopping at their end or (monthly) at the first month start
    inside it."""
    stop = rows.end
    if monthly:
        next_month = _month_start(_month_index(rows.entry + rows.start) + 1) - rows.entry
        stop = ibis.least(next_month.cast("float64"), rows.end)
    return rows.mutate(stop=stop)


def _month_rows(rows: ir.Table) -> ir.Table:
    """A row at every calendar month start strictly inside a change row's stretch, with its
    covariates, stopping at the next month start or the stretch's end."""
    first = _month_index(rows.entry + rows.start) + 1
    last = _month_index(rows.entry + rows.end.ceil().cast("int64") - 1)
    months = rows.mutate(_month=ibis.range(first, last + 1).unnest())
    start = _month_start(months._month) - months.entry
    stop = ibis.least((_month_start(months._month + 1) - months.entry).cast("float64"),
                      months.end)
    return months.mutate(start=start, stop=stop).drop("_month")


def _finished(rows: ir.Table, counters: Sequence[str], latest: Sequence[str],
              subject: str) -> ir.Table:
    """The output columns, ordered; the event on the row that stops at the subject's stop."""
    event = ibis.ifelse((rows.stop == rows.last_day) & (rows.event == 1), 1, 0).cast("int64")
    numbers = {name: rows[name].cast("float64") for name in [*counters, *latest]}
    return rows.select(**{subject: rows.subject}, start=rows.start.cast("float64"),
                       stop=rows.stop, event=event, **numbers).order_by([subject, "start"])


def _look_up(table: ir.Table, steps: ir.Table, name: str) -> ir.Table:
    """``table`` with column ``name``: its value on the row of the same subject that starts at
    ``_set_on_<name>`` (NULL when that is NULL)."""
    source = steps.filter(steps[name].notnull())
    source = source.select(_subject=source.subject, _start=source.start, _value=source[name])
    joined = table.left_join(source, [table.subject == source._subject,
                                      table[f"_set_on_{name}"] == source._start])
    return joined.select(*[table[c] for c in table.columns if c != f"_set_on_{name}"],
                         **{name: source._value})
