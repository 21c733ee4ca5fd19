"""Management review through the API: the review pack's figures for a period, and recording an
action a review decided (services/management_review.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from qualityloop.services import management_review as service
from qualityloop.services import permissions
from qualityloop.services.record_kinds import get_kind
from qualityloop.web.api.conditional import PRECONDITION, IfMatch, shown, take_step
from qualityloop.web.api.records import Invalid, caller
from qualityloop.web.api.schemas import ErrorOut, InvalidOut, schemas_for

review_steps = Router(tags=["management-reviews"])
review_pack = Router(tags=["management-reviews"])
ACTION_OUT = schemas_for(get_kind(service.ACTIONS)).out


class ReviewActionIn(Schema):
    external_id: str | None = Field(None, description="Default: <review id>-A<n>")
    description: str
    owner: str = Field(description="External id of the person who owns the action")
    due_on: dt.date
    kind: str = Field("preventive", description="correction, corrective or preventive")


@review_steps.post("/{external_id}/actions", response={201: ACTION_OUT, 401: ErrorOut,
                                                       403: ErrorOut, 404: ErrorOut,
                                                       422: InvalidOut, **PRECONDITION},
                   summary="Record an action decided by a management review (If-Match is the "
                           "review's ETag, the answer's the new action's)")
def add_action(request: HttpRequest, external_id: str, payload: ReviewActionIn,
               response: HttpResponse, if_match: IfMatch = None):
    values = payload.model_dump(exclude_none=True)
    action = take_step(service.REVIEWS, request, external_id, if_match,
                       lambda review: service.add_review_action(review, caller(request), values))
    return Status(201, shown(action, response))


@review_pack.get("", response={200: dict[str, Any], 401: ErrorOut, 403: ErrorOut,
                               422: InvalidOut},
                 summary="The management review pack's figures for a period (default: the six "
                         "months to today)")
def pack(request: HttpRequest,
         date_from: str | None = Query(None, alias="from", description="YYYY-MM-DD"),
         date_to: str | None = Query(None, alias="to", description="YYYY-MM-DD")):
    user = caller(request)
    permissions.check(user, get_kind(service.REVIEWS), permissions.Action.READ)
    try:
        start, end = service.period(date_from, date_to)
    except service.PeriodInvalid as wrong:
        raise Invalid({"period": str(wrong)}) from None
    # A user who reads only their own unit gets its pack (``unit`` in the answer).
    return service.pack_figures(start, end, unit=permissions.reading_unit(user)).as_dict()
