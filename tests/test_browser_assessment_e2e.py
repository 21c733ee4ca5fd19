"""End to end, issue #4's "done when": a manager opens a round for one unit, respondents answer on
their personal links on a phone, the rest of the answer sheets come in through the CSV import,
and the manager sees that unit's scores and reliability table on the Assessment page.

The scores on the page are checked against ``analytics.assessment`` run on the very answers the
test gave. Saves test-results/assessment.png each run (the demo round SR-002 for Brno Plant);
with QUALITYLOOP_UPDATE_SCREENSHOTS=1 it also refreshes docs/screenshots/assessment.png.
"""

from __future__ import annotations

import csv
import os
import shutil

import numpy as np
import pandas as pd
import pytest
from browser_support import ROOT, log_in

from qualityloop.analytics.assessment import aggregate_scores, builtin_instrument, construct_scores

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SPEC = builtin_instrument()
UNIT = "Porto Plant"
ON_PHONE = 2
IMPORTED = 18
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2,
         "is_mobile": True, "has_touch": True}
RESULTS = ROOT / "test-results"
DOCS = ROOT / "docs" / "screenshots"


def answer_sheets(n: int, seed: int) -> list[dict[str, int]]:
    """Answers a coherent respondent would give: one level per person, item noise, reverse-keyed
    items turned round."""
    rng = np.random.default_rng(seed)
    sheets = []
    for _ in range(n):
        level = rng.normal(0.3, 1.0)
        sheet = {}
        for item in SPEC.items:
            value = int(np.clip(np.rint(4 + 1.2 * level + rng.normal(0, 0.6)), 1, 7))
            sheet[item.id] = 8 - value if item.reverse else value
        sheets.append(sheet)
    return sheets


def _save_screenshot(page, name: str, height: int) -> None:
    """The top ``height`` pixels of the page (the whole page would be a megabyte)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(RESULTS / name), full_page=True,
                    clip={"x": 0, "y": 0, "width": 1366, "height": height})
    if os.environ.get("QUALITYLOOP_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(RESULTS / name, DOCS / name)


def _new_page(browser, **options):
    context = browser.new_context(**options)
    page = context.new_page()
    page.set_default_timeout(60_000)
    return context, page


@pytest.fixture
def manager(browser):
    context, page = _new_page(browser, viewport={"width": 1366, "height": 900})
    yield page
    context.close()


def open_round(page, base: str, login: dict) -> tuple[str, list[str]]:
    """Open a round for UNIT with personal links; (round id, the links)."""
    log_in(page, base, login, "/assessment/")
    page.click("[data-testid=rounds-link]")
    page.click("[data-testid=new-round]")
    page.fill("#id_name", "Porto check")
    page.get_by_label(UNIT, exact=True).check()
    page.get_by_label("A number of links per unit").check()
    page.fill("#id_per_unit", str(ON_PHONE + 1))
    page.click("button:has-text('Open the round')")
    links = page.locator("[data-testid=link]")
    links.first.wait_for()
    round_id = page.locator(".breadcrumb a").nth(1).inner_text().strip()
    return round_id, [links.nth(i).input_value() for i in range(links.count())]


def answer_on_phone(browser, link: str, sheet: dict[str, int]) -> None:
    """A respondent with no login, on a phone, answers every statement and sends them."""
    context, phone = _new_page(browser, **PHONE)
    try:
        phone.goto(link)
        items = phone.locator(".survey-item")
        assert items.count() == len(SPEC.item_ids)
        for i, item_id in enumerate(SPEC.item_ids):
            items.nth(i).locator(".point-value").nth(sheet[item_id] - 1).click()
        total = len(SPEC.item_ids)
        assert phone.locator("[data-testid=survey-progress]").inner_text() == (
            f"{total} of {total} answered")
        phone.click("button:has-text('Send my answers')")
        phone.locator("[data-testid=survey-thanks]").wait_for()
    finally:
        context.close()


def import_sheets(page, base: str, round_id: str, sheets: list[dict[str, int]], folder) -> str:
    """Upload answer sheets as a CSV on the round page; the unit's external id."""
    page.goto(f"{base}/assessment/rounds/{round_id}/")
    row = page.locator("[data-testid=unit-progress] tbody tr")
    assert row.count() == 1 and UNIT in row.inner_text()
    assert row.locator("[data-testid=answered]").inner_text() == str(ON_PHONE)
    unit_id = row.get_attribute("data-unit")
    path = folder / "paper-answers.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=["respondent", "unit", *SPEC.item_ids])
        writer.writeheader()
        for number, sheet in enumerate(sheets, start=1):
            writer.writerow({"respondent": f"paper-{number}", "unit": unit_id, **sheet})
    form = page.locator("[data-testid=import-form]")
    form.locator("input[type=file]").set_input_files(str(path))
    form.locator("button[type=submit]").click()
    report = page.locator("[data-testid=import-report]")
    assert f"Imported {len(sheets)} answer sheets" in report.inner_text()
    return unit_id


def expected_maturity(sheets: list[dict[str, int]]) -> dict[str, float]:
    frame = pd.DataFrame(sheets)
    table = aggregate_scores(construct_scores(frame, SPEC), by=())
    return dict(zip(table["construct"], table["maturity"], strict=True))


def test_round_answered_on_phones_and_imported_shows_on_the_assessment_page(
        manager, browser, demo_site, tmp_path):
    base, login = demo_site
    round_id, links = open_round(manager, base, login)
    assert len(links) == ON_PHONE + 1 and all(link.startswith(base + "/survey/")
                                              for link in links)
    sheets = answer_sheets(ON_PHONE + IMPORTED, seed=4)
    for link, sheet in zip(links[:ON_PHONE], sheets[:ON_PHONE], strict=True):
        answer_on_phone(browser, link, sheet)
    unit_id = import_sheets(manager, base, round_id, sheets[ON_PHONE:], tmp_path)

    manager.click("nav.mainnav >> text=Assessment")
    manager.select_option("#round-select", round_id)
    manager.wait_for_url(f"**round={round_id}**")
    manager.select_option("#unit-select", unit_id)
    manager.wait_for_url(f"**unit={unit_id}**")
    body = manager.locator("#assessment-body")
    body.locator("[data-testid=scope] >> text=Porto check").wait_for()
    assert body.locator("[data-testid=answered]").inner_text() == str(ON_PHONE + IMPORTED)
    assert body.locator("[data-chart=radar] svg").count() == 1

    expected = expected_maturity(sheets)
    shown = body.locator("[data-testid=maturity] tbody tr")
    assert shown.count() == len(SPEC.constructs)
    for construct, maturity in expected.items():
        cell = body.locator(f"[data-testid=maturity] tr[data-construct={construct}] "
                            "[data-testid=maturity-value]")
        assert cell.inner_text() == f"{maturity:.0f}", construct

    table = body.locator("[data-testid=reliability-table]")
    assert table.locator("tbody tr").count() == len(SPEC.constructs)
    badges = table.locator(".flag")
    assert badges.count() == 5 * len(SPEC.constructs)
    assert table.locator(".flag.pass").count() >= 3 * len(SPEC.constructs), (
        "coherent answers pass most reliability thresholds")
    assert "Only 20 respondents" in body.locator("[data-testid=reliability-warnings]").inner_text()
    width = manager.evaluate("document.documentElement.scrollWidth")
    assert width <= 1366, "the page must not scroll sideways on a laptop"

    manager.goto(f"{base}/assessment/?round=SR-002&unit=UNIT-06")  # a unit no test changes
    manager.locator("[data-chart=trend] svg").wait_for()
    _save_screenshot(manager, "assessment.png", height=2100)
