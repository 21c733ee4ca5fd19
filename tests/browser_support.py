"""Shared by the browser tests: the served demo, Debian's chromium driven by Playwright.

The fixtures are session-scoped (one demo and one server per test process) and registered in
tests/conftest.py.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pg_support import is_postgres_url, scratch_database

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ROOT = Path(__file__).resolve().parents[1]


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("qualityloop")
    if script.exists():
        return [str(script)]
    found = shutil.which("qualityloop")
    return [found] if found else [sys.executable, "-m", "qualityloop.cli"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, seconds: float, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server stopped with exit code {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


_DEMO_ENV: dict[str, str] = {}
_SERVER_LOG: list[Path] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test that used the served demo shows the end of the server's log (a page
    answering 500 says why there)."""
    report = yield
    if report.failed and _SERVER_LOG and "demo_site" in getattr(item, "fixturenames", ()):
        text = _SERVER_LOG[0].read_text(errors="replace") if _SERVER_LOG[0].exists() else ""
        report.sections.append(("served demo's log (last 8,000 characters)", text[-8000:]))
    return report


def demo_site_env() -> dict[str, str]:
    """The environment of a ``qualityloop`` command on the served demo (its data folder and,
    on PostgreSQL, its database); use it after the ``demo_site`` fixture has started."""
    assert _DEMO_ENV, "the demo_site fixture has not started"
    return dict(_DEMO_ENV)


@contextmanager
def _demo_database(env: dict[str, str]) -> Iterator[dict[str, str]]:
    """``env`` with a scratch database of its own when the suite runs on PostgreSQL."""
    url = env.get("QUALITYLOOP_DATABASE_URL", "")
    if not is_postgres_url(url):
        yield env
        return
    with scratch_database(url, prefix="ql_demo_site") as own:
        yield {**env, "QUALITYLOOP_DATABASE_URL": own}


@pytest.fixture(scope="session")
def demo_site(tmp_path_factory):
    """The demo organisation served by ``qualityloop serve``; yields (base url, login)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    home = tmp_path_factory.mktemp("browser-home")
    env = {**os.environ, "QUALITYLOOP_HOME": str(home), "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # the server runs with its production settings
    with _demo_database(env) as env:
        _DEMO_ENV.update(env)
        try:
            yield from _serve_demo(env)
        finally:
            _DEMO_ENV.clear()


def _serve_demo(env: dict[str, str]) -> Iterator[tuple[str, dict]]:
    """Build the demo with ``env``, serve it, yield (base url, login), stop the server."""
    built = subprocess.run(
        [*_cli(), "demo", "--customers", "300", "--no-serve", "--json"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    login = json.loads(built.stdout)["login"]
    port = _free_port()
    # The server's log goes to a file (a pipe nobody reads would fill and stall the server);
    # a failing browser test shows its end (pytest_runtest_makereport below).
    log_path = Path(env["QUALITYLOOP_HOME"]) / "server.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [*_cli(), "serve", "--port", str(port)], env=env,
            stdout=log, stderr=subprocess.STDOUT, text=True,
        )
    _SERVER_LOG[:] = [log_path]
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(base + "/healthz", 60, server)
        yield base, login
    finally:
        _SERVER_LOG.clear()
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="session")
def browser():
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


def log_in(page, base: str, login: dict, path: str = "/") -> None:
    """Open ``path`` as an anonymous visitor, get sent to the login page, log in, land on it."""
    page.goto(base + path)
    assert "/login/" in page.url, "an anonymous visitor must be sent to the login page"
    page.fill("#id_username", login["username"])
    page.fill("#id_password", login["password"])
    page.click("button[type=submit]")
    page.wait_for_url(base + path)


@pytest.fixture
def desktop_page(browser):
    """A fresh page in a 1366x900 window (own cookies), closed after the test."""
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()
