"""Workflow steps made conditional, as PUT, PATCH and DELETE are (``web/api/records.py``).

A step (``/close``, ``/acknowledge``, ``/approve`` ...) may be sent with ``If-Match: <ETag>``: it
is then taken only on the version of the record the caller read, and refused with 412 (the
shape of every API error) when the record changed in between; nothing is written then. The
record is read and checked inside the step's transaction, under a row lock on PostgreSQL
(SQLite's IMMEDIATE transactions already write one at a time), so no change can slip in between
the check and the step. Without ``If-Match`` a step works as before. Every answer carries the
ETag of the record it shows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.db import models, transaction
from django.http import HttpRequest, HttpResponse

from qualityloop.services.record_kinds import get_kind, kind_for_model
from qualityloop.services.record_writer import RowInvalid
from qualityloop.services.signatures import ReauthenticationFailed
from qualityloop.web.api.records import IfMatch, Invalid, _find_current, _shown_with_etag
from qualityloop.web.api.schemas import ErrorOut

__all__ = ["PRECONDITION", "IfMatch", "held_for_step", "shown", "take_step"]
T = TypeVar("T")

PRECONDITION = {412: ErrorOut}  # add to the answers of a step taking If-Match


def take_step(kind_name: str, request: HttpRequest, external_id: str, if_match: str | None,
              run: Callable[[Any], Any]) -> Any:
    """Run ``run(record)`` on the record of kind ``kind_name`` with this external id, as it is
    now, in one transaction; refused with 412 when ``if_match`` names another version, and
    refusals of the record writer in the API's 422 shape.

    A refused signature is kept: the step is refused before it writes anything, and the
    refusal (and the count towards a lockout) must outlive it (``services/signatures.py``), so
    the transaction is committed and the refusal raised after it.
    """
    kind = get_kind(kind_name)
    try:
        return held_for_step(lambda: _find_current(kind, request, external_id, if_match), run)
    except RowInvalid as invalid:
        raise Invalid(invalid.errors) from None


def held_for_step(hold: Callable[[], T], run: Callable[[T], Any]) -> Any:
    """``run(hold())`` in one transaction: ``hold`` reads (and locks, and checks) the record,
    ``run`` takes the step on it; anything either raises rolls both back, but for a refused
    signature, whose records are committed before it is raised again (the step wrote nothing
    yet: services sign before they write)."""
    refused: ReauthenticationFailed | None = None
    with transaction.atomic():
        held = hold()
        try:
            result = run(held)
        except ReauthenticationFailed as refusal:
            refused = refusal
    if refused is not None:
        raise refused
    return result


def shown(obj: models.Model, response: HttpResponse) -> dict[str, Any]:
    """The record as the API shows it, read again as stored, with its ``ETag`` on the answer
    (the one a read of it gives)."""
    kind = kind_for_model(type(obj))
    assert kind is not None, f"{type(obj).__name__} is not a record kind"
    return _shown_with_etag(kind.queryset().get(pk=obj.pk), response)
