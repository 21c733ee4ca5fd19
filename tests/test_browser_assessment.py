"""End to end: a manager opens a survey round, a respondent answers on a phone through the personal
link (no login), the link is refused on reuse and the round page shows the progress.

Saves test-results/survey-form.png and assessment-rounds.png each run; with
QUALITYLOOP_UPDATE_SCREENSHOTS=1 it also refreshes them in docs/screenshots/.
"""

from __future__ import annotations

import os
import shutil

import pytest
from browser_support import ROOT, log_in

pytestmark = pytest.mark.browser

RESULTS = ROOT / "test-results"
DOCS = ROOT / "docs" / "screenshots"
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2,
         "is_mobile": True, "has_touch": True}
UNIT = "Augsburg Plant"


def _screenshot(page, name: str, **options) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(RESULTS / name), **options)
    if os.environ.get("QUALITYLOOP_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(RESULTS / name, DOCS / name)


@pytest.fixture
def manager(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


@pytest.fixture
def phone(browser):
    context = browser.new_context(**PHONE)  # a fresh context: no session, no login
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def _open_round(page, base: str, login: dict) -> str:
    """Open a round for one unit with two links; the first personal link."""
    log_in(page, base, login, "/assessment/rounds/")
    assert page.locator("nav.mainnav a.active").inner_text() == "Assessment"
    assert page.locator("[data-testid=rounds] tbody tr").count() >= 2  # the demo's rounds
    page.click("[data-testid=new-round]")
    page.fill("#id_name", "Browser round")
    page.get_by_label(UNIT, exact=True).check()
    page.get_by_label("A number of links per unit").check()
    page.fill("#id_per_unit", "2")
    page.click("button:has-text('Open the round')")
    links = page.locator("[data-testid=link]")
    links.first.wait_for()
    assert links.count() == 2
    assert page.locator("[data-testid=links-csv]").get_attribute("download").endswith(
        "-links.csv")
    return links.first.input_value()


def _answer_everything(phone, link: str) -> None:
    phone.goto(link)
    form = phone.locator("[data-testid=survey-form]")
    assert form.is_visible()
    groups = phone.locator(".survey-item")
    total = groups.count()
    assert total > 30 and phone.locator("fieldset.survey-section").count() >= 9
    for i in range(total):
        groups.nth(i).locator(".point-value").nth(4 if i % 3 else 5).click()
        if i == 2:
            phone.evaluate("window.scrollTo(0, 0)")
            _screenshot(phone, "survey-form.png")
    progress = phone.locator("[data-testid=survey-progress]").inner_text()
    assert progress == f"{total} of {total} answered"
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the survey must fit a phone without sideways scrolling"
    phone.click("button:has-text('Send my answers')")
    phone.locator("[data-testid=survey-thanks]").wait_for()


def test_a_survey_round_end_to_end(manager, phone, demo_site):
    base, login = demo_site
    link = _open_round(manager, base, login)
    assert link.startswith(base + "/survey/sv_")

    _answer_everything(phone, link)
    assert "Thank you" in phone.locator("h1").inner_text()

    phone.goto(link)
    refused = phone.locator("[data-testid=survey-refused]")
    assert refused.get_attribute("data-reason") == "used"
    assert "already been used" in refused.inner_text()

    manager.click("text=Go to the round")
    row = manager.locator("[data-testid=unit-progress] tbody tr")
    assert row.count() == 1
    assert UNIT in row.inner_text() and "1 of 2" in row.inner_text()
    assert "50%" in row.inner_text()
    manager.goto(base + "/assessment/rounds/")
    listed = manager.locator("[data-testid=rounds] tbody tr", has_text="Browser round")
    assert "1 of 2 · 50%" in listed.inner_text()
    _screenshot(manager, "assessment-rounds.png")
