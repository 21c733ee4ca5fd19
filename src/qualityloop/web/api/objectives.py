"""Objective status as an API operation (services/objectives.py): own and rolled-up status, the
latest measurement, the planned value and why. Measurements are added through the generated
``objective-measurements`` operations.
"""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from ninja import Field, Router, Schema

from qualityloop.records.quality.models import QualityObjective
from qualityloop.services import objectives as service
from qualityloop.services.record_kinds import get_kind
from qualityloop.web.api.records import _find
from qualityloop.web.api.schemas import ErrorOut, InvalidOut

objective_status = Router(tags=["objectives"])


class StatusOut(Schema):
    external_id: str
    status: str | None = Field(description="Rolled up over the sub-objectives: on_track, "
                                           "at_risk, missed, achieved (null when cancelled)")
    own_status: str | None = Field(description="From the objective's own measurements")
    latest_value: float | None
    latest_on: dt.date | None
    expected: float | None = Field(description="The trajectory's value on the latest "
                                               "measurement's day")
    reason: str
    children: dict[str, int] = Field(description="Sub-objectives counted by rolled-up status")


@objective_status.get("/{external_id}/status", response={200: StatusOut, 401: ErrorOut,
                                                         403: ErrorOut, 404: ErrorOut,
                                                         422: InvalidOut},
                      summary="The status of an objective (as of today or ?as_of=)")
def status(request: HttpRequest, external_id: str, as_of: dt.date | None = None):
    objective: QualityObjective = _find(get_kind(service.OBJECTIVES), request, external_id)  # type: ignore[assignment]
    found = service.status_of(objective, as_of)
    if found is None:
        return {"external_id": external_id, "status": None, "own_status": None,
                "latest_value": None, "latest_on": None, "expected": None,
                "reason": "Cancelled: no status.", "children": {}}
    return {"external_id": external_id, "status": found.rolled_up.value,
            "own_status": found.own.value, "latest_value": found.latest_value,
            "latest_on": found.latest_on, "expected": found.expected, "reason": found.reason,
            "children": found.children}
