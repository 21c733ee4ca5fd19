"""``qualityloop serve --production``: worker processes, hashed static files with far-future cache
headers, HTTPS settings behind a proxy, a clear error without a secret key, and Django's deploy
check clean with the documented environment."""

from __future__ import annotations

import http.client
import os
import re
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from browser_support import _cli, _free_port, _wait_for

ONE_YEAR_OR_MORE = re.compile(r"max-age=(\d+)")
PROXY = {"X-Forwarded-Proto": "https"}  # what the TLS-terminating proxy in front sets


def production_env(home: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "QUALITYLOOP_HOME": str(home),
           "QUALITYLOOP_SECRET_KEY": secrets.token_urlsafe(50),
           "QUALITYLOOP_ALLOWED_HOSTS": "127.0.0.1,localhost",
           "QUALITYLOOP_HTTPS": "1", **extra}
    for name in ("DJANGO_SETTINGS_MODULE", "QUALITYLOOP_PRODUCTION", "QUALITYLOOP_DEBUG",
                 "QUALITYLOOP_DATABASE_URL"):
        env.pop(name, None)
    return env


@contextmanager
def serving(home: Path, workers: int,
            threads: int = 4) -> Iterator[tuple[int, subprocess.Popen]]:
    """``qualityloop serve --production`` on a free port until the block ends."""
    port = _free_port()
    server = subprocess.Popen(
        [*_cli(), "serve", "--production", "--workers", str(workers), "--threads", str(threads),
         "--port", str(port)],
        env=production_env(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    try:
        # A first start collects and compresses the static files: minutes on a busy machine.
        _wait_for(f"http://127.0.0.1:{port}/healthz", 300, server)
        yield port, server
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.fixture(scope="module")
def production_home(tmp_path_factory) -> Path:
    """One data folder for the servers here: the first start migrates it (the slow part)."""
    return tmp_path_factory.mktemp("production-home")


@pytest.fixture(scope="module")
def production_server(production_home):
    """A production server with two workers; yields (port, process)."""
    with serving(production_home, workers=2) as running:
        yield running


def get(port: int, path: str, headers: dict[str, str] | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response, body


def test_health_check_answers_over_plain_http(production_server):
    port, _ = production_server
    response, body = get(port, "/healthz")
    assert response.status == 200
    assert body == b'{"status": "ok"}'


def test_pages_redirect_to_https_and_set_secure_cookies(production_server):
    port, _ = production_server
    response, _ = get(port, "/login/")
    assert response.status == 301
    assert response.getheader("Location") == f"https://127.0.0.1:{port}/login/"
    response, body = get(port, "/login/", PROXY)
    assert response.status == 200
    assert b'name="password"' in body
    hsts = response.getheader("Strict-Transport-Security")
    assert hsts == "max-age=31536000"  # subdomains and preload are opt-in (test_security_rules)
    cookie = response.getheader("Set-Cookie")
    assert cookie.startswith("csrftoken=") and "Secure" in cookie


def test_static_files_are_hashed_compressed_and_cached_for_a_year(production_server):
    port, _ = production_server
    _, page = get(port, "/login/", PROXY)
    stylesheet = re.search(rb'href="(/static/qualityloop/qualityloop\.[0-9a-f]{12}\.css)"', page)
    assert stylesheet, "the login page links its stylesheet by a hashed name"
    response, body = get(port, stylesheet.group(1).decode(), PROXY)
    assert response.status == 200
    assert response.getheader("Content-Type").startswith("text/css")
    cache = response.getheader("Cache-Control")
    assert "immutable" in cache and int(ONE_YEAR_OR_MORE.search(cache).group(1)) >= 31_536_000
    compressed, gzipped = get(port, stylesheet.group(1).decode(),
                              {**PROXY, "Accept-Encoding": "gzip"})
    assert compressed.getheader("Content-Encoding") == "gzip"
    assert len(gzipped) < len(body)


def test_debug_is_off(production_server):
    port, _ = production_server
    response, body = get(port, "/no-such-page/", PROXY)
    assert response.status == 404
    assert b"URLconf" not in body and b"Traceback" not in body


@pytest.mark.slow  # a second server start: about 10 s, 30 s on a busy machine
def test_several_workers_and_a_clean_stop_on_sigterm(production_home):
    with serving(production_home, workers=3, threads=2) as (port, server):
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children")
        if children.exists():  # Linux
            assert len(children.read_text().split()) == 3
        assert get(port, "/healthz")[0].status == 200
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
        output = server.stdout.read()
    assert f"Serving QualityLoop (production) on http://127.0.0.1:{port}/" in output
    assert "Traceback" not in output


@pytest.mark.parametrize("key, message", [
    (None, "QUALITYLOOP_SECRET_KEY is not set"),
    ("short", "QUALITYLOOP_SECRET_KEY is too weak: expected at least 50 characters"),
])
def test_a_missing_or_weak_secret_key_is_a_clear_error(tmp_path, key, message):
    env = production_env(tmp_path)
    env.pop("QUALITYLOOP_SECRET_KEY")
    if key is not None:
        env["QUALITYLOOP_SECRET_KEY"] = key
    result = subprocess.run([*_cli(), "serve", "--production", "--port", str(_free_port())],
                            env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    error = " ".join(result.stderr.split())  # rich wraps long lines
    assert message in error
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "qualityloop.sqlite3").exists()  # it stopped before touching data


@pytest.mark.parametrize("option, message", [
    ("--workers", "--workers must be at least 1, got 0"),
    ("--threads", "--threads must be at least 1, got 0"),
])
def test_no_workers_or_threads_is_a_clear_error(tmp_path, option, message):
    result = subprocess.run(
        [*_cli(), "serve", "--production", "--port", str(_free_port()), option, "0"],
        env=production_env(tmp_path), capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 1
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_deploy_check_is_clean_with_the_documented_environment(tmp_path):
    env = production_env(tmp_path, QUALITYLOOP_PRODUCTION="1",
                         QUALITYLOOP_ALLOWED_HOSTS="quality.example.com",
                         QUALITYLOOP_CSRF_TRUSTED_ORIGINS="https://quality.example.com")
    admin = Path(sys.executable).with_name("django-admin")
    result = subprocess.run(
        [str(admin), "check", "--deploy", "--fail-level", "WARNING",
         "--settings", "qualityloop.web.settings"],
        env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_deploy_check_flags_plain_http(tmp_path):
    """Without QUALITYLOOP_HTTPS the check does warn: the test above can fail."""
    env = production_env(tmp_path, QUALITYLOOP_PRODUCTION="1", QUALITYLOOP_HTTPS="0")
    admin = Path(sys.executable).with_name("django-admin")
    result = subprocess.run(
        [str(admin), "check", "--deploy", "--fail-level", "WARNING",
         "--settings", "qualityloop.web.settings"],
        env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0
    assert "security.W012" in result.stderr  # session cookie not secure


def test_static_files_are_collected_again_only_when_a_source_changed(tmp_path, settings):
    from qualityloop.web.server import collect_static

    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "probe.css").write_text("a{}")
    settings.STATIC_ROOT = str(tmp_path / "root")
    settings.STATICFILES_DIRS = [str(extra)]
    assert collect_static() is True
    assert collect_static() is False  # same sources: nothing copied or compressed again
    (extra / "probe.css").write_text("a{color:red}")
    later = (extra / "probe.css").stat().st_mtime + 5  # collectstatic compares whole seconds
    os.utime(extra / "probe.css", (later, later))
    assert collect_static() is True
    assert "color:red" in (tmp_path / "root" / "probe.css").read_text()
