"""Customers in design and development (ISO 9001 8.3): per design project, which customers took
part in each stage review, the defects each stage found, and the defects that escaped to
production and the field (nonconformances linked to the project at those stages).

Everything is read in four aggregated queries, whatever the number of projects.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db.models import Count, Q, Sum

from qualityloop.records.customers.choices import DesignStage
from qualityloop.records.customers.models import DesignProject, DesignStageReview
from qualityloop.records.organisation.models import OrgUnit
from qualityloop.records.quality.choices import LifecycleStage
from qualityloop.records.quality.models import Nonconformance

ESCAPE_STAGES = (LifecycleStage.PRODUCTION.value, LifecycleStage.FIELD.value)


def _projects(unit: OrgUnit | None) -> list[dict[str, Any]]:
    projects = DesignProject.objects.all()
    if unit is not None:
        projects = projects.filter(org_unit__in=[unit, *unit.descendants()])
    return [dict(p) for p in projects.order_by("org_unit__name", "name").values(
        "id", "external_id", "name", "product", "org_unit__name")]


def _stage_figures(project_ids: list[int]) -> dict[tuple[int, str], dict[str, Any]]:
    rows = (DesignStageReview.objects.filter(project_id__in=project_ids)
            .values("project_id", "stage")
            .annotate(reviews=Count("id"), defects=Sum("defects_found")))
    return {(r["project_id"], r["stage"]): dict(r) for r in rows}


def _participants(project_ids: list[int]) -> dict[tuple[int, str], dict[int, str]]:
    """(project, stage) -> {customer id: name} of the customers who took part."""
    through = DesignStageReview.customer_participants.through
    rows = (through.objects.filter(designstagereview__project_id__in=project_ids)
            .values_list("designstagereview__project_id", "designstagereview__stage",
                         "customer_id", "customer__name"))
    found: dict[tuple[int, str], dict[int, str]] = defaultdict(dict)
    for project_id, stage, customer_id, name in rows:
        found[(project_id, stage)][customer_id] = name
    return found


def _reviews_with_customers(project_ids: list[int]) -> dict[int, dict[str, Any]]:
    rows = (DesignProject.objects.filter(id__in=project_ids).values("id").annotate(
        n_reviews=Count("reviews", distinct=True),
        with_customers=Count("reviews", distinct=True,
                             filter=Q(reviews__customer_participants__isnull=False))))
    return {r["id"]: dict(r) for r in rows}


def _escaped(project_ids: list[int]) -> dict[tuple[int, str], int]:
    rows = (Nonconformance.objects
            .filter(design_project_id__in=project_ids, stage__in=ESCAPE_STAGES)
            .values("design_project_id", "stage").annotate(n=Count("id")))
    return {(r["design_project_id"], r["stage"]): r["n"] for r in rows}


def caught_share(found: int, escaped: int) -> float | None:
    """Share of all known defects found by the design reviews; None when there were none."""
    total = found + escaped
    return found / total if total else None


def project_table(unit: OrgUnit | None = None) -> list[dict[str, Any]]:
    """One row per design project of ``unit`` (and the units below it; all when None).

    Returns
    -------
    list of dict
        Keys: ``external_id``, ``name``, ``product``, ``unit``, ``stages`` (one dict per
        design stage in lifecycle order: ``stage``, ``label``, ``reviewed``, ``customers``,
        ``customer_names``, ``customer_ids``, ``defects``), ``stages_reviewed``,
        ``defects_found``, ``escaped_production``, ``escaped_field``, ``caught_share``
        (found / (found + escaped), None without defects), ``reviews``,
        ``reviews_with_customers`` and ``co_designed`` (customers in at least half the
        project's reviews, and at least one review).
    """
    projects = _projects(unit)
    ids = [p["id"] for p in projects]
    figures, people = _stage_figures(ids), _participants(ids)
    counts, escaped = _reviews_with_customers(ids), _escaped(ids)
    return [_row(p, figures, people, counts.get(p["id"], {}), escaped) for p in projects]


def _row(project: dict, figures: dict, people: dict, counts: dict, escaped: dict) -> dict:
    pid = project["id"]
    stages: list[dict[str, Any]] = []
    for stage in DesignStage:
        figure, customers = figures.get((pid, stage.value)), people.get((pid, stage.value), {})
        stages.append({
            "stage": stage.value, "label": stage.label, "reviewed": figure is not None,
            "customers": len(customers), "customer_names": sorted(customers.values()),
            "customer_ids": set(customers), "defects": figure["defects"] if figure else 0,
        })
    found = sum(s["defects"] for s in stages)
    production = escaped.get((pid, LifecycleStage.PRODUCTION.value), 0)
    field = escaped.get((pid, LifecycleStage.FIELD.value), 0)
    reviews, with_customers = counts.get("n_reviews", 0), counts.get("with_customers", 0)
    return {
        "external_id": project["external_id"], "name": project["name"],
        "product": project["product"], "unit": project["org_unit__name"], "stages": stages,
        "stages_reviewed": sum(s["reviewed"] for s in stages), "defects_found": found,
        "escaped_production": production, "escaped_field": field,
        "caught_share": caught_share(found, production + field), "reviews": reviews,
        "reviews_with_customers": with_customers,
        "co_designed": reviews > 0 and 2 * with_customers >= reviews,
    }


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The totals row of ``project_table`` rows: distinct customers per stage, sums otherwise."""
    stages = []
    for index, stage in enumerate(DesignStage):
        customers: set[int] = set()
        for row in rows:
            customers |= row["stages"][index]["customer_ids"]
        stages.append({"stage": stage.value, "label": stage.label,
                       "reviewed": any(r["stages"][index]["reviewed"] for r in rows),
                       "customers": len(customers),
                       "defects": sum(r["stages"][index]["defects"] for r in rows)})
    found = sum(r["defects_found"] for r in rows)
    production = sum(r["escaped_production"] for r in rows)
    field = sum(r["escaped_field"] for r in rows)
    return {"projects": len(rows), "stages": stages, "defects_found": found,
            "escaped_production": production, "escaped_field": field,
            "caught_share": caught_share(found, production + field),
            "co_designed": sum(r["co_designed"] for r in rows)}
