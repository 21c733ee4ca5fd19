"""The survey form behind a personal link, and the round pages for managers (with their rights)."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest
from django.test import Client
from django.urls import reverse

from qualityloop.analytics.assessment import builtin_instrument
from qualityloop.records.assessment.models import SurveyResponse, SurveyRound
from qualityloop.records.organisation.models import OrgUnit, Person
from qualityloop.services import assessment
from qualityloop.services.users import add_user

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


@pytest.fixture
def unit():
    north = OrgUnit.objects.create(external_id="U-N", name="North")
    for i in range(2):
        Person.objects.create(external_id=f"P-{i}", name=f"Person {i}", org_unit=north)
    return north


@pytest.fixture
def opened(unit):
    instrument = assessment.install_builtin_instrument()
    return assessment.open_round("Spring", instrument, [unit], invitees=2)


def _client(role: str) -> Client:
    client = Client()
    add_user(f"user-{role}", role, password=PASSWORD)
    assert client.login(username=f"user-{role}", password=PASSWORD)
    return client


# the public survey form ------------------------------------------------------------------------

def test_survey_form_needs_no_login_and_shows_one_fieldset_per_construct(opened):
    response = Client().get(opened.links[0].path)
    assert response.status_code == 200
    html = response.content.decode()
    spec = builtin_instrument()
    assert html.count("<fieldset") == len(spec.constructs)
    assert html.count('type="radio"') == 7 * len(spec.item_ids)
    assert "Strongly disagree" in html and "csrfmiddlewaretoken" in html
    assert 'name="viewport"' in html
    assert f"0 of {len(spec.item_ids)} answered" in html


def test_answering_stores_the_answers_then_the_link_is_refused(opened):
    client = Client(enforce_csrf_checks=True)
    page = client.get(opened.links[0].path)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]
    posted = client.post(opened.links[0].path,
                         {"csrfmiddlewaretoken": token, "lead1": "6", "cust5": "2"})
    assert posted.status_code == 302 and posted["Location"] == reverse("survey-thanks")
    assert "Thank you" in client.get(posted["Location"]).content.decode()
    stored = SurveyResponse.objects.get()
    assert stored.answers["lead1"] == 6 and stored.answers["cust5"] == 2
    assert stored.answers["lead2"] is None
    again = client.get(opened.links[0].path)
    assert again.status_code == 410
    assert "already been used" in again.content.decode()
    resubmitted = client.post(opened.links[0].path, {"csrfmiddlewaretoken": token, "lead1": "1"})
    assert resubmitted.status_code == 410
    assert SurveyResponse.objects.count() == 1


def test_survey_post_without_csrf_token_is_refused(opened):
    response = Client(enforce_csrf_checks=True).post(opened.links[0].path, {"lead1": "5"})
    assert response.status_code == 403
    assert not SurveyResponse.objects.exists()


def test_unknown_and_closed_links_get_a_clear_page(opened):
    unknown = Client().get("/survey/sv_not-a-link/")
    assert unknown.status_code == 404 and "Unknown survey link" in unknown.content.decode()
    assessment.close_round(opened.round)
    closed = Client().get(opened.links[1].path)
    assert closed.status_code == 410 and "This survey is closed" in closed.content.decode()


def test_an_empty_submission_is_shown_again_with_the_problem(opened):
    response = Client().post(opened.links[0].path, {})
    assert response.status_code == 400
    assert "No statement was answered" in response.content.decode()
    assert not SurveyResponse.objects.exists()


# manager pages -------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["admin", "top-management", "quality-manager"])
def test_managers_open_a_round_and_get_the_links_once(unit, role):
    client = _client(role)
    form = client.get(reverse("assessment-round-new"))
    assert form.status_code == 200 and 'type="checkbox"' in form.content.decode()
    instrument = assessment.find_instrument()
    response = client.post(reverse("assessment-round-new"), {
        "name": "Autumn", "instrument": instrument.pk, "units": [unit.pk], "anonymous": "on",
        "links": "count", "per_unit": "3"})
    assert response.status_code == 200
    html = response.content.decode()
    links = re.findall(r'value="(http://testserver/survey/sv_[^"]+/)"', html)
    assert len(links) == 3
    csv_text = unquote(re.search(r'href="data:text/csv;charset=utf-8,([^"]+)"', html)[1])
    assert csv_text.splitlines()[0] == "unit,unit_name,person,url"
    assert all(link in csv_text for link in links)
    survey = SurveyRound.objects.get(name="Autumn")
    assert survey.opened_by.username == f"user-{role}" and survey.anonymous
    path = links[0].removeprefix("http://testserver")
    assert Client().get(path).status_code == 200


def test_round_form_problems_are_shown(unit):
    client = _client("quality-manager")
    response = client.post(reverse("assessment-round-new"), {
        "name": "", "instrument": assessment.find_instrument().pk, "links": "count"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "This field is required." in html and "Give the number of links per unit." in html
    assert not SurveyRound.objects.exists()


@pytest.mark.parametrize("role", ["unit-lead", "staff", "viewer"])
def test_other_roles_may_look_but_not_open_close_or_import(opened, role, tmp_path):
    client = _client(role)
    listing = client.get(reverse("assessment-rounds"))
    assert listing.status_code == 200 and "SR-001" in listing.content.decode()
    assert "Open a round" not in listing.content.decode()
    assert client.get(reverse("assessment-round-new")).status_code == 403
    refused = client.post(reverse("assessment-round-new"), {"name": "X"})
    assert refused.status_code == 403 and "may not open or close" in refused.content.decode()
    key = opened.round.external_id
    assert client.post(reverse("assessment-round-close", args=[key])).status_code == 403
    sheet = tmp_path / "a.csv"
    sheet.write_text("unit,lead1\nU-N,5\n")
    with sheet.open("rb") as upload:
        imported = client.post(reverse("assessment-round-import", args=[key]), {"file": upload})
    assert imported.status_code == 403
    opened.round.refresh_from_db()
    assert opened.round.status == "open" and not SurveyResponse.objects.exists()
    assert SurveyRound.objects.count() == 1


def test_anonymous_visitors_are_sent_to_log_in(opened):
    response = Client().get(reverse("assessment-rounds"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_round_page_shows_progress_and_closes(opened):
    assessment.submit_response(opened.links[0].token, {"lead1": 4})
    client = _client("quality-manager")
    page = client.get(reverse("assessment-round", args=["SR-001"]))
    html = page.content.decode()
    assert page.status_code == 200
    row = re.search(r'<tr data-unit="U-N">(.*?)</tr>', html, re.S)[1]
    assert "1 of 2" in row and "50%" in row
    listing = client.get(reverse("assessment-rounds")).content.decode()
    assert "1 of 2 · 50%" in listing
    closed = client.post(reverse("assessment-round-close", args=["SR-001"]))
    assert closed.status_code == 302
    assert SurveyRound.objects.get().status == "closed"
    assert "Close the round" not in client.get(closed["Location"]).content.decode()
    assert client.get(reverse("assessment-round", args=["SR-404"])).status_code == 404


def test_import_form_reports_problems_and_imports(opened, tmp_path):
    client = _client("admin")
    url = reverse("assessment-round-import", args=["SR-001"])
    bad = tmp_path / "bad.csv"
    bad.write_text("unit,lead1\nU-N,12\n")
    with bad.open("rb") as upload:
        failed = client.post(url, {"file": upload})
    assert failed.status_code == 400
    assert "bad.csv, row 2, column lead1: expected a whole number from 1 to 7" in \
        failed.content.decode()
    good = tmp_path / "good.csv"
    good.write_text("unit,lead1\nU-N,5\nU-N,6\n")
    with good.open("rb") as upload:
        checked = client.post(url, {"file": upload, "dry_run": "1"})
    assert "Checked: would import 2 answer sheets" in checked.content.decode()
    assert not SurveyResponse.objects.exists()
    with good.open("rb") as upload:
        done = client.post(url, {"file": upload})
    assert "Imported 2 answer sheets" in done.content.decode()
    assert SurveyResponse.objects.filter(source="import").count() == 2


def test_nav_has_an_assessment_link(opened):
    html = _client("viewer").get(reverse("assessment-round", args=["SR-001"])).content.decode()
    assert re.search(r'<a href="/assessment/[^"]*" class="active">Assessment</a>', html)


def test_admin_pages_of_the_survey_models(opened):
    from django.contrib.auth.models import User

    from qualityloop.records.assessment.models import Instrument, SurveyInvitation

    assessment.submit_response(opened.links[0].token, {"lead1": 4})
    User.objects.create_superuser("root", "root@example.org", PASSWORD)
    client = Client()
    client.login(username="root", password=PASSWORD)
    for model in (Instrument, SurveyRound, SurveyInvitation, SurveyResponse):
        name = f"admin:assessment_{model._meta.model_name}"
        assert client.get(reverse(f"{name}_changelist")).status_code == 200, model
        first = model.objects.first()
        change = client.get(reverse(f"{name}_change", args=[first.pk]))
        assert change.status_code == 200, model
        assert "key_hash" not in change.content.decode()
