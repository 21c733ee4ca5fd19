"""Import records of one kind from a CSV, Excel or Parquet file: all rows or none.

Every row is checked (cells, references, duplicates, the model's own rules) and every problem is
collected before the import fails, so a user fixes a file in one go. The whole import runs in one
transaction: on any problem the database is exactly as before; ``dry_run`` does all the work and
then rolls back. Rows are upserted by ``external_id``: importing the same file again changes
nothing and adds no history.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.db import DatabaseError, transaction
from django.utils import timezone

from qualityloop.services.record_kinds import (
    RecordKind,
    get_kind,
    missing_required,
    unknown_columns,
)
from qualityloop.services.record_writer import RowInvalid, prepare_record, write_record
from qualityloop.services.tabular import Table, TableError, read_table

MAX_PROBLEMS = 200
BULK_BATCH = 2000
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

    @property
    def file(self) -> str:
        return self.table.path.name

    def problem(self, row: int | None, column: str | None, message: str) -> None:
        self.problems.append(ImportProblem(self.file, row, column, message))

    def row_invalid(self, row: int, invalid: RowInvalid) -> None:
        for column, message in invalid.errors.items():
            self.problem(row, None if column == "__all__" else column, message)


def import_file(kind_name: str, path: Path, dry_run: bool = False) -> ImportReport:
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
    run = _Run(kind, table, ImportReport(kind.name, str(path), dry_run, rows=len(table.rows)))
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
    if _bulk_capable(run.kind):
        _write_bulk(run, rows)
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


def _bulk_capable(kind: RecordKind) -> bool:
    """Kinds without history or many-to-many links are saved in bulk (orders: large files)."""
    model = kind.model
    return not hasattr(model, "history") and not any(c.is_multi_reference for c in kind.columns)


def _write_one_by_one(run: _Run, rows: list[tuple[int, dict[str, Any]]]) -> None:
    reason = f"import {run.file}"
    for number, cells in rows:
        try:
            with transaction.atomic():
                _, status = write_record(
                    run.kind, cells, partial=True, ref_cache=run.ref_cache, change_reason=reason
                )
        except RowInvalid as invalid:
            run.row_invalid(number, invalid)
            continue
        run.report.count(status)


def _write_bulk(run: _Run, rows: list[tuple[int, dict[str, Any]]]) -> None:
    """The same checks as write_record, with existing records fetched and saved in batches."""
    model = run.kind.model
    existing = _existing(model, [_text(cells.get("external_id")) for _, cells in rows])
    new, changed, changed_fields = [], [], set()
    for number, cells in rows:
        instance = existing.get(_text(cells.get("external_id"))) or model()
        try:
            prepared = prepare_record(run.kind, cells, instance=instance, partial=True,
                                      ref_cache=run.ref_cache, validate_unique=False)
        except RowInvalid as invalid:
            run.row_invalid(number, invalid)
            continue
        run.report.count(prepared.status)
        if prepared.status == "created":
            new.append(prepared.obj)
        elif prepared.status == "updated":
            changed.append(prepared.obj)
            changed_fields.update(prepared.changed_fields)
    if run.problems:
        return
    model.objects.bulk_create(new, batch_size=BULK_BATCH)
    if changed:
        now = timezone.now()
        for obj in changed:
            obj.updated_at = now
        fields = sorted(changed_fields | {"updated_at"})
        model.objects.bulk_update(changed, fields, batch_size=BULK_BATCH // 4)


def _existing(model: Any, external_ids: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    wanted = [x for x in external_ids if x]
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start:start + LOOKUP_CHUNK]
        found.update({obj.external_id: obj for obj in model.objects.filter(external_id__in=chunk)})
    return found


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


__all__ = ["ImportFailed", "ImportProblem", "ImportReport", "import_file"]
