"""End to end: Chromium logs in to the served demo and looks at the Retention page.

Saves test-results/retention.png each run; with QUALITYLOOP_UPDATE_SCREENSHOTS=1 it also refreshes
docs/screenshots/retention.png.
"""

from __future__ import annotations

import os
import re
import shutil

import pytest
from browser_support import ROOT, log_in

pytestmark = pytest.mark.browser

SCREENSHOT = ROOT / "test-results" / "retention.png"
DOCS_SCREENSHOT = ROOT / "docs" / "screenshots" / "retention.png"


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def test_retention_page_shows_its_charts_and_the_customers_at_risk(page, demo_site):
    base, login = demo_site
    log_in(page, base, login, "/retention/")
    assert page.locator("h1").inner_text() == "Retention"
    assert page.locator("nav.mainnav a.active").inner_text() == "Retention"

    for chart in ("cohorts", "survival", "probability-alive", "clv"):
        svg = page.locator(f'figure[data-chart="{chart}"] svg')
        assert svg.is_visible(), chart
        assert svg.bounding_box()["height"] > 100, chart
    rows = page.locator("#at-risk tbody tr")
    assert rows.count() > 0
    assert re.fullmatch(r"[\d.]+%", rows.first.locator("td").nth(3).inner_text().strip())

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    if os.environ.get("QUALITYLOOP_UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SCREENSHOT, DOCS_SCREENSHOT)


def test_an_at_risk_customer_links_to_their_record(page, demo_site):
    base, login = demo_site
    log_in(page, base, login, "/retention/")
    link = page.locator("#at-risk tbody tr").first.locator("td a")
    external_id = link.inner_text()
    link.click()
    page.wait_for_url(re.compile(rf"/records/customers/{re.escape(external_id)}/$"))
    assert external_id in page.locator("h1").inner_text()
