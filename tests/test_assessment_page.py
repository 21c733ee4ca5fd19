"""The Assessment page: maturity, reliability flags, item detail, record index and the survey
versus records comparison, empty states, roles and the cache."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from qualityloop.analytics.assessment import builtin_instrument
from qualityloop.records.assessment.models import SurveyResponse
from qualityloop.records.organisation.models import OrgUnit
from qualityloop.report.assessment_charts import radar_coordinates
from qualityloop.services import assessment, tqm_index
from qualityloop.services.users import add_user
from qualityloop.web.views import assessment as page

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"
SPEC = builtin_instrument()
YEAR = str(timezone.now().year)


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def units():
    return [OrgUnit.objects.create(external_id=f"U-{name[0]}", name=name)
            for name in ("North", "South", "East", "West")]


def _answers(rng, n: int, training_shift: float = 0.0) -> list[dict[str, int | None]]:
    """Answers driven by one level per respondent, except supplier quality: pure noise, so its
    reliability fails."""
    sheets = []
    for _ in range(n):
        level = rng.normal()
        sheet: dict[str, int | None] = {}
        for construct in SPEC.constructs:
            for item in construct.items:
                if construct.id == "supplier":
                    value = rng.integers(1, 8)
                else:
                    shift = training_shift if construct.id == "training" else 0.0
                    value = np.clip(np.rint(4 + 1.3 * level + shift + rng.normal(0, 0.6)), 1, 7)
                    if item.reverse:
                        value = 8 - value
                sheet[item.id] = int(value)
        sheets.append(sheet)
    return sheets


def _round(units, per_unit: dict[str, int], name="Spring", seed=1, training_shift=None):
    """A round for ``units`` with ``per_unit`` responses by unit external id."""
    instrument = assessment.install_builtin_instrument()
    opened = assessment.open_round(name, instrument, units, invitees=1)
    rng = np.random.default_rng(seed)
    for unit in units:
        shift = (training_shift or {}).get(unit.external_id, 0.0)
        for sheet in _answers(rng, per_unit.get(unit.external_id, 0), shift):
            SurveyResponse.objects.create(round=opened.round, unit=unit, answers=sheet)
    return opened.round


def _fake_index(units, training: dict[str, float]) -> pd.DataFrame:
    """A record index for this year: every indicator scored 60, training as given."""
    rows = []
    for unit in units:
        for indicator in tqm_index.INDICATORS:
            score = training.get(unit.external_id, 60.0) if (
                indicator.name == "problem_recognition_training") else 60.0
            value = score if indicator.direction == "lower" else score / 100
            rows.append({"unit": unit.external_id, "unit_name": unit.name, "period": YEAR,
                         "indicator": indicator.name, "value": value, "numerator": 6,
                         "denominator": 10, "score_0_100": score, "reason": ""})
    return pd.DataFrame(rows, columns=tqm_index.LONG_COLUMNS)


@pytest.fixture
def index(monkeypatch, units):
    """The record index replaced by a hand-made one: North's training records score 20."""
    fake = _fake_index(units, {"U-N": 20.0})

    def record_index(period="year", as_of=None, unit=None):
        if unit is None:
            return fake
        return fake[fake["unit"] == unit.external_id]

    monkeypatch.setattr(tqm_index, "record_index", record_index)
    return fake


@pytest.fixture
def survey(units, index):
    return _round(units, {"U-N": 40, "U-S": 30, "U-E": 30, "U-W": 30},
                  training_shift={"U-N": 2.5})


def _client(role: str | None = "quality-manager") -> Client:
    client = Client()
    if role is None:
        User.objects.create_user("nobody", password=PASSWORD)
        assert client.login(username="nobody", password=PASSWORD)
        return client
    add_user(f"user-{role}", role, password=PASSWORD)
    assert client.login(username=f"user-{role}", password=PASSWORD)
    return client


def _html(client: Client, **query) -> str:
    response = client.get(reverse("assessment"), query)
    assert response.status_code == 200
    return response.content.decode()


def _row(html: str, attribute: str, key: str) -> str:
    return html.split(f'{attribute}="{key}"', 1)[1].split("</tr>", 1)[0]


# the page --------------------------------------------------------------------------------------

def test_unit_page_shows_radar_trend_maturity_reliability_items_and_index(survey):
    html = _html(_client(), unit="U-N")
    assert re.search(r'data-chart="radar">\s*<svg', html)
    assert re.search(r'data-chart="trend">\s*<svg', html)
    assert 'data-testid="answered">40<' in html
    maturity = html.split('data-testid="maturity"', 1)[1].split("</table>", 1)[0]
    assert maturity.count("data-construct=") == len(SPEC.constructs)
    expected = assessment.round_scores(survey, OrgUnit.objects.get(external_id="U-N"), by=())
    training = expected.set_index("construct").loc["training", "maturity"]
    assert f'data-testid="maturity-value">{training:.0f}<' in _row(html, "data-construct",
                                                                   "training")
    items = html.split('data-testid="items-table"', 1)[1].split("</table>", 1)[0]
    assert items.count("data-item=") == len(SPEC.item_ids)
    assert items.count('class="reverse"') == len(SPEC.reverse_item_ids)
    assert 'data-testid="htmt"' in html and "bootstrap 95% interval" in html
    assert 'data-testid="indicators"' in html
    definition = tqm_index.BY_NAME["capa_on_time"].definition
    assert f'title="{definition}' in html.replace("&#x27;", "'")


def test_a_construct_of_noise_fails_its_reliability_thresholds(survey):
    html = _html(_client())
    table = html.split('data-testid="reliability-table"', 1)[1]
    supplier = _row(table, "data-construct", "supplier")
    alpha = supplier.split('data-stat="alpha"', 1)[1].split("</td>", 1)[0]
    assert 'class="flag fail"' in alpha
    training = _row(table, "data-construct", "training")
    for stat in ("alpha", "rho_a", "rho_c", "ave"):
        cell = training.split(f'data-stat="{stat}"', 1)[1].split("</td>", 1)[0]
        assert 'class="flag pass"' in cell, stat
    assert 'data-testid="reliability-warnings"' in html
    assert "loads weakly on Supplier quality" in html or "correlates negatively" in html
    weak = re.findall(r'data-item="(supp\d)" class="weak"', html)
    assert weak, "supplier items below 0.708 are highlighted"


def test_disagreement_between_survey_and_records_is_said_in_a_sentence(survey):
    html = _html(_client(), unit="U-N")
    sentences = html.split('data-testid="disagreement-sentences"', 1)[1].split("</ul>", 1)[0]
    assert re.search(r"North rates its training \d+/100 but the records score it 20/100", sentences)
    assert "South" not in sentences
    whole = _html(_client("viewer"))
    assert "North rates its training" in whole


def test_no_rounds_offers_to_open_one():
    html = _html(_client())
    assert 'data-testid="no-rounds"' in html
    assert f'href="{reverse("assessment-round-new")}" data-testid="open-first-round"' in html
    viewer = _html(_client("viewer"))
    assert "Ask a quality manager to open one" in viewer


def test_too_few_answers_says_so_instead_of_statistics(units, index):
    _round(units, {"U-N": 3, "U-S": 10})
    html = _html(_client(), unit="U-N")
    assert 'data-testid="too-few"' in html and "Only 3 answers from North" in html
    assert 'data-testid="reliability"' not in html and "<svg" not in html
    assert 'data-testid="reliability"' in _html(_client("staff"), unit="U-S")


def test_default_round_is_the_latest_with_answers(units, index):
    answered = _round(units, {"U-N": 8}, name="Answered")
    empty = _round(units, {}, name="Not yet")
    html = _html(_client())
    assert f'<option value="{answered.external_id}" selected>' in html
    chosen = _html(_client("staff"), round=empty.external_id)
    assert "No answers in this round yet" in chosen


def test_trend_has_one_point_per_round_and_construct(units, index):
    first = _round(units, {"U-N": 10}, name="One", seed=2)
    second = _round(units, {"U-N": 12}, name="Two", seed=3)
    scope = page.Scope.build(second, [first, second], OrgUnit.objects.get(external_id="U-N"))
    trend = page.trend_table(scope)
    assert len(trend) == 2 * len(SPEC.constructs)
    assert list(dict.fromkeys(trend["round"])) == [page.round_label(first),
                                                  page.round_label(second)]


def test_new_answers_are_shown_without_waiting_for_the_cache(units, index):
    survey = _round(units, {"U-N": 6})
    client = _client()
    assert 'data-testid="answered">6<' in _html(client, unit="U-N")
    SurveyResponse.objects.create(round=survey, unit=units[0], answers=_answers(
        np.random.default_rng(9), 1)[0])
    assert 'data-testid="answered">7<' in _html(client, unit="U-N")


def test_every_role_reads_it_a_user_without_role_does_not(survey):
    for role in ("viewer", "staff", "unit-lead", "top-management", "admin"):
        assert 'data-testid="reliability"' in _html(_client(role))
    assert 'data-testid="no-access"' in _html(_client(None))
    response = Client().get(reverse("assessment"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_htmx_request_returns_only_the_body(survey):
    response = _client().get(reverse("assessment"), {"unit": "U-S"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<html" not in html and 'data-testid="reliability"' in html


def test_nav_link_and_rounds_link(survey):
    html = _html(_client())
    assert f'<a href="{reverse("assessment")}" class="active">Assessment</a>' in html
    assert f'href="{reverse("assessment-rounds")}" data-testid="rounds-link"' in html


# the radar --------------------------------------------------------------------------------------

def test_radar_corners_are_closed_polygons_on_their_spokes():
    frame = pd.DataFrame({"series": ["A"] * 3 + ["B"] * 3, "construct": ["x", "y", "z"] * 2,
                          "maturity": [100.0, 50.0, np.nan, 20.0, 20.0, 20.0]})
    corners = radar_coordinates(frame)
    a = corners[corners["series"] == "A"]
    assert len(a) == 3 and a.iloc[0][["x", "y"]].tolist() == a.iloc[-1][["x", "y"]].tolist()
    assert a.iloc[0]["y"] == pytest.approx(100) and a.iloc[0]["x"] == pytest.approx(0)
    assert np.hypot(a.iloc[1]["x"], a.iloc[1]["y"]) == pytest.approx(50)
    b = corners[corners["series"] == "B"]
    assert len(b) == 4 and np.hypot(b["x"], b["y"]).round(9).eq(20).all()


def test_chart_module_examples_run():
    import doctest

    from qualityloop.report import assessment_charts

    result = doctest.testmod(assessment_charts)
    assert result.attempted > 0 and result.failed == 0
