"""The limit on wrong electronic-signature passwords (services/signatures.py, 21 CFR Part 11
11.300(d)): after 5 wrong passwords in a row signing is locked for 15 minutes, even with the right
password; the web page says so (429), the API answers 429 with Retry-After; a good signature
clears the count; every refusal and the lockout are in the audit log."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from typer.testing import CliRunner
from webdata import build_organisation, days_ago

from qualityloop.cli import app
from qualityloop.records.accounts.models import ApiToken
from qualityloop.records.quality.models import (
    ChangeRequest,
    Nonconformance,
    SignatureFailures,
    SignatureRefusal,
)
from qualityloop.services import audit, change_control, problem_solving, signatures
from qualityloop.services.users import add_user

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"
WRONG = "not-my-password"
KIND = "signaturerefusal"  # the audit log's kind name for refused signatures


@pytest.fixture
def quinn():
    build_organisation()
    add_user("quinn", "quality-manager", password=PASSWORD)
    return get_user_model().objects.get(username="quinn")


@pytest.fixture
def web(client, quinn):
    client.login(username="quinn", password=PASSWORD)
    return client


@pytest.fixture
def ready_nc(quinn) -> Nonconformance:
    """N-1 with every action verified effective: it closes with a good signature."""
    for action in Nonconformance.objects.get(external_id="N-1").actions.all():
        problem_solving.record_effectiveness_check(
            action, quinn, "P-ANN", days_ago(1).isoformat(), True, "No leaks in 200 units")
    return Nonconformance.objects.get(external_id="N-1")


@pytest.fixture
def submitted(quinn) -> ChangeRequest:
    return change_control.submit(ChangeRequest.objects.get(external_id="CR-1"), quinn)


def _cool_off_passes(user) -> None:
    """Move the last failure back past the lockout time (as if 15 minutes went by)."""
    past = timezone.now() - signatures.cooloff() - dt.timedelta(seconds=1)
    assert SignatureFailures.objects.filter(user=user).update(last_failure_at=past) == 1


def _refusals() -> list[str]:
    """The reasons of the refused signatures in the audit log, oldest first."""
    rows = audit.audit_page(audit.AuditFilter(kind=KIND), size=100).rows
    return [row.reason or "" for row in reversed(rows)]


# --- the service ------------------------------------------------------------------------------

def test_the_fifth_wrong_password_locks_signing_even_with_the_right_one(ready_nc, quinn):
    for left in (4, 3, 2, 1):
        with pytest.raises(signatures.ReauthenticationFailed) as wrong:
            problem_solving.close_nonconformance(ready_nc, quinn, WRONG)
        assert not isinstance(wrong.value, signatures.SignatureLocked)
        assert f"({left} more wrong password" in str(wrong.value)
    with pytest.raises(signatures.SignatureLocked, match="After 5 wrong passwords, signing is "
                                                          "locked until"):
        problem_solving.close_nonconformance(ready_nc, quinn, WRONG)
    with pytest.raises(signatures.SignatureLocked, match="signing is locked") as locked:
        problem_solving.close_nonconformance(ready_nc, quinn, PASSWORD)
    assert 890 <= locked.value.retry_after <= 900
    nc = Nonconformance.objects.get(external_id="N-1")
    assert nc.status != "closed" and nc.signed_by is None
    assert SignatureFailures.objects.get(user=quinn).failures == 5


def test_after_the_cool_off_the_right_password_signs(ready_nc, quinn):
    for _ in range(5):
        with pytest.raises(signatures.ReauthenticationFailed):
            signatures.sign(quinn, WRONG, "closing", ready_nc)
    assert signatures.locked_until(quinn) is not None
    _cool_off_passes(quinn)
    assert signatures.locked_until(quinn) is None
    closed = problem_solving.close_nonconformance(ready_nc, quinn, PASSWORD)
    assert closed.status == "closed" and closed.signed_by == quinn
    assert not SignatureFailures.objects.filter(user=quinn).exists()


def test_a_good_signature_clears_the_count(quinn):
    for _ in range(4):
        with pytest.raises(signatures.ReauthenticationFailed):
            signatures.sign(quinn, WRONG, "approving")
    signatures.sign(quinn, PASSWORD, "approving")
    assert not SignatureFailures.objects.filter(user=quinn).exists()
    for _ in range(4):  # four more are still not five in a row
        with pytest.raises(signatures.ReauthenticationFailed) as wrong:
            signatures.sign(quinn, WRONG, "approving")
        assert not isinstance(wrong.value, signatures.SignatureLocked)
    assert signatures.sign(quinn, PASSWORD, "approving").user == quinn


def test_old_failures_do_not_count_and_empty_passwords_are_no_attempt(quinn):
    for _ in range(4):
        with pytest.raises(signatures.ReauthenticationFailed):
            signatures.sign(quinn, WRONG, "closing")
    _cool_off_passes(quinn)
    for _ in range(3):
        with pytest.raises(signatures.ReauthenticationFailed, match="password is not correct"):
            signatures.sign(quinn, "", "closing")
    with pytest.raises(signatures.ReauthenticationFailed) as wrong:
        signatures.sign(quinn, WRONG, "closing")
    assert "(4 more wrong passwords" in str(wrong.value)
    assert SignatureFailures.objects.get(user=quinn).failures == 1


def test_the_lock_is_per_user(quinn):
    add_user("tess", "top-management", password=PASSWORD)
    tess = get_user_model().objects.get(username="tess")
    for _ in range(5):
        with pytest.raises(signatures.ReauthenticationFailed):
            signatures.sign(quinn, WRONG, "approving")
    assert signatures.sign(tess, PASSWORD, "approving").user == tess
    with pytest.raises(signatures.SignatureLocked):
        signatures.sign(quinn, PASSWORD, "approving")


@override_settings(SIGNATURE_FAILURE_LIMIT=2, SIGNATURE_COOLOFF_TIME=dt.timedelta(minutes=1))
def test_the_limit_and_the_lockout_time_are_settings(quinn):
    with pytest.raises(signatures.ReauthenticationFailed, match="1 more wrong password locks "
                                                                "signing for 1 minute"):
        signatures.sign(quinn, WRONG, "closing")
    with pytest.raises(signatures.SignatureLocked) as locked:
        signatures.sign(quinn, WRONG, "closing")
    assert 55 <= locked.value.retry_after <= 60


@pytest.mark.django_db(transaction=True)
def test_wrong_passwords_at_the_same_moment_are_all_counted():
    """Eight wrong passwords sent at once (as from several server processes): none is lost from
    the count (the count row is locked while it is raised) and the lockout is recorded once.

    PostgreSQL only: SQLite's in-memory test database refuses a second writer at once where the
    server's file database queues writers (BEGIN IMMEDIATE and a busy timeout)."""
    if connection.vendor != "postgresql":
        pytest.skip("needs a database that takes writers from several threads")
    add_user("quinn", "quality-manager", password=PASSWORD)
    quinn = get_user_model().objects.get(username="quinn")
    start = threading.Barrier(8)
    answers: list[str] = []

    def attempt() -> None:
        try:
            start.wait(10)
            signatures.sign(quinn, WRONG, "approving")
            answers.append("signed")
        except signatures.ReauthenticationFailed:
            answers.append("refused")
        except Exception as problem:  # noqa: BLE001 - shown by the assertion below
            answers.append(repr(problem))
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert answers == ["refused"] * 8
    reasons = list(SignatureRefusal.objects.values_list("reason", flat=True))
    wrong = reasons.count("wrong-password")
    assert len(reasons) == 8 + 1 and reasons.count("locked") == 1
    assert wrong + reasons.count("while-locked") == 8 and wrong >= 5
    assert SignatureFailures.objects.get(user=quinn).failures == wrong
    with pytest.raises(signatures.SignatureLocked):
        signatures.sign(quinn, PASSWORD, "approving")


# --- the audit log ----------------------------------------------------------------------------

def test_every_refusal_and_the_lockout_are_in_the_audit_log(ready_nc, quinn, caplog):
    with caplog.at_level(logging.WARNING, logger="qualityloop.signatures"):
        for password in [WRONG] * 5 + [PASSWORD]:
            with pytest.raises(signatures.ReauthenticationFailed):
                problem_solving.close_nonconformance(ready_nc, quinn, password)
    wrong = "signature refused: wrong password (closing N-1)"
    assert _refusals() == [wrong] * 5 + ["signature locked (closing N-1)",
                                         "signature refused: locked (closing N-1)"]
    rows = audit.audit_page(audit.AuditFilter(kind=KIND, record="N-1", user="quinn")).rows
    assert len(rows) == 7 and {(r.user, r.external_id) for r in rows} == {("quinn", "N-1")}
    assert all(abs(r.date - rows[0].date) < dt.timedelta(minutes=1) for r in rows)
    refusal = SignatureRefusal.objects.filter(reason="locked").get()
    assert (refusal.username, refusal.step, refusal.external_id) == ("quinn", "closing", "N-1")
    assert caplog.text.count("signature refused: wrong password: user quinn, closing N-1") == 5
    assert "signature locked: user quinn" in caplog.text


def test_the_audit_page_lists_refused_signatures(web, submitted):
    step = reverse("change-step", args=["CR-1", "approve"])
    for _ in range(5):
        web.post(step, {"password": WRONG})
    html = web.get(reverse("audit") + f"?kind={KIND}").content.decode()
    assert html.count("signature refused: wrong password (approving CR-1)") == 5
    assert "signature locked (approving CR-1)" in html
    assert html.count("<tr data-action=") == 6


# --- the web pages ----------------------------------------------------------------------------

def test_nc_page_refuses_a_locked_signature_with_a_clear_message(web, ready_nc, quinn):
    close = reverse("nc-close", args=["N-1"])
    for _ in range(4):
        wrong = web.post(close, {"password": WRONG})
        assert wrong.status_code == 403 and "The password is not correct" in wrong.content.decode()
    fifth = web.post(close, {"password": WRONG})
    assert fifth.status_code == 429 and "signing is locked until" in fifth.content.decode()
    locked = web.post(close, {"password": PASSWORD})
    page = locked.content.decode()
    assert locked.status_code == 429 and 890 <= int(locked["Retry-After"]) <= 900
    assert "Signing is locked after 5 wrong passwords" in page and "Traceback" not in page
    assert 'data-testid="workflow"' in page  # the NC page, with the message in its close step
    assert Nonconformance.objects.get(external_id="N-1").status != "closed"
    _cool_off_passes(quinn)
    assert web.post(close, {"password": PASSWORD}).status_code == 302
    assert Nonconformance.objects.get(external_id="N-1").status == "closed"


def test_change_page_with_htmx_shows_the_lock_in_the_panel(web, submitted):
    step = reverse("change-step", args=["CR-1", "approve"])
    for _ in range(5):
        web.post(step, {"password": WRONG})
    answer = web.post(step, {"password": PASSWORD, "note": "ok"}, HTTP_HX_REQUEST="true")
    assert answer.status_code == 200  # HTMX swaps the panel in place
    assert "Signing is locked after 5 wrong passwords" in answer.content.decode()
    assert ChangeRequest.objects.get(external_id="CR-1").status == "submitted"


def _lock(user) -> None:
    for _ in range(5):
        with pytest.raises(signatures.ReauthenticationFailed):
            signatures.sign(user, WRONG, "closing")


def test_the_pages_say_signing_is_locked_before_a_try(web, ready_nc, submitted, quinn):
    pages = [reverse("record-detail", args=["nonconformances", "N-1"]),
             reverse("record-detail", args=["change-requests", "CR-1"])]
    assert all('data-testid="signing-locked"' not in web.get(p).content.decode() for p in pages)
    _lock(quinn)
    for page in pages:
        html = web.get(page).content.decode()
        assert 'data-testid="signing-locked"' in html, page
        assert "Signing is locked after 5 wrong passwords in a row; try again after" in html
    assert SignatureRefusal.objects.count() == 6  # looking at the page is no attempt


def test_an_administrator_lifts_the_lock_from_the_command_line(quinn, caplog):
    _lock(quinn)
    run = lambda *args: CliRunner().invoke(app, ["user", "unlock-signing", *args])  # noqa: E731
    # The warning is read from the log records: which stream the console handler writes to
    # depends on where Django was first set up in this test process.
    with caplog.at_level("WARNING", logger="qualityloop.signatures"):
        lifted = run("quinn", "--json")
    assert lifted.exit_code == 0, lifted.output
    assert json.loads(lifted.stdout) == {"username": "quinn", "forgotten_failures": 5}
    assert "signature lock lifted: user quinn" in caplog.text
    assert signatures.sign(quinn, PASSWORD, "closing").user == quinn
    assert "had no wrong signature passwords" in run("quinn").output
    unknown = run("nobody")
    assert unknown.exit_code == 1 and "no user called 'nobody'" in unknown.output
    assert len(_refusals()) == 6  # the refusals stay in the audit log


# --- the API ----------------------------------------------------------------------------------

def _bearer(user) -> dict[str, str]:
    _, plain = ApiToken.issue(user)
    return {"HTTP_AUTHORIZATION": f"Bearer {plain}"}


def test_api_answers_429_with_retry_after_then_signs_after_the_cool_off(client, quinn, submitted):
    auth = _bearer(quinn)
    url = "/api/change-requests/CR-1/approve"
    post = lambda password: client.post(url, {"password": password},  # noqa: E731
                                        content_type="application/json", **auth)
    for _ in range(4):
        wrong = post(WRONG)
        assert wrong.status_code == 403 and "password is not correct" in wrong.json()["detail"]
    fifth = post(WRONG)
    assert fifth.status_code == 429 and "Retry-After" in fifth
    refused = post(PASSWORD)
    assert refused.status_code == 429
    assert 890 <= int(refused["Retry-After"]) <= 900
    assert "signing is locked after 5 wrong passwords" in refused.json()["detail"]
    assert ChangeRequest.objects.get(external_id="CR-1").status == "submitted"
    _cool_off_passes(quinn)
    signed = post(PASSWORD)
    assert signed.status_code == 200 and signed.json()["signed_by"] == "quinn"
    assert not SignatureFailures.objects.filter(user=quinn).exists()


def test_api_nc_close_is_locked_too_and_documents_429(client, quinn, ready_nc):
    auth = _bearer(quinn)
    url = "/api/nonconformances/N-1/close"
    for _ in range(5):
        client.post(url, {"password": WRONG}, content_type="application/json", **auth)
    refused = client.post(url, {"password": PASSWORD}, content_type="application/json", **auth)
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    schema = client.get("/api/openapi.json", **auth).json()["paths"]
    for path in ("/api/nonconformances/{external_id}/close",
                 "/api/change-requests/{external_id}/approve",
                 "/api/change-requests/{external_id}/reject"):
        assert "429" in schema[path]["post"]["responses"], path
