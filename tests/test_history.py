"""Every change to a quality record is kept: who, when, what kind of change, old and new values."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from qualityloop.records.base import save_with_links
from qualityloop.records.customers.models import Customer
from qualityloop.records.organisation.models import OrgUnit
from qualityloop.records.quality.models import Nonconformance
from qualityloop.services.importing import import_file
from qualityloop.services.record_kinds import KINDS, get_kind
from qualityloop.services.record_writer import delete_record, write_record
from qualityloop.services.users import add_user

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


# --- Many-to-many links ----------------------------------------------------------------------


@pytest.fixture
def linked(plant):
    """Two customers and a nonconformance linked to the first one."""
    customers = [
        Customer.objects.create(external_id=f"C-{i}", name=f"Customer {i}", segment="enterprise",
                                acquired_on=dt.date(2020, 1, 1), serving_unit=plant)
        for i in (1, 2)
    ]
    nc = Nonconformance.objects.create(
        external_id="NC-1", title="Seal leaks", org_unit=plant, detected_on=dt.date(2024, 3, 1),
        stage="production", source="inspection", severity="minor",
    )
    nc.affected_customers.add(customers[0])
    return nc, customers


def link_ids(version, field: str) -> list[str]:
    return sorted(getattr(version, field).values_list(f"{_target(version, field)}__external_id",
                                                      flat=True))


def _target(version, field: str) -> str:
    return version.instance_type._meta.get_field(field).m2m_reverse_field_name()


def test_every_many_to_many_field_of_a_record_is_tracked():
    tracked = {
        (k.model.__name__, field.name)
        for k in KINDS if hasattr(k.model, "history")
        for field in k.model.history.model._history_m2m_fields
    }
    declared = {
        (k.model.__name__, field.name) for k in KINDS for field in k.model._meta.many_to_many
        if k.name != "orders"
    }
    assert tracked == declared
    assert declared == {
        ("Nonconformance", "affected_customers"), ("ChangeRequest", "related_nonconformances"),
        ("ChangeRequest", "related_objectives"), ("ManagementReview", "attendees"),
        ("DesignStageReview", "customer_participants"),
    }


def test_adding_and_removing_a_link_adds_versions_with_user_and_links(users, linked):
    ada, bob, _ = users
    nc, (first, second) = linked
    nc._history_user = ada
    nc.affected_customers.add(second)
    nc._history_user = bob
    nc.affected_customers.remove(first)

    rows = list(nc.history.order_by("history_id"))
    assert [(r.history_type, r.history_user) for r in rows[-2:]] == [("~", ada), ("~", bob)]
    assert [link_ids(r, "affected_customers") for r in rows] == [
        [], ["C-1"], ["C-1", "C-2"], ["C-2"],
    ]
    added = rows[2].diff_against(rows[1])
    assert added.changed_fields == ["affected_customers"]
    change = added.changes[0]
    assert [row["customer"] for row in change.old] == [first.pk]
    assert [row["customer"] for row in change.new] == [first.pk, second.pk]


def test_a_link_changed_from_the_other_side_is_kept_on_the_owning_record(users, linked):
    ada, _, _ = users
    nc, (_, second) = linked
    customer_versions = second.history.count()
    second._history_user = ada
    second.nonconformances.add(nc)

    latest = nc.history.first()
    assert (latest.history_user, link_ids(latest, "affected_customers")) == (ada, ["C-1", "C-2"])
    assert second.history.count() == customer_versions
    second.nonconformances.clear()
    assert link_ids(nc.history.first(), "affected_customers") == ["C-1"]


def test_save_with_links_keeps_one_version_per_write(users, linked, plant):
    ada, _, _ = users
    nc, (first, second) = linked
    before = nc.history.count()
    nc._history_user = ada
    assert save_with_links(nc, {"affected_customers": [second.pk]}, save_fields=False)
    assert nc.history.count() == before + 1
    assert (nc.history.first().history_user, link_ids(nc.history.first(), "affected_customers")) \
        == (ada, ["C-2"])
    assert not save_with_links(nc, {"affected_customers": [second.pk]}, save_fields=False)
    assert nc.history.count() == before + 1

    new = Nonconformance(external_id="NC-2", title="Burr", org_unit=plant, stage="production",
                         detected_on=dt.date(2024, 4, 1), source="inspection", severity="minor")
    save_with_links(new, {"affected_customers": [first.pk, second.pk]})
    assert [(r.history_type, link_ids(r, "affected_customers")) for r in new.history.all()] == [
        ("+", ["C-1", "C-2"]),
    ]


def test_writing_only_a_link_column_adds_a_version_and_rewriting_adds_none(users, linked):
    ada, _, _ = users
    nc, _ = linked
    kind = get_kind("nonconformances")
    before = nc.history.count()
    _, status = write_record(kind, {"external_id": "NC-1", "affected_customers": "C-1;C-2"},
                             partial=True, history_user=ada, change_reason="API")
    assert status == "updated"
    latest = nc.history.first()
    assert (latest.history_user, latest.history_change_reason) == (ada, "API")
    assert link_ids(latest, "affected_customers") == ["C-1", "C-2"]
    assert nc.history.count() == before + 1

    _, status = write_record(kind, {"external_id": "NC-1", "affected_customers": "C-2;C-1"},
                             partial=True, history_user=ada)
    assert status == "unchanged"
    assert nc.history.count() == before + 1


def test_one_write_of_fields_and_links_is_one_version(users, linked, plant):
    ada, _, _ = users
    nc, _ = linked
    kind = get_kind("nonconformances")
    before = nc.history.count()
    write_record(kind, {"external_id": "NC-1", "severity": "major", "affected_customers": "C-2"},
                 partial=True, history_user=ada)
    assert nc.history.count() == before + 1
    latest = nc.history.first()
    assert (latest.severity, link_ids(latest, "affected_customers")) == ("major", ["C-2"])

    created, _ = write_record(kind, {
        "external_id": "NC-3", "title": "Scratch", "org_unit": plant.external_id,
        "detected_on": "2024-05-01", "stage": "delivery", "source": "inspection",
        "severity": "minor", "affected_customers": "C-1;C-2",
    }, history_user=ada)
    assert [(v.history_type, link_ids(v, "affected_customers"))
            for v in created.history.all()] == [("+", ["C-1", "C-2"])]


def test_importing_only_a_link_column_is_kept_and_reimporting_adds_nothing(linked, tmp_path):
    nc, _ = linked
    path = tmp_path / "ncs.csv"
    path.write_text(
        "external_id,title,org_unit,detected_on,stage,source,severity,affected_customers\n"
        "NC-1,Seal leaks,U-1,2024-03-01,production,inspection,minor,C-1;C-2\n", encoding="utf-8")
    before = nc.history.count()
    assert import_file("nonconformances", path).updated == 1
    assert nc.history.count() == before + 1
    assert link_ids(nc.history.first(), "affected_customers") == ["C-1", "C-2"]
    assert import_file("nonconformances", path).unchanged == 1
    assert nc.history.count() == before + 1


def test_detail_page_and_api_show_link_changes_as_external_ids(client, linked):
    nc, (_, second) = linked
    quinn = add_user("quinn", "quality-manager", password="correct-horse-battery")
    client.login(username="quinn", password="correct-horse-battery")
    patched = client.patch("/api/nonconformances/NC-1", {"affected_customers": ["C-1", "C-2"]},
                           content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {quinn.token}")
    assert patched.status_code == 200

    history = client.get("/api/nonconformances/NC-1/history",
                         HTTP_AUTHORIZATION=f"Bearer {quinn.token}").json()
    assert (history[0]["type"], history[0]["user"]) == ("changed", "quinn")
    assert history[0]["changes"] == [
        {"field": "affected_customers", "old": ["C-1"], "new": ["C-1", "C-2"]},
    ]
    assert history[1]["changes"] == [
        {"field": "affected_customers", "old": [], "new": ["C-1"]},
    ]

    page = client.get(reverse("record-detail", args=["nonconformances", "NC-1"]))
    html = page.content.decode()
    assert page.status_code == 200
    assert '<td class="old">C-1</td><td class="new">C-1; C-2</td>' in html
    assert '<td class="old">–</td><td class="new">C-1</td>' in html


def test_an_import_names_its_author_in_the_history(users, linked, tmp_path):
    from typer.testing import CliRunner

    from qualityloop.cli import app

    ada, _, _ = users
    nc, _ = linked
    path = tmp_path / "ncs.csv"
    path.write_text(
        "external_id,title,org_unit,detected_on,stage,source,severity\n"
        "NC-1,Seal leaks,U-1,2024-03-01,production,inspection,critical\n", encoding="utf-8")
    unknown = CliRunner().invoke(app, ["import", "nonconformances", str(path), "--user", "zed"])
    assert unknown.exit_code == 1 and "no user called 'zed'" in unknown.output
    result = CliRunner().invoke(app, ["import", "nonconformances", str(path),
                                      "--user", ada.username])
    assert result.exit_code == 0, result.output
    latest = nc.history.first()
    assert (latest.severity, latest.history_user, latest.history_change_reason) == (
        "critical", ada, "import ncs.csv")
