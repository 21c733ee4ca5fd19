"""Change control (services/change_control.py) at every entry point: the service, the record
writer (import, PUT/PATCH), the change-request page and the API. The rules: draft -> submitted ->
approved or rejected -> implemented -> verified; deciding is signed with the password and taken
only by the right role; nobody decides their own request."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from webdata import build_organisation, days_ago

from qualityloop.records.accounts.models import Profile
from qualityloop.records.organisation.models import OrgUnit, Person
from qualityloop.records.quality.models import ChangeRequest
from qualityloop.services import change_control as steps
from qualityloop.services.permissions import NotAllowed
from qualityloop.services.record_kinds import get_kind
from qualityloop.services.record_writer import RowInvalid, write_record
from qualityloop.services.users import add_user

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


@pytest.fixture
def org():
    return build_organisation()


def _user(name: str, role: str, unit: str | None = None, person: str | None = None):
    made = add_user(name, role, password=PASSWORD)
    user = get_user_model().objects.get(username=name)
    if unit:
        Profile.objects.filter(user=user).update(org_unit=OrgUnit.objects.get(external_id=unit))
    if person:
        Person.objects.filter(external_id=person).update(user=user)
    user.token = made.token
    return user


@pytest.fixture
def quinn(org):
    return _user("quinn", "quality-manager")


def _cr(external_id="CR-1") -> ChangeRequest:
    return ChangeRequest.objects.get(external_id=external_id)


def _submitted(user, risk="medium", unit=None) -> ChangeRequest:
    change = _cr()
    ChangeRequest.objects.filter(pk=change.pk).update(
        risk_level=risk, **({"org_unit": OrgUnit.objects.get(external_id=unit)} if unit else {}))
    return steps.submit(_cr(), user)


# --- the service ------------------------------------------------------------------------------

def test_a_change_goes_from_draft_to_verified_with_a_signed_approval(quinn):
    assert _cr().status == "draft"
    steps.submit(_cr(), quinn)
    assert _cr().status == "submitted"
    steps.approve(_cr(), quinn, PASSWORD, "Seal trial passed")
    change = _cr()
    assert change.status == "approved" and change.approved_on == days_ago(0)
    assert change.signed_by == quinn and change.signed_at is not None
    assert change.decision_note == "Seal trial passed"
    steps.record_implementation(change, quinn, "New seal in BOM rev C")
    steps.record_verification(_cr(), quinn, "No leaks in 500 units", verified_on=days_ago(0))
    change = _cr()
    assert change.status == "verified" and change.verified_on == days_ago(0)
    assert change.implementation_note == "New seal in BOM rev C"
    reasons = list(change.history.values_list("history_change_reason", flat=True))
    assert reasons[:4] == ["Verified and closed", "Implementation recorded",
                           "Approved and signed by quinn", "Submitted for approval"]
    signed = change.history.filter(history_change_reason__startswith="Approved").get()
    assert signed.history_user == quinn and signed.signed_by_id == quinn.pk


def test_the_approver_is_the_signers_person_when_linked(org):
    tess = _user("tess", "top-management", person="P-BOB")
    steps.submit(_cr(), tess)
    steps.approve(_cr(), tess, PASSWORD)
    assert _cr().approver.external_id == "P-BOB"


def test_a_wrong_password_signs_nothing(quinn):
    steps.submit(_cr(), quinn)
    with pytest.raises(steps.ReauthenticationFailed, match="approving needs your own password"):
        steps.approve(_cr(), quinn, "not-my-password")
    change = _cr()
    assert change.status == "submitted" and change.signed_by is None and change.signed_at is None


def test_steps_only_in_order(quinn):
    with pytest.raises(RowInvalid, match="only a change that is submitted can be approved"):
        steps.approve(_cr(), quinn, PASSWORD)
    with pytest.raises(RowInvalid, match="that is approved can be marked implemented"):
        steps.record_implementation(_cr(), quinn, "done")
    steps.submit(_cr(), quinn)
    with pytest.raises(RowInvalid, match="only a change that is draft can be submitted"):
        steps.submit(_cr(), quinn)


def test_rejecting_needs_a_reason_and_is_final(quinn):
    steps.submit(_cr(), quinn)
    with pytest.raises(RowInvalid, match="say why"):
        steps.reject(_cr(), quinn, PASSWORD, " ")
    steps.reject(_cr(), quinn, PASSWORD, "Cheaper fix available")
    change = _cr()
    assert change.status == "rejected" and change.signed_by == quinn
    assert change.approved_on is None
    with pytest.raises(RowInvalid, match="rejected"):
        steps.record_implementation(change, quinn, "anyway")


def test_implementation_and_verification_need_their_notes_and_dates_in_order(quinn):
    steps.submit(_cr(), quinn)
    steps.approve(_cr(), quinn, PASSWORD)
    with pytest.raises(RowInvalid, match="describe what was changed"):
        steps.record_implementation(_cr(), quinn, "")
    with pytest.raises(RowInvalid, match="before the approval"):
        steps.record_implementation(_cr(), quinn, "done", implemented_on=days_ago(3))
    steps.record_implementation(_cr(), quinn, "done")
    with pytest.raises(RowInvalid, match="give the evidence"):
        steps.record_verification(_cr(), quinn, "")


# --- who may decide ---------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["staff", "viewer"])
def test_staff_and_viewers_may_neither_submit_nor_decide(quinn, role):
    other = _user("someone", role, unit="U-PL")
    with pytest.raises(NotAllowed):
        steps.submit(_cr(), other)
    steps.submit(_cr(), quinn)
    with pytest.raises(NotAllowed):
        steps.approve(_cr(), other, PASSWORD)
    assert _cr().status == "submitted"


def test_a_unit_lead_decides_only_low_risk_changes_of_their_unit(quinn):
    lead = _user("lena", "unit-lead", unit="U-PL")
    _submitted(quinn, risk="medium")
    with pytest.raises(NotAllowed, match="medium risk"):
        steps.approve(_cr(), lead, PASSWORD)
    ChangeRequest.objects.filter(external_id="CR-1").update(risk_level="low")
    steps.approve(_cr(), lead, PASSWORD)
    assert _cr().status == "approved" and _cr().signed_by == lead


def test_a_unit_lead_may_not_decide_for_another_unit(quinn):
    lead = _user("sam", "unit-lead", unit="U-SA")
    _submitted(quinn, risk="low")  # CR-1 belongs to Plant North
    with pytest.raises(NotAllowed, match="another unit"):
        steps.approve(_cr(), lead, PASSWORD)
    assert not steps.may_decide(lead, _cr())


def test_nobody_decides_their_own_request(org):
    ann = _user("ann", "quality-manager", person="P-ANN")  # Ann requested CR-1
    steps.submit(_cr(), ann)
    with pytest.raises(NotAllowed, match="requested CR-1"):
        steps.approve(_cr(), ann, PASSWORD)
    with pytest.raises(NotAllowed, match="requested CR-1"):
        steps.reject(_cr(), ann, PASSWORD, "no")


# --- the record writer: import, PUT/PATCH -----------------------------------------------------

def test_an_edit_cannot_approve_without_a_signature(quinn):
    steps.submit(_cr(), quinn)
    with pytest.raises(RowInvalid, match="needs a signature"):
        write_record(get_kind("change-requests"),
                     {"status": "approved", "approver": "P-BOB", "approved_on": days_ago(0)},
                     instance=_cr(), partial=True)
    assert _cr().status == "submitted"


def test_an_import_of_a_past_approved_change_is_accepted(org):
    write_record(get_kind("change-requests"), {
        "external_id": "CR-OLD", "title": "Old change", "reason": "History", "org_unit": "U-PL",
        "requested_by": "P-ANN", "requested_on": days_ago(400), "risk_level": "low",
        "status": "approved", "approver": "P-BOB", "approved_on": days_ago(390)})
    assert _cr("CR-OLD").status == "approved" and _cr("CR-OLD").signed_by is None


# --- the API ----------------------------------------------------------------------------------

def _post(client, user, step, body=None, external_id="CR-1"):
    return client.post(f"/api/change-requests/{external_id}/{step}", json.dumps(body or {}),
                       content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {user.token}")


def test_api_walks_the_change_and_returns_the_signature(client, quinn):
    assert _post(client, quinn, "submit").status_code == 200
    wrong = _post(client, quinn, "approve", {"password": "nope"})
    assert wrong.status_code == 403 and "password" in wrong.json()["detail"]
    answer = _post(client, quinn, "approve", {"password": PASSWORD, "note": "ok"})
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["signed_by"] == "quinn" and body["record"]["status"] == "approved"
    assert _post(client, quinn, "implement", {"note": "Done"}).json()["status"] == "implemented"
    verified = _post(client, quinn, "verify", {"note": "Works", "verified_by": "P-BOB"})
    assert verified.status_code == 200 and verified.json()["verified_by"] == "P-BOB"


def test_api_refuses_out_of_order_and_unsigned_edits(client, quinn):
    early = _post(client, quinn, "approve", {"password": PASSWORD})
    assert early.status_code == 422
    assert "only a change that is submitted" in early.json()["detail"][0]["message"]
    _post(client, quinn, "submit")
    patch = client.patch("/api/change-requests/CR-1", json.dumps(
        {"status": "approved", "approver": "P-BOB", "approved_on": str(days_ago(0))}),
        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {quinn.token}")
    assert patch.status_code == 422 and _cr().status == "submitted"


@pytest.mark.parametrize(("role", "unit", "risk", "allowed"), [
    ("admin", None, "high", True),
    ("top-management", None, "high", True),
    ("quality-manager", None, "medium", True),
    ("unit-lead", "U-PL", "low", True),
    ("unit-lead", "U-PL", "medium", False),
    ("unit-lead", "U-SA", "low", False),
    ("staff", "U-PL", "low", False),
    ("viewer", "U-PL", "low", False),
])
def test_api_approval_by_role(client, quinn, role, unit, risk, allowed):
    caller = _user(f"{role}-user", role, unit=unit)
    _submitted(quinn, risk=risk)
    answer = _post(client, caller, "approve", {"password": PASSWORD})
    assert answer.status_code == (200 if allowed else 403), answer.content
    assert _cr().status == ("approved" if allowed else "submitted")


# --- the page ---------------------------------------------------------------------------------

def _page(client) -> str:
    return client.get(reverse("record-detail", args=["change-requests", "CR-1"])).content.decode()


def test_page_walks_the_change_and_shows_the_signature(client, quinn):
    client.login(username="quinn", password=PASSWORD)
    assert 'data-testid="submit-change"' in _page(client)
    step = lambda name: reverse("change-step", args=["CR-1", name])  # noqa: E731
    assert client.post(step("submit")).status_code == 302
    wrong = client.post(step("approve"), {"password": "nope"})
    assert wrong.status_code == 403 and "The password is not correct" in wrong.content.decode()
    signed = client.post(step("approve"), {"password": PASSWORD, "note": "Trial ok"})
    assert signed.status_code == 302
    page = _page(client)
    assert 'data-testid="signature"' in page and "signed by <strong>quinn</strong>" in page
    assert "Approved and signed by quinn" in page  # in the history
    assert client.post(step("implement"), {"note": "BOM rev C"}).status_code == 302
    assert client.post(step("verify"), {"note": "No leaks"}).status_code == 302
    assert _cr().status == "verified"


def test_page_offers_a_viewer_no_step_and_refuses_their_post(client, quinn):
    _user("vic", "viewer")
    steps.submit(_cr(), quinn)
    client.login(username="vic", password=PASSWORD)
    page = _page(client)
    assert 'data-testid="approve-change"' not in page
    assert 'data-testid="awaiting-decision"' in page
    refused = client.post(reverse("change-step", args=["CR-1", "approve"]),
                          {"password": PASSWORD})
    assert refused.status_code == 403 and _cr().status == "submitted"
