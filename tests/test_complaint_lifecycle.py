"""The ISO 10002 complaint lifecycle (services/complaints.py) through the service, the complaint
page and the API: steps in order with day and who, SLA timers, satisfaction, raising an NC, and
permissions."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.urls import reverse
from webdata import build_organisation, days_ago

from qualityloop.records.accounts.models import ApiToken
from qualityloop.records.customers.models import Complaint
from qualityloop.services import complaints as svc
from qualityloop.services import permissions
from qualityloop.services.permissions import NotAllowed
from qualityloop.services.record_writer import RowInvalid
from qualityloop.services.users import add_user

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"
ROLES = ["admin", "top-management", "quality-manager", "unit-lead", "staff", "viewer"]


@pytest.fixture
def org():
    return build_organisation()


def _user(name: str, role: str):
    add_user(name, role, password=PASSWORD)
    return get_user_model().objects.get(username=name)


@pytest.fixture
def quinn():
    return _user("quinn", "quality-manager")


def _k(external_id="K-1") -> Complaint:
    return Complaint.objects.get(external_id=external_id)


def _complaint(org, external_id, age, **extra) -> Complaint:
    return Complaint.objects.create(external_id=external_id, customer=org["c1"],
                                    received_on=days_ago(age), description="Late again",
                                    org_unit=org["sales"], **extra)


def _walk(user, external_id="K-1", until="closed"):
    """Take every step of the lifecycle up to ``until`` today."""
    runs = [
        ("acknowledged", lambda c: svc.acknowledge(c, user)),
        ("assessed", lambda c: svc.assess(c, user, severity="major", handler="P-BOB")),
        ("investigated", lambda c: svc.investigate(c, user, "Carrier lost the pallet")),
        ("responded", lambda c: svc.respond(c, user, "upheld", "Credit note and re-delivery")),
        ("closed", lambda c: svc.close(c, user, satisfaction=4)),
    ]
    for status, run in runs:
        run(_k(external_id))
        if status == until:
            break
    return _k(external_id)


# --- the service ------------------------------------------------------------------------------

def test_full_lifecycle_records_day_who_and_history(org, quinn):
    k = _walk(quinn)
    today = days_ago(0)
    assert k.status == "closed"
    for step in ("acknowledged", "assessed", "investigated", "responded", "closed"):
        assert getattr(k, f"{step}_on") == today
        assert getattr(k, f"{step}_by") == quinn
    assert k.severity == "major" and k.handler.external_id == "P-BOB"
    assert k.investigation == "Carrier lost the pallet" and k.outcome == "upheld"
    assert k.resolved_on == today and k.satisfaction_with_handling == 4
    reasons = list(k.history.values_list("history_change_reason", flat=True))
    assert "Acknowledge: step taken by quinn" in reasons
    assert "Close: step taken by quinn" in reasons
    assert all(v.history_user == quinn for v in k.history.all()[:5])


def test_steps_only_in_order(org, quinn):
    with pytest.raises(RowInvalid) as refused:
        svc.respond(_k(), quinn, "upheld", "Sorry")
    assert "next step is 'acknowledge'" in refused.value.errors["status"]
    svc.acknowledge(_k(), quinn)
    with pytest.raises(RowInvalid, match="next step is 'assess'"):
        svc.acknowledge(_k(), quinn)
    k = _k()
    assert k.status == "acknowledged"


def test_closed_complaint_takes_no_more_steps(org, quinn):
    _walk(quinn)
    with pytest.raises(RowInvalid, match="closed; nothing more"):
        svc.close(_k(), quinn)


def test_step_days_not_in_the_future_nor_before_the_previous_step(org, quinn):
    with pytest.raises(RowInvalid) as future:
        svc.acknowledge(_k(), quinn, days_ago(-1))
    assert "future" in future.value.errors["acknowledged_on"]
    with pytest.raises(RowInvalid) as early:
        svc.acknowledge(_k(), quinn, days_ago(10))  # received 3 days ago
    assert "before the step before it" in early.value.errors["acknowledged_on"]
    svc.acknowledge(_k(), quinn, days_ago(2))
    with pytest.raises(RowInvalid, match="before the step before it"):
        svc.assess(_k(), quinn, days_ago(3))
    with pytest.raises(RowInvalid, match="expected a date"):
        svc.assess(_k(), quinn, "soon")
    assert _k().status == "acknowledged" and _k().assessed_by is None


def test_investigation_and_response_need_words(org, quinn):
    _walk(quinn, until="assessed")
    with pytest.raises(RowInvalid, match="what the investigation found"):
        svc.investigate(_k(), quinn, "  ")
    svc.investigate(_k(), quinn, "Found it")
    with pytest.raises(RowInvalid) as refused:
        svc.respond(_k(), quinn, "maybe", "")
    assert set(refused.value.errors) == {"outcome", "response"}


def test_unknown_handler_is_named(org, quinn):
    svc.acknowledge(_k(), quinn)
    with pytest.raises(RowInvalid) as refused:
        svc.assess(_k(), quinn, handler="P-NOBODY")
    assert "P-NOBODY" in refused.value.errors["handler"]
    assert _k().status == "acknowledged"


def test_response_without_resolution_resolves_on_closing(org, quinn):
    _walk(quinn, until="investigated")
    svc.respond(_k(), quinn, "partly_upheld", "We will replace the part next week",
                resolved=False)
    assert _k().resolved_on is None
    svc.close(_k(), quinn, days_ago(0))
    assert _k().resolved_on == days_ago(0) and _k().satisfaction_with_handling is None


def test_satisfaction_only_after_the_response(org, quinn):
    with pytest.raises(RowInvalid, match="not been responded"):
        svc.record_satisfaction(_k(), quinn, 5)
    _walk(quinn, until="responded")
    svc.record_satisfaction(_k(), quinn, 5)
    assert _k().satisfaction_with_handling == 5
    with pytest.raises(RowInvalid):
        svc.record_satisfaction(_k(), quinn, 9)


def test_raise_nc_links_both_ways_once(org, quinn):
    nc = svc.raise_nonconformance(_k(), quinn)
    assert nc.complaint == _k() and nc.source == "customer_complaint" and nc.stage == "field"
    assert list(nc.affected_customers.all()) == [org["c1"]]
    assert nc.org_unit == org["sales"] and nc.detected_on == _k().received_on
    assert list(_k().nonconformances.all()) == [nc]
    with pytest.raises(RowInvalid, match="already raised"):
        svc.raise_nonconformance(_k(), quinn)


def test_viewer_may_take_no_step(org):
    vera = _user("vera", "viewer")
    with pytest.raises(NotAllowed):
        svc.acknowledge(_k(), vera)
    with pytest.raises(NotAllowed):
        svc.raise_nonconformance(_k(), vera)
    assert _k().status == "received"


def test_staff_may_raise_a_complaint(org, client):
    sam = _user("sam", "staff")
    _, token = ApiToken.issue(sam)
    response = client.post("/api/complaints/", {
        "external_id": "K-NEW", "customer": "C-1", "received_on": days_ago(0).isoformat(),
        "description": "Box arrived wet"}, content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 201


# --- timers -----------------------------------------------------------------------------------

def test_timers_overdue_due_soon_and_met(org, quinn):
    today = days_ago(0)
    fresh = _complaint(org, "K-F", 0)
    ack, res = svc.timers(fresh, today)
    assert ack.state == "running" and ack.due_on == today + dt.timedelta(days=2)
    assert res.state == "running" and res.due_on == today + dt.timedelta(days=30)
    ack, _ = svc.timers(_complaint(org, "K-S", 1), today)
    assert ack.state == "due-soon" and ack.days_left == 1
    ack, res = svc.timers(_complaint(org, "K-O", 31), today)
    assert ack.state == "overdue" and ack.days_over == 29
    assert res.state == "overdue" and res.days_over == 1
    _, res = svc.timers(_complaint(org, "K-R", 25), today)
    assert res.state == "due-soon"  # 5 days left of 30: within the last quarter
    late = _complaint(org, "K-L", 10, status="acknowledged", acknowledged_on=days_ago(5))
    ack, res = svc.timers(late, today)
    assert ack.state == "late" and res.state == "running"
    met = _complaint(org, "K-M", 40, status="closed", acknowledged_on=days_ago(39),
                     closed_on=days_ago(20))
    ack, res = svc.timers(met, today)
    assert ack.state == "met" and res.state == "met" and res.done_on == days_ago(20)


def test_past_sla_and_due_soon_filters_agree_with_the_timers(org):
    made = [_complaint(org, f"K-T{age}", age) for age in (0, 1, 2, 3, 24, 29, 30, 31, 45)]
    _complaint(org, "K-DONE", 50, status="closed", acknowledged_on=days_ago(49),
               closed_on=days_ago(10))
    _complaint(org, "K-ACK", 5, status="acknowledged", acknowledged_on=days_ago(4))
    everything = Complaint.objects.all()
    past = set(everything.filter(svc.past_sla()).values_list("external_id", flat=True))
    soon = set(everything.filter(svc.due_soon()).values_list("external_id", flat=True))
    for c in [*made, _k("K-DONE"), _k("K-ACK"), _k("K-1")]:
        states = {t.state for t in svc.timers(c)}
        assert (c.external_id in past) == ("overdue" in states), c.external_id
        assert (c.external_id in soon) == ("due-soon" in states and "overdue" not in states), \
            c.external_id
    assert "K-T3" in past and "K-T2" not in past and "K-T31" in past


@override_settings(COMPLAINT_ACKNOWLEDGE_DAYS=5, COMPLAINT_RESOLVE_DAYS=10)
def test_service_levels_come_from_the_settings(org):
    ack, res = svc.timers(_complaint(org, "K-X", 6))
    assert ack.days == 5 and ack.state == "overdue" and res.days == 10
    assert Complaint.objects.filter(svc.past_sla(), external_id="K-X").exists()


# --- the page ---------------------------------------------------------------------------------

@pytest.fixture
def web(client, quinn):
    client.login(username="quinn", password=PASSWORD)
    return client


def _page(client, external_id="K-1") -> str:
    return client.get(reverse("record-detail", args=["complaints", external_id])
                      ).content.decode()


def test_page_shows_the_panel_timers_and_next_step(org, web):
    _complaint(org, "K-OLD", 40)
    html = _page(web, "K-OLD")
    assert 'data-testid="complaint-workflow"' in html
    assert 'data-testid="timer-acknowledge" data-state="overdue"' in html
    assert 'name="step" value="acknowledged"' in html


def test_page_walks_the_lifecycle(org, web):
    url = reverse("complaint-step", args=["K-1"])
    forms = [
        {"step": "acknowledged"},
        {"step": "assessed", "severity": "major", "handler": "P-BOB"},
        {"step": "investigated", "investigation": "Carrier lost the pallet"},
        {"step": "responded", "outcome": "upheld", "response": "Credit note", "resolved": "yes"},
        {"step": "closed", "satisfaction": "5"},
    ]
    for form in forms:
        response = web.post(url, form)
        assert response.status_code == 302, form
        assert _k().status == form["step"]
    html = _page(web)
    assert "Closed on" in html and "quinn" in html and 'data-testid="satisfaction"' in html
    assert "Close: step taken by quinn" in html  # history


def test_page_out_of_order_step_is_refused_with_a_message(org, web):
    response = web.post(reverse("complaint-step", args=["K-1"]),
                        {"step": "closed"})
    assert response.status_code == 400
    assert 'data-testid="step-refused"' in response.content.decode()
    assert _k().status == "received"


def test_htmx_step_swaps_the_page(org, web):
    response = web.post(reverse("complaint-step", args=["K-1"]), {"step": "acknowledged"},
                        HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and 'name="step" value="assessed"' in (
        response.content.decode())


def test_page_raises_an_nc_in_one_click(org, web):
    response = web.post(reverse("complaint-raise-nc", args=["K-1"]))
    nc = _k().nonconformances.get()
    assert response.status_code == 302 and response["Location"].endswith(
        f"/records/nonconformances/{nc.external_id}/")
    html = _page(web)
    assert 'data-testid="linked-nc"' in html and 'data-testid="raise-nc"' not in html
    nc_page = web.get(response["Location"]).content.decode()
    assert "/records/complaints/K-1/" in nc_page  # and back


def test_viewer_sees_the_panel_without_forms_and_is_refused(org, client):
    _user("vera", "viewer")
    client.login(username="vera", password=PASSWORD)
    html = _page(client)
    assert 'data-testid="complaint-workflow"' in html
    assert 'data-testid="step-form"' not in html and 'data-testid="raise-nc"' not in html
    assert client.post(reverse("complaint-step", args=["K-1"]),
                       {"step": "acknowledged"}).status_code == 403
    assert client.post(reverse("complaint-raise-nc", args=["K-1"])).status_code == 403
    assert _k().status == "received" and not _k().nonconformances.exists()


# --- the API ----------------------------------------------------------------------------------

@pytest.fixture
def api(client, quinn):
    _, token = ApiToken.issue(quinn)
    return lambda path, body=None: client.post(
        f"/api/complaints/K-1{path}", body or {}, content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}")


def test_api_walks_the_lifecycle(org, api):
    assert api("/acknowledge").json()["status"] == "acknowledged"
    assert api("/assess", {"severity": "critical"}).json()["severity"] == "critical"
    assert api("/investigate", {"findings": "Wrong address"}).json()["investigation"] == (
        "Wrong address")
    responded = api("/respond", {"outcome": "rejected", "response": "Address was given wrong"})
    assert responded.status_code == 200 and responded.json()["outcome"] == "rejected"
    closed = api("/close", {"satisfaction": 2})
    assert closed.status_code == 200 and closed.json()["satisfaction_with_handling"] == 2
    assert _k().closed_by.username == "quinn"


def test_api_obeys_the_same_rules(org, api):
    early = api("/respond", {"outcome": "upheld", "response": "x"})
    assert early.status_code == 422
    assert "next step is 'acknowledge'" in early.json()["detail"][0]["message"]
    future = api("/acknowledge", {"on": days_ago(-2).isoformat()})
    assert future.status_code == 422 and future.json()["detail"][0]["column"] == (
        "acknowledged_on")
    assert _k().status == "received"


def test_api_raise_nc_and_timers(org, api, client):
    raised = api("/nonconformance")
    assert raised.status_code == 201 and raised.json()["complaint"] == "K-1"
    assert api("/nonconformance").status_code == 422
    _, token = ApiToken.issue(get_user_model().objects.get(username="quinn"))
    timers = client.get("/api/complaints/K-1/timers", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert timers.status_code == 200
    assert [t["name"] for t in timers.json()["timers"]] == ["acknowledge", "resolve"]
    assert timers.json()["next_step"] == "acknowledged"


@pytest.mark.parametrize("role", ROLES)
def test_api_steps_follow_the_permission_table(org, client, role):
    user = _user("someone", role)
    _, token = ApiToken.issue(user)
    allowed = permissions.may_object(user, _k(), permissions.Action.CHANGE)
    response = client.post("/api/complaints/K-1/acknowledge", {},
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == (200 if allowed else 403)
    assert (_k().status == "acknowledged") == allowed
    if role in ("admin", "top-management", "quality-manager"):
        assert allowed
    if role == "viewer":
        assert not allowed


def test_complaint_list_flags_the_service_level(org, web):
    _complaint(org, "K-SOON", 1)
    html = web.get(reverse("record-list", args=["complaints"])).content.decode()
    assert "Service level" in html
    assert "Overdue: acknowledge" in html  # K-1: three days without acknowledgement
    assert "Due soon: acknowledge" in html  # K-SOON: due tomorrow


def test_assess_form_offers_people_and_units(org, web, quinn, monkeypatch):
    svc.acknowledge(_k(), quinn)
    html = _page(web)
    assert '<select name="handler"' in html and 'value="P-BOB"' in html
    assert '<select name="org_unit"' in html
    from qualityloop.web.forms import records as record_forms

    monkeypatch.setattr(record_forms, "SELECT_LIMIT", 1)  # many people: typed with search help
    html = _page(web)
    assert 'id="options-id_handler"' in html
    found = web.get(reverse("record-search", args=["complaints", "handler"]),
                    {"search-handler": "bob"})
    assert 'data-id="P-BOB"' in found.content.decode()
    web.post(reverse("complaint-step", args=["K-1"]),
             {"step": "assessed", "severity": "critical", "handler": "P-BOB",
              "org_unit": "U-PL"})
    k = _k()
    assert k.status == "assessed" and k.org_unit.external_id == "U-PL"
    assert k.handler.external_id == "P-BOB" and k.severity == "critical"
