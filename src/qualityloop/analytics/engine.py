"""Where analytics aggregations run.

Every aggregation in :mod:`qualityloop.analytics` is written as an Ibis expression. This module
turns what a caller hands in into an Ibis table and runs expressions back into pandas:

- an Ibis table stays on its own backend (DuckDB, Postgres, PySpark, ...), so the work happens
  where the data lives;
- a pandas or polars DataFrame becomes an ``ibis.memtable`` and runs on one in-memory DuckDB
  connection, created the first time it is needed.

``ibis.memtable`` is used rather than ``create_table(name, df)`` on purpose: with ibis 12 and
sqlglot >= 30.18 the latter renders invalid SQL on DuckDB (see STACK.md).
"""

from __future__ import annotations

import threading
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd
from ibis.backends.duckdb import Backend as DuckDBBackend

_lock = threading.Lock()
_connection: DuckDBBackend | None = None


def default_connection() -> DuckDBBackend:
    """The in-memory DuckDB connection that runs expressions built from DataFrames."""
    global _connection
    with _lock:
        if _connection is None:
            _connection = ibis.duckdb.connect()
        return _connection


def is_ibis_table(data: Any) -> bool:
    """True for an Ibis table expression."""
    return isinstance(data, ir.Table)


def to_table(data: Any) -> ir.Table:
    """An Ibis table from a pandas or polars DataFrame or an Ibis table.

    Parameters
    ----------
    data : pandas.DataFrame, polars.DataFrame, polars.LazyFrame or ibis.Table
        The input. An Ibis table is returned unchanged (it keeps its backend); a DataFrame is
        wrapped in an ``ibis.memtable`` that runs on :func:`default_connection`.

    Returns
    -------
    ibis.Table

    Raises
    ------
    TypeError
        If ``data`` is none of the accepted types.

    Examples
    --------
    >>> import pandas as pd
    >>> table = to_table(pd.DataFrame({"customer_id": [1, 2]}))
    >>> table.columns
    ('customer_id',)
    """
    if is_ibis_table(data):
        return data
    if isinstance(data, pd.DataFrame):
        return ibis.memtable(_plain_columns(data))
    module = type(data).__module__
    if module.startswith("polars"):
        if type(data).__name__ == "LazyFrame":
            data = data.collect()
        return ibis.memtable(data)
    raise TypeError(
        f"expected a pandas or polars DataFrame or an Ibis table, got {type(data).__name__}"
    )


def _plain_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with a default index and string column names, as a memtable wants them."""
    if not all(isinstance(c, str) for c in frame.columns):
        frame = frame.rename(columns=str)
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index(drop=True)
    return frame


def execute(expr: ir.Table) -> pd.DataFrame:
    """Run an expression and return a pandas DataFrame.

    An expression over a bound table runs on that table's backend; one built only from
    memtables runs on :func:`default_connection`.
    """
    if _has_backend(expr):
        return expr.to_pandas()
    return default_connection().to_pandas(expr)


def _has_backend(expr: ir.Expr) -> bool:
    try:
        expr._find_backend(use_default=False)
    except ibis.common.exceptions.IbisError:
        return False
    return True


# Periods. A period is named by its start; differences between period starts are measured in
# seconds for fixed-length units (exact, since starts are whole multiples apart) and in calendar
# months for months, quarters and years.
_FIXED_SECONDS = {"D": 86_400, "W": 7 * 86_400, "h": 3_600}
_CALENDAR_MONTHS = {"M": 1, "Q": 3, "Y": 12}
_ALIASES = {"H": "h", "A": "Y", "ME": "M", "MS": "M", "QE": "Q", "QS": "Q", "YE": "Y",
            "YS": "Y", "W-SUN": "W"}


def normalise_freq(freq: str) -> str:
    """The canonical period code for ``freq`` (one of D, W, h, M, Q, Y), or ValueError."""
    code = _ALIASES.get(freq, freq)
    if code not in _FIXED_SECONDS and code not in _CALENDAR_MONTHS:
        raise ValueError(
            f"freq {freq!r} is not supported; use one of D (day), W (week starting Monday), "
            "h (hour), M (month), Q (quarter), Y (year)"
        )
    return code


def period_start(value: ir.Value, freq: str) -> ir.TimestampValue:
    """The start of the period (at ``freq``) that a date or timestamp falls in.

    Weeks start on Monday, as pandas' ``W`` (``W-SUN``) periods do.
    """
    code = normalise_freq(freq)
    timestamp = value.cast("timestamp") if value.type().is_date() else value
    return timestamp.truncate(code)


def period_number(start: ir.TimestampValue, freq: str) -> ir.IntegerValue:
    """An integer that grows by ``period_size(freq)`` from one period start to the next."""
    code = normalise_freq(freq)
    if code in _FIXED_SECONDS:
        return start.epoch_seconds()
    return start.year() * 12 + start.month() - 1


def period_size(freq: str) -> int:
    """How much :func:`period_number` grows per period."""
    code = normalise_freq(freq)
    return _FIXED_SECONDS.get(code) or _CALENDAR_MONTHS[code]
