"""My work (services/attention.py ``my_work``) and its panel on the dashboard: the open actions
the user's person owns and the open complaints they handle, each a link."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from webdata import build_organisation, days_ago

from qualityloop.records.customers.models import Complaint
from qualityloop.records.organisation.models import Person
from qualityloop.records.quality import models as qm
from qualityloop.services import attention
from qualityloop.services.users import add_user

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


def _user(name: str, role: str, person: str | None = None):
    add_user(name, role, password=PASSWORD)
    user = get_user_model().objects.get(username=name)
    if person:
        Person.objects.filter(external_id=person).update(user=user)
    return user


@pytest.fixture
def org():
    found = build_organisation()
    ann = Person.objects.get(external_id="P-ANN")
    Complaint.objects.filter(external_id__in=["K-1", "K-2"]).update(handler=ann)  # K-2 closed
    return found


def _ids(work: attention.MyWork) -> dict[str, list[str]]:
    return {g.kind: [i.external_id for i in g.items] for g in work.groups}


def test_my_work_lists_open_actions_owned_and_open_complaints_handled(org):
    work = attention.my_work(_user("ann", "staff", "P-ANN"))
    assert work.person.external_id == "P-ANN"
    assert _ids(work) == {"actions": ["A-1", "A-2"], "complaints": ["K-1"]}
    counts = {g.kind: (g.key, g.count) for g in work.groups}
    assert counts == {"actions": ("owner", 2), "complaints": ("handler", 1)}
    actions = work.groups[0].items
    assert actions[0].urgent and "5 days overdue" in actions[0].detail
    assert "N-1" in actions[0].detail
    assert not actions[1].urgent
    assert "next: acknowledge" in work.groups[1].items[0].detail


def test_finished_work_leaves_my_list(org):
    qm.CorrectiveAction.objects.filter(external_id="A-1").update(status="done")
    Complaint.objects.filter(external_id="K-1").update(status="closed", closed_on=days_ago(0))
    assert _ids(attention.my_work(_user("ann", "staff", "P-ANN"))) == {
        "actions": ["A-2"], "complaints": []}


def test_a_login_without_a_person_has_no_work_and_staff_are_told(org):
    staff = attention.my_work(_user("sam", "staff"))
    assert staff.person is None and staff.groups == [] and staff.unlinked_staff
    assert not attention.my_work(_user("quinn", "quality-manager")).unlinked_staff


def test_dashboard_shows_my_work_with_links(org, client):
    client.force_login(_user("ann", "staff", "P-ANN"))
    html = client.get("/").content.decode()
    assert 'data-testid="my-work"' in html and 'data-person="P-ANN"' in html
    assert 'href="/records/actions/A-1/"' in html and 'href="/records/complaints/K-1/"' in html
    assert 'href="/records/complaints/?handler=P-ANN"' in html
    assert 'href="/records/complaints/K-2/"' not in html.split('data-testid="my-work"')[1].split(
        "</section>")[0]


def test_dashboard_tells_unlinked_staff_and_hides_my_work_from_others(org, client):
    quinn = _user("quinn", "quality-manager")
    client.force_login(_user("sam", "staff"))
    assert 'data-testid="my-work-unlinked"' in client.get("/").content.decode()
    client.force_login(quinn)
    assert 'data-testid="my-work"' not in client.get("/").content.decode()


def test_the_list_behind_my_work_is_narrowed_to_my_person(org, client):
    client.force_login(_user("ann", "staff", "P-ANN"))
    html = client.get("/records/complaints/?handler=P-ANN").content.decode()
    assert "/records/complaints/K-1/" in html and "/records/complaints/K-3/" not in html
