"""The problem-solving steps of a nonconformance as API operations (services/problem_solving.py):
containment, root cause, add action, effectiveness check and the signed close.

Mounted next to the generated routers of ``nonconformances`` and ``actions``.
"""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema
from ninja.responses import Status

from qualityloop.records.quality.models import Nonconformance
from qualityloop.services import problem_solving as steps
from qualityloop.services.record_kinds import get_kind
from qualityloop.web.api.conditional import PRECONDITION, IfMatch, shown, take_step
from qualityloop.web.api.records import caller
from qualityloop.web.api.schemas import ErrorOut, InvalidOut, schemas_for

nonconformance_steps = Router(tags=["nonconformances"])
action_steps = Router(tags=["actions"])
WRITING = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: InvalidOut}
# A signed step answers 429 with Retry-After after too many wrong passwords (services/signatures).
SIGNING = {**WRITING, 429: ErrorOut}
NC_OUT = schemas_for(get_kind(steps.NCS)).out
ACTION_OUT = schemas_for(get_kind(steps.ACTIONS)).out


class ContainmentIn(Schema):
    containment: str = Field(description="What was done to contain the problem")


class WhyIn(Schema):
    why: str = ""
    because: str = ""


class RootCauseIn(Schema):
    whys: list[WhyIn] = Field(default_factory=list, max_length=5,
                              description="Up to five why/because lines, in order")
    cause_category: str = Field("", description="6M category: man, machine, method, material, "
                                                "measurement, environment")
    root_cause: str = Field("", description="The root cause (default: the last 'because')")


class ActionIn(Schema):
    external_id: str | None = Field(None, description="Default: <NC id>-A<n>")
    kind: str = Field(description="correction, corrective or preventive")
    description: str
    owner: str = Field(description="External id of the person who owns the action")
    due_on: dt.date
    root_cause: str | None = None
    effectiveness_criteria: str | None = None
    status: str | None = None


class CheckIn(Schema):
    verified_by: str = Field(description="External id of the person who verified")
    checked_on: dt.date
    effective: bool
    evidence: str = Field(description="What the verdict rests on")


class NonconformanceCloseIn(Schema):
    password: str = Field(description="The caller's own password: the signature")
    closed_on: dt.date | None = Field(None, description="Default: today")


class SignedOut(Schema):
    record: NC_OUT  # type: ignore[valid-type]
    signed_by: str
    signed_at: dt.datetime


@nonconformance_steps.post("/{external_id}/containment",
                           response={200: NC_OUT, **WRITING, **PRECONDITION},
                           summary="Record the containment of a nonconformance")
def containment(request: HttpRequest, external_id: str, payload: ContainmentIn,
                response: HttpResponse, if_match: IfMatch = None):
    done = take_step(steps.NCS, request, external_id, if_match, lambda nc: steps.record_containment(
        nc, caller(request), payload.containment))
    return shown(done, response)


@nonconformance_steps.post("/{external_id}/root-cause",
                           response={200: NC_OUT, **WRITING, **PRECONDITION},
                           summary="Record the 5 whys, the 6M category and the root cause")
def root_cause(request: HttpRequest, external_id: str, payload: RootCauseIn,
               response: HttpResponse, if_match: IfMatch = None):
    whys = [steps.Why(w.why, w.because) for w in payload.whys]
    done = take_step(steps.NCS, request, external_id, if_match, lambda nc: steps.record_root_cause(
        nc, caller(request), whys, payload.cause_category, payload.root_cause))
    return shown(done, response)


@nonconformance_steps.post("/{external_id}/actions",
                           response={201: ACTION_OUT, **WRITING, **PRECONDITION},
                           summary="Add a corrective or preventive action to a nonconformance "
                                   "(If-Match is the nonconformance's ETag, the answer's the "
                                   "new action's)")
def add_action(request: HttpRequest, external_id: str, payload: ActionIn,
               response: HttpResponse, if_match: IfMatch = None):
    values = payload.model_dump(exclude_none=True)
    action = take_step(steps.NCS, request, external_id, if_match,
                       lambda nc: steps.add_action(nc, caller(request), values))
    return Status(201, shown(action, response))


@nonconformance_steps.post(
    "/{external_id}/close", response={200: SignedOut, **SIGNING, **PRECONDITION},
    summary="Close a nonconformance with your signature (password); refused until every "
            "action has an effectiveness verdict and one was verified effective")
def close(request: HttpRequest, external_id: str, payload: NonconformanceCloseIn,
          response: HttpResponse, if_match: IfMatch = None):
    closed: Nonconformance = take_step(steps.NCS, request, external_id, if_match,
                                       lambda nc: steps.close_nonconformance(
                                           nc, caller(request), payload.password,
                                           payload.closed_on))
    return {"record": shown(closed, response), "signed_by": closed.signed_by.get_username(),
            "signed_at": closed.signed_at}


@action_steps.post("/{external_id}/effectiveness-check",
                   response={200: ACTION_OUT, **WRITING, **PRECONDITION},
                   summary="Record the effectiveness check of an action")
def effectiveness_check(request: HttpRequest, external_id: str, payload: CheckIn,
                        response: HttpResponse, if_match: IfMatch = None):
    done = take_step(steps.ACTIONS, request, external_id, if_match,
                     lambda action: steps.record_effectiveness_check(
                         action, caller(request), payload.verified_by, payload.checked_on,
                         payload.effective, payload.evidence))
    return shown(done, response)
