"""End to end: the real CLI builds the demo, the real server serves it, Chromium logs in and looks.

Debian's chromium drives the pages through Playwright's sync API; no browser is downloaded.
Each run saves the dashboard screenshot under test-results/; with QUALITYLOOP_UPDATE_SCREENSHOTS=1
it also refreshes docs/screenshots/dashboard.png, the picture in the README.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from browser_support import log_in

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "test-results" / "dashboard.png"
README_SCREENSHOT = ROOT / "docs" / "screenshots" / "dashboard.png"


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def test_log_in_and_see_the_dashboard(page, demo_site):
    base, login = demo_site
    log_in(page, base, login)
    assert page.locator("h1").inner_text() == "Dashboard"
    assert login["username"] in page.locator("[data-testid=username]").inner_text()

    for metric in ("active_customers", "churned_customers", "open_nonconformances",
                   "open_complaints"):
        value = page.locator(f'[data-metric="{metric}"] .tile-value')
        assert value.is_visible()
        assert re.fullmatch(r"[\d,]+", value.inner_text().strip()), metric
    assert int(page.locator('[data-metric="active_customers"] .tile-value')
               .inner_text().replace(",", "")) > 0
    assert re.fullmatch(r"[\d.]+%", page.locator('[data-metric="retention_rate"] .tile-value')
                        .inner_text().strip())
    charts = page.locator("figure.chart svg")
    assert charts.count() >= 3
    assert charts.first.is_visible()
    assert charts.first.bounding_box()["height"] > 100

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    if os.environ.get("QUALITYLOOP_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(SCREENSHOT, README_SCREENSHOT)


def test_unit_filter_updates_the_tiles_in_place(page, demo_site):
    base, login = demo_site
    log_in(page, base, login)
    tile = page.locator('[data-metric="active_customers"] .tile-value')
    whole = int(tile.inner_text().replace(",", ""))
    page.evaluate("window.__notReloaded = true")
    options = page.locator("#unit-select option")
    unit_value = options.nth(options.count() - 1).get_attribute("value")
    with page.expect_response(lambda r: "unit=" in r.url):
        page.select_option("#unit-select", unit_value)
    page.wait_for_url(re.compile(r"unit="))
    assert page.evaluate("window.__notReloaded === true"), "the page reloaded instead of HTMX"
    assert int(tile.inner_text().replace(",", "")) <= whole


def test_browse_nonconformances_to_a_record_with_history(page, demo_site):
    base, login = demo_site
    log_in(page, base, login)
    page.click("nav.mainnav >> text=Nonconformances")
    page.wait_for_url(base + "/records/nonconformances/")
    rows = page.locator("table.records tbody tr")
    assert rows.count() > 0
    first_link = rows.first.locator("td a").first
    external_id = first_link.inner_text()
    first_link.click()
    page.wait_for_url(re.compile(r"/records/nonconformances/.+/$"))
    assert external_id in page.locator("h1").inner_text()
    assert page.locator("#history").is_visible()
    assert page.locator("dl.fields").is_visible()


def test_live_search_filters_the_customer_list(page, demo_site):
    base, login = demo_site
    log_in(page, base, login)
    page.goto(base + "/records/customers/")
    count_text = page.locator("p.count").inner_text()
    total = int(re.match(r"[\d,]+", count_text).group().replace(",", ""))
    name = page.locator("table.records tbody tr").first.locator("td").nth(1).inner_text()
    with page.expect_response(lambda r: "q=" in r.url):
        page.fill("#record-search", name)
    page.wait_for_function(
        "total => !document.querySelector('p.count').innerText.startsWith(String(total))",
        arg=f"{total:,}",
    )
    narrowed = int(re.match(r"[\d,]+", page.locator("p.count").inner_text()).group()
                   .replace(",", ""))
    assert 1 <= narrowed < total
    assert name in page.locator("table.records").inner_text()
