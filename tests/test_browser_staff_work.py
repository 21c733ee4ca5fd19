"""End to end in Chromium: staff work the complaints they handle. A quality manager assigns a
complaint to the demo's staff member (its handler is their person); the staff member finds it
under "My work" on the dashboard, acknowledges, assesses, investigates and responds on its page,
is offered no close step and is refused one posted by hand, and is offered no step on a
complaint someone else handles; the quality manager closes it with the customer's
satisfaction, and it leaves the staff member's list.

Screenshots go to test-results/; with QUALITYLOOP_UPDATE_SCREENSHOTS=1 they also refresh
docs/screenshots/my-work.png.
"""

from __future__ import annotations

import datetime as dt

import pytest
from browser_support import log_in
from browser_workflows import (
    LOGINS,
    api,
    first_id,
    post_as_page,
    screenshot,
    take_complaint_step,
    token_for,
    unique_id,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STAFF, MANAGER = LOGINS["staff"], LOGINS["quality-manager"]


@pytest.fixture(scope="module")
def manager_token(demo_site) -> str:
    return token_for(MANAGER["username"])


def _complaint(base: str, token: str, handler: str | None, category: str) -> str:
    """A complaint received two days ago (through the API), handled by ``handler``."""
    external_id = unique_id("CMP-STAFF")
    body = {"external_id": external_id, "customer": first_id(base, token, "customers"),
            "received_on": (dt.date.today() - dt.timedelta(days=2)).isoformat(),
            "channel": "email", "category": category, "severity": "minor",
            "description": "Two of twelve fittings in the last delivery had a scratched thread."}
    if handler:
        body["handler"] = handler
    api(base, token, "POST", "/complaints/", body)
    return external_id


def _next_step(page) -> str:
    return page.locator("[data-testid=step-form] input[name=step]").input_value()


def _my_complaints(page) -> list[str]:
    return page.locator("[data-my-work=complaints] li > a").all_inner_texts()


def test_staff_work_the_complaint_they_handle_and_a_manager_closes_it(
        browser, desktop_page, demo_site, manager_token):
    page = desktop_page
    base, _ = demo_site
    log_in(page, base, STAFF, "/")
    my_work = page.locator("[data-testid=my-work]")
    person = my_work.get_attribute("data-person")
    assert person, "the demo's staff login is linked to a person"
    assert int(page.inner_text("[data-testid=my-work-count-actions]")) >= 1

    mine = _complaint(base, manager_token, person, "Scratched thread")
    other = _complaint(base, manager_token, None, "Wrong label")
    page.reload()
    assert mine in _my_complaints(page) and other not in _my_complaints(page)
    screenshot(page, "my-work.png", full_page=False)

    # Somebody else's complaint: readable, but no step is offered.
    page.goto(f"{base}/records/complaints/{other}/")
    assert page.locator("[data-testid=complaint-workflow]").is_visible()
    assert not page.locator("[data-testid=step-form]").count()
    assert "Waiting for: acknowledge" in page.inner_text("#complaint-next-step")

    page.goto(base + "/")
    page.click(f"[data-my-work=complaints] a[href$='/complaints/{mine}/']")
    page.wait_for_url(f"**/records/complaints/{mine}/")
    take_complaint_step(page, "acknowledged")
    take_complaint_step(page, "assessed")
    take_complaint_step(page, "investigated",
                        investigation="Thread protectors missing on one packing line.")
    take_complaint_step(page, "responded",
                        response="Two replacement fittings sent; protectors fitted on the line.")
    assert not page.locator("[data-testid=step-form]").count(), "closing is not staff's step"
    assert "Waiting for: close" in page.inner_text("#complaint-next-step")
    url = f"{base}/records/complaints/{mine}/step/"
    refused = post_as_page(page, url, {"step": "closed"})
    assert refused.status == 403
    page.reload()
    assert page.locator("[data-testid=step-form]").count() == 0
    history = page.inner_text("#history")
    for name in ("Acknowledge", "Assess", "Record investigation", "Respond"):
        assert f"{name}: step taken by {STAFF['username']}" in history
    assert "Close: step taken" not in history

    manager = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    try:
        log_in(manager, base, MANAGER, f"/records/complaints/{mine}/")
        assert _next_step(manager) == "closed"
        manager.select_option("[data-testid=step-form] select[name=satisfaction]", "4")
        manager.click("[data-testid=take-step]")
        manager.wait_for_selector("[data-testid=satisfaction]")
        assert manager.inner_text("[data-testid=satisfaction]") == "4 / 5"
        assert f"Close: step taken by {MANAGER['username']}" in manager.inner_text("#history")
    finally:
        manager.context.close()

    page.goto(base + "/")
    assert mine not in _my_complaints(page)
