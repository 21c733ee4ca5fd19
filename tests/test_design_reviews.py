"""Customers in design and development (services/design_reviews.py, /design/): customers and
defects per stage review, escaped defects, the co-designed flag and the unit filter."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from webdata import build_organisation, days_ago

from qualityloop.records.customers import models as cm
from qualityloop.records.organisation.models import OrgUnit
from qualityloop.records.quality.models import Nonconformance
from qualityloop.services import design_reviews
from qualityloop.services.users import add_user

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


def _nc(external_id, project, stage, unit):
    return Nonconformance.objects.create(
        external_id=external_id, title=f"Defect {external_id}", org_unit=unit,
        detected_on=days_ago(10), stage=stage, source="inspection", severity="minor",
        design_project=project)


@pytest.fixture
def org():
    """webdata's D-1 (plant; concept 4 defects with Alpha, design 1 with Alpha and Epsilon,
    prototype 0 with nobody: co-designed 2/3), its escapes, and D-2 in sales with 1 of 3
    reviews with a customer (not co-designed) and no defects at all."""
    found = build_organisation()
    d1 = cm.DesignProject.objects.get(external_id="D-1")
    _nc("NC-P1", d1, "production", found["plant"])
    _nc("NC-P2", d1, "production", found["plant"])
    _nc("NC-F1", d1, "field", found["plant"])
    _nc("NC-D1", d1, "design", found["plant"])  # found in design: not an escape
    d2 = cm.DesignProject.objects.create(external_id="D-2", name="Pump P9", product="P9",
                                         org_unit=found["sales"], started_on=days_ago(200))
    beta = cm.Customer.objects.get(external_id="C-2")
    for n, stage in enumerate(["concept", "pilot", "pilot"]):
        review = cm.DesignStageReview.objects.create(
            external_id=f"DR2-{n}", project=d2, stage=stage, held_on=days_ago(150 - 10 * n))
        if n == 1:
            review.customer_participants.set([beta])
    return found


def _by_id(rows):
    return {r["external_id"]: r for r in rows}


def test_customers_and_defects_per_stage(org):
    d1 = _by_id(design_reviews.project_table())["D-1"]
    stages = {s["stage"]: s for s in d1["stages"]}
    assert [s["stage"] for s in d1["stages"]] == [
        "concept", "design", "prototype", "pilot", "production"]
    assert stages["concept"]["customers"] == 1 and stages["concept"]["defects"] == 4
    assert stages["design"]["customer_names"] == ["Alpha Ltd", "Epsilon BV"]
    assert stages["prototype"]["reviewed"] and stages["prototype"]["customers"] == 0
    assert not stages["pilot"]["reviewed"] and not stages["production"]["reviewed"]
    assert d1["stages_reviewed"] == 3 and d1["defects_found"] == 5


def test_escaped_defects_and_share_caught(org):
    rows = _by_id(design_reviews.project_table())
    d1, d2 = rows["D-1"], rows["D-2"]
    assert (d1["escaped_production"], d1["escaped_field"]) == (2, 1)
    assert d1["caught_share"] == pytest.approx(5 / 8)
    assert d2["caught_share"] is None  # no defects known at all


def test_co_designed_needs_customers_in_half_the_reviews(org):
    rows = _by_id(design_reviews.project_table())
    assert rows["D-1"]["co_designed"] and rows["D-1"]["reviews_with_customers"] == 2
    assert not rows["D-2"]["co_designed"]
    assert (rows["D-2"]["reviews"], rows["D-2"]["reviews_with_customers"]) == (3, 1)
    pilot = {s["stage"]: s for s in rows["D-2"]["stages"]}["pilot"]
    assert pilot["customers"] == 1 and pilot["reviewed"]


def test_totals_count_distinct_customers_and_sum_defects(org):
    totals = design_reviews.totals(design_reviews.project_table())
    concept = totals["stages"][0]
    assert totals["projects"] == 2 and totals["co_designed"] == 1
    assert concept["customers"] == 1 and concept["defects"] == 4
    assert totals["stages"][1]["customers"] == 2 and totals["stages"][3]["customers"] == 1
    assert totals["caught_share"] == pytest.approx(5 / 8)


def test_unit_filter_includes_units_below(org):
    plant = OrgUnit.objects.get(external_id="U-PL")
    assert [r["external_id"] for r in design_reviews.project_table(plant)] == ["D-1"]
    company = OrgUnit.objects.get(external_id="U-CO")
    assert len(design_reviews.project_table(company)) == 2


def test_query_count_does_not_grow_with_projects(org):
    with CaptureQueriesContext(connection) as few:
        design_reviews.project_table()
    for n in range(5):
        cm.DesignProject.objects.create(external_id=f"D-X{n}", name=f"X{n}",
                                        org_unit=org["plant"], started_on=days_ago(5))
    with CaptureQueriesContext(connection) as many:
        design_reviews.project_table()
    assert len(many) == len(few)


def test_page_renders_for_a_viewer_with_unit_filter(client, org):
    add_user("vic", "viewer", password=PASSWORD)
    client.login(username="vic", password=PASSWORD)
    page = client.get(reverse("design")).content.decode()
    assert 'data-testid="design-table"' in page and 'data-testid="design-totals"' in page
    assert reverse("record-detail", args=["design-projects", "D-1"]) in page
    assert 'title="Alpha Ltd, Epsilon BV"' in page
    assert 'data-escaped="production">2<' in page
    assert page.count('data-co-designed="yes"') == 1
    sales = client.get(reverse("design"), {"unit": "U-SA"}).content.decode()
    assert "D-2" in sales and "Valve X2" not in sales.split('id="design-body"')[1]
    part = client.get(reverse("design"), {"unit": "U-PL"}, HTTP_HX_REQUEST="true").content
    assert b"<html" not in part and b"Valve X2" in part


def test_page_needs_a_login(client, org):
    response = client.get(reverse("design"))
    assert response.status_code == 302 and "/login/" in response["Location"]
