"""The change-control steps of a change request as API operations (services/change_control.py):
submit, approve and reject (signed with the caller's password), implement and verify.

Mounted next to the generated router of ``change-requests``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

from qualityloop.records.quality.models import ChangeRequest
from qualityloop.services import change_control as steps
from qualityloop.services.record_kinds import get_kind
from qualityloop.web.api.problem_solving import SIGNING, _step  # _step: the API's 422 shape
from qualityloop.web.api.records import _find, caller
from qualityloop.web.api.schemas import ErrorOut, InvalidOut, record_out, schemas_for

change_steps = Router(tags=["change-requests"])
WRITING = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: InvalidOut}
CHANGE_OUT = schemas_for(get_kind(steps.CHANGES)).out


class DecisionIn(Schema):
    password: str = Field(description="The caller's own password: the signature")
    note: str = Field("", description="Why (required to reject)")
    approved_on: dt.date | None = Field(None, description="Approve only; default: today")


class RejectionIn(Schema):
    password: str = Field(description="The caller's own password: the signature")
    note: str = Field(description="Why the change is rejected")


class ImplementationIn(Schema):
    note: str = Field(description="What was changed, and where")
    implemented_on: dt.date | None = Field(None, description="Default: today")


class VerificationIn(Schema):
    note: str = Field(description="The evidence that the change works")
    verified_on: dt.date | None = Field(None, description="Default: today")
    verified_by: str | None = Field(None, description="External id of the person who verified "
                                                      "(default: the caller's person)")


class SignedOut(Schema):
    record: CHANGE_OUT  # type: ignore[valid-type]
    signed_by: str
    signed_at: dt.datetime


def _change(request: HttpRequest, external_id: str) -> ChangeRequest:
    return _find(get_kind(steps.CHANGES), request, external_id)  # type: ignore[return-value]


def _signed(change: ChangeRequest) -> dict[str, Any]:
    return {"record": record_out(change), "signed_by": change.signed_by.get_username(),
            "signed_at": change.signed_at}


@change_steps.post("/{external_id}/submit", response={200: CHANGE_OUT, **WRITING},
                   summary="Submit a draft change request for approval")
def submit(request: HttpRequest, external_id: str):
    change = _change(request, external_id)
    return record_out(_step(lambda: steps.submit(change, caller(request))))


@change_steps.post(
    "/{external_id}/approve", response={200: SignedOut, **SIGNING},
    summary="Approve a submitted change with your signature (password): quality manager or top "
            "management; a unit lead for a low-risk change of their unit; not the requester")
def approve(request: HttpRequest, external_id: str, payload: DecisionIn):
    change = _change(request, external_id)
    return _signed(_step(lambda: steps.approve(change, caller(request), payload.password,
                                               payload.note, payload.approved_on)))


@change_steps.post("/{external_id}/reject", response={200: SignedOut, **SIGNING},
                   summary="Reject a submitted change with your signature (password) and a reason")
def reject(request: HttpRequest, external_id: str, payload: RejectionIn):
    change = _change(request, external_id)
    return _signed(_step(lambda: steps.reject(change, caller(request), payload.password,
                                              payload.note)))


@change_steps.post("/{external_id}/implement", response={200: CHANGE_OUT, **WRITING},
                   summary="Record the implementation of an approved change")
def implement(request: HttpRequest, external_id: str, payload: ImplementationIn):
    change = _change(request, external_id)
    return record_out(_step(lambda: steps.record_implementation(
        change, caller(request), payload.note, payload.implemented_on)))


@change_steps.post("/{external_id}/verify", response={200: CHANGE_OUT, **WRITING},
                   summary="Record the verification of an implemented change (closes it)")
def verify(request: HttpRequest, external_id: str, payload: VerificationIn):
    change = _change(request, external_id)
    return record_out(_step(lambda: steps.record_verification(
        change, caller(request), payload.note, payload.verified_on, payload.verified_by)))
