"""Optimistic concurrency for the record edit forms: nothing is lost when two people edit the
same record.

An edit form carries the version of the record it was opened on (its ETag, the one the API
gives, see ``web/api/records.py``) and the newest history version then. When it is saved, the
record is read again inside the write's transaction (under a row lock on PostgreSQL); if its
ETag is no longer the one the form was opened on, nothing is written and the form is shown again
with the record's current values, who changed it and when, and the columns where what the user
sent differs from what is saved now, so they can re-apply their change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.db import models
from django.http import Http404, QueryDict
from django.utils import timezone

from qualityloop.services.record_kinds import CellError, Column, RecordKind, kind_for_model
from qualityloop.web.api.conditional import held_for_step
from qualityloop.web.api.records import etag_of, history_of
from qualityloop.web.api.schemas import record_out
from qualityloop.web.forms.records import RecordForm, initial_values

# Not column names: a kind may have a column called "version" (policies do).
VERSION_FIELD = "_record_version"
SEEN_FIELD = "_record_seen"
UNKNOWN = "?"  # the history version the page showed was not looked up


def version_of(obj: models.Model) -> str:
    """The record's version: the ETag the API gives it (changes with any column or link)."""
    return etag_of(record_out(obj))


def opened_on(obj: models.Model, history: bool = True) -> dict[str, str]:
    """The hidden values an edit form of ``obj`` carries: its version and its newest history
    version (to tell later who changed what since). Without ``history`` (a form per row of a
    list: no query per row) a refusal names only the latest change."""
    seen = str(_newest_history_id(obj) or "") if history else UNKNOWN
    return {"version": version_of(obj), "seen": seen}


def _newest_history_id(obj: models.Model) -> int | None:
    if not hasattr(type(obj), "history"):
        return None
    versions = obj.history.order_by("-history_id")  # type: ignore[attr-defined]
    return versions.values_list("history_id", flat=True).first()


def held(kind: RecordKind, obj: models.Model) -> models.Model | None:
    """The record as it is now, held until the caller's transaction ends (None when it was
    deleted meanwhile). Call inside ``transaction.atomic()``."""
    # Row lock on PostgreSQL (a no-op on SQLite, whose IMMEDIATE transaction holds the
    # database); locked apart from the read because the read's outer joins cannot be locked.
    list(kind.model._default_manager.select_for_update()
         .filter(pk=obj.pk).values_list("pk", flat=True))
    return kind.queryset().filter(pk=obj.pk).first()


@dataclass(frozen=True)
class Difference:
    """One column where the sent form and the saved record disagree."""

    label: str
    now: str
    sent: str
    changed_by_them: bool


@dataclass(frozen=True)
class Conflict:
    """A save refused because the record changed after the form was opened."""

    who: list[str]
    at: dt.datetime | None
    changed: list[str] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)

    @property
    def message(self) -> str:
        """What the user is told, ERPNext-style ("changed after you opened it")."""
        return (f"{self.changed_since('opened it')}: their values are shown; re-apply your "
                "change (nothing you sent was saved).")

    def changed_since(self, opened: str) -> str:
        """``alice changed this record at 2026-11-25 16:50 UTC since you <opened>``."""
        who = ", ".join(self.who) or "Someone"
        when = f" at {_shown_time(self.at)}" if self.at is not None else ""
        return f"{who} changed this record{when} since you {opened}"


class Stale(Exception):
    """A workflow step sent from a page that showed an older version of the record."""


def changed_since_opened(current: models.Model, posted: QueryDict) -> bool:
    """Whether the form (or step) was sent from a page showing another version of ``current``
    (False when it carries no version: then the last save wins, as before)."""
    opened = posted.get(VERSION_FIELD, "").strip()
    return bool(opened) and opened != version_of(current)


def step_on_version(obj: models.Model, posted: QueryDict, run: Callable[[], Any]) -> Any:
    """Take a web workflow step on ``obj`` as it is now (read again, in place, inside the step's
    transaction and under a row lock on PostgreSQL), if the page the step was sent from showed
    that version; otherwise raise :class:`Stale` with who changed it and when, writing nothing.
    """
    kind = kind_for_model(type(obj))
    assert kind is not None, f"{type(obj).__name__} is not a record kind"

    def hold() -> None:
        if held(kind, obj) is None:
            raise Http404(f"{obj} was deleted since you opened this page")
        obj.refresh_from_db()
        if changed_since_opened(obj, posted):
            conflict = _conflict(kind, obj, posted.get(SEEN_FIELD, ""))
            raise Stale(f"{conflict.changed_since('opened this page')}: nothing was saved; "
                        "the page now shows their values, take the step again if it is "
                        "still needed.")

    return held_for_step(hold, lambda _held: run())


def conflict_since(kind: RecordKind, current: models.Model, posted: QueryDict,
                   form: RecordForm) -> Conflict | None:
    """The conflict when ``current`` is not the version the form was opened on; None when it
    is, or when the form carries no version (then the last save wins, as before)."""
    if not changed_since_opened(current, posted):
        return None
    found = _conflict(kind, current, posted.get(SEEN_FIELD, ""))
    changed = set(found.changed)
    now = initial_values(kind, current)
    differences = [
        Difference(_label(form, column), _text(now[column.name]), sent, column.name in changed)
        for column in kind.columns if column.name in form.fields
        for sent in [_sent(form, column)]
        if column.name in changed or not _same(column, sent, now[column.name])
    ]
    return Conflict(who=found.who, at=found.at, changed=found.changed, differences=differences)


def _conflict(kind: RecordKind, current: models.Model, seen: str) -> Conflict:
    """Who changed the record and when, and which columns, since history version ``seen``."""
    entries = _changes_since(kind, current, seen)
    changed = {change["field"] for entry in entries for change in entry["changes"]}
    return Conflict(who=list(dict.fromkeys(e["user"] or "someone" for e in reversed(entries))),
                    at=entries[0]["date"] if entries else None,
                    changed=[c.name for c in kind.columns if c.name in changed])


def _changes_since(kind: RecordKind, current: models.Model, seen: str) -> list[dict[str, Any]]:
    """History entries written after the form was opened, newest first."""
    if not hasattr(kind.model, "history"):
        return []
    entries = history_of(kind, current.external_id)  # type: ignore[attr-defined]
    if seen == UNKNOWN:
        return entries[:1]
    after = int(seen) if seen.isdigit() else 0
    return [e for e in entries if e["history_id"] > after]


def _sent(form: RecordForm, column: Column) -> str:
    field_ = form.fields[column.name]
    if isinstance(field_, forms.MultipleChoiceField):
        return "; ".join(form.data.getlist(column.name))  # type: ignore[attr-defined]
    return str(form.data.get(column.name, "") or "").strip()


def _same(column: Column, sent: str, now: Any) -> bool:
    """Whether two raw values mean the same (``2026-01-02T10:00`` is ``...10:00:00+00:00``)."""
    try:
        mine, theirs = column.parse(sent), column.parse(_text(now))
    except CellError:
        return sent == _text(now)
    if column.is_multi_reference:
        return sorted(mine) == sorted(theirs)
    return bool(mine == theirs)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    return str(value)


def _label(form: RecordForm, column: Column) -> str:
    return str(form.fields[column.name].label or column.name)


def _shown_time(at: dt.datetime) -> str:
    local = timezone.localtime(at)
    return local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or "")
