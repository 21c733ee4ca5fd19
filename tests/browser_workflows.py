"""Helpers the workflow browser tests share (staff work, design, customer focus): the demo's
role logins, an API token for one of them, API calls, screenshots, the CSRF-protected POST a
page's own session makes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from browser_support import _cli, demo_site_env

from qualityloop.services.demo import ROLE_LOGINS

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "test-results"
DOCS = ROOT / "docs" / "screenshots"
LOGINS = {role: {"username": name, "password": password}
          for name, role, password in ROLE_LOGINS}
"""The demo's logins by role: quality-manager, unit-lead, staff."""


def screenshot(page, name: str, full_page: bool = True, docs: bool = True) -> None:
    """Save to test-results/ (and, when ``docs``, to docs/screenshots/ with
    QUALITYLOOP_UPDATE_SCREENSHOTS=1)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(RESULTS / name), full_page=full_page)
    if docs and os.environ.get("QUALITYLOOP_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(RESULTS / name, DOCS / name)


def token_for(username: str) -> str:
    """A new API token of a demo login, issued through the CLI as an admin would (after the
    ``demo_site`` fixture has started)."""
    env = demo_site_env()  # its data folder and, on PostgreSQL, its own database
    issued = subprocess.run([*_cli(), "user", "token", username, "--json"], env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert issued.returncode == 0, issued.stderr[-2000:]
    return json.loads(issued.stdout)["token"]


def api(base: str, token: str, method: str, path: str, body: dict | None = None) -> Any:
    """Call the REST API under ``/api`` with a bearer token; the decoded JSON answer."""
    request = urllib.request.Request(
        base + "/api" + path, method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def first_id(base: str, token: str, kind: str, query: str = "") -> str:
    """The external id of the first record of a kind the API lists (with ``query``)."""
    listed = api(base, token, "GET", f"/{kind}/?limit=1{'&' + query if query else ''}")
    return listed["items"][0]["external_id"]


def post_as_page(page, url: str, form: dict[str, str]):
    """POST a form with the page's session and CSRF cookie, as a hand-made request would."""
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    return page.request.post(url, form={**form, "csrfmiddlewaretoken": cookies["csrftoken"]},
                             headers={"Referer": url, "X-CSRFToken": cookies["csrftoken"]},
                             max_redirects=0)


def take_complaint_step(page, step: str, investigation: str = "", response: str = "") -> None:
    """Take the complaint page's next step (it must be ``step``) and wait for the next one."""
    assert page.locator("[data-testid=step-form] input[name=step]").input_value() == step
    if step == "investigated":
        page.fill("#id_investigation", investigation or "The cause was found and recorded.")
    if step == "responded":
        page.select_option("[data-testid=outcome]", "upheld")
        page.fill("#id_response", response or "Remedy agreed with the customer.")
    page.click("[data-testid=take-step]")
    page.wait_for_function(
        "s => !document.querySelector('[data-testid=step-form] input[name=step]')"
        " || document.querySelector('[data-testid=step-form] input[name=step]').value !== s",
        arg=step)
    assert not page.locator("[data-testid=step-refused]").count()


def set_reference(page, name: str, ids: list[str]) -> None:
    """Fill a reference field of a record form, a select or a typed field (external ids
    separated by ';'), whichever the form offers."""
    field = page.locator(f"#id_{name}")
    if field.evaluate("e => e.tagName") == "SELECT":
        field.select_option(ids)
    else:
        field.fill(";".join(ids))


def unique_id(prefix: str) -> str:
    """A fresh external id ending in a number, as the forms' suggested ids continue them."""
    return f"{prefix}-{uuid.uuid4().int % 10**8:08d}"


def submit_record_form(page) -> str:
    """Submit the record form and wait for the record's page; its external id. A form sent back
    with errors fails at once, naming them. An id the form could not suggest (the newest record's
    id ends in no number) is filled in."""
    if not page.input_value("#id_external_id"):
        page.fill("#id_external_id", unique_id("T"))
    page.click("#record-form button[type=submit]")
    page.wait_for_function(
        "() => !/\\/new\\/$/.test(location.pathname)"
        " || document.querySelector('[data-testid=form-errors]')", timeout=60_000)
    errors = page.locator("[data-testid=form-errors], .field-error")
    assert not errors.count(), "the form was refused: " + " | ".join(errors.all_inner_texts())
    page.wait_for_url(re.compile(r".*/records/[a-z-]+/(?!new/)[^/?]+/$"))
    return page.url.rstrip("/").rsplit("/", 1)[1]
