"""The problem-solving steps of a nonconformance as API operations (services/problem_solving.py):
containment, root cause, add action, effectiveness check and the signed close.

Mounted next to the generated routers of ``nonconformances`` and ``actions``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.responses import Status

from qualityloop.records.quality.models import CorrectiveAction, Nonconformance
from qualityloop.services import problem_solving as steps
from qualityloop.services.record_kinds import get_kind
from qualityloop.services.record_writer import RowInvalid
from qualityloop.web.api.records import Invalid, _find, caller
from qualityloop.web.api.schemas import ErrorOut, InvalidOut, record_out, schemas_for

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


def _step(run: Callable[[], Any]) -> Any:
    """Run a step; refusals by the record writer get the API's 422 shape."""
    try:
        return run()
    except RowInvalid as invalid:
        raise Invalid(invalid.errors) from None


def _nc(request: HttpRequest, external_id: str) -> Nonconformance:
    return _find(get_kind(steps.NCS), request, external_id)  # type: ignore[return-value]


@nonconformance_steps.post("/{external_id}/containment", response={200: NC_OUT, **WRITING},
                           summary="Record the containment of a nonconformance")
def containment(request: HttpRequest, external_id: str, payload: ContainmentIn):
    nc = _nc(request, external_id)
    return record_out(_step(lambda: steps.record_containment(nc, caller(request),
                                                             payload.containment)))


@nonconformance_steps.post("/{external_id}/root-cause", response={200: NC_OUT, **WRITING},
                           summary="Record the 5 whys, the 6M category and the root cause")
def root_cause(request: HttpRequest, external_id: str, payload: RootCauseIn):
    nc = _nc(request, external_id)
    whys = [steps.Why(w.why, w.because) for w in payload.whys]
    return record_out(_step(lambda: steps.record_root_cause(
        nc, caller(request), whys, payload.cause_category, payload.root_cause)))


@nonconformance_steps.post("/{external_id}/actions", response={201: ACTION_OUT, **WRITING},
                           summary="Add a corrective or preventive action to a nonconformance")
def add_action(request: HttpRequest, external_id: str, payload: ActionIn):
    nc = _nc(request, external_id)
    values = payload.model_dump(exclude_none=True)
    action = _step(lambda: steps.add_action(nc, caller(request), values))
    return Status(201, record_out(action))


@nonconformance_steps.post(
    "/{external_id}/close", response={200: SignedOut, **SIGNING},
    summary="Close a nonconformance with your signature (password); refused until every "
            "action has an effectiveness verdict and one was verified effective")
def close(request: HttpRequest, external_id: str, payload: NonconformanceCloseIn):
    nc = _nc(request, external_id)
    closed: Nonconformance = _step(lambda: steps.close_nonconformance(
        nc, caller(request), payload.password, payload.closed_on))
    return {"record": record_out(closed), "signed_by": closed.signed_by.get_username(),
            "signed_at": closed.signed_at}


@action_steps.post("/{external_id}/effectiveness-check", response={200: ACTION_OUT, **WRITING},
                   summary="Record the effectiveness check of an action")
def effectiveness_check(request: HttpRequest, external_id: str, payload: CheckIn):
    action: CorrectiveAction = _find(get_kind(steps.ACTIONS), request, external_id)  # type: ignore[assignment]
    return record_out(_step(lambda: steps.record_effectiveness_check(
        action, caller(request), payload.verified_by, payload.checked_on, payload.effective,
        payload.evidence)))
