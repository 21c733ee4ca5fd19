"""The demo has a login per role, and each role meets the records it may work on."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from qualityloop.records.organisation.models import Person
from qualityloop.records.quality.models import CorrectiveAction, Nonconformance
from qualityloop.services import permissions
from qualityloop.services.demo import ROLE_LOGINS, generate_demo

AS_OF = dt.date(2026, 11, 25)


def _logged_in(username: str, password: str) -> Client:
    client = Client()
    assert client.login(username=username, password=password), username
    return client


@pytest.mark.django_db
def test_every_role_has_a_demo_login_that_meets_its_records():
    demo = generate_demo(n_customers=300, seed=3, as_of=AS_OF).as_dict()
    roles = {who["role"]: who for who in demo["role_logins"]}
    assert set(roles) == {"quality-manager", "unit-lead", "staff"}
    for who in demo["role_logins"]:
        user = get_user_model().objects.get(username=who["username"])
        assert user.check_password(who["password"]) and user.profile.role == who["role"]
    assert [(w["username"], w["role"], w["password"]) for w in demo["role_logins"]] == list(
        ROLE_LOGINS)
    lead = get_user_model().objects.get(username=roles["unit-lead"]["username"])
    assert lead.profile.org_unit.external_id == roles["unit-lead"]["unit"]
    staff_person = Person.objects.get(user__username=roles["staff"]["username"])
    assert staff_person.external_id == roles["staff"]["person"]
    _staff_work_on_their_actions_and_the_lead_on_their_unit(roles)


def _staff_work_on_their_actions_and_the_lead_on_their_unit(roles: dict) -> None:
    staff = get_user_model().objects.get(username=roles["staff"]["username"])
    own = CorrectiveAction.objects.filter(owner__user=staff)
    assert own.exists()
    assert permissions.may_object(staff, own.first(), "change")
    other = CorrectiveAction.objects.exclude(owner__user=staff).first()
    assert not permissions.may_object(staff, other, "change")

    lead = get_user_model().objects.get(username=roles["unit-lead"]["username"])
    unit_ncs = Nonconformance.objects.filter(org_unit=lead.profile.org_unit)
    assert unit_ncs.exists()
    assert permissions.may_object(lead, unit_ncs.first(), "change")
    elsewhere = Nonconformance.objects.exclude(
        org_unit__in=permissions.units_of(lead)).first()
    assert not permissions.may_object(lead, elsewhere, "change")

    page = _logged_in(roles["staff"]["username"], roles["staff"]["password"])
    action = own.first()
    assert page.get(f"/records/actions/{action.external_id}/edit/").status_code == 200
    assert page.get(f"/records/actions/{other.external_id}/edit/").status_code == 403
