"""Every change to a quality record is kept: who, when, what kind of change, old and new values."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model

from qualityloop.records.customers.models import Customer
from qualityloop.records.organisation.models import OrgUnit
from qualityloop.records.quality.models import Nonconformance
from qualityloop.services.record_kinds import KINDS, get_kind
from qualityloop.services.record_writer import delete_record, write_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def users():
    make = get_user_model().objects.create_user
    return make("ada"), make("bob"), make("cy")


@pytest.fixture
def plant():
    return OrgUnit.objects.create(external_id="U-1", name="Plant")


def save_as(record, user):
    record._history_user = user
    record.save()


def changes(newer, older) -> dict[str, tuple]:
    delta = newer.diff_against(older)
    return {change.field: (change.old, change.new) for change in delta.changes}


def test_every_kind_except_orders_keeps_history():
    without = sorted(k.name for k in KINDS if not hasattr(k.model, "history"))
    assert without == ["orders"]


def test_each_edit_adds_one_history_row_with_user_type_and_values(users, plant):
    ada, bob, cy = users
    nc = Nonconformance(
        external_id="NC-1", title="Seal leaks", org_unit=plant, detected_on=dt.date(2024, 3, 1),
        stage="production", source="inspection", severity="minor",
    )
    save_as(nc, ada)
    nc.severity = "major"
    save_as(nc, bob)
    nc.status = "root_cause"
    nc.root_cause = "Worn die"
    save_as(nc, cy)

    rows = list(nc.history.order_by("history_id"))
    assert [r.history_type for r in rows] == ["+", "~", "~"]
    assert [r.history_user for r in rows] == [ada, bob, cy]
    assert [r.severity for r in rows] == ["minor", "major", "major"]
    assert rows[0].history_date <= rows[1].history_date <= rows[2].history_date

    assert changes(rows[1], rows[0]) == {"severity": ("minor", "major")}
    second_edit = changes(rows[2], rows[1])
    assert second_edit["status"] == ("open", "root_cause")
    assert second_edit["root_cause"] == ("", "Worn die")
    assert "severity" not in second_edit
    assert rows[0].instance.severity == "minor"


def test_deleting_a_record_keeps_its_history(users, plant):
    ada, bob, _ = users
    customer = Customer(external_id="C-1", name="Acme", segment="enterprise",
                        acquired_on=dt.date(2020, 1, 1), serving_unit=plant)
    save_as(customer, ada)
    customer.name = "Acme GmbH"
    save_as(customer, ada)
    customer._history_user = bob
    customer.delete()

    assert not Customer.objects.filter(external_id="C-1").exists()
    rows = list(Customer.history.filter(external_id="C-1").order_by("history_id"))
    assert [r.history_type for r in rows] == ["+", "~", "-"]
    assert rows[-1].history_user == bob
    assert rows[-1].name == "Acme GmbH"
    assert changes(rows[1], rows[0]) == {"name": ("Acme", "Acme GmbH")}


def test_record_writer_stores_user_and_reason_and_skips_unchanged_rows(users, plant):
    ada, bob, _ = users
    kind = get_kind("customers")
    row = {"external_id": "C-9", "name": "Beta", "segment": "mid_market",
           "acquired_on": "2021-05-01", "serving_unit": "U-1"}
    write_record(kind, row, history_user=ada, change_reason="import customers.csv")
    _, status = write_record(kind, row, history_user=bob)
    assert status == "unchanged"
    write_record(kind, row | {"segment": "enterprise"}, history_user=bob, change_reason="API")
    customer = Customer.objects.get(external_id="C-9")
    delete_record(kind, customer, history_user=ada)

    rows = list(Customer.history.filter(external_id="C-9").order_by("history_id"))
    assert [(r.history_type, r.history_user, r.history_change_reason) for r in rows] == [
        ("+", ada, "import customers.csv"), ("~", bob, "API"), ("-", ada, None),
    ]
    assert changes(rows[1], rows[0]) == {"segment": ("mid_market", "enterprise")}
