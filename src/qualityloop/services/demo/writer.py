"""Bulk loading of demo tables: wipe the record tables, insert columns with raw ``executemany``,
and give every record of a model with history its initial "+" (created) history row.

Tables are given as columns (``{attname: values}``) with explicit ids, so rows can reference each
other before anything is written. Fields left out get their model default.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from django.apps import apps
from django.core.management.color import no_style
from django.db import connection, models

from qualityloop.records.base import RECORD_HISTORY

RECORD_APPS = ("organisation", "customers", "quality", "assessment")
CHUNK_ROWS = 100_000
REBUILD_INDEXES_FROM_ROWS = 50_000  # bigger loads drop secondary indexes and build them after

Columns = dict[str, Any]


def record_models() -> list[type[models.Model]]:
    """Every model of the record apps, with their history and many-to-many tables."""
    found: list[type[models.Model]] = []
    for label in RECORD_APPS:
        found.extend(apps.get_app_config(label).get_models(include_auto_created=True))
    return found


def wipe_records() -> None:
    """Delete every row of the record tables (foreign keys are checked at commit)."""
    with connection.cursor() as cursor:
        for model in record_models():
            table = model._meta.db_table
            with _indexes_built_after(cursor, table):
                cursor.execute(f"DELETE FROM {connection.ops.quote_name(table)}")


def reset_sequences() -> None:
    """After inserting explicit ids, move the id sequences on (PostgreSQL; no-op on SQLite)."""
    statements = connection.ops.sequence_reset_sql(no_style(), record_models())
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


class Lazy:
    """A column made chunk by chunk, so millions of Python strings never sit in memory at once."""

    def __init__(self, n: int, make: Callable[[int, int], list]) -> None:
        self.n, self.make = n, make

    def __len__(self) -> int:
        return self.n


def numbered(prefix: str, width: int, n: int) -> Lazy:
    """External ids ``prefix000001`` ... for rows 1..n."""
    return Lazy(n, lambda begin, end: [f"{prefix}{i:0{width}d}" for i in range(begin + 1, end + 1)])


def stamp(dates: np.ndarray, hour: int = 9) -> Lazy:
    """Datetime text (UTC, as Django stores it) at a fixed hour on each date."""
    days = np.asarray(dates).astype("datetime64[D]")
    suffix = f" {hour:02d}:00:00"

    def make(begin: int, end: int) -> list:
        text = np.datetime_as_string(days[begin:end], unit="D").tolist()
        return [d + suffix for d in text]

    return Lazy(len(days), make)


def as_list(values: Any, n: int) -> list:
    """Column values as a plain Python list that any database driver accepts."""
    if isinstance(values, np.ndarray):
        if np.issubdtype(values.dtype, np.datetime64):
            text = np.datetime_as_string(values, unit="D").astype(object)
            text[np.isnat(values)] = None
            return text.tolist()
        return values.tolist()
    if isinstance(values, list | tuple):
        return list(values)
    return [values] * n


def _chunk(values: Any, begin: int, end: int) -> list:
    if isinstance(values, Lazy):
        return values.make(begin, end)
    if isinstance(values, np.ndarray | list | tuple):
        return as_list(values[begin:end], end - begin)
    return [values] * (end - begin)


def _default(field: models.Field) -> Any:
    if field.has_default():
        return field.get_default()
    if field.null:
        return None
    if isinstance(field, models.CharField | models.TextField):
        return ""
    raise ValueError(f"demo writer: no value for required field {field.name}")


def _length(columns: Columns) -> int:
    for values in columns.values():
        if isinstance(values, np.ndarray | list | tuple | Lazy):
            return len(values)
    raise ValueError("demo writer: a table needs at least one column of values")


def insert_columns(
    model: type[models.Model], columns: Columns,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Insert one table given as columns; returns the number of rows written."""
    n = _length(columns)
    fields = list(model._meta.concrete_fields)
    sources = [columns[f.attname] if f.attname in columns else _default(f) for f in fields]
    names = ", ".join(connection.ops.quote_name(_column_of(f)) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    table = connection.ops.quote_name(model._meta.db_table)
    sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"
    if progress:
        progress(0, n)
    big = n >= REBUILD_INDEXES_FROM_ROWS
    with connection.cursor() as cursor, _indexes_built_after(cursor, model._meta.db_table, big):
        for begin in range(0, n, CHUNK_ROWS):
            end = min(n, begin + CHUNK_ROWS)
            rows = list(zip(*[_chunk(source, begin, end) for source in sources], strict=True))
            if connection.vendor == "postgresql":
                _copy_rows(cursor, f"COPY {table} ({names}) FROM STDIN", rows)
            else:
                cursor.executemany(sql, rows)
            if progress:
                progress(end, n)
    return n


def _copy_rows(cursor, copy_sql: str, rows: list[tuple]) -> None:
    """PostgreSQL: COPY, several times faster than executemany's INSERTs for big tables."""
    with cursor.cursor.copy(copy_sql) as copy:
        for row in rows:
            copy.write_row(row)


def _column_of(field: models.Field) -> str:
    # Django calls a field concrete exactly when it has a column, so this never fails for
    # ``concrete_fields``; the stubs type ``Field.column`` as optional for the other fields.
    if field.column is None:
        raise ValueError(f"demo writer: field {field.name} has no database column")
    return field.column


@contextmanager
def _indexes_built_after(cursor, table: str, enabled: bool = True):
    """On SQLite, building an index once after a big load (or a big delete) is several times
    faster than keeping it up to date row by row (the unique and primary-key indexes stay: they
    cannot be dropped)."""
    if connection.vendor != "sqlite" or not enabled:
        yield
        return
    cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s "
                   "AND sql IS NOT NULL", [table])
    indexes = cursor.fetchall()
    for name, _sql in indexes:
        cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
    yield
    for _name, sql in indexes:
        cursor.execute(sql)


def insert_with_history(
    model: type[models.Model], columns: Columns, history_offset: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Insert records and, when the model keeps history, one "+" history row per record.

    ``columns`` must hold ``created_at``; it is used as the history date as well.
    """
    n = _length(columns)
    columns.setdefault("updated_at", columns["created_at"])
    history = getattr(model, "history", None)
    total = 2 * n if history is not None else n

    def report(done: int, _n: int) -> None:
        if progress:
            progress(done, total)

    insert_columns(model, columns, report)
    if history is not None:
        past = dict(columns)
        past.update(history_id=np.arange(history_offset + 1, history_offset + n + 1),
                    history_date=columns["created_at"], history_type="+",
                    history_change_reason=None, history_user_id=None)
        insert_columns(history.model, past, lambda done, _n: report(n + done, n))
    return n


def insert_links(through: type[models.Model], left: str, right: str,
                 left_ids: Sequence[int] | np.ndarray,
                 right_ids: Sequence[int] | np.ndarray) -> int:
    """Fill a many-to-many table from two parallel id columns."""
    n = len(left_ids)
    return insert_columns(through, {"id": np.arange(1, n + 1), f"{left}_id": left_ids,
                                    f"{right}_id": right_ids})


def insert_link_history(m2m_field: models.ManyToManyField,
                        left_ids: np.ndarray, right_ids: np.ndarray) -> int:
    """Copy freshly inserted links into the "+" history versions of the records that own them,
    so each record's first version shows the links it was created with."""
    m2m_history = RECORD_HISTORY.m2m_models.get(m2m_field)
    if m2m_history is None or not len(left_ids):
        return 0
    owner_history = m2m_field.model.history.model  # type: ignore[attr-defined]
    created = owner_history.objects.filter(history_type="+").values_list("id", "history_id")
    owners, versions = (np.array(c, dtype=np.int64) for c in zip(*created, strict=True))
    order = np.argsort(owners)
    version_of_left = versions[order][np.searchsorted(owners[order], left_ids)]
    n = len(left_ids)
    numbers = np.arange(1, n + 1)
    return insert_columns(m2m_history, {
        "m2m_history_id": numbers, "id": numbers, "history_id": version_of_left,
        f"{m2m_field.m2m_field_name()}_id": left_ids,
        f"{m2m_field.m2m_reverse_field_name()}_id": right_ids,
    })
