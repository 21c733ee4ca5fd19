"""The ISO 10002 complaint steps as API operations (services/complaints.py): acknowledge, assess,
investigate, respond, close, satisfaction with the handling, and raising a nonconformance.

Mounted next to the generated router of ``complaints``; the same rules as on the complaint page
(steps in order, days not in the future nor before the step before, viewer refused).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema
from ninja.responses import Status

from qualityloop.records.customers.models import Complaint
from qualityloop.services import complaints as steps
from qualityloop.services.record_kinds import get_kind
from qualityloop.web.api.conditional import PRECONDITION, IfMatch, shown, take_step
from qualityloop.web.api.records import _find, caller
from qualityloop.web.api.schemas import ErrorOut, InvalidOut, schemas_for

complaint_steps = Router(tags=["complaints"])
WRITING = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: InvalidOut}
COMPLAINT_OUT = schemas_for(get_kind(steps.COMPLAINTS)).out
NC_OUT = schemas_for(get_kind(steps.NCS)).out
ON = Field(None, description="The day of the step (default today)")


class StepIn(Schema):
    on: dt.date | None = ON


class AssessIn(Schema):
    on: dt.date | None = ON
    severity: str = Field("", description="minor, major or critical (default: unchanged)")
    handler: str = Field("", description="External id of the person handling it")
    org_unit: str = Field("", description="External id of the responsible unit")


class InvestigateIn(Schema):
    on: dt.date | None = ON
    findings: str = Field(description="What the investigation found")


class RespondIn(Schema):
    on: dt.date | None = ON
    outcome: str = Field(description="upheld, partly_upheld, rejected or withdrawn")
    response: str = Field(description="The decision and remedy told the customer")
    resolved: bool = Field(True, description="The remedy was delivered with the response")


class ComplaintCloseIn(Schema):
    on: dt.date | None = ON
    satisfaction: int | None = Field(None, description="Satisfaction with the handling, 1-5")


class SatisfactionIn(Schema):
    satisfaction: int = Field(description="Satisfaction with the handling, 1-5")


class TimerOut(Schema):
    name: str
    days: int
    due_on: dt.date
    done_on: dt.date | None
    state: str = Field(description="running, due-soon, overdue, met or late")


class TimersOut(Schema):
    status: str
    next_step: str | None
    timers: list[TimerOut]


def _complaint(request: HttpRequest, external_id: str) -> Complaint:
    return _find(get_kind(steps.COMPLAINTS), request, external_id)  # type: ignore[return-value]


def _post(path: str, summary: str):
    return complaint_steps.post(path, response={200: COMPLAINT_OUT, **WRITING, **PRECONDITION},
                                summary=summary)


def _taken(request: HttpRequest, external_id: str, if_match: str | None,
           response: HttpResponse, run: Callable[[Complaint], Any]) -> dict[str, Any]:
    """Take a step on the complaint (conditional on ``If-Match``); the complaint with its ETag."""
    done = take_step(steps.COMPLAINTS, request, external_id, if_match, run)
    return shown(done, response)


@_post("/{external_id}/acknowledge", "Acknowledge a complaint (received -> acknowledged)")
def acknowledge(request: HttpRequest, external_id: str, payload: StepIn,
                response: HttpResponse, if_match: IfMatch = None):
    return _taken(request, external_id, if_match, response,
                  lambda c: steps.acknowledge(c, caller(request), payload.on))


@_post("/{external_id}/assess", "Record the initial assessment (acknowledged -> assessed)")
def assess(request: HttpRequest, external_id: str, payload: AssessIn,
           response: HttpResponse, if_match: IfMatch = None):
    return _taken(request, external_id, if_match, response,
                  lambda c: steps.assess(c, caller(request), payload.on, payload.severity,
                                         payload.handler, payload.org_unit))


@_post("/{external_id}/investigate", "Record the investigation (assessed -> investigated)")
def investigate(request: HttpRequest, external_id: str, payload: InvestigateIn,
                response: HttpResponse, if_match: IfMatch = None):
    return _taken(request, external_id, if_match, response,
                  lambda c: steps.investigate(c, caller(request), payload.findings, payload.on))


@_post("/{external_id}/respond", "Respond with the decision (investigated -> responded)")
def respond(request: HttpRequest, external_id: str, payload: RespondIn,
            response: HttpResponse, if_match: IfMatch = None):
    return _taken(request, external_id, if_match, response,
                  lambda c: steps.respond(c, caller(request), payload.outcome, payload.response,
                                          payload.on, payload.resolved))


@_post("/{external_id}/close", "Close a complaint (responded -> closed)")
def close(request: HttpRequest, external_id: str, payload: ComplaintCloseIn,
          response: HttpResponse, if_match: IfMatch = None):
    return _taken(request, external_id, if_match, response,
                  lambda c: steps.close(c, caller(request), payload.on, payload.satisfaction))


@_post("/{external_id}/satisfaction", "Record satisfaction with the handling (1-5)")
def satisfaction(request: HttpRequest, external_id: str, payload: SatisfactionIn,
                 response: HttpResponse, if_match: IfMatch = None):
    return _taken(request, external_id, if_match, response,
                  lambda c: steps.record_satisfaction(c, caller(request), payload.satisfaction))


@complaint_steps.post("/{external_id}/nonconformance",
                      response={201: NC_OUT, **WRITING, **PRECONDITION},
                      summary="Raise a nonconformance from a complaint (linked both ways); "
                              "If-Match is the complaint's ETag, the answer's the new record's")
def raise_nonconformance(request: HttpRequest, external_id: str, response: HttpResponse,
                         if_match: IfMatch = None):
    raised = take_step(steps.COMPLAINTS, request, external_id, if_match,
                       lambda c: steps.raise_nonconformance(c, caller(request)))
    return Status(201, shown(raised, response))


@complaint_steps.get("/{external_id}/timers", response={200: TimersOut, 401: ErrorOut,
                                                        404: ErrorOut},
                     summary="The service-level timers of a complaint")
def timers(request: HttpRequest, external_id: str):
    c = _complaint(request, external_id)
    upcoming = steps.next_status(c)
    return {"status": c.status, "next_step": str(upcoming) if upcoming else None,
            "timers": [{"name": t.name, "days": t.days, "due_on": t.due_on,
                        "done_on": t.done_on, "state": t.state} for t in steps.timers(c)]}
