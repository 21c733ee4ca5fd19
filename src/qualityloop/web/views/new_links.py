"""Links from a record's page to a new record form with fields filled in (a review for this
project, a requirement for this customer), shown only to who may create that kind."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.http import urlencode

from qualityloop.services import permissions
from qualityloop.services.record_kinds import get_kind


def new_record_url(user: Any, kind_name: str, values: dict[str, str]) -> str:
    """The new-record form of a kind with ``values`` filled in ("" when the user may not
    create records of that kind)."""
    if not permissions.may(user, get_kind(kind_name), permissions.Action.CREATE):
        return ""
    return reverse("record-create", args=[kind_name]) + "?" + urlencode(values)
