"""End to end: Chromium logs in to the served demo and looks at the Retention page.

Saves test-results/retention.png each run; with QUALITYLOOP_UPDATE_SCREENSHOTS=1 it also refreshes
docs/screenshots/retention.png.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest
from test_browser import CHROMIUM, CHROMIUM_ARGS, ROOT, _cli, _free_port, _wait_for

pytestmark = pytest.mark.browser

SCREENSHOT = ROOT / "test-results" / "retention.png"
DOCS_SCREENSHOT = ROOT / "docs" / "screenshots" / "retention.png"


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory):
    """The 300-customer demo served by ``qualityloop serve``; yields (base url, login)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    home = tmp_path_factory.mktemp("browser-retention-home")
    env = {**os.environ, "QUALITYLOOP_HOME": str(home), "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # the server runs with its production settings
    built = subprocess.run(
        [*_cli(), "demo", "--customers", "300", "--no-serve", "--json"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    login = json.loads(built.stdout)["login"]
    port = _free_port()
    server = subprocess.Popen(
        [*_cli(), "serve", "--port", str(port)], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(base + "/healthz", 60, server)
        yield base, login
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="module")
def page(demo_site):
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        context = chromium.new_context(viewport={"width": 1366, "height": 900})
        page = context.new_page()
        page.set_default_timeout(30_000)
        yield page
        chromium.close()


def test_retention_page_shows_its_charts_and_the_customers_at_risk(page, demo_site):
    base, login = demo_site
    page.goto(base + "/retention/")
    assert "/login/" in page.url, "an anonymous visitor must be sent to the login page"
    page.fill("#id_username", login["username"])
    page.fill("#id_password", login["password"])
    page.click("button[type=submit]")
    page.wait_for_url(base + "/retention/")
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
    base, _ = demo_site
    page.goto(base + "/retention/")
    link = page.locator("#at-risk tbody tr").first.locator("td a")
    external_id = link.inner_text()
    link.click()
    page.wait_for_url(re.compile(rf"/records/customers/{re.escape(external_id)}/$"))
    assert external_id in page.locator("h1").inner_text()
