"""Nothing lost when two people change the same record (issue #9).

The web edit form carries the version (ETag) of the record it was opened on: a save after someone
else changed the record writes nothing and shows the form again with their values, who changed
it and when, and what the user sent. The API's workflow steps take ``If-Match`` like PUT/PATCH:
a stale one is refused with 412 and nothing is written; answers carry the record's ETag.
"""

from __future__ import annotations

import html
import json
import re
import threading
import time

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from webdata import build_organisation, days_ago

from qualityloop.records.customers.models import Complaint
from qualityloop.records.organisation.models import OrgUnit
from qualityloop.records.quality.models import (
    ChangeRequest,
    CorrectiveAction,
    Nonconformance,
    SignatureRefusal,
)
from qualityloop.services import change_control, problem_solving
from qualityloop.services.record_kinds import get_kind
from qualityloop.services.signatures import ReauthenticationFailed
from qualityloop.services.users import add_user
from qualityloop.web.api.api import api
from qualityloop.web.forms.records import initial_values
from qualityloop.web.views import record_forms

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"
EDIT = reverse("record-edit", args=["change-requests", "CR-1"])


@pytest.fixture
def org():
    return build_organisation()


def _signed_in(name: str, role: str = "quality-manager") -> Client:
    add_user(name, role, password=PASSWORD)
    client = Client()
    assert client.login(username=name, password=PASSWORD)
    return client


def _opened_form(client: Client, url: str = EDIT) -> dict:
    """What the edit page's form would send unchanged: the record's values and the hidden
    version fields, read from the page."""
    page = client.get(url)
    assert page.status_code == 200
    return _form_of(page.content.decode())


def _form_of(page: str) -> dict:
    data = {k: v for k, v in initial_values(get_kind("change-requests"),
                                            ChangeRequest.objects.get(pk=_cr1().pk)).items()
            if v is not None}
    hidden = _hidden_fields(page)
    assert len(hidden) == 2, "the version fields are missing from the form"
    return {**data, **hidden}


def _cr1() -> ChangeRequest:
    return ChangeRequest.objects.get(external_id="CR-1")


def test_the_second_save_is_refused_with_their_values_and_nothing_is_lost(org):
    alice, bob = _signed_in("alice"), _signed_in("bob")
    alices, bobs = _opened_form(alice), _opened_form(bob)
    versions = _cr1().history.count()

    alices["title"] = "Alice's title"
    assert alice.post(EDIT, alices).status_code == 302

    bobs["reason"] = "Bob's reason"
    refused = bob.post(EDIT, bobs)
    assert refused.status_code == 409
    page = refused.content.decode()
    assert 'data-testid="edit-conflict"' in page
    assert re.search(r"alice changed this record at \d{4}-\d\d-\d\d \d\d:\d\d \S+ since you "
                     r"opened it: their values are shown; re-apply your change", page)
    conflict = page.split('data-testid="edit-conflict"')[1].split("</table>")[0]
    assert "Title <em>(changed by them)</em>" in html.unescape(conflict)
    assert "Alice&#x27;s title" in conflict and "Bob&#x27;s reason" in conflict  # now / sent
    assert 'value="Alice&#x27;s title"' in page  # the form shows their values

    change = _cr1()
    assert change.title == "Alice's title" and change.reason != "Bob's reason"
    assert change.history.count() == versions + 1  # one change: Alice's
    assert change.history.first().history_user.username == "alice"


def test_re_applying_on_the_form_shown_after_a_conflict_saves_both_changes(org):
    alice, bob = _signed_in("alice"), _signed_in("bob")
    alices, bobs = _opened_form(alice), _opened_form(bob)
    alices["title"] = "Alice's title"
    assert alice.post(EDIT, alices).status_code == 302
    bobs["reason"] = "Bob's reason"
    again = _form_of(bob.post(EDIT, bobs).content.decode())
    again["reason"] = "Bob's reason"
    assert bob.post(EDIT, again).status_code == 302
    change = _cr1()
    assert (change.title, change.reason) == ("Alice's title", "Bob's reason")


def test_an_unchanged_record_saves_and_a_form_without_a_version_still_saves(org):
    alice = _signed_in("alice")
    form = _opened_form(alice)
    form["title"] = "First"
    assert alice.post(EDIT, form).status_code == 302
    plain = {k: v for k, v in form.items() if not k.startswith("_record_")}
    plain["title"] = "Second"  # no version sent: the last save wins, as before
    assert alice.post(EDIT, plain).status_code == 302
    assert _cr1().title == "Second"


def test_a_form_sent_back_for_corrections_keeps_the_version_it_was_opened_on(org):
    alice, bob = _signed_in("alice"), _signed_in("bob")
    bobs = _opened_form(bob)
    wrong = bob.post(EDIT, {**bobs, "requested_on": "not a day"})
    assert wrong.status_code == 400
    kept = _form_of(wrong.content.decode())
    assert kept["_record_version"] == bobs["_record_version"]
    alices = _opened_form(alice)
    alices["title"] = "Alice's title"
    assert alice.post(EDIT, alices).status_code == 302
    assert bob.post(EDIT, {**kept, "reason": "Bob's reason"}).status_code == 409


def test_htmx_shows_the_conflict_in_place(org):
    alice, bob = _signed_in("alice"), _signed_in("bob")
    alices, bobs = _opened_form(alice), _opened_form(bob)
    alices["title"] = "Alice's title"
    assert alice.post(EDIT, alices).status_code == 302
    swapped = bob.post(EDIT, bobs, HTTP_HX_REQUEST="true")
    assert swapped.status_code == 200  # HTMX swaps 2xx answers only
    assert 'data-testid="edit-conflict"' in swapped.content.decode()
    assert _cr1().title == "Alice's title"


# --- the API's workflow steps ------------------------------------------------------------------

@pytest.fixture
def token(org):
    made = add_user("api-quinn", "quality-manager", password=PASSWORD)  # signs with it
    return {"HTTP_AUTHORIZATION": f"Bearer {made.token}"}


def _step(client: Client, auth: dict, path: str, body: dict | None = None,
          etag: str | None = None):
    headers = {} if etag is None else {"HTTP_IF_MATCH": etag}
    return client.post(f"/api/{path}", json.dumps(body or {}), content_type="application/json",
                       **auth, **headers)


def _etag(client: Client, auth: dict, path: str) -> str:
    read = client.get(f"/api/{path}", **auth)
    assert read.status_code == 200
    return read["ETag"]


def test_a_step_with_a_stale_if_match_is_refused_and_nothing_is_written(client, token):
    stale = _etag(client, token, "complaints/K-1")
    patched = client.patch("/api/complaints/K-1", {"category": "Delivery"},
                           content_type="application/json", **token)
    assert patched.status_code == 200
    versions = Complaint.history.filter(external_id="K-1").count()
    refused = _step(client, token, "complaints/K-1/acknowledge", etag=stale)
    assert refused.status_code == 412
    assert "has changed since you read it" in refused.json()["detail"]  # the PATCH's shape
    complaint = Complaint.objects.get(external_id="K-1")
    assert complaint.status == "received" and complaint.acknowledged_on is None
    assert Complaint.history.filter(external_id="K-1").count() == versions


def test_a_step_with_the_current_if_match_is_taken_and_answers_the_new_etag(client, token):
    current = _etag(client, token, "complaints/K-1")
    taken = _step(client, token, "complaints/K-1/acknowledge", etag=current)
    assert taken.status_code == 200, taken.content
    assert taken.json()["status"] == "acknowledged"
    assert taken["ETag"] != current
    assert taken["ETag"] == _etag(client, token, "complaints/K-1")
    # the answer's ETag is the one to send with the next step
    assessed = _step(client, token, "complaints/K-1/assess", etag=taken["ETag"])
    assert assessed.status_code == 200 and assessed.json()["status"] == "assessed"


def test_a_step_without_if_match_works_as_before_and_carries_the_etag(client, token):
    taken = _step(client, token, "complaints/K-1/acknowledge")
    assert taken.status_code == 200
    assert taken["ETag"] == _etag(client, token, "complaints/K-1")


def test_signed_steps_take_if_match_too(client, token):
    assert _step(client, token, "change-requests/CR-1/submit").status_code == 200
    stale = _etag(client, token, "change-requests/CR-1")
    client.patch("/api/change-requests/CR-1", {"risk_assessment": "Checked again"},
                 content_type="application/json", **token)
    body = {"password": PASSWORD, "note": "ok"}
    refused = _step(client, token, "change-requests/CR-1/approve", body, etag=stale)
    assert refused.status_code == 412
    assert _cr1().status == "submitted" and _cr1().signed_by is None
    current = _etag(client, token, "change-requests/CR-1")
    approved = _step(client, token, "change-requests/CR-1/approve", body, etag=current)
    assert approved.status_code == 200, approved.content
    assert approved.json()["record"]["status"] == "approved"
    assert approved["ETag"] == _etag(client, token, "change-requests/CR-1")


def test_a_refused_signature_is_kept_although_the_step_is_not_taken(client, token, monkeypatch):
    """What signing records on a refusal (the count towards a lockout, the audit entry) is
    committed: the step's transaction rolls back only what the step wrote."""
    def refuse(user, password, what, *args):
        OrgUnit.objects.create(external_id="U-REFUSAL", name=f"refused {what}")
        raise ReauthenticationFailed("the password is not correct")

    monkeypatch.setattr(change_control, "sign", refuse)
    assert _step(client, token, "change-requests/CR-1/submit").status_code == 200
    current = _etag(client, token, "change-requests/CR-1")
    refused = _step(client, token, "change-requests/CR-1/approve", {"password": "nope"},
                    etag=current)
    assert refused.status_code == 403
    assert OrgUnit.objects.filter(external_id="U-REFUSAL").exists()
    assert _cr1().status == "submitted"


def test_steps_creating_a_record_check_the_parent_and_answer_the_new_records_etag(client,
                                                                                  token):
    stale = _etag(client, token, "nonconformances/N-1")
    client.patch("/api/nonconformances/N-1", {"containment": "Stock quarantined"},
                 content_type="application/json", **token)
    action = {"external_id": "N-1-A9", "kind": "corrective", "description": "New seal",
              "owner": "P-ANN", "due_on": "2030-01-01"}
    refused = _step(client, token, "nonconformances/N-1/actions", action, etag=stale)
    assert refused.status_code == 412
    assert not CorrectiveAction.objects.filter(external_id="N-1-A9").exists()
    added = _step(client, token, "nonconformances/N-1/actions", action,
                  etag=_etag(client, token, "nonconformances/N-1"))
    assert added.status_code == 201, added.content
    assert added["ETag"] == _etag(client, token, "actions/N-1-A9")


def test_every_writing_step_documents_if_match_and_412():
    document = api.get_openapi_schema()
    steps = [(path, operation) for path, operations in document["paths"].items()
             if re.search(r"\{external_id\}/[a-z-]+$", path)
             for method, operation in operations.items() if method == "post"]
    assert len(steps) >= 18  # complaints 7, nonconformances 4, actions 1, changes 5, reviews 1
    for path, operation in steps:
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        assert "If-Match" in headers, path
        assert "412" in {str(code) for code in operation["responses"]}, path


@pytest.mark.django_db(transaction=True)
def test_two_saves_at_the_same_moment_one_is_refused(monkeypatch):
    """The check and the write are one transaction holding the record: a second save waits for
    the first and then sees its change (without the row lock on PostgreSQL both would pass the
    check and the second would write over the first).

    PostgreSQL only: SQLite's in-memory test database refuses a second writer at once ("table
    is locked") where the server's file database waits for it (BEGIN IMMEDIATE and a busy
    timeout; the load test, tests/test_load.py, has concurrent writers on it)."""
    if connection.vendor != "postgresql":
        pytest.skip("needs a database that takes writers from several threads")
    build_organisation()
    alice, bob = _signed_in("alice"), _signed_in("bob")
    alices, bobs = _opened_form(alice), _opened_form(bob)
    alices["title"], bobs["reason"] = "Alice's title", "Bob's reason"
    alice_checked = threading.Event()
    check = record_forms.conflict_since

    def slow_check(kind, current, posted, form):
        found = check(kind, current, posted, form)
        if posted.get("title") == "Alice's title":
            alice_checked.set()
            time.sleep(0.5)  # Alice holds the record while Bob's save starts
        return found

    monkeypatch.setattr(record_forms, "conflict_since", slow_check)
    answers: dict[str, int] = {}

    def save(name: str, client: Client, form: dict) -> None:
        try:
            answers[name] = client.post(EDIT, form).status_code
        finally:
            connection.close()

    first = threading.Thread(target=save, args=("alice", alice, alices))
    first.start()
    assert alice_checked.wait(10)
    save("bob", bob, bobs)
    first.join(10)
    assert answers == {"alice": 302, "bob": 409}
    change = _cr1()
    assert (change.title, change.reason) == ("Alice's title", "Leaks in the field")


# --- the web pages' workflow steps -------------------------------------------------------------

def _page_version(client: Client, kind: str, external_id: str) -> dict:
    """The hidden version fields the record page's step forms send."""
    page = client.get(reverse("record-detail", args=[kind, external_id]))
    assert page.status_code == 200
    hidden = _hidden_fields(page.content.decode())
    assert len(hidden) == 2, f"no version fields on the {kind} page"
    return hidden


def _changed_by(client: Client, path: str, body: dict) -> None:
    assert client.patch(f"/api/{path}", body, content_type="application/json").status_code == 200


def test_a_web_step_sent_from_an_older_page_is_refused_and_nothing_is_written(org):
    alice, bob = _signed_in("alice"), _signed_in("bob")
    seen = _page_version(bob, "complaints", "K-1")
    _changed_by(alice, "complaints/K-1", {"category": "Delivery"})
    versions = Complaint.history.filter(external_id="K-1").count()
    step = reverse("complaint-step", args=["K-1"])
    refused = bob.post(step, {"step": "acknowledged", **seen})
    assert refused.status_code == 409
    assert re.search(r"alice changed this record at .+ since you opened this page: nothing was "
                     r"saved", refused.content.decode())
    assert Complaint.objects.get(external_id="K-1").status == "received"
    assert Complaint.history.filter(external_id="K-1").count() == versions
    again = bob.post(step, {"step": "acknowledged", **_page_version(bob, "complaints", "K-1")})
    assert again.status_code == 302
    complaint = Complaint.objects.get(external_id="K-1")
    assert (complaint.status, complaint.category) == ("acknowledged", "Delivery")


def test_nonconformance_steps_on_the_page_check_the_version(org):
    alice, bob = _signed_in("alice"), _signed_in("bob")
    seen = _page_version(bob, "nonconformances", "N-1")
    _changed_by(alice, "nonconformances/N-1", {"containment": "Alice's containment"})
    containment = reverse("nc-containment", args=["N-1"])
    refused = bob.post(containment, {"containment": "Bob's containment", **seen})
    assert refused.status_code == 409
    assert "alice changed this record" in refused.content.decode()
    assert Nonconformance.objects.get(external_id="N-1").containment == "Alice's containment"
    fresh = _page_version(bob, "nonconformances", "N-1")
    assert bob.post(containment, {"containment": "Bob's containment", **fresh}).status_code == 302
    assert Nonconformance.objects.get(external_id="N-1").containment == "Bob's containment"


def test_a_signed_web_step_checks_the_version_and_keeps_a_refused_signature(org):
    alice, bob = _signed_in("alice"), _signed_in("bob")
    assert alice.post(reverse("change-step", args=["CR-1", "submit"]),
                      _page_version(alice, "change-requests", "CR-1")).status_code == 302
    seen = _page_version(bob, "change-requests", "CR-1")
    _changed_by(alice, "change-requests/CR-1", {"risk_assessment": "Checked again"})
    approve = reverse("change-step", args=["CR-1", "approve"])
    refused = bob.post(approve, {"password": PASSWORD, "note": "ok", **seen})
    assert refused.status_code == 409 and _cr1().status == "submitted"
    fresh = _page_version(bob, "change-requests", "CR-1")
    refusals = SignatureRefusal.objects.count()
    wrong = bob.post(approve, {"password": "not it", "note": "ok", **fresh})
    assert wrong.status_code == 403 and _cr1().status == "submitted"
    assert SignatureRefusal.objects.count() == refusals + 1  # kept, not rolled back
    signed = bob.post(approve, {"password": PASSWORD, "note": "ok", **fresh})
    assert signed.status_code == 302
    assert _cr1().status == "approved" and _cr1().signed_by.username == "bob"


def test_a_kind_without_history_still_refuses_and_names_the_differing_columns(org):
    """Orders keep no history: who and when are unknown, the columns come from the values."""
    alice, bob = _signed_in("alice"), _signed_in("bob")
    url = reverse("record-edit", args=["orders", "O-0"])
    order = get_kind("orders").model.objects.get(external_id="O-0")
    opened = {**{k: v for k, v in initial_values(get_kind("orders"), order).items()
                 if v is not None}, **_hidden_fields(bob.get(url).content.decode())}
    assert alice.post(url, {**opened, "product": "Valve"}).status_code == 302
    refused = bob.post(url, {**opened, "amount": "7"})
    assert refused.status_code == 409
    page = html.unescape(refused.content.decode())
    assert "Someone changed this record since you opened it" in page
    conflict = page.split('data-testid="edit-conflict"')[1].split("</table>")[0]
    assert "Product" in conflict and "Amount" in conflict
    order.refresh_from_db()
    assert (order.product, float(order.amount)) == ("Valve", 100.5)


def _hidden_fields(page: str) -> dict:
    found = {name: re.search(rf'name="{name}" value="([^"]*)"', page)
             for name in ("_record_version", "_record_seen")}
    return {name: html.unescape(m.group(1)) for name, m in found.items() if m}


@pytest.mark.django_db(transaction=True)
def test_two_api_steps_at_the_same_moment_with_one_etag_one_is_refused(monkeypatch):
    """PostgreSQL only (see above): the second step waits for the first's row lock and then
    finds another ETag."""
    if connection.vendor != "postgresql":
        pytest.skip("needs a database that takes writers from several threads")
    build_organisation()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {add_user('racer', 'quality-manager').token}"}
    etag = _etag(Client(), auth, "nonconformances/N-1")
    first_inside = threading.Event()
    record = problem_solving.record_containment

    def slow(nc, user, text):
        if text == "first":
            first_inside.set()
            time.sleep(0.5)
        return record(nc, user, text)

    monkeypatch.setattr(problem_solving, "record_containment", slow)
    answers: dict[str, int] = {}

    def contain(text: str) -> None:
        try:
            answers[text] = _step(Client(), auth, "nonconformances/N-1/containment",
                                  {"containment": text}, etag=etag).status_code
        finally:
            connection.close()

    first = threading.Thread(target=contain, args=("first",))
    first.start()
    assert first_inside.wait(10)
    contain("second")
    first.join(10)
    assert answers == {"first": 200, "second": 412}
    assert Nonconformance.objects.get(external_id="N-1").containment == "first"


def _check_form_version(page: str, action: str) -> dict:
    """The version fields of one action's check form on the NC page."""
    url = reverse("nc-check", args=["N-1", action])
    form = page.split(f'action="{url}"')[1].split("</form>")[0]
    return _hidden_fields(form)


def test_an_actions_check_on_the_nc_page_takes_the_actions_version(org):
    alice, bob = _signed_in("alice"), _signed_in("bob")
    nc_page = reverse("record-detail", args=["nonconformances", "N-1"])
    seen = _check_form_version(bob.get(nc_page).content.decode(), "A-1")
    assert seen["_record_seen"] == "?"  # no history read per listed action
    _changed_by(alice, "actions/A-1", {"description": "Replace the seal supplier"})
    check = {"A-1-verified_by": "P-ANN", "A-1-checked_on": days_ago(0).isoformat(),
             "A-1-effective": "yes", "A-1-evidence": "No leaks in 3 lots"}
    refused = bob.post(reverse("nc-check", args=["N-1", "A-1"]), {**check, **seen})
    assert refused.status_code == 409
    assert "alice changed this record" in refused.content.decode()
    assert CorrectiveAction.objects.get(external_id="A-1").effectiveness_result == ""
    fresh = _check_form_version(bob.get(nc_page).content.decode(), "A-1")
    assert bob.post(reverse("nc-check", args=["N-1", "A-1"]),
                    {**check, **fresh}).status_code == 302
    assert CorrectiveAction.objects.get(external_id="A-1").status == "effective"


def test_the_version_fields_cost_no_query_per_action_on_the_nc_page(org):
    quinn = _signed_in("quinn")
    nc_page = reverse("record-detail", args=["nonconformances", "N-1"])

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert quinn.get(nc_page).status_code == 200
        return len(captured.captured_queries)

    before = queries()
    first = CorrectiveAction.objects.get(external_id="A-2")
    for n in range(3):
        first.pk, first.external_id = None, f"A-2-{n}"
        first.save()
    page = quinn.get(nc_page).content.decode()
    assert page.count('name="_record_version"') >= 3 + 2 + 3  # NC steps, A-1, A-2, the copies
    assert queries() == before
