"""End to end: Chromium opens the SPC page of the served demo, picks the shaft diameter of the
Augsburg plant (the demo's planted shift), sees the signal and raises a nonconformance from it.

Saves test-results/spc.png each run; with QUALITYLOOP_UPDATE_SCREENSHOTS=1 it also refreshes
docs/screenshots/spc.png.
"""

from __future__ import annotations

import os
import re
import shutil

import pytest
from browser_support import ROOT, log_in

pytestmark = pytest.mark.browser

SCREENSHOT = ROOT / "test-results" / "spc.png"
DOCS_SCREENSHOT = ROOT / "docs" / "screenshots" / "spc.png"
CHART = "Shaft diameter (Augsburg Plant)"


def _choose(page, action) -> None:
    """Do ``action`` (a change of a control) and wait until HTMX has swapped in the answer."""
    with page.expect_response(lambda response: "/spc/" in response.url):
        action()
    page.wait_for_load_state("networkidle")


def _pick_shaft_diameter(page) -> None:
    _choose(page, lambda: page.select_option("#unit-select", label="Augsburg Plant"))
    _choose(page, lambda: page.select_option("#chart-select", label=CHART))
    page.wait_for_selector('figure[data-chart^="m"] svg')
    _choose(page, lambda: page.check('input[name="phase"][value="II"]'))
    page.wait_for_selector("text=Limits from the first 20 points.")


def test_spc_page_shows_the_planted_shift_and_raises_a_nonconformance(desktop_page, demo_site):
    page = desktop_page
    base, login = demo_site
    log_in(page, base, login, "/spc/")
    assert page.locator("nav.mainnav a.active").inner_text() == "SPC"
    assert page.locator('figure[data-chart="nc-rate"] svg').is_visible()

    _pick_shaft_diameter(page)
    assert "unit=" in page.url and "phase=II" in page.url  # the choice is in the address
    chart = page.locator('figure[data-chart^="m"] svg').first
    assert chart.bounding_box()["height"] > 200
    beyond = page.locator("#signals tbody tr", has_text="1 point beyond 3 sigma")
    assert beyond.count() >= 3  # the last weeks' shift of 2 sigma
    assert page.locator("#capability tbody tr", has_text="Cpk").count() == 1

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    if os.environ.get("QUALITYLOOP_UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SCREENSHOT, DOCS_SCREENSHOT)

    chart_url = page.url
    row = beyond.first
    week = row.locator("td").nth(1).inner_text()
    rule = row.locator("li", has_text="1 point beyond 3 sigma")
    rule.get_by_role("button", name="Raise nonconformance").click()
    page.wait_for_url(re.compile(r"/records/nonconformances/SPC-[0-9A-F]{16}/$"))
    external_id = page.url.rstrip("/").rsplit("/", 1)[1]
    heading = page.locator("h1").inner_text()
    assert external_id in heading and "Shaft diameter" in heading and week in heading
    assert "Process monitoring" in page.content()

    page.goto(chart_url)
    link = page.locator(f'#signals a[data-testid="raised-nc"]:text-is("{external_id}")')
    assert link.count() == 1  # the signal now links to its nonconformance, no second button
