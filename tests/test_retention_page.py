"""The Retention page: charts, the at-risk table and its figures, login and roles."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.urls import reverse

from qualityloop.services import retention
from qualityloop.services.demo import generate_demo
from qualityloop.services.users import add_user
from qualityloop.web.views.retention import AT_RISK_BELOW, CLV_HORIZON_MONTHS

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def demo():
    generate_demo(n_customers=300, seed=5)


def _logged_in(client, role: str | None):
    if role is None:
        User.objects.create_user("rita", password=PASSWORD)
    else:
        add_user("rita", role, password=PASSWORD)
    assert client.login(username="rita", password=PASSWORD)
    return client


def _at_risk_rows(html: str) -> list[tuple[str, float]]:
    table = html.split('id="at-risk"', 1)[1].split("</table>", 1)[0]
    ids = re.findall(r'<a href="/records/customers/([^/"]+)/">', table)
    values = [float(v) for v in re.findall(r'data-clv="([-\d.]+)"', table)]
    return list(zip(ids, values, strict=True))


def test_quality_manager_sees_four_charts_and_the_at_risk_table(client, demo):
    response = _logged_in(client, "quality-manager").get(reverse("retention"))
    assert response.status_code == 200
    html = response.content.decode()
    for chart in ("cohorts", "survival", "probability-alive", "clv"):
        figure = re.search(rf'<figure class="chart" data-chart="{chart}">\s*<svg', html)
        assert figure, f"no SVG for the {chart} chart"
    assert html.count("<svg") >= 4
    assert 'id="at-risk"' in html
    assert _at_risk_rows(html), "the demo has customers probably lost"


def test_at_risk_table_shows_the_services_values(client, demo):
    html = _logged_in(client, "quality-manager").get(reverse("retention")).content.decode()
    values = retention.RetentionOverview().clv(horizon=CLV_HORIZON_MONTHS, discount_rate=0.01)
    risky = values[values["probability_alive"] < AT_RISK_BELOW]
    expected = risky.sort_values("clv", ascending=False).head(20)
    shown = _at_risk_rows(html)
    assert [i for i, _ in shown] == [str(i) for i in expected.index]
    assert [v for _, v in shown] == pytest.approx(expected["clv"].tolist(), abs=0.006)
    count = re.search(r'data-metric="at_risk_count">.*?tile-value[^>]*>([\d,]+)<', html, re.S)
    assert int(count.group(1).replace(",", "")) == len(risky)


def test_cohort_count_equals_the_service(client, demo):
    html = _logged_in(client, "quality-manager").get(reverse("retention")).content.decode()
    shown = re.search(r"in ([\d,]+) monthly cohorts", html).group(1)
    assert int(shown.replace(",", "")) == len(retention.RetentionOverview().cohorts().sizes)


def test_login_required(client):
    response = client.get(reverse("retention"))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_user_without_a_role_sees_no_data(client, demo):
    response = _logged_in(client, None).get(reverse("retention"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="no-access"' in html
    assert "<svg" not in html
    assert not re.search(r"/records/customers/[^/\"]+/", html)
    assert 'id="at-risk"' not in html


def test_htmx_request_for_a_unit_returns_only_the_body(client, demo):
    from qualityloop.records.organisation.models import OrgUnit

    unit = OrgUnit.objects.filter(customers__isnull=False).first()
    response = _logged_in(client, "viewer").get(
        reverse("retention"), {"unit": unit.external_id}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert html.count("<svg") >= 4
