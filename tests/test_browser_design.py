"""End to end in Chromium: customers in design and development (ISO 9001 8.3). A quality
manager opens the Design page, creates a design project, records three stage reviews from the
project's page (two customers at the concept review, one at the design review, none at the
prototype review; 3 + 1 + 2 defects found), records a defect that escaped to production (a
nonconformance linked to the project), and sees the project's page and the Design page show
the customers and defects per stage, the escape and the share caught before production
(6 of 7 = 86 %).

Screenshots go to test-results/; with QUALITYLOOP_UPDATE_SCREENSHOTS=1 they also refresh
docs/screenshots/design.png and design-project.png.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from browser_support import log_in
from browser_workflows import (
    LOGINS,
    api,
    screenshot,
    set_reference,
    submit_record_form,
    token_for,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MANAGER = LOGINS["quality-manager"]
REVIEWS = (("concept", 2, 3, 120), ("design", 1, 1, 80), ("prototype", 0, 2, 40))
"""(stage, customers taking part, defects found, days ago held)."""


def _days_ago(n: int) -> str:
    return (dt.date.today() - dt.timedelta(days=n)).isoformat()


@pytest.fixture(scope="module")
def customers(demo_site) -> list[dict]:
    """Two demo customers (read through the API) to take part in the reviews."""
    base, _ = demo_site
    token = token_for(MANAGER["username"])
    return api(base, token, "GET", "/customers/?limit=2")["items"]


def _new_project(page, base: str) -> tuple[str, str]:
    page.click("nav.mainnav >> text=Design")
    page.wait_for_url("**/design/")
    page.click("text=Design projects")
    page.click("[data-testid=new-record]")
    page.wait_for_url("**/records/design-projects/new/")
    page.fill("#id_name", "Quick-release coupling QR-7")
    page.fill("#id_product", "QR-7 coupling")
    page.select_option("#id_org_unit", index=2)
    unit = page.input_value("#id_org_unit")
    page.fill("#id_started_on", _days_ago(150))
    page.select_option("#id_current_stage", "pilot")
    return submit_record_form(page), unit


def _record_review(page, stage: str, customer_ids: list[str], defects: int, held: int) -> None:
    page.click("[data-testid=add-review]")
    page.wait_for_url("**/records/design-reviews/new/**")
    page.select_option("#id_stage", stage)
    page.fill("#id_held_on", _days_ago(held))
    set_reference(page, "customer_participants", customer_ids)
    page.fill("#id_defects_found", str(defects))
    page.fill("#id_notes", f"{stage} review with the customers' engineers")
    submit_record_form(page)


def test_design_project_reviews_customers_and_escapes(desktop_page, demo_site, customers):
    page = desktop_page
    base, _ = demo_site
    log_in(page, base, MANAGER, "/")
    project, unit = _new_project(page, base)
    panel = page.locator("[data-testid=design-project-panel]")
    assert "No stage review recorded yet" in panel.inner_text()

    ids = [c["external_id"] for c in customers]
    for stage, n_customers, defects, held in REVIEWS:
        _record_review(page, stage, ids[:n_customers], defects, held)
        assert project in page.inner_text("[data-field=project], .fields")
        page.goto(f"{base}/records/design-projects/{project}/")

    page.click("[data-testid=add-escape]")
    page.wait_for_url("**/records/nonconformances/new/**")
    assert page.input_value("#id_stage") == "production"
    page.fill("#id_title", "QR-7 latch releases under vibration")
    page.fill("#id_detected_on", _days_ago(10))
    page.select_option("#id_source", "inspection")
    page.select_option("#id_severity", "major")
    page.fill("#id_description", "Found at end-of-line vibration test, 3 of 200 couplings.")
    escape = submit_record_form(page)

    page.goto(f"{base}/records/design-projects/{project}/")
    rows = page.locator("[data-testid=project-reviews] tbody tr")
    assert rows.count() == 3
    by_stage = {rows.nth(i).get_attribute("data-stage"): rows.nth(i) for i in range(3)}
    for stage, n_customers, defects, _held in REVIEWS:
        row = by_stage[stage]
        assert row.locator("[data-customers]").get_attribute("data-customers") == str(
            n_customers)
        assert row.locator("[data-defects]").inner_text() == str(defects)
    assert customers[0]["name"] in by_stage["concept"].inner_text()
    assert page.locator(f"[data-testid=project-escapes] [data-nc='{escape}']").is_visible()
    assert "86%" in page.inner_text("[data-testid=project-caught-share]")
    screenshot(page, "design-project.png")

    page.click("nav.mainnav >> text=Design")
    page.wait_for_url("**/design/")
    page.select_option("#unit-select", unit)
    page.wait_for_url(re.compile(r".*unit=.*"))
    row = page.locator(f"[data-testid=design-table] tr[data-project='{project}']")
    row.wait_for()
    for stage, n_customers, defects, _held in REVIEWS:
        assert row.locator(f"td[data-stage={stage}][data-customers]").inner_text() == str(
            n_customers)
        assert row.locator(f"td[data-stage={stage}][data-defects]").inner_text() == str(defects)
    assert row.locator("[data-escaped=production]").inner_text() == "1"
    assert row.locator("[data-escaped=field]").inner_text() == "0"
    assert "86%" in row.inner_text()
    assert row.locator("[data-co-designed]").get_attribute("data-co-designed") == "yes"
    screenshot(page, "design-unit.png", full_page=False, docs=False)
    page.select_option("#unit-select", "")
    page.wait_for_function("() => !location.search.includes('unit=UNIT')")
    page.locator("[data-testid=design-totals]").wait_for()
    assert page.locator("[data-testid=design-table] tbody tr").count() > 1
    screenshot(page, "design.png")
