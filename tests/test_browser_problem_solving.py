"""End to end in Chromium: a quality user works a field defect through the problem-solving
workflow (raise, contain, 5 whys, action, refused close, effectiveness check, signed close) and
finds it in the history and on the customer's page.

Screenshots go to test-results/; with QUALITYLOOP_UPDATE_SCREENSHOTS=1 they also refresh
docs/screenshots/nc-form.png and nc-workflow.png.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
from browser_support import log_in

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "test-results"
DOCS = ROOT / "docs" / "screenshots"


def _screenshot(page, name: str, docs: bool = True) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(RESULTS / name), full_page=True)
    if docs and os.environ.get("QUALITYLOOP_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(RESULTS / name, DOCS / name)


def _pick_customer(page) -> str:
    """Link the NC to a customer, through the select or the search, whichever the form has."""
    search = page.locator('input[name="search-affected_customers"]')
    if search.count():
        search.fill("C")
        option = page.locator("#options-id_affected_customers .option").first
        customer = option.get_attribute("data-id")
        option.click()
        return customer
    first = page.locator("#id_affected_customers option").first
    customer = first.get_attribute("value")
    page.select_option("#id_affected_customers", [customer])
    return customer


def _days(n: int) -> str:
    return (dt.date.today() + dt.timedelta(days=n)).isoformat()


def test_field_defect_from_raising_to_signed_closing(desktop_page, demo_site):
    page = desktop_page
    base, login = demo_site
    log_in(page, base, login, "/records/nonconformances/")
    page.click("[data-testid=new-record]")
    page.wait_for_url("**/records/nonconformances/new/")
    nc_id = page.input_value("#id_external_id")
    assert nc_id, "the form suggests a free external id"

    # Raise it; a missing title is reported next to the field, without a reload, nothing saved.
    page.select_option("#id_org_unit", index=1)
    page.fill("#id_detected_on", _days(0))
    page.select_option("#id_stage", "field")
    page.select_option("#id_source", "customer_complaint")
    page.select_option("#id_severity", "major")
    page.fill("#id_description", "Valves leak at the customer's site after two weeks of use.")
    customer = _pick_customer(page)
    page.click("#record-form button[type=submit]")
    error = page.locator("[data-testid=error-title]")
    error.wait_for()
    assert "required" in error.inner_text()
    assert page.url.endswith("/records/nonconformances/new/")
    _screenshot(page, "nc-form.png")
    page.fill("#id_title", "Valve leaks in the field")
    page.click("#record-form button[type=submit]")
    page.wait_for_url(f"**/records/nonconformances/{nc_id}/")
    workflow = page.locator("[data-testid=workflow]")
    assert workflow.is_visible()

    # Containment and the 5 whys.
    page.fill("#id_containment_step", "Stock on hold; customer given replacement valves.")
    page.click("#step-containment button[type=submit]")
    page.locator(".stepper li.current", has_text="Contained").wait_for()
    whys = [("Why does the valve leak?", "The seal has shrunk"),
            ("Why has the seal shrunk?", "Its material is not rated for the fluid"),
            ("Why the wrong material?", "The supplier changed compound without notice")]
    for n, (why, because) in enumerate(whys, start=1):
        page.fill(f"input[name=why_{n}]", why)
        page.fill(f"input[name=because_{n}]", because)
    page.select_option("select[name=cause_category]", "material")
    page.click("#step-root-cause button[type=submit]")
    page.locator(".stepper li.current", has_text="Root cause").wait_for()

    # An action, already overdue, then closing is refused naming it.
    page.select_option("#id_kind", "corrective")
    page.fill("#id_description", "Approve seal compound changes before delivery")
    page.select_option("#id_owner", index=1)
    page.fill("#id_due_on", _days(-3))
    page.click(".action-form button[type=submit]")
    row = page.locator("tr[data-action]").first
    row.wait_for()
    action_id = row.get_attribute("data-action")
    assert "overdue" in (row.get_attribute("class") or "")
    page.fill("[data-testid=close-password]", login["password"])
    page.click(".close-form button[type=submit]")
    page.locator("[data-testid=close-refused]").wait_for()
    assert action_id in page.locator("[data-testid=blockers]").inner_text()
    _screenshot(page, "nc-workflow.png")
    assert page.locator("[data-testid=signature]").count() == 0

    # The effectiveness check, then the signed close.
    row.locator("summary").click()
    page.select_option(f"#id_{action_id}-verified_by", index=1)
    page.check(f"#id_{action_id}-effective_0")
    page.fill(f"#id_{action_id}-evidence", "No leaks on 500 valves over 30 days")
    page.click(".check-form button[type=submit]")
    page.locator(f"tr[data-action='{action_id}'] .status-effective").wait_for()
    page.fill("[data-testid=close-password]", login["password"])
    page.click(".close-form button[type=submit]")
    signature = page.locator("[data-testid=signature]")
    signature.wait_for()
    assert f"signed by {login['username']}" in signature.inner_text()
    history = page.locator("#history").inner_text()
    assert f"Closed and signed by {login['username']}" in history

    # The 8D report carries the signature; it is printable.
    page.click("[data-testid=open-8d]")
    page.wait_for_url(f"**/records/nonconformances/{nc_id}/8d/")
    signed = page.locator("[data-testid=signature-8d]").inner_text()
    assert f"signed by {login['username']}" in signed
    assert "The supplier changed compound without notice" in page.locator("#d4").inner_text()
    _screenshot(page, "nc-8d.png", docs=False)

    # The customer's page lists the NC.
    page.goto(f"{base}/records/customers/{customer}/")
    assert nc_id in page.locator("[data-section=customer]").inner_text()
