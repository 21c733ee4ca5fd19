"""Write one record of any kind from a mapping of column values: the single path by which import
and the REST API create, update and delete records.

Values are given as they appear in a file or a JSON body (text, numbers, dates, external ids of
other records). Every value is parsed with the kind's :class:`~.record_kinds.Column`, references
are resolved by ``external_id``, the model's own validation runs, and only then is anything saved.
All of a row's problems are reported together in one :class:`RowInvalid`.

The caller owns the transaction: wrap calls in ``transaction.atomic()``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ObjectDoesNotExist, ValidationError
from django.db import connection, models
from django.utils import timezone

from qualityloop.records.base import save_with_links
from qualityloop.services.record_kinds import CellError, Column, RecordKind, same_value

ALL = "__all__"
STATUSES = ("created", "updated", "unchanged")


class RowInvalid(Exception):
    """A record cannot be written; ``errors`` maps a column name (or ``"__all__"``) to a message
    saying what was expected."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors: dict[str, str] = dict(errors)
        super().__init__("; ".join(f"{col}: {message}" for col, message in self.errors.items()))


@dataclass
class PreparedRecord:
    """A record with its new values set and validated, not yet saved."""

    obj: models.Model
    status: str
    many: dict[str, list[int]] = field(default_factory=dict)
    changed_fields: list[str] = field(default_factory=list)


def write_record(
    kind: RecordKind,
    data: Mapping[str, Any],
    instance: models.Model | None = None,
    partial: bool = False,
    ref_cache: dict | None = None,
    change_reason: str | None = None,
    history_user: Any = None,
    validate_unique: bool = True,
) -> tuple[models.Model, str]:
    """Create or update one record of ``kind`` from column values, all checks first.

    Parameters
    ----------
    kind
        The record kind (``record_kinds.get_kind(name)``).
    data
        Column name to raw value, as in a file cell or a JSON body. References are external ids;
        many-to-many references a list of external ids or one ``;``-separated text.
    instance
        The record to update. When ``None``: if ``data`` has a non-empty ``external_id`` and a
        record of this kind with that external id exists, that record is updated (upsert);
        otherwise a new record is created. An unsaved instance (``kind.model()``) means "create,
        do not look up" (bulk callers that already know the record is new).
    partial
        Only for updates (HTTP PATCH, import of a file with fewer columns): touch only the columns
        given in ``data``. When ``False``, every column missing from ``data`` is set to its default
        (or empty), and a missing required column is an error. A new record always gets defaults
        for the missing columns and needs every required one.
    ref_cache
        Optional dict kept by the caller across calls (one transaction) to resolve references
        without a query per row: model label -> {external_id: pk}. Each referenced model is loaded
        once; records created here are added to it.
    change_reason, history_user
        Stored on the history row (django-simple-history) when the record is saved.
    validate_unique
        ``False`` when the caller has checked the unique columns itself (as in
        :func:`prepare_record`); the database's constraints still hold.

    Returns
    -------
    (obj, status)
        The saved record and ``"created"``, ``"updated"`` or ``"unchanged"``; an unchanged record
        is not saved, so no history row is added.

    Raises
    ------
    RowInvalid
        With every problem of the row, by column.
    """
    prepared = prepare_record(kind, data, instance=instance, partial=partial, ref_cache=ref_cache,
                              validate_unique=validate_unique)
    if prepared.status == "unchanged":
        return prepared.obj, "unchanged"
    save_prepared(prepared, ref_cache, change_reason=change_reason, history_user=history_user)
    return prepared.obj, prepared.status


def delete_record(kind: RecordKind, instance: models.Model, history_user: Any = None) -> None:
    """Delete one record; a record still referenced by protected links raises RowInvalid."""
    if not isinstance(instance, kind.model):
        raise TypeError(f"{instance!r} is not a {kind.model._meta.verbose_name}")
    if history_user is not None:
        instance._history_user = history_user  # type: ignore[attr-defined]
    try:
        instance.delete()
    except models.ProtectedError as blocked:
        names = sorted({str(obj) for obj in blocked.protected_objects})[:5]
        raise RowInvalid({ALL: "still referenced by " + ", ".join(names)}) from None


def prepare_record(
    kind: RecordKind,
    data: Mapping[str, Any],
    instance: models.Model | None = None,
    partial: bool = False,
    ref_cache: dict | None = None,
    validate_unique: bool = True,
) -> PreparedRecord:
    """Parse, resolve and validate a row and set it on the (new or existing) record, unsaved.

    The building block of :func:`write_record`, for callers that save in bulk (they pass
    ``validate_unique=False`` when they check external ids themselves). Raises RowInvalid.
    """
    errors: dict[str, str] = {}
    _check_unknown_columns(kind, data, errors)
    parsed = _parse_columns(kind, data, instance, partial, errors)
    if instance is None:
        instance = _existing_by_external_id(kind, parsed.get("external_id"))
    obj = instance if instance is not None else kind.model()
    creating = obj._state.adding
    if creating and partial:
        # A new record is complete whatever ``partial`` says.
        parsed.update(_parse_columns(kind, {}, None, False, errors, skip=set(parsed) | set(errors)))
    resolved = _resolve_references(kind, parsed, ref_cache, errors)
    changed = _assign(kind, obj, resolved)
    many = {name: pks for name, pks in resolved.items() if kind.column(name).is_multi_reference}
    _validate(kind, obj, errors, validate_unique)
    if errors:
        raise RowInvalid(errors)
    if creating:
        status = "created"
    elif changed or _many_changed(obj, many):
        status = "updated"
    else:
        status = "unchanged"
    return PreparedRecord(obj, status, many, changed)


def save_prepared(
    prepared: PreparedRecord,
    ref_cache: dict | None = None,
    change_reason: str | None = None,
    history_user: Any = None,
) -> None:
    """Save a prepared record and its many-to-many links; keep ``ref_cache`` up to date."""
    obj = prepared.obj
    if change_reason:
        obj._change_reason = change_reason  # type: ignore[attr-defined]
    if history_user is not None:
        obj._history_user = history_user  # type: ignore[attr-defined]
    # One history version for the fields and the links together.
    save_with_links(obj, prepared.many,
                    save_fields=prepared.status == "created" or bool(prepared.changed_fields))
    if ref_cache is not None and obj._meta.label in ref_cache:
        ref_cache[obj._meta.label][obj.external_id] = obj.pk  # type: ignore[attr-defined]


def _check_unknown_columns(kind: RecordKind, data: Mapping[str, Any], errors: dict) -> None:
    known = set(kind.column_names)
    expected = ", ".join(kind.column_names)
    for name in data:
        if name not in known:
            errors[name] = f"not a column of {kind.name}; expected one of: {expected}"


def _parse_columns(
    kind: RecordKind,
    data: Mapping[str, Any],
    instance: models.Model | None,
    partial: bool,
    errors: dict[str, str],
    skip: Iterable[str] = (),
) -> dict[str, Any]:
    skipped = set(skip)
    only_given = partial and instance is not None
    parsed: dict[str, Any] = {}
    for column in kind.columns:
        if column.name in skipped or (only_given and column.name not in data):
            continue
        if partial and instance is None and column.name not in data:
            # Whether this is an update is known only after the external_id lookup.
            continue
        try:
            parsed[column.name] = column.parse(_cell(column, data.get(column.name)))
        except CellError as problem:
            errors[column.name] = str(problem)
    return parsed


def _cell(column: Column, raw: Any) -> Any:
    """JSON bodies give lists for many-to-many columns; files give ``;``-separated text."""
    if column.is_multi_reference and isinstance(raw, list | tuple | set):
        return ";".join(str(part) for part in raw)
    return raw


def _existing_by_external_id(kind: RecordKind, external_id: Any) -> models.Model | None:
    if not external_id:
        return None
    return kind.model._default_manager.filter(external_id=external_id).first()


def _resolve_references(
    kind: RecordKind, parsed: dict[str, Any], ref_cache: dict | None, errors: dict[str, str]
) -> dict[str, Any]:
    """Replace external ids by primary keys; unknown ones become errors on their column."""
    resolved = dict(parsed)
    for name, value in parsed.items():
        column = kind.column(name)
        if not (column.is_reference or column.is_multi_reference) or value in (None, []):
            continue
        ids = value if column.is_multi_reference else [value]
        pks, missing = _lookup(column.target, ids, ref_cache)  # type: ignore[arg-type]
        if missing:
            errors[name] = unknown_reference(column, missing)
            resolved.pop(name)
            continue
        resolved[name] = pks if column.is_multi_reference else pks[0]
    return resolved


def _lookup(
    model: type[models.Model], ids: list[str], ref_cache: dict | None
) -> tuple[list[int], list[str]]:
    if ref_cache is not None:
        known = known_external_ids(model, ref_cache)
    else:
        known = dict(
            model._default_manager.filter(external_id__in=ids).values_list("external_id", "pk")
        )
    pks = [known[x] for x in ids if x in known]
    missing = [x for x in ids if x not in known]
    return pks, missing


def known_external_ids(model: type[models.Model], ref_cache: dict) -> dict[str, int]:
    """External id -> primary key of every record of ``model``, loaded once into ``ref_cache``."""
    known = ref_cache.get(model._meta.label)
    if known is None:
        known = dict(model._default_manager.values_list("external_id", "pk"))
        ref_cache[model._meta.label] = known
    return known


def unknown_reference(column: Column, missing: Iterable[str]) -> str:
    """The message for external ids in a reference column that name no record."""
    noun = column.target._meta.verbose_name  # type: ignore[union-attr]
    return "; ".join(f"no {noun} with external id {x!r}" for x in missing)


def _assign(kind: RecordKind, obj: models.Model, resolved: dict[str, Any]) -> list[str]:
    """Set the new values on ``obj``; return the names of the fields whose value changed."""
    changed: list[str] = []
    for name, value in resolved.items():
        column = kind.column(name)
        if column.is_multi_reference:
            continue
        attname = column.field.attname
        if obj._state.adding or not same_value(getattr(obj, attname), value):
            if column.is_reference and column.field.is_cached(obj):
                # Drop the cached related object so model.clean() sees the new one.
                column.field.delete_cached_value(obj)
            setattr(obj, attname, value)
            changed.append(name)
    if changed and not obj._state.adding and hasattr(obj, "updated_at"):
        obj.updated_at = timezone.now()
    return changed


def _many_changed(obj: models.Model, many: dict[str, list[int]]) -> bool:
    for name, pks in many.items():
        current = set(getattr(obj, name).values_list("pk", flat=True))
        if current != set(pks):
            return True
    return False


def _validate(kind: RecordKind, obj: models.Model, errors: dict[str, str], unique: bool) -> None:
    """Run the model's validation; references were checked when resolved, so skip their query."""
    columns = set(kind.column_names)
    exclude = {
        f.name for f in obj._meta.concrete_fields
        if f.name not in columns or f.is_relation or f.name in errors
    }
    try:
        obj.full_clean(exclude=exclude, validate_unique=unique)
    except ValidationError as invalid:
        for name, messages in _messages_by_field(invalid).items():
            key = name if name in columns else ALL
            errors.setdefault(key, " ".join(messages))
    except ObjectDoesNotExist:
        # model.clean() followed a reference that failed to resolve; that error is already known.
        if not errors:
            raise


def _messages_by_field(invalid: ValidationError) -> dict[str, list[str]]:
    if hasattr(invalid, "error_dict"):
        return {
            (ALL if name == NON_FIELD_ERRORS else name): msgs
            for name, msgs in invalid.message_dict.items()
        }
    return {ALL: list(invalid.messages)}


# --- many rows of a plain kind (RecordKind.is_plain) ---------------------------------------------

class FieldChecks:
    """The checks ``full_clean()`` runs on one field value (``Field.clean``: type, choices, null,
    blank and every validator), remembered per field and value.

    ``check(field, value)`` gives the cleaned value and ``None``, or the value and the message
    ``full_clean()`` would give. The checks depend on the field and the value only, and files
    repeat values, so a large file is checked much faster.
    """

    def __init__(self) -> None:
        self._seen: dict[tuple, tuple[Any, str | None]] = {}

    def check(self, field: models.Field, value: Any) -> tuple[Any, str | None]:
        key = (field.attname, *value_key(value))
        try:
            return self._seen[key]
        except KeyError:
            result = self._seen[key] = _clean_field(field, value)
            return result
        except TypeError:  # a value that cannot be a key (a list)
            return _clean_field(field, value)


def _clean_field(field: models.Field, value: Any) -> tuple[Any, str | None]:
    """What ``Model.clean_fields()`` does for one field."""
    if field.blank and value in field.empty_values:
        return value, None
    try:
        # No non-relation field of Django uses the model instance to validate a value.
        return field.clean(value, None), None
    except ValidationError as invalid:
        return value, " ".join(invalid.messages)


_KEYED_BY_VALUE = (str, int, bool, dt.date, type(None))


def value_key(value: Any) -> tuple[type, Any]:
    """A key telling apart values that compare equal but are not the same: 1, 1.0 and True;
    Decimal 1.0 and 1.00; 0.0 and -0.0; the same moment in two time zones."""
    kind = type(value)
    return kind, (value if kind in _KEYED_BY_VALUE else repr(value))


class _DatabaseValues:
    """``Field.get_db_prep_save`` for values of one field, remembered per value."""

    def __init__(self, field: models.Field) -> None:
        self.field = field
        self._seen: dict[tuple, Any] = {}

    def __call__(self, value: Any) -> Any:
        key = value_key(value)
        try:
            return self._seen[key]
        except KeyError:
            result = self._seen[key] = self.field.get_db_prep_save(value, connection)
            return result
        except TypeError:  # a value that cannot be a key (a list)
            return self.field.get_db_prep_save(value, connection)


def insert_rows(model: type[models.Model], rows: list[dict[str, Any]], batch: int = 2000) -> None:
    """Insert new records of a plain kind, given as field attname -> value for every column.

    The automatic key is left to the database; ``auto_now`` and ``auto_now_add`` time stamps are
    set to the same moment for every row, as ``save()`` would set them.
    """
    now = timezone.now()
    fields = [f for f in model._meta.concrete_fields if f is not model._meta.auto_field]
    stamped = {f.attname: _stamp(f, now) for f in fields if _is_stamped(f, adding=True)}
    sql = "INSERT INTO {} ({}) VALUES ({})".format(
        _quoted(model._meta.db_table), ", ".join(_quoted(f.column) for f in fields),
        ", ".join(["%s"] * len(fields)),
    )
    _execute_many(sql, fields, [row | stamped for row in rows], [], batch)


def update_rows(
    model: type[models.Model], rows: list[tuple[Any, dict[str, Any]]], names: Iterable[str],
    batch: int = 500,
) -> None:
    """Update records of a plain kind: (pk, field name -> value) pairs, the fields ``names``;
    ``auto_now`` time stamps are set to the same moment for every row."""
    now = timezone.now()
    meta = model._meta
    wanted = set(names)
    fields = [f for f in meta.concrete_fields if f.name in wanted or _is_stamped(f, adding=False)]
    stamped = {f.attname: _stamp(f, now) for f in fields if _is_stamped(f, adding=False)}
    sql = "UPDATE {} SET {} WHERE {} = %s".format(
        _quoted(meta.db_table), ", ".join(f"{_quoted(f.column)} = %s" for f in fields),
        _quoted(meta.pk.column),  # type: ignore[union-attr]
    )
    values = [values | stamped for _, values in rows]
    _execute_many(sql, fields, values, [pk for pk, _ in rows], batch)


def _execute_many(
    sql: str, fields: list[models.Field], rows: list[dict[str, Any]], keys: list[Any], batch: int
) -> None:
    prepare = [(f.attname, _DatabaseValues(f)) for f in fields]
    with connection.cursor() as cursor:
        for start in range(0, len(rows), batch):
            params = [
                [to_db(row[attname]) for attname, to_db in prepare]
                for row in rows[start:start + batch]
            ]
            for line, key in zip(params, keys[start:start + batch], strict=False):
                line.append(key)
            cursor.executemany(sql, params)


def _is_stamped(field: models.Field, adding: bool) -> bool:
    return bool(getattr(field, "auto_now", False) or (adding and getattr(field, "auto_now_add",
                                                                          False)))


def _stamp(field: models.Field, now: Any) -> Any:
    return now if isinstance(field, models.DateTimeField) else dt.date.today()


def _quoted(name: str | None) -> str:
    assert name is not None  # tables and concrete fields always have a name
    return connection.ops.quote_name(name)


__all__ = [
    "FieldChecks", "PreparedRecord", "RowInvalid", "delete_record", "insert_rows",
    "known_external_ids", "prepare_record", "save_prepared", "unknown_reference", "update_rows",
    "value_key", "write_record",
]
