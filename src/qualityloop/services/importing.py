"""Import records of one kind from a CSV, Excel or Parquet file: all rows or none.

Every row is checked (cells, references, duplicates, the model's own rules) and every problem is
collected before the import fails, so a user fixes a file in one go. The whole import runs in one
transaction: on any problem the database is exactly as before; ``dry_run`` does all the work and
then rolls back. Rows are upserted by ``external_id``: importing the same file again changes
nothing and adds no history.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.db import DatabaseError, transaction

from qualityloop.services.record_kinds import (
    CellError,
    Column,
    RecordKind,
    get_kind,
    is_empty,
    missing_required,
    same_value,
    unknown_columns,
)
from qualityloop.services.record_writer import (
    FieldChecks,
    RowInvalid,
    insert_rows,
    known_external_ids,
    prepare_record,
    save_prepared,
    unknown_reference,
    update_rows,
    value_key,
)
from qualityloop.services.tabular import Table, TableError, read_table

MAX_PROBLEMS = 200
LOOKUP_CHUNK = 900


@dataclass(frozen=True)
class ImportProblem:
    """One thing wrong with a file: where it is (row and column when known) and what is wrong."""

    file: str
    row: int | None
    column: str | None
    message: str

    @property
    def text(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "text": self.text}


class ImportFailed(Exception):
    """The file was not imported (nothing changed); ``problems`` lists what to fix."""

    def __init__(self, message: str, problems: Iterable[ImportProblem] = ()) -> None:
        super().__init__(message)
        self.problems: list[ImportProblem] = list(problems)


@dataclass
class ImportReport:
    """What an import did (or, for a dry run, would do)."""

    kind: str
    file: str
    dry_run: bool = False
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    seconds: float = 0.0

    def count(self, status: str) -> None:
        setattr(self, status, getattr(self, status) + 1)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": True, **asdict(self), "seconds": round(self.seconds, 3)}


@dataclass
class _Run:
    """The state of one import: the kind, the file, the problems found so far, the counts."""

    kind: RecordKind
    table: Table
    report: ImportReport
    problems: list[ImportProblem] = field(default_factory=list)
    ref_cache: dict = field(default_factory=dict)
    user: Any = None
    progress: Callable[[int, int], None] | None = None

    def row_done(self, index: int, total: int) -> None:
        """Tell ``progress`` (if any) every 250 rows and at the last one."""
        if self.progress is not None and (index % 250 == 0 or index == total):
            self.progress(index, total)

    @property
    def file(self) -> str:
        return self.table.path.name

    def problem(self, row: int | None, column: str | None, message: str) -> None:
        self.problems.append(ImportProblem(self.file, row, column, message))

    def row_invalid(self, row: int, invalid: RowInvalid) -> None:
        for column, message in invalid.errors.items():
            self.problem(row, None if column == "__all__" else column, message)


def import_file(
    kind_name: str, path: Path, dry_run: bool = False, user: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Import every row of a file as records of ``kind_name``, all or nothing.

    Parameters
    ----------
    kind_name
        A record kind name (``qualityloop kinds``), e.g. ``customers``.
    path
        A ``.csv`` (UTF-8), ``.xlsx`` or ``.parquet`` file whose header names the kind's columns.
        Columns left out are not touched on existing records and get their defaults on new ones.
    dry_run
        Check and count everything, then roll back.
    user
        The Django user the import is done for; recorded as the author of every history version
        it writes (the change reason names the file either way).
    progress
        Called as ``progress(rows_done, rows)`` while rows are checked and written (a
        background job's progress bar).

    Returns
    -------
    ImportReport
        Rows read and how many records were created, updated or unchanged.

    Raises
    ------
    ImportFailed
        With one :class:`ImportProblem` per problem (file, row, column, what was expected); the
        database is unchanged.
    """
    started = time.perf_counter()
    path = Path(path)
    kind = _kind_or_fail(kind_name, path)
    table = _table_or_fail(path)
    run = _Run(kind, table, ImportReport(kind.name, str(path), dry_run, rows=len(table.rows)),
               user=user, progress=progress)
    if _check_header(run):
        _fail_if_problems(run)
    try:
        with transaction.atomic():
            _write_rows(run)
            _fail_if_problems(run)
            if dry_run:
                transaction.set_rollback(True)
    except DatabaseError as refused:
        raise ImportFailed(
            f"{run.file}: the database refused the import ({refused}); nothing was imported",
            [ImportProblem(run.file, None, None, f"database error: {refused}")],
        ) from None
    run.report.seconds = time.perf_counter() - started
    return run.report


def _kind_or_fail(kind_name: str, path: Path) -> RecordKind:
    try:
        return get_kind(kind_name)
    except ValueError as unknown:
        problem = ImportProblem(path.name, None, None, str(unknown))
        raise ImportFailed(_failure_message(path.name, 1), [problem]) from None


def _table_or_fail(path: Path) -> Table:
    try:
        return read_table(path)
    except TableError as unreadable:
        problem = ImportProblem(unreadable.file, unreadable.row, None, unreadable.reason)
        raise ImportFailed(_failure_message(unreadable.file, 1), [problem]) from None


def _check_header(run: _Run) -> bool:
    """Record header problems; True when rows cannot be checked (required columns missing).

    Unknown columns are reported, and the rows are still checked without them.
    """
    missing = missing_required(run.kind, run.table.header)
    for column in missing:
        run.problem(1, column.name, f"required column is missing; expected {column.expected()}")
    known = ", ".join(run.kind.column_names)
    unknown = unknown_columns(run.kind, run.table.header)
    for name in unknown:
        run.problem(1, name, f"unknown column for {run.kind.name}; expected one of: {known}")
    if unknown:
        for _, cells in run.table.rows:
            for name in unknown:
                cells.pop(name, None)
    return bool(missing)


def _failure_message(file: str, count: int) -> str:
    noun = "problem" if count == 1 else "problems"
    return f"{file}: {count} {noun} found; nothing was imported"


def _fail_if_problems(run: _Run) -> None:
    if not run.problems:
        return
    order = {name: i for i, name in enumerate(run.table.header)}
    problems = sorted(run.problems, key=lambda p: (p.row or 0, order.get(p.column or "", -1)))
    shown = problems[:MAX_PROBLEMS]
    if len(problems) > MAX_PROBLEMS:
        shown.append(ImportProblem(
            run.file, None, None, f"... and {len(problems) - MAX_PROBLEMS} more problems not shown"
        ))
    raise ImportFailed(_failure_message(run.file, len(problems)), shown)


def _write_rows(run: _Run) -> None:
    rows = _unique_rows(run)
    rows = _parents_first(run, rows)
    if run.kind.is_plain:
        _write_plain(run, rows)
    else:
        _write_one_by_one(run, rows)


def _unique_rows(run: _Run) -> list[tuple[int, dict[str, Any]]]:
    """The rows with a new external id; repeats of an id earlier in the file are problems."""
    first_row: dict[str, int] = {}
    unique = []
    for number, cells in run.table.rows:
        external_id = _text(cells.get("external_id"))
        if external_id and external_id in first_row:
            earlier = first_row[external_id]
            run.problem(number, "external_id",
                        f"duplicate external id {external_id!r}: also on row {earlier}")
            continue
        if external_id:
            first_row[external_id] = number
        unique.append((number, cells))
    return unique


def _parents_first(
    run: _Run, rows: list[tuple[int, dict[str, Any]]]
) -> list[tuple[int, dict[str, Any]]]:
    """Order rows so a record referring to another record of the same kind in the file (a parent
    unit, a parent objective) comes after it, whatever the order in the file. Loops are problems.
    """
    self_columns = [
        c.name for c in run.kind.columns
        if c.is_reference and c.target is run.kind.model and c.name in run.table.header
    ]
    if not self_columns:
        return rows
    by_id = {_text(cells.get("external_id")): (n, cells) for n, cells in rows}
    placed: set[int] = set()
    looped: set[int] = set()
    ordered: list[tuple[int, dict[str, Any]]] = []
    for start in rows:
        chain: list[tuple[int, dict[str, Any]]] = []
        node: tuple[int, dict[str, Any]] | None = start
        while node is not None and node[0] not in placed and node[0] not in looped:
            if node in chain:
                _report_loop(run, chain[chain.index(node):], self_columns, looped)
                break
            chain.append(node)
            node = _parent_in_file(node[1], self_columns, by_id)
        for number, cells in reversed(chain):
            if number not in looped and number not in placed:
                placed.add(number)
                ordered.append((number, cells))
    return ordered


def _parent_in_file(cells: dict[str, Any], columns: list[str], by_id: dict) -> Any:
    for name in columns:
        parent = _text(cells.get(name))
        if parent in by_id:
            return by_id[parent]
    return None


def _report_loop(run: _Run, loop: list, columns: list[str], looped: set[int]) -> None:
    numbers = sorted(number for number, _ in loop)
    if len(numbers) == 1:
        message = "the record is its own parent; expected another record or nothing"
    else:
        rows = ", ".join(str(n) for n in numbers)
        message = f"the chain of parents loops back to this record (rows {rows}); expected a tree"
    for number in numbers:
        looped.add(number)
        run.problem(number, columns[0], message)


def _write_one_by_one(run: _Run, rows: list[tuple[int, dict[str, Any]]]) -> None:
    """Record by record through the record writer (history, links, the model's own rules).

    Existing records are fetched in batches up front. A row needs no savepoint of its own: a row
    with problems raises before anything of it is written.
    """
    kind, reason = run.kind, f"import {run.file}"
    existing = _existing_records(kind.model, [_text(cells.get("external_id")) for _, cells in rows])
    check_unique = kind.has_unique_checks_besides_external_id
    for index, (number, cells) in enumerate(rows, 1):
        run.row_done(index, len(rows))
        instance = existing.get(_text(cells.get("external_id"))) or kind.model()
        try:
            prepared = prepare_record(kind, cells, instance=instance, partial=True,
                                      ref_cache=run.ref_cache, validate_unique=check_unique)
        except RowInvalid as invalid:
            run.row_invalid(number, invalid)
            continue
        if prepared.status != "unchanged":
            save_prepared(prepared, run.ref_cache, change_reason=reason, history_user=run.user)
        run.report.count(prepared.status)


def _existing_records(model: Any, external_ids: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for chunk in _chunks(external_ids):
        found.update({obj.external_id: obj for obj in model.objects.filter(external_id__in=chunk)})
    return found


def _chunks(external_ids: list[str]) -> Iterable[list[str]]:
    wanted = [x for x in external_ids if x]
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        yield wanted[start:start + LOOKUP_CHUNK]


# --- plain kinds (RecordKind.is_plain): large files ----------------------------------------------

class _CellReader:
    """``Column.parse`` for one column, references turned into primary keys, with the record
    writer's messages; a cell value seen before is not worked out again."""

    def __init__(self, column: Column, ref_cache: dict) -> None:
        self.column, self.name = column, column.name
        self._ref_cache = ref_cache
        self._seen: dict[tuple, tuple[Any, str | None]] = {}

    def read(self, raw: Any) -> tuple[Any, str | None]:
        """(value, None), or (None, what is wrong)."""
        if is_empty(raw):  # a default may be made afresh for each record
            return self._read(raw)
        key = value_key(raw)
        try:
            return self._seen[key]
        except KeyError:
            result = self._seen[key] = self._read(raw)
            return result
        except TypeError:  # a cell that cannot be a key (a list)
            return self._read(raw)

    def _read(self, raw: Any) -> tuple[Any, str | None]:
        try:
            value = self.column.parse(raw)
        except CellError as problem:
            return None, str(problem)
        if not self.column.is_reference or value is None:
            return value, None
        known = known_external_ids(self.column.target, self._ref_cache)  # type: ignore[arg-type]
        if value not in known:
            return None, unknown_reference(self.column, [value])
        return known[value], None


@dataclass
class _PlainRows:
    """Rows of a plain kind checked so far, waiting to be written."""

    new: list[dict[str, Any]] = field(default_factory=list)
    changed: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)
    changed_names: set[str] = field(default_factory=set)


def _write_plain(run: _Run, rows: list[tuple[int, dict[str, Any]]]) -> None:
    """The record writer's checks and messages, worked out cell by cell and value by value (a
    value seen before is not checked again), then written with batched INSERT and UPDATE."""
    kind = run.kind
    readers = [_CellReader(c, run.ref_cache) for c in kind.columns]
    given = [r for r in readers if r.name in run.table.header]
    existing = _existing_values(kind, [_text(cells.get("external_id")) for _, cells in rows])
    checks, plain = FieldChecks(), _PlainRows()
    for index, (number, cells) in enumerate(rows, 1):
        run.row_done(index, len(rows))
        values, errors = _read_cells(given, cells)
        current = existing.get(values.get("external_id", ""))
        _complete(readers, values, errors, current)
        cleaned = _check_values(kind, values, errors, checks)
        if errors:
            run.row_invalid(number, RowInvalid(errors))
            continue
        run.report.count(_keep(kind, plain, values, cleaned, current, given))
    if not run.problems:
        insert_rows(kind.model, plain.new)
        update_rows(kind.model, plain.changed, plain.changed_names)


def _existing_values(kind: RecordKind, external_ids: list[str]) -> dict[str, tuple[Any, dict]]:
    """external id -> (pk, column name -> value) of the records already in the database."""
    names = [c.name for c in kind.columns]
    attnames = [c.field.attname for c in kind.columns]
    found: dict[str, tuple[Any, dict]] = {}
    for chunk in _chunks(external_ids):
        records = kind.model._default_manager.filter(external_id__in=chunk)
        for pk, *values in records.values_list("pk", *attnames):
            current = dict(zip(names, values, strict=True))
            found[current["external_id"]] = (pk, current)
    return found


def _read_cells(
    readers: list[_CellReader], cells: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for reader in readers:
        value, problem = reader.read(cells.get(reader.name))
        if problem is None:
            values[reader.name] = value
        else:
            errors[reader.name] = problem
    return values, errors


def _complete(
    readers: list[_CellReader], values: dict, errors: dict, current: tuple[Any, dict] | None
) -> None:
    """Columns left out of the file keep their values, or get their defaults on a new record."""
    for reader in readers:
        if reader.name in values or reader.name in errors:
            continue
        if current is not None:
            values[reader.name] = current[1][reader.name]
            continue
        value, problem = reader.read(None)
        if problem is None:
            values[reader.name] = value
        else:
            errors[reader.name] = problem


def _check_values(
    kind: RecordKind, values: dict[str, Any], errors: dict[str, str], checks: FieldChecks
) -> dict[str, Any]:
    """``full_clean()`` of a plain kind: each column's field checks; returns the cleaned values."""
    cleaned: dict[str, Any] = {}
    for column in kind.columns:
        if column.is_reference or column.name in errors:
            continue
        cleaned[column.name], problem = checks.check(column.field, values[column.name])
        if problem is not None:
            errors[column.name] = problem
    return cleaned


def _keep(
    kind: RecordKind, plain: _PlainRows, values: dict[str, Any], cleaned: dict[str, Any],
    current: tuple[Any, dict] | None, given: list[_CellReader],
) -> str:
    """Put a checked row with the new or changed rows; its status. As in the record writer, the
    parsed values tell whether a record changed, the cleaned ones are saved."""
    row = {c.field.attname: cleaned.get(c.name, values[c.name]) for c in kind.columns}
    if current is None:
        plain.new.append(row)
        return "created"
    pk, before = current
    changed = [r.name for r in given if not same_value(before[r.name], values[r.name])]
    if not changed:
        return "unchanged"
    plain.changed.append((pk, row))
    plain.changed_names.update(changed)
    return "updated"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


__all__ = ["ImportFailed", "ImportProblem", "ImportReport", "import_file"]
