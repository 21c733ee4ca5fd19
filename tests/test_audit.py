"""The audit trail: the log page and export, and history that nobody can edit (admin, API).

tests/test_history.py covers what each history version holds (user, time, old/new values,
links, deletion); here: the log across kinds, who may read it, and that history is read-only.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from typer.testing import CliRunner

from qualityloop.cli import app
from qualityloop.records.customers.models import Customer
from qualityloop.records.history_admin import RecordHistoryAdmin
from qualityloop.records.organisation.models import OrgUnit
from qualityloop.services import audit
from qualityloop.services.record_kinds import get_kind
from qualityloop.services.record_writer import delete_record, write_record
from qualityloop.services.users import add_user

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


@pytest.fixture
def people():
    return {role: add_user(role.replace("-", ""), role, password=PASSWORD)
            for role in ("admin", "top-management", "quality-manager", "unit-lead", "staff",
                         "viewer")}


def _user(name: str):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username=name)


@pytest.fixture
def trail(people):
    """Org unit U-1 and customers C-1 (changed), C-2 (deleted), by different users."""
    ada, bob = _user("admin"), _user("qualitymanager")
    write_record(get_kind("org-units"), {"external_id": "U-1", "name": "Plant", "kind": "site"},
                 history_user=ada)
    customers = get_kind("customers")
    row = {"name": "Acme", "segment": "enterprise", "acquired_on": "2021-05-01",
           "serving_unit": "U-1"}
    write_record(customers, {"external_id": "C-1", **row}, history_user=ada)
    write_record(customers, {"external_id": "C-2", **row}, history_user=ada)
    write_record(customers, {"external_id": "C-1", **row, "name": "Acme GmbH"},
                 history_user=bob, change_reason="renamed")
    delete_record(customers, Customer.objects.get(external_id="C-2"), history_user=bob)
    return ada, bob


def _login(client, role: str):
    assert client.login(username=role.replace("-", ""), password=PASSWORD)
    return client


# --- the service -----------------------------------------------------------------------------


def test_log_lists_every_kind_newest_first_with_user_and_action(trail):
    rows = list(audit.with_usernames(audit.iter_rows(audit.AuditFilter())))
    mine = [(r.kind, r.external_id, r.action, r.user) for r in rows]
    assert mine == [
        ("customers", "C-2", "-", "qualitymanager"),
        ("customers", "C-1", "~", "qualitymanager"),
        ("customers", "C-2", "+", "admin"),
        ("customers", "C-1", "+", "admin"),
        ("org-units", "U-1", "+", "admin"),
    ]
    dates = [r.date for r in rows]
    assert dates == sorted(dates, reverse=True)


@pytest.mark.parametrize(("given", "expected"), [
    ({"user": "qualitymanager"}, {("C-2", "-"), ("C-1", "~")}),
    ({"kind": "org-units"}, {("U-1", "+")}),
    ({"action": "deleted"}, {("C-2", "-")}),
    ({"action": "+", "record": "C-1"}, {("C-1", "+")}),
    ({"user": "nobody"}, set()),
    ({"user": "-"}, set()),
])
def test_filters(trail, given, expected):
    rows = audit.iter_rows(audit.AuditFilter.from_text(**given))
    assert {(r.external_id, r.action) for r in rows} == expected
    assert audit.count(audit.AuditFilter.from_text(**given)) == len(expected)


def test_date_range_counts_whole_days(trail):
    Customer.history.filter(external_id="C-1", history_type="+").update(
        history_date=timezone.make_aware(dt.datetime(2024, 3, 1, 23, 30)))
    on_the_day = audit.AuditFilter.from_text(date_from="2024-03-01", date_to="2024-03-01")
    assert [r.external_id for r in audit.iter_rows(on_the_day)] == ["C-1"]
    assert audit.count(audit.AuditFilter.from_text(date_to="2024-02-29")) == 0


@pytest.mark.parametrize(("given", "message"), [
    ({"kind": "gadgets"}, "unknown record kind 'gadgets'"),
    ({"action": "edited"}, "unknown action 'edited'"),
    ({"date_from": "1.3.2024"}, "from: expected a date like 2025-06-30, got '1.3.2024'"),
    ({"date_from": "2024-03-02", "date_to": "2024-03-01"}, "ends (2024-03-01) before it starts"),
])
def test_bad_filters_are_clear_errors(given, message):
    with pytest.raises(audit.AuditFilterError, match=message.replace("(", r"\(").replace(
            ")", r"\)")):
        audit.AuditFilter.from_text(**given)


def test_page_marks_deleted_records_and_shows_changed_values(trail):
    page = audit.audit_page(audit.AuditFilter(kind="customers"), 1, size=2)
    assert (page.total, page.pages, page.has_next) == (4, 2, True)
    deleted, changed = page.rows
    assert (deleted.external_id, deleted.exists) == ("C-2", False)
    assert (changed.external_id, changed.exists) == ("C-1", True)
    assert changed.changes == [{"field": "name", "old": "Acme", "new": "Acme GmbH"}]
    assert changed.reason == "renamed"
    last = audit.audit_page(audit.AuditFilter(kind="customers"), 99, size=2)
    assert last.number == 2 and [r.action for r in last.rows] == ["+", "+"]


def test_every_history_table_is_a_source():
    from django.apps import apps

    history_tables = {m for m in apps.get_models()
                      if hasattr(m, "instance_type") and hasattr(m, "history_date")}
    assert {s.history_model for s in audit.sources()} >= {
        m for m in history_tables if any(f.name == "history_date" for f in m._meta.fields)}
    assert "customers" in audit.kind_names() and "orders" not in audit.kind_names()


# --- the page --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "top-management", "quality-manager"])
def test_managers_read_the_log_and_see_the_nav_link(client, trail, role):
    page = _login(client, role).get(reverse("audit"))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'href="/audit/"' in html
    assert html.count("<tr data-action=") == 5
    c1 = reverse("record-detail", args=["customers", "C-1"])
    assert f'<a href="{c1}">C-1</a>' in html
    assert "C-2 <span class=\"muted\">(deleted)</span>" in html
    assert "Acme GmbH" in html


@pytest.mark.parametrize("role", ["unit-lead", "staff", "viewer"])
def test_other_roles_get_no_log_and_no_link(client, trail, role):
    client = _login(client, role)
    assert client.get(reverse("audit")).status_code == 403
    assert client.get(reverse("audit-csv")).status_code == 403
    assert 'href="/audit/"' not in client.get(reverse("record-index")).content.decode()


def test_anonymous_is_sent_to_log_in(client):
    assert client.get(reverse("audit")).status_code == 302


def test_page_filters_paginate_and_report_bad_values(client, trail):
    client = _login(client, "quality-manager")
    filtered = client.get(reverse("audit"), {"user": "qualitymanager", "action": "changed"})
    assert filtered.content.decode().count("<tr data-action=") == 1
    paged = client.get(reverse("audit"), {"kind": "customers", "page": "2"})
    assert paged.status_code == 200
    bad = client.get(reverse("audit"), {"date_from": "yesterday"})
    assert bad.status_code == 400
    assert "expected a date like 2025-06-30" in bad.content.decode()


def test_csv_download_follows_the_filters(client, trail):
    client = _login(client, "admin")
    response = client.get(reverse("audit-csv"), {"kind": "customers"})
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    assert "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["record"], r["action"], r["user"]) for r in rows] == [
        ("C-2", "deleted", "qualitymanager"), ("C-1", "changed", "qualitymanager"),
        ("C-2", "created", "admin"), ("C-1", "created", "admin"),
    ]
    assert rows[1]["reason"] == "renamed"


# --- the command -----------------------------------------------------------------------------


def test_cli_export_csv_and_excel(trail, tmp_path):
    target = tmp_path / "audit.csv"
    done = CliRunner().invoke(app, ["audit", "export", str(target), "--user", "admin",
                                    "--kind", "customers"])
    assert done.exit_code == 0, done.output
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert [(r["record"], r["action"]) for r in rows] == [("C-2", "created"), ("C-1", "created")]

    workbook = tmp_path / "audit.xlsx"
    done = CliRunner().invoke(app, ["audit", "export", str(workbook), "--json"])
    assert done.exit_code == 0 and '"rows": 5' in done.output
    from openpyxl import load_workbook

    sheet = load_workbook(workbook).worksheets[0]
    assert [c.value for c in sheet[1]] == audit.EXPORT_COLUMNS
    assert sheet.max_row == 6


def test_cli_export_errors_are_one_line(tmp_path):
    done = CliRunner().invoke(app, ["audit", "export", str(tmp_path / "a.csv"), "--from", "x"])
    assert done.exit_code == 1
    assert "from: expected a date like 2025-06-30, got 'x'" in done.output
    assert "Traceback" not in done.output
    done = CliRunner().invoke(app, ["audit", "export", str(tmp_path / "a.txt")])
    assert done.exit_code == 1 and "unsupported file type '.txt'" in done.output


# --- history is read-only --------------------------------------------------------------------


def test_every_admin_with_history_offers_no_revert():
    with_history = {m: a for m, a in admin.site._registry.items() if hasattr(m, "history")}
    assert with_history
    for model, model_admin in with_history.items():
        assert isinstance(model_admin, RecordHistoryAdmin), model.__name__
    history_models = [m for m in admin.site._registry if hasattr(m, "instance_type")]
    assert history_models == [], "history tables must not be editable in the admin"


def test_admin_shows_old_versions_but_refuses_a_revert(client, trail):
    from django.conf import settings

    assert not getattr(settings, "SIMPLE_HISTORY_EDIT", False)
    client = _login(client, "admin")
    customer = Customer.objects.get(external_id="C-1")
    first = customer.history.order_by("history_id").first()
    base = "admin:customers_customer"
    assert client.get(reverse(f"{base}_history", args=[customer.pk])).status_code == 200
    version_url = reverse(f"{base}_simple_history", args=[customer.pk, first.history_id])
    shown = client.get(version_url)
    assert shown.status_code == 200
    assert "Revert" not in shown.content.decode()
    versions = customer.history.count()
    posted = client.post(version_url, {"external_id": "C-1", "name": "Acme",
                                       "segment": "enterprise", "acquired_on": "2021-05-01"})
    assert posted.status_code == 403
    customer.refresh_from_db()
    assert (customer.name, customer.history.count()) == ("Acme GmbH", versions)


def test_no_api_operation_writes_history(client, people):
    from qualityloop.web.api.api import api

    for prefix, router in api._routers:
        for route, path_view in router.path_operations.items():
            for operation in path_view.operations:
                if "history" in route:
                    assert operation.methods == ["GET"], f"{prefix}{route}"
    token = people["quality-manager"].token
    write_record(get_kind("org-units"), {"external_id": "U-9", "name": "Lab", "kind": "site"})
    url = "/api/org-units/U-9/history"
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert client.get(url, **auth).status_code == 200
    for method in (client.post, client.put, client.patch, client.delete):
        assert method(url, {}, content_type="application/json", **auth).status_code == 405
    assert OrgUnit.history.filter(external_id="U-9").count() == 1


# --- gaps in tests/test_history.py -----------------------------------------------------------


def test_deleting_through_the_web_page_keeps_history_with_the_user(client, trail):
    client = _login(client, "quality-manager")
    url = reverse("record-delete", args=["customers", "C-1"])
    assert client.post(url).status_code in (302, 303)
    versions = list(Customer.history.filter(external_id="C-1").order_by("history_id"))
    assert [v.history_type for v in versions] == ["+", "~", "-"]
    assert versions[-1].history_user.username == "qualitymanager"
    assert versions[-1].name == "Acme GmbH"


def test_records_deleted_with_their_customer_keep_history_naming_the_user(client, trail):
    write_record(get_kind("feedback"), {
        "external_id": "F-1", "customer": "C-1", "responded_on": "2024-05-01",
        "nps": "9"}, history_user=_user("admin"))
    client = _login(client, "quality-manager")
    assert client.post(reverse("record-delete", args=["customers", "C-1"])).status_code in (
        302, 303)
    from qualityloop.records.customers.models import FeedbackResponse

    last = FeedbackResponse.history.filter(external_id="F-1").first()
    assert (last.history_type, last.history_user.username) == ("-", "qualitymanager")
    rows = audit.iter_rows(audit.AuditFilter(action="-", user="qualitymanager"))
    assert {(r.kind, r.external_id) for r in rows} >= {("customers", "C-1"), ("feedback", "F-1")}
