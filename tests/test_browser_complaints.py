"""End to end in Chromium: a quality manager finds a complaint past its service level (one
received 40 days ago, added through the API) behind the dashboard's "needs attention" count,
acknowledges and resolves it step by step on its page, and sees the count and the list change;
the objectives cascade opens and expands.

Screenshots go to test-results/; with QUALITYLOOP_UPDATE_SCREENSHOTS=1 they also refresh
docs/screenshots/attention.png, complaint.png and cascade.png.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from browser_support import _cli, demo_site_env, log_in
from browser_workflows import take_complaint_step

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "test-results"
DOCS = ROOT / "docs" / "screenshots"
QUINN = {"username": "quinn-qm", "password": "quality-first-2026"}


def _screenshot(page, name: str, full_page: bool = True) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(RESULTS / name), full_page=full_page)
    if os.environ.get("QUALITYLOOP_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(RESULTS / name, DOCS / name)


@pytest.fixture(scope="module")
def quality_manager(demo_site, tmp_path_factory):
    """A quality-manager login added to the served demo (through the CLI, as an admin would),
    with the API token the CLI prints."""
    env = demo_site_env()  # its data folder and, on PostgreSQL, its own database
    added = subprocess.run([*_cli(), "user", "add", QUINN["username"], "--role",
                            "quality-manager", "--password", QUINN["password"], "--json"],
                           env=env, capture_output=True, text=True, timeout=120, check=False)
    assert added.returncode == 0, added.stderr[-2000:]
    return {**QUINN, "token": json.loads(added.stdout)["token"]}


def _api(base: str, token: str, path: str, body: dict | None = None) -> Any:
    request = urllib.request.Request(
        base + "/api" + path, method="POST" if body is not None else "GET",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _late_complaint(base: str, token: str) -> str:
    """A complaint received 40 days ago and never acknowledged: past both service levels."""
    listed = _api(base, token, "/customers/?limit=1")
    customer = (listed["items"] if isinstance(listed, dict) else listed)[0]["external_id"]
    external_id = f"CMP-LATE-{uuid.uuid4().hex[:6].upper()}"
    received = (dt.date.today() - dt.timedelta(days=40)).isoformat()
    _api(base, token, "/complaints/", {
        "external_id": external_id, "customer": customer, "received_on": received,
        "channel": "phone", "category": "Delivery delay", "severity": "major",
        "description": "Second delivery this quarter arrived three weeks late."})
    return external_id


def _listed(page, base: str, query: str) -> int:
    page.goto(base + "/records/complaints/?" + query)
    return int(re.search(r"([\d,]+) record", page.inner_text(".count")).group(1)
               .replace(",", ""))


def _attention_count(page, key: str) -> int:
    return int(page.inner_text(f"[data-testid=attention-count-{key}]").replace(",", ""))


def _take_steps_until_resolved(page) -> None:
    """Take the next step of the complaint until it is responded to with the remedy."""
    for _ in range(5):
        step = page.locator("[data-testid=step-form] input[name=step]").input_value()
        take_complaint_step(
            page, step, investigation="The carrier damaged the pallet; photos on file.",
            response="Credit note issued and replacement shipped by express.")
        if step == "responded":
            return
    raise AssertionError("the complaint was not responded to within five steps")


def test_complaint_past_sla_is_acknowledged_and_resolved(desktop_page, demo_site,
                                                         quality_manager):
    page = desktop_page
    base, _ = demo_site
    complaint_id = _late_complaint(base, quality_manager["token"])
    log_in(page, base, quality_manager, "/")
    assert page.locator("[data-testid=attention]").is_visible()
    before = _attention_count(page, "past-sla")
    assert before >= 1
    _screenshot(page, "attention.png", full_page=False)

    # The list behind the count holds the same complaints, ours among them.
    page.click("[data-testid=attention-link-past-sla]")
    page.wait_for_url(re.compile(r".*/records/complaints/\?attention=past-sla"))
    assert int(re.search(r"([\d,]+) record", page.inner_text(".count")).group(1)
               .replace(",", "")) == before
    assert _listed(page, base, f"attention=past-sla&q={complaint_id}") == 1

    page.click(f"table.records a[href$=\"/complaints/{complaint_id}/\"]")
    page.wait_for_url(f"**/records/complaints/{complaint_id}/")
    assert page.locator("[data-testid=complaint-workflow]").is_visible()
    for timer in ("acknowledge", "resolve"):
        assert page.locator(f"[data-testid=timer-{timer}]").get_attribute(
            "data-state") == "overdue"

    _take_steps_until_resolved(page)
    for timer in ("acknowledge", "resolve"):
        assert page.locator(f"[data-testid=timer-{timer}]").get_attribute(
            "data-state") == "late"
    history = page.inner_text("#history")
    assert f"Acknowledge: step taken by {quality_manager['username']}" in history
    assert f"Respond: step taken by {quality_manager['username']}" in history
    _screenshot(page, "complaint.png")

    page.goto(base + "/")
    assert _attention_count(page, "past-sla") == before - 1
    assert _listed(page, base, f"attention=past-sla&q={complaint_id}") == 0


def test_cascade_opens_and_expands(desktop_page, demo_site, quality_manager):
    page = desktop_page
    base, _ = demo_site
    log_in(page, base, quality_manager, "/")
    page.click("nav.mainnav >> text=Objectives")
    page.wait_for_url("**/objectives/cascade/")
    cascade = page.locator("[data-testid=cascade]")
    assert cascade.is_visible()
    roots = page.locator(".cascade > details.node")
    assert roots.count() >= 1
    child = roots.first.locator(":scope > .node, :scope > details.node").first
    assert child.is_visible(), "a root objective opens with its sub-objectives shown"
    assert page.locator(".cascade .status-badge").count() >= roots.count()
    assert page.locator(".cascade svg.sparkline").count() >= 1

    page.click("[data-testid=collapse-all]")
    assert not child.is_visible()
    roots.first.locator(":scope > summary").click()
    assert child.is_visible()
    page.click("[data-testid=expand-all]")
    assert page.locator(".cascade details:not([open])").count() == 0
    _screenshot(page, "cascade.png", full_page=False)

    # Unit filter: the unit of the first sub-objective shows only its own objectives.
    unit_name = child.locator(".node-row > span:nth-child(2)").first.inner_text()
    page.select_option("#unit-select", label=unit_name)
    page.wait_for_url(re.compile(r".*unit=.*"))
    units = page.locator(".cascade .node-row > span:nth-child(2)").all_inner_texts()
    assert units and all(u == unit_name for u in units)
