"""Staff take the complaints they handle through their steps, not close them (docs/roles.md).
The steps refuse them the close (tests/test_browser_staff_work.py), and so do the generic edit
paths: a status set to "closed" by PATCH or the edit form is the close step
(permissions.STEP_STATUSES)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from webdata import build_organisation

from qualityloop.records.customers.models import Complaint
from qualityloop.records.organisation.models import Person
from qualityloop.services import complaints
from qualityloop.services.permissions import NotAllowed
from qualityloop.services.users import add_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def handler():
    """A staff login whose person handles complaint K-1 of the web organisation."""
    build_organisation()
    token = add_user("ann", "staff", password="correct-horse-battery").token
    user = get_user_model().objects.get(username="ann")
    Person.objects.filter(external_id="P-ANN").update(user=user)
    Complaint.objects.filter(external_id="K-1").update(
        handler=Person.objects.get(external_id="P-ANN"))
    return user, token


def test_the_handler_takes_the_steps_but_not_the_close(handler):
    user, _ = handler
    complaint = Complaint.objects.get(external_id="K-1")
    complaints.acknowledge(complaint, user)
    complaints.assess(complaint, user)
    complaints.investigate(complaint, user, "Carrier delay")
    complaints.respond(complaint, user, "upheld", "Credit note")
    with pytest.raises(NotAllowed):
        complaints.close(complaint, user)
    assert Complaint.objects.get(external_id="K-1").status == "responded"


def test_the_handler_cannot_close_by_setting_the_status(handler, client):
    _, token = handler
    today = timezone.localdate().isoformat()
    answer = client.patch("/api/complaints/K-1",
                          {"status": "closed", "closed_on": today, "resolved_on": today},
                          content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert answer.status_code == 403
    assert Complaint.objects.get(external_id="K-1").status != "closed"


def test_the_handler_cannot_close_through_the_edit_form(handler, client):
    from django.urls import reverse

    from qualityloop.services import record_kinds

    user, _ = handler
    client.force_login(user)
    complaint = Complaint.objects.get(external_id="K-1")
    row = record_kinds.rows(record_kinds.get_kind("complaints"), [complaint])[0]
    today = timezone.localdate().isoformat()
    form = {name: ("" if value is None else value) for name, value in row.items()}
    form.update(status="closed", closed_on=today, resolved_on=today)
    answer = client.post(reverse("record-edit", args=["complaints", "K-1"]), form)
    assert answer.status_code == 403
    assert Complaint.objects.get(external_id="K-1").status != "closed"
    form.update(status="acknowledged", closed_on="", resolved_on="",
                acknowledged_on=today)
    assert client.post(reverse("record-edit", args=["complaints", "K-1"]), form).status_code in (
        200, 302)
    assert Complaint.objects.get(external_id="K-1").status == "acknowledged"
