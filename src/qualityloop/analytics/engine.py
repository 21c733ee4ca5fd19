"""Where analytics aggregations run.

Every aggregation in :mod:`qualityloop.analytics` is written as an Ibis expression. This module
chooses the backend, turns what a caller hands in into an Ibis table and runs expressions back
into pandas:

- an Ibis table stays on its own backend (DuckDB, Postgres, PySpark, ...), so the work happens
  where the data lives;
- a pandas or polars DataFrame becomes an ``ibis.memtable`` and runs on the default connection:
  the engine named by ``QUALITYLOOP_ENGINE`` (``duckdb``, the default, in memory; or
  ``pyspark``, a local Spark session), created the first time it is needed.

``ibis.memtable`` is used rather than ``create_table(name, df)`` on purpose: with ibis 12 and
sqlglot >= 30.18 the latter renders invalid SQL on DuckDB (see STACK.md).

Distinct counts are written as a grouping followed by a plain count, never ``nunique``: Ibis
compiles ``nunique`` to an approximate function on some backends (ClickHouse's ``uniq``).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir
import pandas as pd
from ibis.backends import BaseBackend

if TYPE_CHECKING:
    import pyarrow as pa

ENGINES = ("duckdb", "pyspark")
ENGINE_VARIABLE = "QUALITYLOOP_ENGINE"
# Local mode by default; a cluster's master URL (spark://..., yarn) can be given instead.
SPARK_MASTER_VARIABLE = "QUALITYLOOP_SPARK_MASTER"
# Small shuffles: the default 200 partitions cost seconds of task overhead on a laptop.
_SPARK_CONFIG = {
    "spark.sql.shuffle.partitions": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.session.timeZone": "UTC",
}

_lock = threading.Lock()
_connections: dict[str, BaseBackend] = {}
# DuckDB refuses a second call on a connection that is busy ("connection is busy with another
# call"), so each thread (a server's request threads, its warm-up and job threads) has its own.
_thread_connections = threading.local()


def engine_name(name: str | None = None) -> str:
    """The engine to use: ``name`` if given, else ``QUALITYLOOP_ENGINE``, else ``duckdb``.

    Raises
    ------
    ValueError
        If the name is not one of :data:`ENGINES`.
    """
    chosen = (name or os.environ.get(ENGINE_VARIABLE) or "duckdb").strip().lower()
    if chosen not in ENGINES:
        source = "engine" if name else ENGINE_VARIABLE
        raise ValueError(f"{source} {chosen!r} is not supported; use one of {', '.join(ENGINES)}")
    return chosen


def connect(name: str | None = None) -> BaseBackend:
    """A new Ibis connection to the engine ``name`` (see :func:`engine_name`).

    ``duckdb`` is an in-memory DuckDB database. ``pyspark`` is a Spark session, in local mode
    with two cores unless ``QUALITYLOOP_SPARK_MASTER`` names another master, with few shuffle
    partitions, no web UI, timestamps in UTC and a temporary warehouse folder removed at exit.
    Spark keeps one session per process: a second ``pyspark`` connection shares it.

    Raises
    ------
    ValueError
        An unknown engine.
    RuntimeError
        ``pyspark`` without PySpark installed or without Java.

    Examples
    --------
    >>> con = connect("duckdb")
    >>> con.name
    'duckdb'
    """
    if engine_name(name) == "duckdb":
        con = ibis.duckdb.connect()
        # DuckDB draws a progress bar on the terminal during long queries: noise in a server log
        # or a command's JSON output.
        con.raw_sql("SET enable_progress_bar = false")
        return con
    return ibis.pyspark.connect(_spark_session())


def default_connection() -> BaseBackend:
    """The connection that runs expressions built from DataFrames: DuckDB's is one per thread
    (a DuckDB connection serves one call at a time), Spark's one per process (its session is
    thread-safe and costly to start).

    The engine is read from ``QUALITYLOOP_ENGINE`` at each call; see :func:`connect`.
    """
    name = engine_name()
    if name == "duckdb":
        if not hasattr(_thread_connections, "duckdb"):
            _thread_connections.duckdb = connect(name)
        return _thread_connections.duckdb
    with _lock:
        if name not in _connections:
            _connections[name] = connect(name)
        return _connections[name]


def _spark_session() -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise RuntimeError(
            "the pyspark engine needs PySpark: pip install 'qualityloop[spark]'") from None
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        raise RuntimeError("the pyspark engine needs Java (e.g. apt-get install "
                           "default-jre-headless, or set JAVA_HOME)")
    # Without it Spark looks up the machine's network address, and fails offline.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    warehouse = tempfile.mkdtemp(prefix="qualityloop-spark-")
    atexit.register(shutil.rmtree, warehouse, ignore_errors=True)
    builder = SparkSession.builder.appName("qualityloop").master(
        os.environ.get(SPARK_MASTER_VARIABLE) or "local[2]")
    for key, value in {**_SPARK_CONFIG, "spark.sql.warehouse.dir": warehouse}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def is_ibis_table(data: Any) -> bool:
    """True for an Ibis table expression."""
    return isinstance(data, ir.Table)


def to_table(data: Any) -> ir.Table:
    """An Ibis table from a pandas or polars DataFrame or an Ibis table.

    Parameters
    ----------
    data : pandas.DataFrame, polars.DataFrame, polars.LazyFrame or ibis.Table
        The input. An Ibis table is returned unchanged (it keeps its backend); a DataFrame is
        wrapped in an ``ibis.memtable`` that runs on :func:`default_connection` (DuckDB, or
        Spark with ``QUALITYLOOP_ENGINE=pyspark``).

    Returns
    -------
    ibis.Table

    Raises
    ------
    TypeError
        If ``data`` is none of the accepted types.
    ValueError
        If a column of a pandas DataFrame mixes values of different types (numbers and text).

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
        return ibis.memtable(_plain_columns(_one_type_per_column(data)))
    module = type(data).__module__
    if module.startswith("polars"):
        if type(data).__name__ == "LazyFrame":
            data = data.collect()
        return ibis.memtable(data)
    raise TypeError(
        f"expected a pandas or polars DataFrame or an Ibis table, got {type(data).__name__}"
    )


def _one_type_per_column(frame: pd.DataFrame) -> pd.DataFrame:
    """Refuse a text column holding other values too (numbers and words): Arrow, under every
    engine, cannot hold it, and would fail later with an error naming no row."""
    import pyarrow as pa

    for position, dtype in enumerate(frame.dtypes):
        if not pd.api.types.is_object_dtype(dtype):
            continue
        name = frame.columns[position]
        try:
            pa.array(frame.iloc[:, position], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as problem:
            raise ValueError(f"column {name!r} mixes values of different types ({problem}); "
                             "convert it to one type first") from None
    return frame


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
    frame = expr.to_pandas() if _has_backend(expr) else default_connection().to_pandas(expr)
    return _microsecond_timestamps(frame)


def execute_arrow(expr: ir.Table) -> pa.Table:
    """Run an expression and return a pyarrow Table (on the backend :func:`execute` uses).

    For results of millions of rows: ``pyarrow.Table.to_pandas`` is several times faster than
    Ibis's own conversion to pandas, which builds the frame column by column and again.
    """
    if _has_backend(expr):
        return expr.to_pyarrow()
    return default_connection().to_pyarrow(expr)


def _microsecond_timestamps(frame: pd.DataFrame) -> pd.DataFrame:
    """Timestamps at microseconds, whatever the backend returned (DuckDB: us, Spark: ns).

    Both engines store microseconds, so nothing is lost; results then compare equal across
    backends, index dtypes included.
    """
    stamps = {name: frame[name].dt.as_unit("us") for name in frame.columns
              if pd.api.types.is_datetime64_any_dtype(frame[name].dtype)}
    return frame.assign(**stamps) if stamps else frame


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
