"""The panels the design project page and the customer page add (views/design.py
``project_panel``, views/customer_page.py): stage reviews with their customers and the escapes,
requirements with their latest outcome, the segment's NPS by quarter, and the prefilled links."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from webdata import build_organisation, days_ago

from qualityloop.records.customers import models as cm
from qualityloop.records.quality import models as qm
from qualityloop.services.users import add_user
from qualityloop.web.views.customer_page import segment_nps_by_quarter

pytestmark = pytest.mark.django_db


@pytest.fixture
def org():
    cache.clear()
    return build_organisation()


def _client(client, role: str):
    add_user(role, role, password="correct-horse-battery")
    client.force_login(get_user_model().objects.get(username=role))
    return client


def _page(client, path: str) -> str:
    answer = client.get(path)
    assert answer.status_code == 200
    return answer.content.decode()


# The design project page ----------------------------------------------------------------------

def test_project_page_lists_reviews_with_customers_and_escapes(org, client):
    project = cm.DesignProject.objects.get(external_id="D-1")
    qm.Nonconformance.objects.filter(external_id__in=["N-1", "N-2"]).update(design_project=project)
    html = _page(_client(client, "quality-manager"), "/records/design-projects/D-1/")
    assert 'data-testid="design-project-panel"' in html
    for review, stage, customers, defects in (("DR-0", "concept", 1, 4), ("DR-1", "design", 2, 1),
                                              ("DR-2", "prototype", 0, 0)):
        row = html.split(f'data-review="{review}" data-stage="{stage}"')[1].split("</tr>")[0]
        assert f'data-customers="{customers}"' in row and f'data-defects="{defects}"' in row
    concept = html.split('data-review="DR-0"')[1].split("</tr>")[0]
    assert "Alpha Ltd" in concept and "Epsilon BV" not in concept
    # N-1 (field) and N-2 (production) escaped; 5 found by reviews -> 5 / 7 = 71 %
    assert 'data-nc="N-1"' in html and 'data-nc="N-2"' in html
    assert "<strong>71%</strong>" in html
    assert 'href="/records/design-reviews/new/?project=D-1"' in html
    assert "/records/nonconformances/new/?design_project=D-1&amp;stage=production" in html


def test_a_viewer_gets_no_links_to_record(org, client):
    html = _page(_client(client, "viewer"), "/records/design-projects/D-1/")
    assert 'data-testid="design-project-panel"' in html
    assert 'data-testid="add-review"' not in html and 'data-testid="add-escape"' not in html
    html = _page(client, "/records/customers/C-1/")
    assert 'data-testid="add-requirement"' not in html and 'data-testid="measure"' not in html


def test_the_review_form_opens_with_the_project_filled_in(org, client):
    html = _page(_client(client, "quality-manager"),
                 "/records/design-reviews/new/?project=D-1")
    assert '<option value="D-1" selected>' in html.split('id="id_project"')[1].split("</select>")[0]


# The customer page -----------------------------------------------------------------------------

def _status(html: str, requirement: str) -> str:
    return html.split(f'data-requirement="{requirement}" data-status="')[1].split('"')[0]


def test_customer_page_shows_requirements_with_their_latest_outcome(org, client):
    page = _client(client, "quality-manager")
    html = _page(page, "/records/customers/C-1/")
    assert 'data-testid="customer-focus"' in html
    assert _status(html, "R-1") == "met"  # 97 against a target of 95, surpassed at 99
    assert 'data-testid="requirements-missed"' not in html
    requirement = cm.CustomerRequirement.objects.get(external_id="R-1")
    cm.RequirementMeasurement.objects.create(external_id="RM-2", requirement=requirement,
                                             customer=org["c1"], measured_on=days_ago(2),
                                             value=90)
    cm.CustomerRequirement.objects.create(
        external_id="R-SEG", title="Response within a day", segment="enterprise",
        characteristic="hours to first response", target=24, direction="lower")
    html = _page(page, "/records/customers/C-1/")
    assert _status(html, "R-1") == "missed" and _status(html, "R-SEG") == "not-measured"
    assert "1 missed" in html and "Enterprise segment" in html
    assert "RM-2" in html.split('data-testid="customer-measurements"')[1]
    assert ("/records/requirement-measurements/new/?requirement=R-1&amp;customer=C-1"
            in html)
    # Another customer of the segment sees the segment's requirement, not C-1's own one.
    other = _page(page, "/records/customers/C-5/")
    assert 'data-requirement="R-SEG"' in other and 'data-requirement="R-1"' not in other
    # A segment-wide measurement (no customer) is the segment requirement's latest for each.
    cm.RequirementMeasurement.objects.create(
        external_id="RM-SEG", requirement=cm.CustomerRequirement.objects.get(external_id="R-SEG"),
        measured_on=days_ago(1), value=20)
    other = _page(page, "/records/customers/C-5/")
    assert _status(other, "R-SEG") == "met" and "segment-wide" in other
    assert other.count("RM-SEG") == 1  # linked from the row, not listed as the customer's own


def test_customer_page_shows_their_nps_scores_and_design_reviews(org, client):
    html = _page(_client(client, "quality-manager"), "/records/customers/C-1/")
    scores = html.split('data-testid="nps-trend"')[1].split("</section>")[0]
    assert scores.count('data-testid="own-nps"') == 2  # 0 (500 days ago), 10 (5 days ago)
    reviews = html.split('data-testid="customer-design-reviews"')[1].split("</section>")[0]
    assert "DR-0" in reviews and "DR-1" in reviews and "DR-2" not in reviews


def _feedback(external_id: str, customer, day: dt.date, nps: int) -> None:
    cm.FeedbackResponse.objects.create(external_id=external_id, customer=customer,
                                       responded_on=day, nps=nps)


def test_segment_nps_by_quarter_by_hand():
    cache.clear()
    unit = cm.Customer._meta.get_field("serving_unit").related_model.objects.create(
        external_id="U-X", name="X", kind="company")
    a = cm.Customer.objects.create(external_id="S-1", name="Small A", segment="small_business",
                                   acquired_on=dt.date(2024, 1, 1), serving_unit=unit)
    b = cm.Customer.objects.create(external_id="S-2", name="Big B", segment="enterprise",
                                   acquired_on=dt.date(2024, 1, 1), serving_unit=unit)
    # 2026 Q2: 10, 9, 3 -> (2 - 1) / 3 = 33.3; 2026 Q3: 7 -> 0; Q1 nothing; 2025 Q4: 0 -> -100.
    for n, (day, score) in enumerate([(dt.date(2026, 4, 1), 10), (dt.date(2026, 6, 30), 9),
                                      (dt.date(2026, 5, 5), 3), (dt.date(2026, 9, 30), 7),
                                      (dt.date(2025, 12, 31), 0), (dt.date(2025, 1, 1), 10)]):
        _feedback(f"F-S{n}", a, day, score)
    _feedback("F-B", b, dt.date(2026, 5, 1), 0)  # another segment: not counted
    trend = segment_nps_by_quarter("small_business", dt.date(2026, 10, 15), quarters=4)
    assert [(q["quarter"], q["responses"], q["nps"]) for q in trend] == [
        ("2026 Q1", 0, None), ("2026 Q2", 3, 33.3), ("2026 Q3", 1, 0.0), ("2026 Q4", 0, None)]
    trend = segment_nps_by_quarter("small_business", dt.date(2026, 3, 1), quarters=2)
    assert [(q["quarter"], q["nps"]) for q in trend] == [("2025 Q4", -100.0), ("2026 Q1", None)]
