"""Playwright on the served 300-customer demo (the embedded setup: jobs run in a thread of the
web process): the Relationship page starts the fit as a background job, shows its progress bar
while it runs, then the answer, without reloading the page.

A unit of its own (UNIT-02) keeps this test off the job the other relationship tests start.
"""

from __future__ import annotations

import re

import pytest
from browser_support import log_in

pytestmark = pytest.mark.browser
FITS_TIMEOUT_MS = 180_000


def test_relationship_page_shows_progress_then_the_answer(desktop_page, demo_site):
    page = desktop_page
    base, login = demo_site
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    log_in(page, base, login, "/relationship/?unit=UNIT-02")

    progress = page.locator('[data-testid="job-progress"]')
    progress.wait_for(timeout=30_000)
    percent = progress.locator('[data-testid="job-percent"]').inner_text()
    assert re.fullmatch(r"\d{1,3}%", percent), percent
    assert progress.locator("progress").get_attribute("max") == "100"
    assert progress.locator('[data-testid="job-message"]').inner_text().strip()

    document = page.locator('[data-testid="relationship-document"]')
    document.wait_for(timeout=FITS_TIMEOUT_MS)
    assert progress.count() == 0 and page.locator('[data-testid="problem"]').count() == 0
    assert "/relationship/?unit=UNIT-02" in page.url, "the answer came without a page load"
    polls = [url for url in requests if "/relationship/body/" in url]
    assert len(polls) >= 2, "the page polled the job's progress"
    assert page.locator('[data-testid="answer"] li.finding').count() >= 3
    assert page.locator('section[data-section="drivers"] figure svg').first.is_visible()
    assert page.locator('[data-testid="download-html"]').is_visible()
