"""The audit log: every history version of every record kind, newest first, in one list.

Each kind keeps its history in its own table (django-simple-history). The log reads each table
newest first through its ``history_date`` index and merges the streams, so a page costs about
``page size`` rows per table however large the history is. History is only ever read here: no
function of this module writes a history row.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import models
from django.utils import timezone

from qualityloop.services.record_kinds import kind_for_model
from qualityloop.services.tabular import write_table

ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}
ACTION_WORDS = {word: code for code, word in ACTIONS.items()}
EXPORT_COLUMNS = ["date", "user", "action", "kind", "record", "reason", "history_id"]
READ_FIELDS = ("history_id", "history_date", "history_type", "history_user_id",
               "history_change_reason", "external_id", "id")


class AuditFilterError(ValueError):
    """A filter value the log cannot use; the message says what was expected."""


@dataclass(frozen=True)
class AuditSource:
    """One history table: the kind name it is shown under and the models behind it."""

    kind: str
    history_model: type[models.Model]
    record_model: type[models.Model]
    has_page: bool
    """Whether the record has a detail page (registered record kinds do)."""


@cache
def sources() -> tuple[AuditSource, ...]:
    """Every history table of the app, by kind name (record kinds first, then the others)."""
    found = []
    for model in apps.get_models():
        if not hasattr(model, "instance_type") or not _has_field(model, "history_date"):
            continue  # not a history model, or a many-to-many link history table
        record_model = model.instance_type
        kind = kind_for_model(record_model)
        name = kind.name if kind else record_model._meta.model_name
        found.append(AuditSource(name, model, record_model, kind is not None))
    return tuple(sorted(found, key=lambda s: (not s.has_page, s.kind)))


def kind_names() -> list[str]:
    """The kind names the log can be filtered by."""
    return [s.kind for s in sources()]


def _has_field(model: type[models.Model], name: str) -> bool:
    return any(f.name == name for f in model._meta.fields)


@dataclass(frozen=True)
class AuditFilter:
    """Which history rows to list; every part is optional (``None``: any)."""

    user: str | None = None
    """Username of the author; ``"-"`` for changes made without a logged-in user."""
    kind: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    """Inclusive: the whole day counts."""
    action: str | None = None
    """``+``, ``~`` or ``-`` (or ``created``, ``changed``, ``deleted``)."""
    record: str | None = None
    """External id of the record."""

    def __post_init__(self) -> None:
        if self.kind is not None and self.kind not in kind_names():
            raise AuditFilterError(f"unknown record kind {self.kind!r}; expected one of: "
                                   f"{', '.join(kind_names())}")
        if self.action is not None:
            code = ACTION_WORDS.get(self.action, self.action)
            if code not in ACTIONS:
                raise AuditFilterError(f"unknown action {self.action!r}; expected one of: "
                                       "created (+), changed (~), deleted (-)")
            object.__setattr__(self, "action", code)
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise AuditFilterError(f"the date range ends ({self.date_to}) before it starts "
                                   f"({self.date_from})")

    @classmethod
    def from_text(cls, **values: str | None) -> AuditFilter:
        """A filter from text values (a query string, command-line options); empty means any.

        Dates are ``YYYY-MM-DD``; a malformed one raises :class:`AuditFilterError`.
        """
        given: dict[str, Any] = {k: (v.strip() if isinstance(v, str) else v) or None
                                 for k, v in values.items()}
        for name in ("date_from", "date_to"):
            if given.get(name):
                given[name] = _date(name, given[name])
        return cls(**given)

    def condition(self) -> models.Q:
        """The condition on one history table (the kind is chosen by :meth:`picks`)."""
        q = models.Q()
        if self.user == "-":
            q &= models.Q(history_user__isnull=True)
        elif self.user is not None:
            q &= models.Q(history_user_id=_user_id(self.user))
        if self.date_from is not None:
            q &= models.Q(history_date__gte=_day_start(self.date_from))
        if self.date_to is not None:
            q &= models.Q(history_date__lt=_day_start(self.date_to + dt.timedelta(days=1)))
        if self.action is not None:
            q &= models.Q(history_type=self.action)
        if self.record is not None:
            q &= models.Q(external_id=self.record)
        return q

    def picks(self, source: AuditSource) -> bool:
        return self.kind is None or self.kind == source.kind


def _date(name: str, text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        label = name.replace("date_", "")
        raise AuditFilterError(f"{label}: expected a date like 2025-06-30, got {text!r}") from None


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _user_id(username: str) -> int:
    found = get_user_model().objects.filter(username=username).values_list("pk", flat=True)
    pk = found.first()
    # An unknown user has no history rows: an id no user has selects nothing.
    return -1 if pk is None else pk


@dataclass
class AuditRow:
    """One history version as the log shows it."""

    kind: str
    history_id: int
    date: dt.datetime
    action: str
    """``+``, ``~`` or ``-``."""
    external_id: str
    record_pk: Any
    user_id: int | None
    reason: str | None
    user: str | None = None
    exists: bool = False
    """Whether the record is still in the database (set by :func:`audit_page`)."""
    has_page: bool = False
    url: str = ""
    """The record's page, when it has one and still exists (set by the web view)."""
    changes: list[dict[str, str]] = field(default_factory=list)
    """Fields changed by this version: ``field``, ``old``, ``new`` (set by :func:`audit_page`)."""

    @property
    def action_word(self) -> str:
        return ACTIONS[self.action]

    def as_export_row(self) -> dict[str, Any]:
        return {"date": self.date.isoformat(), "user": self.user or "", "action": self.action_word,
                "kind": self.kind, "record": self.external_id, "reason": self.reason or "",
                "history_id": self.history_id}


def _stream(source: AuditSource, condition: models.Q, limit: int | None) -> Iterator[AuditRow]:
    """The table's rows newest first (at most ``limit``), read in chunks."""
    rows = source.history_model._default_manager.filter(condition).order_by(
        "-history_date", "-history_id").values_list(*READ_FIELDS)
    if limit is not None:
        rows = rows[:limit]
    for history_id, date, action, user_id, reason, external_id, pk in rows.iterator(2000):
        yield AuditRow(source.kind, history_id, date, action, external_id, pk, user_id, reason,
                       has_page=source.has_page)


def iter_rows(audit_filter: AuditFilter, limit: int | None = None) -> Iterator[AuditRow]:
    """Every history row the filter selects, across all kinds, newest first.

    Parameters
    ----------
    audit_filter
        Which rows.
    limit
        At most this many rows (each table is then read no further than that).

    Yields
    ------
    AuditRow
        Without the usernames, the record's existence and the changes (see :func:`audit_page`).
    """
    condition = audit_filter.condition()
    streams = [_stream(s, condition, limit) for s in sources() if audit_filter.picks(s)]
    merged = heapq.merge(*streams, key=lambda r: (r.date, r.kind, r.history_id), reverse=True)
    return itertools.islice(merged, limit)


def count(audit_filter: AuditFilter) -> int:
    """How many history rows the filter selects."""
    condition = audit_filter.condition()
    return sum(s.history_model._default_manager.filter(condition).count()
               for s in sources() if audit_filter.picks(s))


@dataclass
class AuditPage:
    rows: list[AuditRow]
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def has_next(self) -> bool:
        return self.number < self.pages

    @property
    def has_previous(self) -> bool:
        return self.number > 1


MAX_DEPTH = 100_000
"""Rows the log pages through at most; narrow the filter (dates, kind) to reach older ones."""


def audit_page(audit_filter: AuditFilter, number: int = 1, size: int = 50) -> AuditPage:
    """One page of the log, with usernames, whether each record still exists and what changed.

    Pages past :data:`MAX_DEPTH` rows show the last page that reaches there.
    """
    total = count(audit_filter)
    pages = max(1, -(-min(total, MAX_DEPTH) // size))
    number = min(max(1, number), pages)
    start = (number - 1) * size
    rows = list(itertools.islice(iter_rows(audit_filter, limit=start + size), start, None))
    rows = list(with_usernames(rows))
    _add_existence(rows)
    for row in rows:
        row.changes = version_changes(row)
    return AuditPage(rows, number, size, total)


def _add_existence(rows: list[AuditRow]) -> None:
    by_source = {s.kind: s for s in sources()}
    for kind, group in itertools.groupby(sorted(rows, key=lambda r: r.kind), key=lambda r: r.kind):
        members = list(group)
        model = by_source[kind].record_model
        present = set(model._default_manager.filter(
            pk__in=[r.record_pk for r in members]).values_list("pk", flat=True))
        for row in members:
            row.exists = row.record_pk in present


def version_changes(row: AuditRow) -> list[dict[str, str]]:
    """The fields a history version changed, old and new value as text (none for a creation or
    a deletion: the record's page shows its full values)."""
    if row.action != "~":
        return []
    source = next(s for s in sources() if s.kind == row.kind)
    version = source.history_model._default_manager.get(history_id=row.history_id)
    previous = version.prev_record  # type: ignore[attr-defined]
    if previous is None:
        return []
    delta = version.diff_against(previous)  # type: ignore[attr-defined]
    shown = []
    for change in delta.changes:
        model_field = source.record_model._meta.get_field(change.field)
        if model_field.many_to_many:
            shown.append({"field": change.field, "old": "(links)", "new": "(links changed)"})
        else:
            shown.append({"field": change.field, "old": _text(change.old),
                          "new": _text(change.new)})
    return shown


def _text(value: Any) -> str:
    if value is None or value == "":
        return "–"
    return str(value)


def export(audit_filter: AuditFilter, path: Path) -> int:
    """Write the rows the filter selects to a .csv or .xlsx (or .parquet) file, newest first.

    Returns
    -------
    int
        How many rows were written.

    Raises
    ------
    qualityloop.services.tabular.TableError
        The file type is not supported or its folder does not exist.
    """
    rows = [r.as_export_row() for r in with_usernames(iter_rows(audit_filter))]
    write_table(path, EXPORT_COLUMNS, rows)
    return len(rows)


def with_usernames(rows: Iterable[AuditRow], chunk: int = 5000) -> Iterator[AuditRow]:
    """The rows with their authors' usernames, looked up a chunk at a time."""
    names: dict[int, str] = {}
    for batch in _batched(rows, chunk):
        wanted = {r.user_id for r in batch if r.user_id is not None} - names.keys()
        if wanted:
            names.update(get_user_model().objects.filter(pk__in=wanted)
                         .values_list("pk", "username"))
        for row in batch:
            row.user = names.get(row.user_id) if row.user_id is not None else None
            yield row


def _batched(rows: Iterable[AuditRow], size: int) -> Iterator[tuple[AuditRow, ...]]:
    iterator = iter(rows)
    while batch := tuple(itertools.islice(iterator, size)):
        yield batch
