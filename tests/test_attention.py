"""What needs attention today (services/attention.py): each group's rule on hand-made records,
the dashboard's counts and links, and the record lists filtered by ``?attention=``."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from webdata import EXPECTED, build_organisation, days_ago

from qualityloop.records.customers.models import Complaint
from qualityloop.records.organisation.models import Person
from qualityloop.records.quality import models as qm
from qualityloop.services import attention
from qualityloop.services import complaints as complaint_steps
from qualityloop.services.users import add_user

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


@pytest.fixture
def org():
    return build_organisation()


def _groups(**kwargs) -> dict[str, attention.Group]:
    return {g.key: g for g in attention.needs_attention(**kwargs)}


def _ids(group: attention.Group) -> list[str]:
    return [i.external_id for i in group.items]


# --- the rules on the hand-made organisation (tests/webdata.py) ------------------------------

def test_groups_on_the_web_organisation(org):
    groups = _groups()
    assert list(groups) == ["overdue", "at-risk", "past-sla", "expiring", "awaiting-check"]
    assert groups["overdue"].count == EXPECTED["overdue_actions"] == 1
    assert _ids(groups["overdue"]) == ["A-1"]
    assert "5 days overdue" in groups["overdue"].items[0].detail
    # O-2 at risk (not due) and O-3 missed (past due); O-1 on track, O-4 achieved, O-5 cancelled
    assert groups["at-risk"].count == 2 and _ids(groups["at-risk"]) == ["O-3", "O-2"]
    assert groups["past-sla"].count == 1 and _ids(groups["past-sla"]) == ["K-1"]  # 3 days, no ack
    assert "acknowledge 1 day late" in groups["past-sla"].items[0].detail
    assert groups["expiring"].count == 0  # TR-1 has no expiry
    assert groups["awaiting-check"].count == 0


def test_overdue_actions_leave_the_list_when_done(org):
    qm.CorrectiveAction.objects.filter(external_id="A-1").update(status="done")
    groups = _groups()
    assert groups["overdue"].count == 0
    assert groups["awaiting-check"].count == 1 and _ids(groups["awaiting-check"]) == ["N-1"]
    assert "A-1" in groups["awaiting-check"].items[0].detail


def test_awaiting_check_ignores_finished_ncs(org):
    qm.CorrectiveAction.objects.filter(external_id="A-1").update(status="done")
    qm.Nonconformance.objects.filter(external_id="N-1").update(status="cancelled")
    assert _groups()["awaiting-check"].count == 0


def test_objectives_closed_by_hand_are_not_listed(org):
    qm.QualityObjective.objects.filter(external_id="O-3").update(state="missed")
    assert _ids(_groups()["at-risk"]) == ["O-2"]


def test_complaints_leave_the_list_when_acknowledged_and_return_when_resolution_is_late(org):
    quinn_user = _user("quinn", "quality-manager")
    complaint_steps.acknowledge(Complaint.objects.get(external_id="K-1"), quinn_user)
    assert _groups()["past-sla"].count == 0
    old = Complaint.objects.create(external_id="K-OLD", customer=org["c1"],
                                   received_on=days_ago(40), description="x", status="assessed",
                                   acknowledged_on=days_ago(39), assessed_on=days_ago(38))
    group = _groups()["past-sla"]
    assert _ids(group) == ["K-OLD"] and "resolve 10 days late" in group.items[0].detail
    old.resolved_on = days_ago(1)
    old.save()
    assert _groups()["past-sla"].count == 0


def test_training_expiring_expired_superseded_and_inactive(org):
    course = qm.TrainingCourse.objects.create(external_id="TC-2", title="Machine safety",
                                              course_type="safety", validity_months=12)
    ann = org["ann"]
    bob = Person.objects.get(external_id="P-BOB")
    gone = Person.objects.create(external_id="P-GONE", name="Gone", org_unit=org["plant"],
                                 active=False)

    def record(external_id, person, completed, expires):
        return qm.TrainingRecord.objects.create(
            external_id=external_id, person=person, course=course,
            completed_on=days_ago(completed), expires_on=days_ago(expires))

    record("TR-SOON", ann, 340, -20)  # expires in 20 days: listed
    record("TR-LATER", bob, 300, -60)  # in 60 days: not yet
    record("TR-OLD", bob, 700, 335)  # expired, but bob was trained again (TR-LATER)
    record("TR-EXP", gone, 400, 35)  # expired, person no longer active
    record("TR-LAPSED", ann, 900, 500)  # ann's older record, superseded by TR-SOON
    other = qm.TrainingCourse.objects.create(external_id="TC-3", title="SPC",
                                             course_type="quality_tools")
    qm.TrainingRecord.objects.create(external_id="TR-BOB-SPC", person=bob, course=other,
                                     completed_on=days_ago(800), expires_on=days_ago(70))
    group = _groups()["expiring"]
    assert _ids(group) == ["TR-BOB-SPC", "TR-SOON"]
    assert group.items[0].detail == "expired 70 days ago" and group.items[0].urgent
    assert group.items[1].detail == "expires in 20 days" and not group.items[1].urgent


def test_unit_scope(org):
    plant = _groups(unit=org["plant"])
    sales = _groups(unit=org["sales"])
    assert plant["overdue"].count == 1 and sales["overdue"].count == 0  # A-1 is on N-1 (plant)
    assert plant["past-sla"].count == 0 and sales["past-sla"].count == 1  # K-1 in sales
    assert _ids(plant["at-risk"]) == ["O-2"] and _ids(sales["at-risk"]) == ["O-3"]


def test_top_items_are_limited(org):
    for n in range(8):
        qm.CorrectiveAction.objects.create(external_id=f"A-X{n}", kind="corrective",
                                           description="x", owner=org["ann"],
                                           due_on=days_ago(20 + n), status="planned",
                                           nonconformance=org["nc1"])
    group = _groups(top=3)["overdue"]
    assert group.count == 9 and _ids(group) == ["A-X7", "A-X6", "A-X5"]  # most overdue first


# --- the dashboard and the filtered lists ------------------------------------------------------

def _user(name, role):
    add_user(name, role, password=PASSWORD)
    return get_user_model().objects.get(username=name)


@pytest.fixture
def web(client):
    _user("vera", "viewer")  # everybody may read: the viewer sees the list too
    client.login(username="vera", password=PASSWORD)
    return client


def _count_on_list(client, url) -> int:
    html = client.get(url).content.decode()
    found = re.search(r'<p class="muted count">([\d,]+) record', html)
    assert found, html[:2000]
    return int(found.group(1).replace(",", ""))


def test_dashboard_shows_each_group_with_a_link_that_lists_the_same_records(org, web):
    html = web.get(reverse("dashboard")).content.decode()
    assert 'data-testid="attention"' in html
    for group in attention.needs_attention():
        count = re.search(rf'data-testid="attention-count-{group.key}">(\d+)<', html)
        assert count and int(count.group(1)) == group.count
        link = re.search(rf'href="([^"]+)" data-testid="attention-link-{group.key}"', html)
        assert link, group.key
        url = link.group(1).replace("&amp;", "&")
        assert url == reverse("record-list", args=[group.kind]) + f"?attention={group.key}"
        assert _count_on_list(web, url) == group.count
    assert 'data-metric="open_complaints"' in html  # the existing figures stay


def test_filtered_list_shows_a_removable_chip(org, web):
    html = web.get(reverse("record-list", args=["complaints"]), {"attention": "past-sla"}
                   ).content.decode()
    assert "Needs attention" in html and "K-1" in html and "K-2" not in html
    unknown = web.get(reverse("record-list", args=["complaints"]), {"attention": "nonsense"})
    assert _count_on_list(web, unknown.wsgi_request.get_full_path()) == 3


def test_filtered_list_narrowed_to_a_unit(org, web):
    url = reverse("record-list", args=["objectives"]) + "?attention=at-risk&unit=U-PL"
    assert _count_on_list(web, url) == 1
    html = web.get(url).content.decode()
    assert "in Plant North" in html


def test_dashboard_unit_links_keep_the_unit(org, web):
    html = web.get(reverse("dashboard"), {"unit": "U-SA"}).content.decode()
    assert "?attention=past-sla&amp;unit=U-SA" in html
