"""End to end in Chromium: customer focus (ISO 9001 8.2, 9.1.2). A quality manager opens a new
customer's page, adds a requirement with a target from it (on-time delivery at least 95 %,
surpassed at 99 %), records a measurement that misses it (91 %) and sees "missed" on the
page, records a feedback response (NPS 3, CSAT 2) and sees it next to the segment's NPS trend
by quarter, records a complaint; a nonconformance affecting the customer (raised through the
API) shows there too: the page holds everything quality-related that happened to the customer.

Screenshots go to test-results/; with QUALITYLOOP_UPDATE_SCREENSHOTS=1 they also refresh
docs/screenshots/customer.png.
"""

from __future__ import annotations

import datetime as dt

import pytest
from browser_support import log_in
from browser_workflows import (
    LOGINS,
    api,
    first_id,
    screenshot,
    submit_record_form,
    token_for,
    unique_id,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MANAGER = LOGINS["quality-manager"]


def _today(days: int = 0) -> str:
    return (dt.date.today() + dt.timedelta(days=days)).isoformat()


@pytest.fixture(scope="module")
def newcomer(demo_site) -> dict:
    """A customer added today through the API (nothing has happened to it yet), with the token
    of the quality manager."""
    base, _ = demo_site
    token = token_for(MANAGER["username"])
    customer = unique_id("C-FOCUS")
    unit = first_id(base, token, "org-units")
    api(base, token, "POST", "/customers/", {
        "external_id": customer, "name": "Fjord Hydraulics AS", "segment": "mid_market",
        "country": "NO", "acquired_on": _today(-200), "serving_unit": unit})
    return {"id": customer, "unit": unit, "token": token}


def _requirement_row(page, requirement: str):
    return page.locator(f"[data-testid=customer-requirements] tr[data-requirement='{requirement}']")


def test_customer_requirement_feedback_and_everything_on_the_customer_page(
        desktop_page, demo_site, newcomer):
    page = desktop_page
    base, _ = demo_site
    customer_url = f"{base}/records/customers/{newcomer['id']}/"
    log_in(page, base, MANAGER, f"/records/customers/{newcomer['id']}/")
    focus = page.locator("[data-testid=customer-focus]")
    assert focus.is_visible()

    page.click("[data-testid=add-requirement]")
    page.wait_for_url("**/records/requirements/new/**")
    assert page.input_value("#id_customer") == newcomer["id"]
    page.fill("#id_title", "On-time delivery")
    page.fill("#id_characteristic", "on-time delivery")
    page.fill("#id_unit_of_measure", "%")
    page.fill("#id_target", "95")
    page.fill("#id_surpass_threshold", "99")
    page.select_option("#id_direction", "higher")
    requirement = submit_record_form(page)
    page.goto(customer_url)
    assert _requirement_row(page, requirement).get_attribute("data-status") == "not-measured"

    _requirement_row(page, requirement).locator("[data-testid=measure]").click()
    page.wait_for_url("**/records/requirement-measurements/new/**")
    assert page.input_value("#id_requirement") == requirement
    page.fill("#id_value", "91")
    measurement = submit_record_form(page)
    page.goto(customer_url)
    row = _requirement_row(page, requirement)
    assert row.get_attribute("data-status") == "missed"
    assert row.locator("[data-testid=requirement-status]").inner_text() == "Missed"
    assert "1 missed" in page.inner_text("[data-testid=requirements-missed]")
    assert measurement in page.inner_text("[data-testid=customer-measurements]")

    page.click("[data-testid=add-feedback]")
    page.wait_for_url("**/records/feedback/new/**")
    page.fill("#id_responded_on", _today())
    page.fill("#id_nps", "3")
    page.fill("#id_csat", "2")
    page.fill("#id_comment", "Deliveries keep slipping.")
    feedback = submit_record_form(page)
    page.goto(customer_url)
    trend = page.locator("[data-testid=nps-trend]")
    assert trend.locator("[data-testid=own-nps]").all_inner_texts() == ["3"]
    quarters = trend.locator("td[data-quarter]")
    assert quarters.count() == 8
    figures = [t for t in quarters.all_inner_texts() if t.strip() not in ("", "–")]
    assert figures and all(-100 <= float(t) <= 100 for t in figures)
    assert trend.locator("svg.sparkline").count() >= 1

    page.click("[data-testid=add-complaint]")
    page.wait_for_url("**/records/complaints/new/**")
    page.fill("#id_received_on", _today())
    page.fill("#id_category", "Late delivery")
    page.fill("#id_description", "Third late delivery this quarter.")
    complaint = submit_record_form(page)

    nc = unique_id("NC-FOCUS")
    api(base, newcomer["token"], "POST", "/nonconformances/", {
        "external_id": nc, "title": "Shipment left the dock two days late",
        "org_unit": newcomer["unit"], "detected_on": _today(), "stage": "delivery",
        "source": "customer_complaint", "severity": "minor", "complaint": complaint,
        "affected_customers": [newcomer["id"]]})

    page.goto(customer_url)
    side = page.inner_text("[data-section=customer]")
    for record in (complaint, feedback, nc):
        assert record in side, f"{record} is on the customer's page"
    assert _requirement_row(page, requirement).get_attribute("data-status") == "missed"
    screenshot(page, "customer-walk.png", docs=False)


def test_a_demo_customer_page_shows_their_quality_history(desktop_page, demo_site, newcomer):
    """A customer of the demo who took part in a design review: the page shows its
    requirements with outcomes, the NPS trend and the reviews (docs/screenshots/customer.png)."""
    page = desktop_page
    base, _ = demo_site
    review = api(base, newcomer["token"], "GET", "/design-reviews/?limit=50")["items"]
    customer = next(c for r in review for c in r["customer_participants"])
    log_in(page, base, MANAGER, f"/records/customers/{customer}/")
    focus = page.locator("[data-testid=customer-focus]")
    assert focus.locator("[data-testid=customer-requirements] tr[data-requirement]").count() >= 1
    assert page.locator("[data-testid=customer-design-reviews] a").count() >= 1
    statuses = {s for s in focus.locator("tr[data-status]").evaluate_all(
        "rows => rows.map(r => r.dataset.status)")}
    assert statuses <= {"surpassed", "met", "missed", "not-measured"}
    assert page.locator("[data-testid=nps-trend] td[data-quarter]").count() == 8
    screenshot(page, "customer.png")
