"""One router per record kind, generated from the kind: list, read, create, update, patch,
delete and history, all addressed by ``external_id``.

Concurrent writers lose nothing. A change is applied to the record as it is when the change's
transaction holds the record (re-read under a row lock on PostgreSQL; SQLite's IMMEDIATE
transactions already write one at a time), so two PATCHes of different columns both land.
Optimistic concurrency for read-modify-write: every read and write answers with an ``ETag`` (a
hash of the record as the API shows it); a PUT, PATCH or DELETE sent with ``If-Match: <that
ETag>`` is refused with 412 when the record changed in between, instead of silently writing over
the other change. Without ``If-Match`` the last write wins, as before.

The schemas of a kind are built at run time, so the handlers are declared with the generic
``Schema`` and get their kind's schema through :func:`annotate` before django-ninja reads them.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from django.db import IntegrityError, connection, models, transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from ninja import Field, Header, Query, Router, Schema
from ninja.errors import HttpError
from ninja.pagination import LimitOffsetPagination, paginate
from ninja.responses import Status

from qualityloop.records.base import external_ids, linked_pks, pks_of_link_rows
from qualityloop.services import permissions
from qualityloop.services.permissions import Action
from qualityloop.services.record_kinds import Column, RecordKind
from qualityloop.web.api.schemas import (
    ErrorOut,
    HistoryEntry,
    InvalidOut,
    filterable_columns,
    record_out,
    rows_out,
    schemas_for,
    searchable_columns,
)

MAX_PAGE = 1000
MAX_OFFSET = 2**62


class Invalid(Exception):
    """Input the record writer refused; ``problems`` maps a column (or None) to a message."""

    def __init__(self, problems: Mapping[str, str]):
        super().__init__("; ".join(f"{c}: {m}" for c, m in problems.items()))
        self.problems = dict(problems)


class RecordPagination(LimitOffsetPagination):
    """Limit/offset pagination that shows each record with its kind's columns."""

    class Input(LimitOffsetPagination.Input):
        # The database takes a signed 64-bit OFFSET (offset + limit must fit too); a larger one
        # was a server error.
        offset: int = Field(0, ge=0, le=MAX_OFFSET)

    def paginate_queryset(self, queryset, pagination, request, **params):
        page = super().paginate_queryset(queryset, pagination, request, **params)
        page["items"] = rows_out(page["items"])
        return page


def build_router(kind: RecordKind) -> Router:
    """The router of one record kind (mounted at ``/api/<kind>/``)."""
    router = Router(tags=[kind.name])
    schemas = schemas_for(kind)
    out = schemas.out
    page = list[out]  # type: ignore[valid-type]
    op = kind.name.replace("-", "_")
    refused = {401: ErrorOut, 403: ErrorOut}
    missing = {**refused, 404: ErrorOut}
    writing = {**missing, 409: ErrorOut, 422: InvalidOut}
    changing = {**writing, 412: ErrorOut}

    @router.get("/", response={200: page, **refused, 422: InvalidOut},
                operation_id=f"list_{op}", url_name=f"{kind.name}-list",
                summary=f"List {kind.name}")
    @paginate(RecordPagination, max_limit=MAX_PAGE)
    @annotate(filters=Query[schemas.filters])  # type: ignore[misc,name-defined]
    def list_records(request: HttpRequest, filters: Schema):
        _allow(request, kind, Action.READ)
        return _filtered(kind, request, filters)

    @router.get("/{external_id}", response={200: out, **missing}, operation_id=f"get_{op}",
                url_name=f"{kind.name}-detail", summary=f"Read one of {kind.name}")
    def get_record(request: HttpRequest, external_id: str, response: HttpResponse):
        _allow(request, kind, Action.READ)
        return _shown_with_etag(_find(kind, request, external_id), response)

    @router.post("/", response={201: out, **writing}, operation_id=f"create_{op}",
                 summary=f"Create one of {kind.name}")
    @annotate(payload=schemas.create)
    def create_record(request: HttpRequest, payload: Schema, response: HttpResponse):
        _allow(request, kind, Action.CREATE)
        data = payload.model_dump(exclude_unset=True)
        _refuse_taken_id(kind, data["external_id"])
        created = _write(kind, request, data, kind.model())
        return Status(201, _read_back(kind, created, response))

    @router.put("/{external_id}", response={200: out, **changing}, operation_id=f"update_{op}",
                summary=f"Replace one of {kind.name} (columns left out are emptied)")
    @annotate(payload=schemas.update)
    def update_record(request: HttpRequest, external_id: str, payload: Schema,
                      response: HttpResponse, if_match: IfMatch = None):
        _allow(request, kind, Action.CHANGE)
        data = _full_content(kind, payload.model_dump())
        with transaction.atomic():
            obj = _find_current(kind, request, external_id, if_match)
            saved = _write(kind, request, _renamed(kind, data, external_id), obj)
        return _read_back(kind, saved, response)

    @router.patch("/{external_id}", response={200: out, **changing},
                  operation_id=f"patch_{op}", summary=f"Change some columns of one of {kind.name}")
    @annotate(payload=schemas.patch)
    def patch_record(request: HttpRequest, external_id: str, payload: Schema,
                     response: HttpResponse, if_match: IfMatch = None):
        _allow(request, kind, Action.CHANGE)
        data = payload.model_dump(exclude_unset=True)
        with transaction.atomic():
            obj = _find_current(kind, request, external_id, if_match)
            saved = _write(kind, request, _renamed(kind, data, external_id), obj, partial=True)
        return _read_back(kind, saved, response)

    @router.delete("/{external_id}", response={204: None, **missing, 409: ErrorOut,
                                               412: ErrorOut},
                   operation_id=f"delete_{op}", summary=f"Delete one of {kind.name}")
    def delete_record(request: HttpRequest, external_id: str, if_match: IfMatch = None):
        _allow(request, kind, Action.DELETE)
        with transaction.atomic():
            _delete(kind, request, _find_current(kind, request, external_id, if_match))
        return Status(204, None)

    if hasattr(kind.model, "history"):
        @router.get("/{external_id}/history", response={200: list[HistoryEntry], **missing},
                    operation_id=f"history_{op}", url_name=f"{kind.name}-history",
                    summary=f"Every change to one of {kind.name}, newest first")
        def record_history(request: HttpRequest, external_id: str):
            _allow(request, kind, Action.READ)
            entries = history_of(kind, external_id)
            if not entries or not permissions.may_read_history(caller(request), kind, external_id):
                raise HttpError(404, _not_found(kind, external_id))
            return entries

    return router


# ---------------------------------------------------------------------------------------------
# Reading


def annotate(**annotations: Any) -> Callable[[Callable], Callable]:
    """Give a handler's parameters the types django-ninja should read (schemas built at run
    time)."""
    def apply(handler: Callable) -> Callable:
        handler.__annotations__.update(annotations)
        return handler
    return apply


def caller(request: HttpRequest) -> Any:
    """The user the API authenticated (by token or session)."""
    return request.auth  # type: ignore[attr-defined]


def _allow(request: HttpRequest, kind: RecordKind, action: Action) -> None:
    permissions.check(caller(request), kind, action)


def _not_found(kind: RecordKind, external_id: str) -> str:
    return f"no record of {kind.name} has the external id {external_id!r}"


def _find(kind: RecordKind, request: HttpRequest, external_id: str) -> models.Model:
    _allow(request, kind, Action.READ)  # a caller without a role hears 403, not 404
    visible = permissions.restrict(kind.queryset(), caller(request), kind)
    try:
        # get() drops the ordering that first() would compile: this runs on every API read.
        obj = visible.get(external_id=external_id)
    except kind.model.DoesNotExist:
        raise HttpError(404, _not_found(kind, external_id)) from None
    except kind.model.MultipleObjectsReturned:  # a reach through many-to-many links
        obj = visible.filter(external_id=external_id).first()
    if request.method not in SAFE_METHODS:
        action = _requested_action(kind, request, external_id)
        permissions.check_object(caller(request), obj, action)
    return obj


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

IfMatch = Annotated[str | None, Header(
    alias="If-Match",
    description="The ETag of the record as the caller last read it: the change is refused "
                "with 412 if the record has changed since (optimistic concurrency).")]


def _find_current(kind: RecordKind, request: HttpRequest, external_id: str,
                  if_match: str | None) -> models.Model:
    """The record as it is now, held until the caller's transaction ends; refused with 412 when
    ``If-Match`` names another version. Call inside ``transaction.atomic()``."""
    if connection.features.has_select_for_update:
        # Row lock on PostgreSQL (SQLite's IMMEDIATE transaction holds the whole database).
        list(kind.model._default_manager.select_for_update()
             .filter(external_id=external_id).values_list("pk", flat=True))
    obj = _find(kind, request, external_id)
    if if_match is not None:
        current = etag_of(record_out(obj))
        if not _etag_matches(if_match, current):
            raise HttpError(412, f"{external_id!r} has changed since you read it (its ETag is "
                                 f"now {current}); read it again and make your change on that")
    return obj


def etag_of(shown: Mapping[str, Any]) -> str:
    """A strong ETag of a record from ``record_out(obj)``: a hash of the record as the API shows
    it, so a change of any column or link gives another one."""
    text = json.dumps(shown, sort_keys=True, default=str)
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


def _etag_matches(if_match: str, current: str) -> bool:
    wanted = {tag.strip() for tag in if_match.split(",")}
    return "*" in wanted or current in wanted


def _shown_with_etag(obj: models.Model, response: HttpResponse) -> dict[str, Any]:
    shown = record_out(obj)
    response["ETag"] = etag_of(shown)
    return shown


def _requested_action(kind: RecordKind, request: HttpRequest, external_id: str) -> str:
    """What a writing request does to the record it names: delete, change, or the workflow step
    its path ends with (``/api/nonconformances/N-1/close``: ``close``)."""
    if request.method == "DELETE":
        return Action.DELETE
    last = request.path.rstrip("/").rsplit("/", 1)[-1]
    return Action.CHANGE if last == external_id else permissions.step_action(kind, last)


def _filtered(kind: RecordKind, request: HttpRequest, filters: Any) -> models.QuerySet:
    qs = permissions.restrict(kind.queryset(), caller(request), kind)
    wanted = filters.model_dump(exclude_none=True)
    text = wanted.pop("q", None)
    if text:
        match = Q()
        for name in searchable_columns(kind):
            match |= Q(**{f"{name}__icontains": text})
        qs = qs.filter(match)
    by_name = {col.name: col for col in filterable_columns(kind)}
    for name, value in wanted.items():
        col = by_name[name]
        if col.is_reference or col.is_multi_reference:
            qs = qs.filter(**{f"{name}__external_id": value})
        else:
            qs = qs.filter(**{name: value})
    if any(by_name[name].is_multi_reference for name in wanted):
        qs = qs.distinct()
    return qs


# ---------------------------------------------------------------------------------------------
# Writing


def _refuse_taken_id(kind: RecordKind, external_id: str) -> None:
    if kind.model._default_manager.filter(external_id=external_id).exists():
        raise HttpError(409, f"a record of {kind.name} with the external id {external_id!r} "
                             "already exists; use PUT or PATCH to change it")


def _full_content(kind: RecordKind, data: dict[str, Any]) -> dict[str, Any]:
    """PUT replaces the whole record: a column left out is emptied (or set to its default)."""
    return {
        name: ([] if value is None and kind.column(name).is_multi_reference else value)
        for name, value in data.items()
    }


def _renamed(kind: RecordKind, data: dict[str, Any], current_id: str) -> dict[str, Any]:
    """Keep the id from the path unless the body renames the record to a free id."""
    if "external_id" in data and data["external_id"] is None:
        data["external_id"] = current_id
    new_id = data.get("external_id", current_id)
    if new_id != current_id:
        _refuse_taken_id(kind, new_id)
    return data


def _write(kind: RecordKind, request: HttpRequest, data: Mapping[str, Any],
           instance: models.Model, partial: bool = False) -> models.Model:
    """Create (``instance`` unsaved: ``kind.model()``, its external id known to be free) or
    change a record, checking the caller may leave it as written; the record as saved."""
    from qualityloop.services.record_writer import RowInvalid, write_record

    creating = instance._state.adding
    status_before = None if creating else getattr(instance, "status", None)
    try:
        with transaction.atomic():
            obj, _status = write_record(
                kind, data, instance=instance, partial=partial, history_user=caller(request),
                # A create's external id was checked free just before (a race ends in the
                # IntegrityError below); other unique columns are still checked.
                validate_unique=not creating or kind.has_unique_checks_besides_external_id,
            )
            # Checked again after the change: a record may not be moved out of the caller's
            # reach, nor into a status only a workflow step may set.
            permissions.check_written(caller(request), obj,
                                      Action.CREATE if creating else Action.CHANGE,
                                      status_before)
    except RowInvalid as invalid:
        raise Invalid(invalid.errors) from None
    except IntegrityError:
        raise HttpError(409, f"the change conflicts with another record of {kind.name} "
                             "(is the external id taken?)") from None
    return obj


def _read_back(kind: RecordKind, obj: models.Model, response: HttpResponse) -> dict[str, Any]:
    """A record just written as a GET shows it, with its ETag, read again as plain values
    (``rows_out``, one query per many-to-many column besides its own; the same ETag as a GET:
    tests/test_api_rows.py). Called after the write's transaction, not holding the write lock."""
    found = rows_out(kind.model._default_manager.filter(pk=obj.pk))
    # Deleted by someone else since the commit: answer with the record as this request saved it.
    shown = found[0] if found else record_out(obj)
    response["ETag"] = etag_of(shown)
    return shown


def _delete(kind: RecordKind, request: HttpRequest, obj: models.Model) -> None:
    from qualityloop.services.record_writer import RowInvalid, delete_record

    try:
        with transaction.atomic():
            delete_record(kind, obj, history_user=caller(request))
    except RowInvalid as blocked:
        reason = "; ".join(blocked.errors.values())
        name = getattr(obj, "external_id", obj.pk)
        raise HttpError(409, f"{name!r} cannot be deleted: {reason}") from None


# ---------------------------------------------------------------------------------------------
# History

HISTORY_TYPES = {"+": "created", "~": "changed", "-": "deleted"}


def history_of(kind: RecordKind, external_id: str) -> list[dict[str, Any]]:
    """Every saved version of the record with this external id, newest first, each with the
    columns that changed from the version before (old and new values, references by id).

    Versions of a deleted record are kept, so the history outlives the record."""
    stored = kind.model.history.filter(external_id=external_id)  # type: ignore[attr-defined]
    versions = list(stored.select_related("history_user").order_by("history_date", "history_id"))
    tracked = list(kind.columns)
    previous_by_pk: dict[Any, Any] = {}
    entries = []
    for version in versions:
        previous = previous_by_pk.get(version.id)
        entries.append({
            "history_id": version.history_id,
            "date": version.history_date,
            "user": getattr(version.history_user, "username", None),
            "type": HISTORY_TYPES[version.history_type],
            "changes": _changes(tracked, previous, version),
        })
        previous_by_pk[version.id] = version
    return entries[::-1]


def _changes(tracked: list[Column], previous: Any, version: Any) -> list[dict[str, Any]]:
    if version.history_type == "-":
        return []
    if previous is None:
        return [
            {"field": col.name, "old": None, "new": _shown(col, _raw(version, col))}
            for col in tracked if _raw(version, col) not in (None, "")
        ]
    delta = version.diff_against(previous, included_fields=[col.name for col in tracked])
    by_name = {col.name: col for col in tracked}
    changes = []
    for change in delta.changes:
        col = by_name[change.field]
        old, new = change.old, change.new
        if col.is_multi_reference:  # diff_against gives the link rows; keep the linked keys
            old, new = pks_of_link_rows(col.field, old), pks_of_link_rows(col.field, new)
        changes.append({"field": col.name, "old": _shown(col, old), "new": _shown(col, new)})
    return changes


def _raw(version: Any, col: Column) -> Any:
    if col.is_multi_reference:
        return linked_pks(version, col.name) or None
    return getattr(version, col.field.attname)


def _shown(col: Column, value: Any) -> Any:
    """A stored value as the API shows it: references by external id (a sorted list for
    many-to-many links), dates as ISO text."""
    if value is None:
        return None
    if col.is_multi_reference and col.target is not None:
        return sorted(external_ids(col.target, value))
    if col.is_reference and col.target is not None:
        return _external_id_of(col.target, value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def _external_id_of(model: type[models.Model], pk: Any) -> str | None:
    """The external id of a referenced record, looked up in its history once it is deleted."""
    ids = model._default_manager.filter(pk=pk).values_list("external_id", flat=True)
    found = ids.first()
    if found is None and hasattr(model, "history"):
        versions = model.history.filter(id=pk)  # type: ignore[attr-defined]
        found = versions.order_by("-history_date").values_list("external_id", flat=True).first()
    return found
