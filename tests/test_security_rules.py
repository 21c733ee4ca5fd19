"""One test per security rule of issue #9 (docs/security.md maps each rule to its setting and test).

Rules tested elsewhere and only referenced here:

- ``manage.py check --deploy`` is clean with the production settings:
  tests/test_production_server.py::test_deploy_check_is_clean_with_the_documented_environment
  (and ::test_deploy_check_flags_plain_http shows it can fail).
- Object-level access by org unit in views and API: tests/test_permission_matrix.py.

The production settings are read from ``qualityloop.web.settings`` in a fresh interpreter with the
production environment (settings are fixed at import), then applied to this process's test client
with ``override_settings``, so each rule is checked on real responses.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import re
import secrets
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from typer.testing import CliRunner

from qualityloop.records.assessment.models import SurveyResponse
from qualityloop.records.organisation.models import OrgUnit, Person
from qualityloop.services import assessment
from qualityloop.services.users import add_user, revoke_tokens

pytestmark = pytest.mark.django_db
REPOSITORY = Path(__file__).resolve().parents[1]
PASSWORD = "correct-horse-battery"
HTTPS = {"secure": True, "HTTP_X_FORWARDED_PROTO": "https"}  # as the TLS proxy in front sends
SECURITY_SETTINGS = (
    "DEBUG", "SESSION_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY", "SESSION_COOKIE_SAMESITE",
    "SESSION_COOKIE_AGE", "SESSION_EXPIRE_AT_BROWSER_CLOSE", "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_HTTPONLY", "CSRF_COOKIE_SAMESITE", "SECURE_SSL_REDIRECT",
    "SECURE_PROXY_SSL_HEADER", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD", "SECURE_CONTENT_TYPE_NOSNIFF", "SECURE_REFERRER_POLICY",
    "SECURE_CROSS_ORIGIN_OPENER_POLICY", "X_FRAME_OPTIONS",
)


def production_settings(home: Path, **extra: str) -> dict:
    """The security settings ``qualityloop.web.settings`` has under the production environment
    (QUALITYLOOP_PRODUCTION=1 behind an HTTPS proxy) plus ``extra`` variables."""
    env = {name: value for name, value in os.environ.items()  # the defaults, not the shell's
           if not name.startswith("QUALITYLOOP_") and name != "DJANGO_SETTINGS_MODULE"}
    env.update({"QUALITYLOOP_HOME": str(home), "QUALITYLOOP_PRODUCTION": "1",
                "QUALITYLOOP_HTTPS": "1", "QUALITYLOOP_SECRET_KEY": secrets.token_urlsafe(50),
                "QUALITYLOOP_ALLOWED_HOSTS": "testserver", **extra})
    script = ("import json, qualityloop.web.settings as s; "
              f"print(json.dumps({{n: getattr(s, n, None) for n in {SECURITY_SETTINGS!r}}}))")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, timeout=120, check=True)
    values = json.loads(result.stdout.strip().splitlines()[-1])
    values["SECURE_PROXY_SSL_HEADER"] = tuple(values["SECURE_PROXY_SSL_HEADER"])
    return values


@pytest.fixture(scope="module")
def production(tmp_path_factory) -> dict:
    return production_settings(tmp_path_factory.mktemp("production-home"))


def _log_in(client: Client, username: str, password: str, path: str = "/login/", **extra):
    return client.post(path, {"username": username, "password": password}, **extra)


# CSRF ------------------------------------------------------------------------------------------

def test_csrf_is_enforced_on_form_posts():
    add_user("quinn", "quality-manager", password=PASSWORD)
    client = Client(enforce_csrf_checks=True)
    assert _log_in(client, "quinn", PASSWORD).status_code == 403
    page = client.get("/login/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
    signed_in = client.post("/login/", {"username": "quinn", "password": PASSWORD,
                                        "csrfmiddlewaretoken": token})
    assert signed_in.status_code == 302
    form = reverse("record-create", args=["org-units"])
    assert client.post(form, {"external_id": "U-1", "name": "North"}).status_code == 403
    assert not OrgUnit.objects.exists()


# cookies and session -----------------------------------------------------------------------------

def test_production_cookies_are_secure_httponly_and_samesite(production):
    add_user("quinn", "quality-manager", password=PASSWORD)
    with override_settings(**production):
        client = Client()
        csrf = client.get("/login/", **HTTPS).cookies[settings.CSRF_COOKIE_NAME]
        session = _log_in(client, "quinn", PASSWORD, **HTTPS).cookies[
            settings.SESSION_COOKIE_NAME]
    for cookie in (csrf, session):
        assert cookie["secure"] is True, cookie.key
        assert cookie["httponly"] is True, cookie.key
        assert cookie["samesite"] == "Lax", cookie.key


def test_a_session_ends_after_its_age_or_with_the_browser(client, tmp_path):
    add_user("quinn", "quality-manager", password=PASSWORD)
    cookie = _log_in(client, "quinn", PASSWORD).cookies[settings.SESSION_COOKIE_NAME]
    assert int(cookie["max-age"]) == settings.SESSION_COOKIE_AGE == 8 * 3600
    assert client.get("/records/").status_code == 200
    Session.objects.update(expire_date=timezone.now() - dt.timedelta(seconds=1))
    expired = client.get("/records/")
    assert expired.status_code == 302 and expired["Location"].startswith("/login/")

    browser_bound = production_settings(tmp_path, QUALITYLOOP_SESSION_BROWSER="1",
                                        QUALITYLOOP_SESSION_HOURS="1")
    with override_settings(**browser_bound):
        cookie = _log_in(Client(), "quinn", PASSWORD, **HTTPS).cookies[
            settings.SESSION_COOKIE_NAME]
    assert cookie["max-age"] == "" and cookie["expires"] == ""  # gone when the browser closes
    newest = Session.objects.order_by("-expire_date").first()
    assert newest.expire_date - timezone.now() <= dt.timedelta(hours=1)


# headers ----------------------------------------------------------------------------------------

def test_production_responses_carry_hsts_and_security_headers(production, tmp_path):
    with override_settings(**production):
        response = Client().get("/login/", **HTTPS)
        plain_http = Client().get("/login/")
    assert response.status_code == 200
    # preload and includeSubDomains are opt-in: a preload list entry takes months to undo
    assert response["Strict-Transport-Security"] == "max-age=31536000"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert plain_http.status_code == 301 and plain_http["Location"].startswith("https://")

    opted_in = production_settings(tmp_path, QUALITYLOOP_HSTS_PRELOAD="1",
                                   QUALITYLOOP_HSTS_SUBDOMAINS="1")
    with override_settings(**opted_in):
        response = Client().get("/login/", **HTTPS)
    assert response["Strict-Transport-Security"] == \
        "max-age=31536000; includeSubDomains; preload"


# passwords --------------------------------------------------------------------------------------

@pytest.mark.parametrize("password, reason", [
    ("q7#Lm2", "This password is too short"),
    ("password123", "This password is too common"),
    ("8406139275", "This password is entirely numeric"),
    ("margaret.hughes", "The password is too similar to the username"),
])
def test_password_validators_refuse_weak_passwords(password, reason):
    from qualityloop.cli import app

    with pytest.raises(ValueError, match=reason):
        add_user("margaret.hughes", "staff", password=password)
    result = CliRunner().invoke(app, ["user", "add", "margaret.hughes", "--password", password,
                                      "--json"], terminal_width=200)
    assert result.exit_code == 1
    assert reason in result.output
    assert not get_user_model().objects.filter(username="margaret.hughes").exists()
    assert add_user("margaret.hughes", "staff", password=PASSWORD).password == PASSWORD


# login rate limit --------------------------------------------------------------------------------

# AXES_ENABLED is off in settings_test: the test client's login() passes no request
@override_settings(AXES_ENABLED=True)
def test_repeated_failed_logins_are_refused_for_a_while(caplog):
    add_user("quinn", "admin", password=PASSWORD)
    client = Client()
    with caplog.at_level(logging.WARNING, logger="axes"):
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            failed = _log_in(client, "quinn", "wrong-password")
            assert failed.status_code == 200 and "did not match" in failed.content.decode()
        refused = _log_in(client, "quinn", "wrong-password", path="/admin/login/")
    assert settings.AXES_FAILURE_LIMIT == 5
    assert refused.status_code == 429
    assert "Try again in 15 minutes" in refused.content.decode()
    assert refused["Retry-After"] == "900"
    assert "login failure" in caplog.text and "quinn" in caplog.text

    still_refused = _log_in(client, "quinn", PASSWORD)  # even the right password, web login too
    assert still_refused.status_code == 429
    assert "_auth_user_id" not in client.session
    forged = _log_in(client, "quinn", PASSWORD, HTTP_X_FORWARDED_FOR="10.9.9.9")
    assert forged.status_code == 429  # a made-up forwarding header is no new address
    assert _log_in(Client(REMOTE_ADDR="10.1.2.3"), "quinn", PASSWORD).status_code == 302

    from axes.models import AccessAttempt

    later = timezone.now() - settings.AXES_COOLOFF_TIME - dt.timedelta(seconds=1)
    AccessAttempt.objects.update(attempt_time=later)
    assert _log_in(client, "quinn", PASSWORD).status_code == 302
    assert client.session["_auth_user_id"]


# signature attempt limit -----------------------------------------------------------------------

def test_repeated_wrong_signature_passwords_lock_signing_for_a_while(client):
    """More cases (API, cool-off, a good signature clearing the count): test_signature_limits."""
    from webdata import build_organisation

    from qualityloop.records.quality.models import ChangeRequest, SignatureFailures
    from qualityloop.services import audit, change_control

    build_organisation()
    add_user("quinn", "quality-manager", password=PASSWORD)
    quinn = get_user_model().objects.get(username="quinn")
    change_control.submit(ChangeRequest.objects.get(external_id="CR-1"), quinn)
    client.login(username="quinn", password=PASSWORD)
    approve = reverse("change-step", args=["CR-1", "approve"])
    assert settings.SIGNATURE_FAILURE_LIMIT == 5
    assert settings.SIGNATURE_COOLOFF_TIME.total_seconds() == 15 * 60
    for _ in range(4):
        assert client.post(approve, {"password": "wrong-password"}).status_code == 403
    assert client.post(approve, {"password": "wrong-password"}).status_code == 429
    refused = client.post(approve, {"password": PASSWORD})  # even the right password
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 850
    assert "Signing is locked after 5 wrong passwords" in refused.content.decode()
    assert ChangeRequest.objects.get(external_id="CR-1").status == "submitted"
    reasons = [row.reason for row in audit.audit_page(audit.AuditFilter(record="CR-1")).rows]
    assert reasons.count("signature refused: wrong password (approving CR-1)") == 5
    assert "signature locked (approving CR-1)" in reasons

    later = timezone.now() - settings.SIGNATURE_COOLOFF_TIME - dt.timedelta(seconds=1)
    SignatureFailures.objects.update(last_failure_at=later)
    assert client.post(approve, {"password": PASSWORD}).status_code == 302
    assert ChangeRequest.objects.get(external_id="CR-1").status == "approved"


# API tokens -------------------------------------------------------------------------------------

def test_api_tokens_are_stored_only_as_hashes_and_revoked_ones_are_refused(client):
    plain = add_user("ada", "staff").token
    secret_part = plain[8:]  # the first 8 characters are kept as a prefix to tell tokens apart
    tables = connection.introspection.table_names()
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            assert secret_part not in repr(cursor.fetchall()), table
    me = {"HTTP_AUTHORIZATION": f"Bearer {plain}"}
    assert client.get("/api/me", **me).status_code == 200
    assert revoke_tokens("ada") == 1  # what `qualityloop user revoke ada` runs
    assert client.get("/api/me", **me).status_code == 401
    # More in tests/test_models.py (hash, inactive users) and tests/test_api.py (401s).


# uploads ----------------------------------------------------------------------------------------

@pytest.fixture
def import_url():
    north = OrgUnit.objects.create(external_id="U-N", name="North")
    Person.objects.create(external_id="P-1", name="Person 1", org_unit=north)
    instrument = assessment.install_builtin_instrument()
    opened = assessment.open_round("Spring", instrument, [north], invitees=1)
    return reverse("assessment-round-import", args=[opened.round.external_id])


def _admin() -> Client:
    client = Client()
    add_user("root", "admin", password=PASSWORD)
    client.force_login(get_user_model().objects.get(username="root"))
    return client


def _zip(parts: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _xlsx(rows: list[list]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    for row in rows:
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


SPREADSHEET_TYPES = b'<Types><Override ContentType="application/vnd.openxmlformats-' \
                    b'officedocument.spreadsheetml.sheet.main+xml"/></Types>'
WORD_TYPES = b'<Types><Override ContentType="application/vnd.openxmlformats-' \
             b'officedocument.wordprocessingml.document.main+xml"/></Types>'
ANSWERS = b"unit,lead1\nU-N,5\n"
REFUSED_UPLOADS = [
    ("answers.csv", ANSWERS * 70_000, 413, "larger than the upload limit of 1 MB"),
    ("answers.exe", b"MZ\x90\x00", 415, "files of type '.exe' are not accepted; expected a .csv"),
    ("answers.csv", "unit,lead1\nMüller,5\n".encode("cp1252"), 415, "not UTF-8 text"),
    ("answers.csv", b"unit,lead1\x00\n", 415, "NUL byte at byte offset 10"),
    ("answers.xlsx", ANSWERS, 415, "not a zip archive"),
    ("answers.xlsx", _zip({"[Content_Types].xml": WORD_TYPES, "word/document.xml": b"<w/>"}),
     415, "a zip archive without a workbook in it"),
    ("answers.xlsx", _zip({"[Content_Types].xml": WORD_TYPES, "xl/workbook.xml": b"<w/>"}),
     415, "a zip archive of another kind of document"),
    ("answers.xlsx", _zip({"[Content_Types].xml": SPREADSHEET_TYPES, "xl/workbook.xml": b"<w/>",
                           "xl/sharedStrings.xml": b" " * 1_000_000}),
     415, "more than 20 times the upload limit"),
    ("answers.parquet", b"PAR0" + ANSWERS, 415, "not a Parquet file"),
]


@pytest.mark.parametrize("name, content, status, message", REFUSED_UPLOADS,
                         ids=[f"{case[0]}-{case[3][:20]}" for case in REFUSED_UPLOADS])
def test_uploads_are_limited_in_size_and_type(import_url, name, content, status, message):
    client = _admin()
    with override_settings(MAX_UPLOAD_BYTES=1_048_576 if status == 413 else 40_000):
        refused = client.post(import_url, {"file": SimpleUploadedFile(name, content)})
    assert refused.status_code == status, refused.content.decode()[-3000:]
    shown = refused.content.decode().replace("&#x27;", "'")
    assert f"{name}: " in shown and message in shown and "expected" in shown
    assert not SurveyResponse.objects.exists()

    with override_settings(MAX_UPLOAD_BYTES=40_000):
        for good in (SimpleUploadedFile("good.csv", "\ufeffunit,lead1\nU-N,5\n".encode()),
                     SimpleUploadedFile("good.xlsx", _xlsx([["unit", "lead1"], ["U-N", 6]]))):
            accepted = client.post(import_url, {"file": good})
            assert "Imported 1 answer sheet" in accepted.content.decode(), good.name
    assert SurveyResponse.objects.count() == 2


def test_the_record_import_page_checks_uploads_too():
    client = _admin()
    url = reverse("record-import", args=["org-units"])
    latin1 = SimpleUploadedFile("units.csv", "external_id,name\nU-1,Köln\n".encode("cp1252"))
    refused = client.post(url, {"file": latin1})
    assert refused.status_code == 415
    assert "units.csv: not UTF-8 text" in refused.content.decode()
    assert not OrgUnit.objects.exists()


def test_every_upload_path_goes_through_the_upload_checks():
    """A new view reading request.FILES (or a ninja File) must call web/uploads.py."""
    unchecked = []
    for path in (REPOSITORY / "src" / "qualityloop").rglob("*.py"):
        code = path.read_text(encoding="utf-8")
        reads_files = "request.FILES" in code or re.search(r"\bFile\[|UploadedFile\b", code)
        if reads_files and path.name != "uploads.py" and "checked_upload(" not in code:
            unchecked.append(str(path.relative_to(REPOSITORY)))
    assert unchecked == []


# secrets ----------------------------------------------------------------------------------------

# Written out here on purpose: the demo logins README documents, and README's example password
# and database URL placeholder.
ALLOWED_PASSWORDS = {"demo-quality-2026", "quality-demo-2026", "lead-demo-2026",
                     "staff-demo-2026", "viewer-quality-2026", "s3cret-Passw0rd", "PASSWORD"}
SECRET_PATTERNS = {
    "a private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE" + r" KEY-----"),
    "a secret key": re.compile(r"SECRET_KEY\s*=\s*['\"](?!\$\()[^'\"]+['\"]"),  # not "$(make)"
    "an API token": re.compile(r"\bql" + r"_[A-Za-z0-9_-]{20,}"),
}
PASSWORD_PATTERNS = [
    re.compile(r"passw(?:or)?d\w*['\"]?\s*[:=]\s*['\"]([^'\"\s]{4,})['\"]", re.IGNORECASE),
    re.compile(r"--password[ =]['\"]?([^'\"\s]+)"),
    re.compile(r"\b[a-z+]+://[^\s:/@'\"]+:([^\s:/@'\"]+)@"),
]


def secrets_in(text: str, with_passwords: bool = True) -> list[str]:
    """What looks like a secret in ``text``: names of the patterns found, and passwords."""
    found = [what for what, pattern in SECRET_PATTERNS.items() if pattern.search(text)]
    if with_passwords:
        found += [f"password {match}" for pattern in PASSWORD_PATTERNS
                  for match in pattern.findall(text) if match not in ALLOWED_PASSWORDS]
    return found


def test_no_secrets_in_the_repository():
    # the scanner finds what it is for (so the test can fail)
    assert secrets_in("-----BEGIN RSA PRIVATE" + " KEY-----\nMIIE")
    assert secrets_in('SECRET_KEY = "' + 'x' * 50 + '"')
    assert secrets_in("Authorization: Bearer ql" + "_" + secrets.token_urlsafe(32))
    assert secrets_in('DATABASE_PASSWORD = "hunter22"')
    assert secrets_in("postgres://app:hunter22@db/ql")
    assert not secrets_in("qualityloop demo # logs in as demo / demo-quality-2026")

    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPOSITORY, capture_output=True,
                             check=True).stdout.decode().split("\0")
    found = {}
    for name in filter(None, tracked):
        path = REPOSITORY / name
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:  # binary files: images, fonts
            continue
        # tests hold throwaway passwords of test users; everything else is scanned for all
        problems = secrets_in(text, with_passwords=not name.startswith("tests/"))
        if problems:
            found[name] = problems
    assert found == {}
