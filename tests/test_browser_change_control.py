"""End to end in Chromium: a quality manager submits a change request and approves it with their
password (a wrong one is refused), and sees the signature on the page and in the history; a
viewer sees the same change without any step to take. Then the training matrix and the
management review pack as a user opens them.

Screenshots go to test-results/; with QUALITYLOOP_UPDATE_SCREENSHOTS=1 they also refresh
docs/screenshots/change.png, training-matrix.png and review-pack.png.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest
from browser_support import _cli, demo_site_env, log_in

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "test-results"
DOCS = ROOT / "docs" / "screenshots"
CORA = {"username": "cora-qm", "password": "change-control-2026"}
VAL = {"username": "val-viewer", "password": "read-only-2026"}
CHANGE_ID = "CR-BROWSER-1"


def _screenshot(page, name: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(RESULTS / name), full_page=True)
    if os.environ.get("QUALITYLOOP_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(RESULTS / name, DOCS / name)


def _add_user(tmp_path_factory, login: dict, role: str) -> str:
    """Add a login to the served demo through the CLI (as an admin would); its API token."""
    env = demo_site_env()  # its data folder and, on PostgreSQL, its own database
    added = subprocess.run([*_cli(), "user", "add", login["username"], "--role", role,
                            "--password", login["password"], "--json"],
                           env=env, capture_output=True, text=True, timeout=120, check=False)
    assert added.returncode == 0, added.stderr[-2000:]
    return json.loads(added.stdout)["token"]


def _api(base: str, token: str, method: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        base + path, method=method, data=json.dumps(body).encode() if body else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


@pytest.fixture(scope="module")
def draft_change(demo_site, tmp_path_factory):
    """A quality manager and a viewer, and a draft change request the manager wrote (API)."""
    base, _ = demo_site
    token = _add_user(tmp_path_factory, CORA, "quality-manager")
    _add_user(tmp_path_factory, VAL, "viewer")
    unit = _api(base, token, "GET", "/api/org-units/?limit=1")["items"][0]["external_id"]
    person = _api(base, token, "GET", "/api/people/?limit=1")["items"][0]["external_id"]
    nc = _api(base, token, "GET", "/api/nonconformances/?limit=1")["items"][0]["external_id"]
    _api(base, token, "POST", "/api/change-requests/", {
        "external_id": CHANGE_ID, "title": "Add a leak test to final inspection",
        "reason": "Seal leaks reached customers twice this quarter", "org_unit": unit,
        "requested_by": person, "requested_on": dt.date.today().isoformat(),
        "risk_level": "medium", "risk_assessment": "Adds 40 s per unit; line capacity allows it",
        "related_nonconformances": [nc]})
    return CHANGE_ID


def test_manager_submits_and_signs_a_change_and_a_viewer_cannot(browser, desktop_page,
                                                                  demo_site, draft_change):
    page = desktop_page
    base, _ = demo_site
    path = f"/records/change-requests/{draft_change}/"
    log_in(page, base, CORA, path)
    panel = page.locator("[data-testid=change-workflow]")
    assert "Medium risk" in panel.inner_text()
    page.click("[data-testid=submit-change]")
    page.wait_for_selector("[data-testid=approve-change]")

    viewer = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    log_in(viewer, base, VAL, path)
    assert viewer.locator("[data-testid=approve-change]").count() == 0
    assert viewer.locator("[data-testid=decision-password]").count() == 0
    assert "may not" in viewer.inner_text("[data-testid=awaiting-decision]")
    viewer.context.close()

    page.fill("#id_decision_note", "Trial on line 2 found no side effects")
    page.fill("[data-testid=decision-password]", "not-my-password")
    page.click("[data-testid=approve-change]")
    refused = page.wait_for_selector("[data-testid=step-refused]")
    assert "password is not correct" in refused.inner_text()
    assert page.locator("[data-testid=signature]").count() == 0

    page.fill("#id_decision_note", "Trial on line 2 found no side effects")
    page.fill("[data-testid=decision-password]", CORA["password"])
    page.click("[data-testid=approve-change]")
    signature = page.wait_for_selector("[data-testid=signature]")
    assert "signed by cora-qm" in signature.inner_text()
    history = page.inner_text("#history")
    assert "Approved and signed by cora-qm" in history and "Submitted for approval" in history
    assert page.locator("[data-testid=implement-change]").is_visible()
    _screenshot(page, "change.png")


def test_training_matrix_and_review_pack_open(desktop_page, demo_site, draft_change):
    page = desktop_page
    base, _ = demo_site
    log_in(page, base, CORA, "/training/matrix/")
    matrix = page.locator("[data-testid=competence-matrix]")
    assert matrix.locator("td[data-state]").count() > 0
    page.wait_for_selector("[data-testid=effectiveness-table]", timeout=60_000)
    assert page.locator("[data-testid=association]").count() == 2
    _screenshot(page, "training-matrix.png")

    page.goto(base + "/management-reviews/pack/")
    for anchor in ("objectives", "customers", "problems", "training", "retention", "spc",
                   "changes", "actions"):
        assert page.locator(f"[data-section={anchor}]").count() == 1
    _screenshot(page, "review-pack.png")
    printable = page.get_attribute("[data-testid=print-pack]", "href")
    page.goto(base + printable)
    assert page.locator("h1").inner_text() == "Management review pack"
