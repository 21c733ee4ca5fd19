"""The SPC page: charts for each choice, the signals table with raise buttons, raising a
nonconformance once, and who may do what."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.urls import reverse

from qualityloop.records.organisation.models import OrgUnit
from qualityloop.records.quality.models import Nonconformance, ProcessMeasurement
from qualityloop.services import spc as service
from qualityloop.services.users import add_user

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def plant():
    company = OrgUnit.objects.create(external_id="U-CO", name="Company", kind="company")
    unit = OrgUnit.objects.create(external_id="U-PL", name="Plant", parent=company)
    values = [40.0, 41.0, 39.5, 40.5, 40.2, 39.8, 55.0]
    ProcessMeasurement.objects.bulk_create([
        ProcessMeasurement(external_id=f"PM-{i}", characteristic="Torque", org_unit=unit,
                           subgroup=f"S{i + 1}", measured_at=dt.datetime(2025, 1, 1 + i, 8,
                                                                         tzinfo=dt.UTC),
                           value=v, unit_of_measure="Nm", usl=60.0)
        for i, v in enumerate(values)])
    return unit


def _client(client, role):
    add_user("rita", role, password=PASSWORD)
    assert client.login(username="rita", password=PASSWORD)
    return client


def _key(plant):
    return service.characteristic_key(plant.pk, "Torque")


def test_process_chart_shows_svg_signal_raise_button_and_capability(client, plant):
    page = _client(client, "quality-manager").get(reverse("spc"), {"chart": _key(plant)})
    html = page.content.decode()
    assert page.status_code == 200
    assert "<svg" in html and 'data-chart="capability"' in html
    assert "1 point beyond 3 sigma" in html and "Raise nonconformance" in html
    assert "Torque (Plant)" in html  # offered in the chart selector
    assert 'id="capability"' in html and "Cpk" in html


@pytest.mark.parametrize("chart", ["nc-rate", "complaints", "pareto", "fishbone"])
def test_every_records_chart_renders_or_says_why_not(client, plant, chart):
    page = _client(client, "viewer").get(reverse("spc"), {"chart": chart, "unit": "U-PL"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html or 'data-testid="spc-problem"' in html


def test_raise_creates_once_then_links_to_it(client, plant):
    logged = _client(client, "quality-manager")
    buttons = logged.get(reverse("spc"), {"chart": _key(plant)}).content.decode().count(
        "Raise nonconformance")
    form = {"chart": _key(plant), "unit": "", "rules": "western_electric", "phase": "I",
            "baseline": "20", "subgroup": "6", "rule": "1 point beyond 3 sigma"}
    first = logged.post(reverse("spc-raise"), form)
    nc = Nonconformance.objects.get()
    assert first.status_code == 302
    assert first["Location"] == reverse("record-detail", args=["nonconformances",
                                                               nc.external_id])
    assert nc.history.first().history_user == User.objects.get(username="rita")
    second = logged.post(reverse("spc-raise"), form)
    assert second["Location"] == first["Location"]
    assert Nonconformance.objects.count() == 1
    html = logged.get(reverse("spc"), {"chart": _key(plant)}).content.decode()
    assert nc.external_id in html
    assert html.count("Raise nonconformance") == buttons - 1


def test_viewer_sees_no_button_and_may_not_raise(client, plant):
    logged = _client(client, "viewer")
    html = logged.get(reverse("spc"), {"chart": _key(plant)}).content.decode()
    assert "1 point beyond 3 sigma" in html and "Raise nonconformance" not in html
    refused = logged.post(reverse("spc-raise"), {"chart": _key(plant), "subgroup": "6",
                                                 "rule": "1 point beyond 3 sigma"})
    assert refused.status_code == 403 and not Nonconformance.objects.exists()


def test_a_signal_that_is_not_there_is_refused(client, plant):
    logged = _client(client, "quality-manager")
    answer = logged.post(reverse("spc-raise"), {"chart": _key(plant), "subgroup": "2",
                                                "rule": "1 point beyond 3 sigma"})
    assert answer.status_code == 400 and not Nonconformance.objects.exists()


def test_anonymous_goes_to_login_and_nav_has_spc(client, plant):
    assert "/login/" in client.get(reverse("spc"))["Location"]
    html = _client(client, "staff").get(reverse("spc")).content.decode()
    assert f'href="{reverse("spc")}"' in html


def test_htmx_request_gets_only_the_body(client, plant):
    page = _client(client, "viewer").get(reverse("spc"), {"chart": _key(plant)},
                                         HTTP_HX_REQUEST="true")
    html = page.content.decode()
    assert "<html" not in html and "<svg" in html
