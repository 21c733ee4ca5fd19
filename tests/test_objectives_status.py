"""Objective status (services/objectives.py): the trajectory rule, the roll-up, measurement entry
from the objective page, the cascade page and the status column of the list."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from webdata import EXPECTED, build_organisation, days_ago

from qualityloop.records.quality.models import ObjectiveMeasurement, QualityObjective
from qualityloop.services import metrics
from qualityloop.services import objectives as svc
from qualityloop.services.permissions import NotAllowed
from qualityloop.services.record_writer import RowInvalid
from qualityloop.services.users import add_user

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"
S = svc.Status


@pytest.fixture
def org():
    return build_organisation()


def _user(name: str, role: str):
    add_user(name, role, password=PASSWORD)
    return get_user_model().objects.get(username=name)


def _objective(org, external_id, direction="increase", baseline=50.0, target=90.0,
               start=100, due=-100, parent=None, unit="plant", state="active", tolerance=0.0):
    """Start 100 days ago, due in 100 days: halfway through on the day of a test."""
    return QualityObjective.objects.create(
        external_id=external_id, title=external_id, org_unit=org[unit], owner=org["ann"],
        kpi="kpi", direction=direction, baseline=baseline, target=target, tolerance=tolerance,
        start_on=days_ago(start), due_on=days_ago(due), parent=parent, state=state)


def _measure(objective, value, age=0):
    return ObjectiveMeasurement.objects.create(
        external_id=f"{objective.external_id}-{age}-{value}", objective=objective,
        measured_on=days_ago(age), value=value)


def _status(objective):
    return svc.status_of(objective)


# --- the trajectory -------------------------------------------------------------------------

def test_expected_value_is_a_straight_line_from_baseline_to_target(org):
    o = _objective(org, "OB-1")
    assert svc.expected_value(o, days_ago(100)) == pytest.approx(50.0)
    assert svc.expected_value(o, days_ago(0)) == pytest.approx(70.0)  # halfway
    assert svc.expected_value(o, days_ago(-100)) == pytest.approx(90.0)
    assert svc.expected_value(o, days_ago(-400)) == pytest.approx(90.0)  # after due: the target


@pytest.mark.parametrize(("value", "expected"), [(71.0, S.ON_TRACK), (70.0, S.ON_TRACK),
                                                 (69.0, S.AT_RISK), (95.0, S.ON_TRACK)])
def test_increase_objective_against_the_trajectory(org, value, expected):
    o = _objective(org, "OB-1")
    _measure(o, value)
    assert _status(o).own == expected


@pytest.mark.parametrize(("value", "expected"), [(14.0, S.ON_TRACK), (16.0, S.AT_RISK)])
def test_decrease_objective_against_the_trajectory(org, value, expected):
    o = _objective(org, "OB-D", direction="decrease", baseline=20.0, target=10.0)  # 15 today
    _measure(o, value)
    assert _status(o).own == expected


def test_the_trajectory_is_read_on_the_day_of_the_measurement(org):
    o = _objective(org, "OB-1")
    _measure(o, 61.0, age=50)  # planned 60 fifty days ago: on track then
    status = _status(o)
    assert status.own == S.ON_TRACK and status.expected == pytest.approx(60.0)
    assert status.latest_on == days_ago(50)


def test_without_baseline_only_meeting_the_target_is_on_track(org):
    o = _objective(org, "OB-N", baseline=None)
    _measure(o, 89.0)
    assert _status(o).own == S.AT_RISK
    _measure(o, 90.0, age=-0)  # same day, newer record wins
    assert svc.statuses(days_ago(0))[o.pk].latest_value in (89.0, 90.0)


def test_nothing_measured_is_at_risk_then_missed(org):
    running = _objective(org, "OB-R")
    over = _objective(org, "OB-O", start=300, due=10)
    assert _status(running).own == S.AT_RISK
    assert _status(over).own == S.MISSED


def test_after_the_due_date_achieved_or_missed(org):
    good = _objective(org, "OB-G", start=300, due=10)
    bad = _objective(org, "OB-B", start=300, due=10)
    _measure(good, 91.0, age=12)
    _measure(bad, 80.0, age=12)
    assert _status(good).own == S.ACHIEVED
    assert _status(bad).own == S.MISSED


def test_maintain_uses_the_tolerance(org):
    o = _objective(org, "OB-M", direction="maintain", target=5.0, tolerance=0.5)
    _measure(o, 5.4)
    assert _status(o).own == S.ON_TRACK
    _measure(o, 5.6, age=-0)
    o2 = _objective(org, "OB-M2", direction="maintain", target=5.0, tolerance=0.5)
    _measure(o2, 5.6)
    assert _status(o2).own == S.AT_RISK


def test_hand_set_states_win_and_cancelled_has_no_status(org):
    assert _status(_objective(org, "OB-A", state="achieved")).own == S.ACHIEVED
    assert _status(_objective(org, "OB-X", state="missed")).own == S.MISSED
    assert _status(_objective(org, "OB-C", state="cancelled")) is None


def test_later_measurements_are_ignored_as_of_an_earlier_day(org):
    o = _objective(org, "OB-1")
    _measure(o, 40.0, age=20)
    _measure(o, 95.0, age=0)
    assert svc.statuses(days_ago(10))[o.pk].own == S.AT_RISK
    assert svc.statuses(days_ago(0))[o.pk].own == S.ON_TRACK


# --- the roll-up ----------------------------------------------------------------------------

def _family(org, child_values):
    parent = _objective(org, "OB-P", unit="company")
    _measure(parent, 80.0)  # on track by its own measurement
    for n, value in enumerate(child_values):
        child = _objective(org, f"OB-K{n}", parent=parent)
        if value is not None:
            _measure(child, value)
    return parent


def test_parent_keeps_its_own_status_when_children_are_on_track(org):
    parent = _family(org, [80.0, 75.0, 90.0, 72.0, 71.0])
    status = _status(parent)
    assert status.own == status.rolled_up == S.ON_TRACK
    assert status.children == {"on_track": 5}


def test_parent_is_at_risk_when_too_few_children_are_on_track(org):
    parent = _family(org, [80.0, 75.0, 90.0, 60.0])  # 3 of 4 = 75 % < 80 %
    status = _status(parent)
    assert status.own == S.ON_TRACK and status.rolled_up == S.AT_RISK
    assert "1 at risk" in status.reason


def test_four_of_five_on_track_is_enough(org):
    parent = _family(org, [80.0, 75.0, 90.0, 71.0, 60.0])  # 80 %
    assert _status(parent).rolled_up == S.ON_TRACK


def test_one_missed_child_puts_the_parent_at_risk(org):
    parent = _objective(org, "OB-P", unit="company")
    _measure(parent, 80.0)
    for n in range(5):
        _measure(_objective(org, f"OB-K{n}", parent=parent), 80.0)
    _objective(org, "OB-LATE", parent=parent, start=300, due=5)  # no measurement, past due
    assert _status(parent).rolled_up == S.AT_RISK


def test_roll_up_goes_through_grandchildren(org):
    top = _objective(org, "OB-TOP", unit="company")
    _measure(top, 80.0)
    middle = _objective(org, "OB-MID", parent=top)
    _measure(middle, 80.0)
    _objective(org, "OB-LOW", parent=middle)  # nothing measured: at risk
    assert _status(middle).rolled_up == S.AT_RISK
    assert _status(top).rolled_up == S.AT_RISK


def test_a_finished_parent_keeps_its_final_status(org):
    parent = _objective(org, "OB-P", unit="company", state="achieved")
    _objective(org, "OB-K", parent=parent)
    assert _status(parent).rolled_up == S.ACHIEVED


def test_roll_up_rule_directly():
    assert svc.roll_up(S.ON_TRACK, [])[0] == S.ON_TRACK
    assert svc.roll_up(S.AT_RISK, [S.ON_TRACK] * 5)[0] == S.AT_RISK  # own status stays
    assert svc.roll_up(S.ON_TRACK, [S.ACHIEVED, S.ON_TRACK])[0] == S.ON_TRACK
    assert svc.roll_up(S.MISSED, [S.ON_TRACK])[0] == S.MISSED


# --- dashboard figures keep their meaning ----------------------------------------------------

def test_dashboard_figures_use_the_same_rule(org):
    counts = metrics.objective_status()
    assert counts == {"on_track": EXPECTED["objectives_on_track"],
                      "at_risk": EXPECTED["objectives_at_risk"],
                      "missed": EXPECTED["objectives_missed"]}
    o = _objective(org, "OB-1")
    _measure(o, 71.0)  # behind the target but on the trajectory
    assert metrics.objective_status()["on_track"] == EXPECTED["objectives_on_track"] + 1


# --- measurement entry -----------------------------------------------------------------------

def test_add_measurement_writes_history_and_changes_the_status(org):
    quinn = _user("quinn", "quality-manager")
    o = _objective(org, "OB-1")
    assert _status(o).own == S.AT_RISK
    added = svc.add_measurement(o, quinn, days_ago(0).isoformat(), "75", "Monthly check")
    assert added.external_id == "OB-1-M1" and added.value == 75.0
    assert added.history.first().history_user == quinn
    assert _status(o).own == S.ON_TRACK
    assert svc.add_measurement(o, quinn, days_ago(1), 74.0).external_id == "OB-1-M2"


def test_add_measurement_refuses_bad_values_and_future_days(org):
    quinn = _user("quinn", "quality-manager")
    o = _objective(org, "OB-1")
    with pytest.raises(RowInvalid) as bad:
        svc.add_measurement(o, quinn, days_ago(0), "lots")
    assert "expected a number" in bad.value.errors["value"]
    with pytest.raises(RowInvalid, match="future"):
        svc.add_measurement(o, quinn, days_ago(-3), 70)
    with pytest.raises(RowInvalid, match="expected a date"):
        svc.add_measurement(o, quinn, "yesterday", 70)
    assert not o.measurements.exists()


def test_viewer_may_not_add_measurements(org):
    vera = _user("vera", "viewer")
    with pytest.raises(NotAllowed):
        svc.add_measurement(_objective(org, "OB-1"), vera, days_ago(0), 70)


# --- pages -----------------------------------------------------------------------------------

@pytest.fixture
def web(client):
    _user("quinn", "quality-manager")
    client.login(username="quinn", password=PASSWORD)
    return client


def test_objective_page_shows_status_and_takes_a_measurement(org, web):
    o = _objective(org, "OB-1")
    url = reverse("record-detail", args=["objectives", "OB-1"])
    html = web.get(url).content.decode()
    assert 'data-testid="objective-status"' in html and 'data-status="at_risk"' in html
    posted = web.post(reverse("objective-add-measurement", args=["OB-1"]),
                      {"measured_on": days_ago(0).isoformat(), "value": "72", "note": "ok"})
    assert posted.status_code == 302
    html = web.get(url).content.decode()
    assert 'data-status="on_track"' in html and ">72<" in html
    assert o.measurements.count() == 1


def test_measurement_form_errors_are_shown(org, web):
    _objective(org, "OB-1")
    response = web.post(reverse("objective-add-measurement", args=["OB-1"]),
                        {"measured_on": days_ago(0).isoformat(), "value": "abc"})
    assert response.status_code == 400
    assert 'data-testid="measurement-error"' in response.content.decode()


def test_viewer_sees_status_without_the_form(org, client):
    _objective(org, "OB-1")
    _user("vera", "viewer")
    client.login(username="vera", password=PASSWORD)
    html = client.get(reverse("record-detail", args=["objectives", "OB-1"])).content.decode()
    assert 'data-testid="objective-status"' in html
    assert 'data-testid="measurement-form"' not in html
    refused = client.post(reverse("objective-add-measurement", args=["OB-1"]),
                          {"measured_on": days_ago(0).isoformat(), "value": "72"})
    assert refused.status_code == 403


def test_cascade_page_shows_the_tree_with_statuses(org, web):
    parent = _family(org, [80.0, 60.0])
    html = web.get(reverse("objectives-cascade")).content.decode()
    assert 'data-testid="cascade"' in html
    assert f'data-objective="{parent.external_id}"' in html
    assert 'data-objective="OB-K0"' in html and 'data-objective="OB-K1"' in html
    assert html.index('data-objective="OB-P"') < html.index('data-objective="OB-K0"')
    assert "<svg" in html and 'class="sparkline"' in html


def test_cascade_unit_filter(org, web):
    _family(org, [80.0])  # parent in the company, child in the plant
    _objective(org, "OB-SALES", unit="sales")
    html = web.get(reverse("objectives-cascade"), {"unit": "U-SA"}).content.decode()
    assert 'data-objective="OB-SALES"' in html
    assert 'data-objective="OB-K0"' not in html and 'data-objective="OB-P"' not in html


def test_objective_list_has_the_computed_status(org, web):
    html = web.get(reverse("record-list", args=["objectives"])).content.decode()
    assert "Status (computed)" in html
    assert "At risk" in html and "Missed" in html


def test_nothing_dated_in_the_future_counts(org):
    o = _objective(org, "OB-1")
    ObjectiveMeasurement.objects.create(external_id="F", objective=o,
                                        measured_on=days_ago(0) + dt.timedelta(days=5), value=99)
    assert _status(o).latest_value is None


# --- the API -----------------------------------------------------------------------------------

def test_api_status_and_measurement_through_the_generic_operations(org, client):
    from qualityloop.records.accounts.models import ApiToken

    _, token = ApiToken.issue(_user("quinn", "quality-manager"))
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    parent = _family(org, [80.0, 60.0])
    got = client.get(f"/api/objectives/{parent.external_id}/status", **auth).json()
    assert got["status"] == "at_risk" and got["own_status"] == "on_track"
    assert got["children"] == {"on_track": 1, "at_risk": 1}
    added = client.post("/api/objective-measurements/", {
        "external_id": "OB-K1-M9", "objective": "OB-K1", "measured_on": days_ago(0).isoformat(),
        "value": 75}, content_type="application/json", **auth)
    assert added.status_code == 201
    got = client.get(f"/api/objectives/{parent.external_id}/status", **auth).json()
    assert got["status"] == "on_track"
    earlier = client.get(f"/api/objectives/{parent.external_id}/status",
                         {"as_of": days_ago(1).isoformat()}, **auth).json()
    assert earlier["latest_value"] is None and earlier["status"] == "at_risk"
    assert client.get("/api/objectives/NOPE/status", **auth).status_code == 404
