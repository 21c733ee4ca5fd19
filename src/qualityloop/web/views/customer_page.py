"""What the customer's page adds (ISO 9001 8.2, 9.1.2): the customer's requirements and their
segment's with the latest measured performance (surpassed, met, missed), the measurements, the
NPS trend of their segment by quarter next to their own scores, and the design reviews they took
part in; with links that add a requirement, a measurement or a feedback response for them.

The customer's complaints, feedback and nonconformances are listed by the generic page
(``views/records.py``); together they are everything quality-related that happened to them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Max, Q, QuerySet
from django.db.models.functions import TruncQuarter
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from qualityloop.records.customers.models import (
    Customer,
    CustomerRequirement,
    FeedbackResponse,
    RequirementMeasurement,
)
from qualityloop.services import permissions
from qualityloop.services.record_kinds import get_kind
from qualityloop.web.views.new_links import new_record_url
from qualityloop.web.views.objectives import sparkline
from qualityloop.web.views.unit_scope import reach_label

MEASUREMENTS_SHOWN = 12
NPS_QUARTERS = 8
NPS_CACHE_SECONDS = 3600


def customer_panel(customer: Customer, user: Any) -> dict[str, Any]:
    """Everything the customer-focus panel of the customer's page shows."""
    requirements = _requirements(customer, user)
    own_scores = list(customer.feedback.filter(nps__isnull=False)
                      .order_by("responded_on", "pk").values_list("responded_on", "nps"))
    trend = segment_nps_by_quarter(customer.segment, timezone.localdate(),
                                   units=permissions.reading_units(user))
    return {
        "customer": customer, "requirements": requirements,
        "missed": sum(r["status"] == "missed" for r in requirements),
        "measurements": _measurements(customer, user),
        "nps_trend": trend, "nps_covering": reach_label(user),
        "nps_spark": sparkline([q["nps"] for q in trend if q["nps"] is not None]),
        "own_scores": own_scores[-NPS_QUARTERS:],
        "own_spark": sparkline([float(s) for _day, s in own_scores if s is not None]),
        "design_reviews": list(_readable(customer.design_reviews.all(), user, "design-reviews")
                               .select_related("project")
                               .order_by("-held_on", "pk")[:MEASUREMENTS_SHOWN]),
        "add_requirement": new_record_url(user, "requirements", {"customer": customer.external_id}),
        "add_feedback": new_record_url(user, "feedback", {"customer": customer.external_id}),
        "add_complaint": new_record_url(user, "complaints", {"customer": customer.external_id}),
        "may_measure": permissions.may(user, get_kind("requirement-measurements"),
                                       permissions.Action.CREATE),
    }


def _readable(records: QuerySet, user: Any, kind_name: str) -> QuerySet:
    """The records ``user`` may read (under unit reading, a segment's requirements and their
    measurements belong to no unit)."""
    return permissions.restrict(records, user, get_kind(kind_name))


def _requirements(customer: Customer, user: Any) -> list[dict[str, Any]]:
    """The customer's own requirements and their segment's that ``user`` may read, each with its
    latest measurement for this customer or for everyone it applies to (a measurement naming no
    customer: for a segment's requirement, segment-wide) and its outcome."""
    applying = CustomerRequirement.objects.filter(
        Q(customer=customer) | Q(customer__isnull=True, segment=customer.segment))
    found = list(_readable(applying, user, "requirements").order_by("customer_id", "title", "pk"))
    latest = _latest_measurements(customer, [r.pk for r in found], user)
    shown = []
    for requirement in found:
        last = latest.get(requirement.pk)
        shown.append({
            "requirement": requirement, "latest": last,
            "status": last.outcome if last else "not-measured",
            "scope": "customer" if requirement.customer_id else "segment",
            "measure_url": reverse("record-create", args=["requirement-measurements"]) + "?"
            + urlencode({"requirement": requirement.external_id,
                         "customer": customer.external_id,
                         "measured_on": timezone.localdate().isoformat()}),
        })
    return shown


def _latest_measurements(customer: Customer, requirement_ids: list[int],
                         user: Any) -> dict[int, RequirementMeasurement]:
    """Requirement id -> its latest measurement for the customer or naming no customer.

    Two queries, each on one index (the customer's, the requirements'): an OR of the two
    scanned every measurement of a large organisation (8 s at 100,000 customers)."""
    mine = RequirementMeasurement.objects.filter(customer=customer,
                                                 requirement_id__in=requirement_ids)
    shared = RequirementMeasurement.objects.filter(requirement_id__in=requirement_ids,
                                                   customer__isnull=True)
    latest: dict[int, RequirementMeasurement] = {}
    kind = get_kind("requirement-measurements")
    for m in [*permissions.restrict(mine, user, kind), *permissions.restrict(shared, user, kind)]:
        held = latest.get(m.requirement_id)
        if held is None or (m.measured_on, m.pk) > (held.measured_on, held.pk):
            latest[m.requirement_id] = m
    return latest


def _measurements(customer: Customer, user: Any) -> list[RequirementMeasurement]:
    own = Q(customer=customer) | Q(customer__isnull=True, requirement__customer=customer)
    measured = RequirementMeasurement.objects.filter(own)
    return list(_readable(measured, user, "requirement-measurements").select_related("requirement")
                .order_by("-measured_on", "-pk")[:MEASUREMENTS_SHOWN])


def segment_nps_by_quarter(segment: str, as_of: dt.date, quarters: int = NPS_QUARTERS,
                           units: list[int] | None = None) -> list[dict[str, Any]]:
    """NPS (% promoters 9-10 minus % detractors 0-6) of the segment's responses per calendar
    quarter, the last ``quarters`` quarters up to ``as_of``, oldest first; a quarter without
    responses has ``nps`` None. With ``units`` (org unit keys: a reader who reads only their
    own unit), only the responses of the customers those units serve count.

    Every segment is counted in one query and kept for an hour per day; a new response (a
    higher largest id) is a new cache key, so it shows at once.

    Returns
    -------
    list of dict
        Keys: ``quarter`` (e.g. "2026 Q3"), ``start`` (its first day), ``responses``, ``nps``.
    """
    newest = FeedbackResponse.objects.aggregate(newest=Max("pk"))["newest"]
    served = "all" if units is None else ",".join(map(str, sorted(units)))
    key = f"customer-page:segment-nps:{as_of.isoformat()}:{quarters}:{newest}:{served}"
    counts = cache.get(key)
    if counts is None:
        counts = _segment_counts(as_of, quarters, units)
        cache.set(key, counts, NPS_CACHE_SECONDS)
    return _trend(counts.get(segment, {}), as_of, quarters)


def _quarter_start(day: dt.date) -> dt.date:
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _quarters_back(start: dt.date, n: int) -> dt.date:
    months = start.year * 12 + start.month - 1 - 3 * n
    return dt.date(months // 12, months % 12 + 1, 1)


def _segment_counts(as_of: dt.date, quarters: int, units: list[int] | None
                    ) -> dict[str, dict[dt.date, tuple[int, int, int]]]:
    """Segment -> quarter start -> (responses with an NPS, promoters, detractors)."""
    first = _quarters_back(_quarter_start(as_of), quarters - 1)
    responses = FeedbackResponse.objects.all()
    if units is not None:
        responses = responses.filter(customer__serving_unit__in=units)
    rows = (responses
            .filter(nps__isnull=False, responded_on__gte=first, responded_on__lte=as_of)
            .annotate(quarter=TruncQuarter("responded_on"))
            .values("customer__segment", "quarter")
            .annotate(n=Count("id"), promoters=Count("id", filter=Q(nps__gte=9)),
                      detractors=Count("id", filter=Q(nps__lte=6))))
    counts: dict[str, dict[dt.date, tuple[int, int, int]]] = {}
    for r in rows:
        counts.setdefault(r["customer__segment"], {})[_as_date(r["quarter"])] = (
            r["n"], r["promoters"], r["detractors"])
    return counts


def _trend(by_start: dict[dt.date, tuple[int, int, int]], as_of: dt.date,
           quarters: int) -> list[dict[str, Any]]:
    last = _quarter_start(as_of)
    trend = []
    for back in range(quarters - 1, -1, -1):
        start = _quarters_back(last, back)
        n, promoters, detractors = by_start.get(start, (0, 0, 0))
        nps = round(100 * (promoters - detractors) / n, 1) if n else None
        trend.append({"quarter": f"{start.year} Q{(start.month - 1) // 3 + 1}",
                      "start": start, "responses": n, "nps": nps})
    return trend


def _as_date(value: dt.date | dt.datetime) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value
