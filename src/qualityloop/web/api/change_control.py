"""The change-control steps of a change request as API operations (services/change_control.py):
submit, approve and reject (signed with the caller's password), implement and verify.

Mounted next to the generated router of ``change-requests``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema

from qualityloop.records.quality.models import ChangeRequest
from qualityloop.services import change_control as steps
from qualityloop.services.record_kinds import get_kind
from qualityloop.web.api.conditional import PRECONDITION, IfMatch, shown, take_step
from qualityloop.web.api.problem_solving import SIGNING
from qualityloop.web.api.records import caller
from qualityloop.web.api.schemas import ErrorOut, InvalidOut, schemas_for

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


def _taken(request: HttpRequest, external_id: str, if_match: str | None,
           run: Callable[[ChangeRequest], Any]) -> ChangeRequest:
    """Take a step on the change request (conditional on ``If-Match``)."""
    return take_step(steps.CHANGES, request, external_id, if_match, run)  # type: ignore[no-any-return]


def _signed(change: ChangeRequest, response: HttpResponse) -> dict[str, Any]:
    return {"record": shown(change, response), "signed_by": change.signed_by.get_username(),
            "signed_at": change.signed_at}


@change_steps.post("/{external_id}/submit", response={200: CHANGE_OUT, **WRITING, **PRECONDITION},
                   summary="Submit a draft change request for approval")
def submit(request: HttpRequest, external_id: str, response: HttpResponse,
           if_match: IfMatch = None):
    return shown(_taken(request, external_id, if_match,
                        lambda change: steps.submit(change, caller(request))), response)


@change_steps.post(
    "/{external_id}/approve", response={200: SignedOut, **SIGNING, **PRECONDITION},
    summary="Approve a submitted change with your signature (password): quality manager or top "
            "management; a unit lead for a low-risk change of their unit; not the requester")
def approve(request: HttpRequest, external_id: str, payload: DecisionIn,
            response: HttpResponse, if_match: IfMatch = None):
    return _signed(_taken(request, external_id, if_match,
                          lambda change: steps.approve(change, caller(request), payload.password,
                                                       payload.note, payload.approved_on)),
                   response)


@change_steps.post("/{external_id}/reject",
                   response={200: SignedOut, **SIGNING, **PRECONDITION},
                   summary="Reject a submitted change with your signature (password) and a reason")
def reject(request: HttpRequest, external_id: str, payload: RejectionIn,
           response: HttpResponse, if_match: IfMatch = None):
    return _signed(_taken(request, external_id, if_match,
                          lambda change: steps.reject(change, caller(request), payload.password,
                                                      payload.note)),
                   response)


@change_steps.post("/{external_id}/implement",
                   response={200: CHANGE_OUT, **WRITING, **PRECONDITION},
                   summary="Record the implementation of an approved change")
def implement(request: HttpRequest, external_id: str, payload: ImplementationIn,
              response: HttpResponse, if_match: IfMatch = None):
    return shown(_taken(request, external_id, if_match,
                        lambda change: steps.record_implementation(
                            change, caller(request), payload.note, payload.implemented_on)),
                 response)


@change_steps.post("/{external_id}/verify", response={200: CHANGE_OUT, **WRITING, **PRECONDITION},
                   summary="Record the verification of an implemented change (closes it)")
def verify(request: HttpRequest, external_id: str, payload: VerificationIn,
           response: HttpResponse, if_match: IfMatch = None):
    return shown(_taken(request, external_id, if_match,
                        lambda change: steps.record_verification(
                            change, caller(request), payload.note, payload.verified_on,
                            payload.verified_by)),
                 response)
