"""What the dashboard-style pages share: the org unit a page is narrowed to, and figures cached
per unit and day."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.core.cache import cache
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from qualityloop.records.organisation.models import OrgUnit

CACHE_SECONDS = 60
T = TypeVar("T")


def selected_unit(request: HttpRequest) -> OrgUnit | None:
    """The unit named by ``?unit=EXTERNAL_ID``; None for the whole organisation."""
    external_id = request.GET.get("unit", "").strip()
    if not external_id:
        return None
    return OrgUnit.objects.filter(external_id=external_id).first()


def unit_options() -> QuerySet[OrgUnit]:
    """The units offered in the org-unit select."""
    return OrgUnit.objects.order_by("name").only("external_id", "name")


def cached_for_unit(name: str, unit: OrgUnit | None, compute: Callable[[], T]) -> T:
    """``compute()``, recomputed at most once a minute per unit and day: the figures read the
    order stream, which can be millions of rows."""
    key = f"ql:{name}:{timezone.localdate()}:{unit.pk if unit else 'all'}"
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, CACHE_SECONDS)
    return value
