"""What the dashboard-style pages share: the org unit a page is narrowed to, and figures cached
per unit and day."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from qualityloop.records.organisation.models import OrgUnit
from qualityloop.services import permissions

CACHE_SECONDS = 60
T = TypeVar("T")


def selected_unit(request: HttpRequest,
                  default: Callable[[], OrgUnit | None] | None = None) -> OrgUnit | None:
    """The unit named by ``?unit=EXTERNAL_ID``; None for the whole organisation.

    A user who reads only their own unit (``QUALITYLOOP_READ_SCOPE=unit``: unit leads and staff,
    see ``permissions.reading_units``) gets their own unit unless they name one below it.

    Parameters
    ----------
    request
        The page's request.
    default
        Gives the unit when the request has no ``?unit=`` at all (a page that opens on a first
        unit); without it, no ``?unit=`` is the whole organisation.

    Raises
    ------
    PermissionDenied
        For such a user without an org unit: there is no figure they may see.
    """
    external_id = request.GET.get("unit", "").strip()
    if default is not None and "unit" not in request.GET:
        asked = default()
    else:
        asked = OrgUnit.objects.filter(external_id=external_id).first() if external_id else None
    reach = permissions.reading_units(request.user)
    if reach is None or (asked is not None and asked.pk in reach):
        return asked
    try:
        return permissions.reading_unit(request.user)
    except permissions.NotAllowed as no_unit:
        raise PermissionDenied(str(no_unit)) from None


def unit_options(user: Any = None) -> QuerySet[OrgUnit]:
    """The units offered in the org-unit select: every unit, or for a user who reads only their
    own unit (``permissions.reading_units``) that unit and the units below it."""
    units = OrgUnit.objects.order_by("name").only("external_id", "name")
    reach = permissions.reading_units(user) if user is not None else None
    return units if reach is None else units.filter(pk__in=reach)


def reach_label(user: Any) -> str:
    """"UNIT-x and below" for a user who reads only their own unit, else "" (the page says
    whose figures it shows)."""
    reach = permissions.reading_units(user)
    if not reach:
        return ""
    unit = OrgUnit.objects.only("external_id").get(pk=reach[0])
    return f"{unit.external_id} and below"


def cached_for_unit(name: str, unit: OrgUnit | None, compute: Callable[[], T]) -> T:
    """``compute()``, recomputed at most once a minute per unit and day: the figures read the
    order stream, which can be millions of rows."""
    key = f"ql:{name}:{timezone.localdate()}:{unit.pk if unit else 'all'}"
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, CACHE_SECONDS)
    return value
