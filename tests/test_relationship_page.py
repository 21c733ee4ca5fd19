"""The Relationship page: the report's document inside the app (same findings and sections),
loaded lazily the first time and from the cache after, narrowed by the unit select, with HTML
and PDF downloads; login and roles.

Most tests stand a small hand-made document in for the fitted one (the page is the mechanism
under test); the last one renders the real answer on a small demo.
"""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.urls import reverse

from qualityloop.records.organisation.models import OrgUnit
from qualityloop.report import relationship as report_module
from qualityloop.report.document import Figure, Finding, Paragraph, ReportDocument, Table
from qualityloop.services.relationship import RelationshipError
from qualityloop.services.users import add_user

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"
SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>forest</text></svg>'


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def built(monkeypatch):
    """Replace the (seconds-long) build by a small document; record each unit it is built for."""
    calls: list[OrgUnit | None] = []

    def build(*, unit=None, as_of=None, answer=None):
        calls.append(unit)
        scope = unit.name if unit else "The whole organisation"
        doc = ReportDocument(title="TQM implementation and customer retention",
                             subtitle=f"{scope}, records up to {as_of}")
        doc.findings.append(Finding("Customers who met a field defect left 1.6x as fast "
                                    "<per defect>.", "strong"))
        section = doc.section("Which quality experiences make customers leave sooner", "drivers")
        section.add(Paragraph("A Cox model."))
        section.add(Figure(SVG, "Hazard ratios"))
        section.add(Table(pd.DataFrame({"Experience": ["Field defects"], "Hazard ratio": [1.61]}),
                          formats={"Hazard ratio": ".2f"}, index=False))
        actions = doc.section("What to do first", "actions")
        actions.add(Table(pd.DataFrame({"Record": ["1. NC-7 · Field failure"],
                                        "Kind": ["nonconformance"], "Customers": [3]},
                                       index=["NC-7"]), index=False))
        doc.notes.append("Efron ties.")
        return doc

    monkeypatch.setattr(report_module, "build_relationship_report", build)
    return calls


@pytest.fixture
def units():
    top = OrgUnit.objects.create(external_id="ORG", name="Halvorsen")
    plant = OrgUnit.objects.create(external_id="UNIT-P", name="Porto Plant", parent=top)
    return top, plant


def _logged_in(client, role: str | None):
    if role is None:
        User.objects.create_user("rita", password=PASSWORD)
    else:
        add_user("rita", role, password=PASSWORD)
    assert client.login(username="rita", password=PASSWORD)
    return client


def test_anonymous_visitors_are_sent_to_log_in(client):
    for name in ("relationship", "relationship-body", "relationship-report-html"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_a_user_without_role_sees_no_customer_data(client, built):
    client = _logged_in(client, None)
    html = client.get(reverse("relationship")).content.decode()
    assert 'data-testid="no-access"' in html and "relationship-document" not in html
    assert client.get(reverse("relationship-body")).status_code == 403
    assert client.get(reverse("relationship-report-html")).status_code == 404
    assert built == []


def test_first_visit_shows_computing_then_the_body_then_the_cache(client, built):
    client = _logged_in(client, "viewer")  # read-only role may read
    page = client.get(reverse("relationship")).content.decode()
    assert 'data-testid="computing"' in page and "Computing the relationship" in page
    assert f'hx-get="{reverse("relationship-body")}"' in page and 'hx-trigger="load"' in page
    assert '>Relationship</a>' in page and 'class="active">Relationship' in page
    assert built == [], "the page itself must not wait for the fits"
    body = client.get(reverse("relationship-body")).content.decode()
    assert "Customers who met a field defect left 1.6x as fast &lt;per defect&gt;." in body
    assert '<section class="card rel-section" id="drivers" data-section="drivers">' in body
    assert "<svg" in body and "<td>1.61</td>" in body and "Efron ties." in body
    # the ranked actions link to their records
    assert '<td><a href="/records/nonconformances/NC-7/">1. NC-7 · Field failure</a></td>' in body
    again = client.get(reverse("relationship")).content.decode()
    assert "relationship-document" in again and 'data-testid="computing"' not in again
    assert len(built) == 1, "built once per unit and day"


def test_unit_select_narrows_the_body_and_the_links(client, built, units):
    _, plant = units
    client = _logged_in(client, "unit-lead")
    response = client.get(reverse("relationship"), {"unit": "UNIT-P"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<html" not in html, "an HTMX request gets only the body"
    assert f'hx-get="{reverse("relationship-body")}?unit=UNIT-P"' in html
    body = client.get(reverse("relationship-body"), {"unit": "UNIT-P"}).content.decode()
    assert "Porto Plant, records up to" in body
    assert f'href="{reverse("relationship-report-html")}?unit=UNIT-P"' in body
    assert built == [plant]
    page = client.get(reverse("relationship"), {"unit": "UNIT-P"}).content.decode()
    assert '<option value="UNIT-P" selected>Porto Plant</option>' in page


def test_download_is_the_self_contained_report(client, built, units):
    client = _logged_in(client, "viewer")
    response = client.get(reverse("relationship-report-html"), {"unit": "UNIT-P"})
    assert response.status_code == 200
    today = dt.date.today().isoformat()
    assert response["Content-Disposition"] == (
        f'attachment; filename="qualityloop-report-UNIT-P-{today}.html"')
    html = response.content.decode()
    assert html.startswith("<!doctype html>") and "<script" not in html
    assert "Porto Plant, records up to" in html and "<style>" in html


def test_pdf_link_only_with_a_chromium(client, built, monkeypatch, tmp_path):
    client = _logged_in(client, "viewer")
    monkeypatch.setenv("QUALITYLOOP_CHROMIUM", "/usr/bin/chromium")
    body = client.get(reverse("relationship-body")).content.decode()
    assert 'data-testid="download-pdf"' in body
    assert f'href="{reverse("relationship-report-pdf")}"' in body
    monkeypatch.delenv("QUALITYLOOP_CHROMIUM")
    monkeypatch.setenv("PATH", str(tmp_path))
    body = client.get(reverse("relationship-body")).content.decode()
    assert 'data-testid="download-pdf"' not in body and 'data-testid="no-pdf"' in body
    assert client.get(reverse("relationship-report-pdf")).status_code == 404


def test_records_that_cannot_answer_give_a_clear_message(client, monkeypatch):
    def refuse(**kwargs):
        raise RelationshipError("only 3 customers churned among 40; the drivers of churn need "
                                "at least 10 churns")

    monkeypatch.setattr(report_module, "build_relationship_report", refuse)
    client = _logged_in(client, "viewer")
    body = client.get(reverse("relationship-body")).content.decode()
    assert re.search(r'data-testid="problem">No answer yet: only 3 customers churned', body)
    assert client.get(reverse("relationship-report-html")).status_code == 404


def test_the_real_answer_on_a_small_demo(client):
    from qualityloop.services.demo import generate_demo

    generate_demo(n_customers=300, seed=5)
    client = _logged_in(client, "quality-manager")
    body = client.get(reverse("relationship-body")).content.decode()
    for anchor in ("drivers", "survival", "unit-link", "tqm", "retention", "actions"):
        section = body.split(f'data-section="{anchor}"', 1)
        assert len(section) == 2, f"no section {anchor}"
        block = section[1].split("</section>", 1)[0]
        assert "<svg" in block or "<table" in block, f"section {anchor} has no figure or table"
    assert "Hazard ratios with 95% intervals" in body
    assert body.count('class="finding finding-') >= 3
    assert re.search(r'<td><a href="/records/(nonconformances|complaints)/[^/"]+/">1\. ', body)
