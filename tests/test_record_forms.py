"""Create, edit and delete pages generated for every record kind (web/forms/records.py)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from webdata import build_organisation

from qualityloop.records.customers.models import Customer
from qualityloop.records.organisation.models import OrgUnit
from qualityloop.records.quality.models import ChangeRequest, Nonconformance
from qualityloop.services.record_kinds import KINDS, get_kind
from qualityloop.services.users import add_user
from qualityloop.web.forms import records as record_forms

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


@pytest.fixture
def org():
    return build_organisation()


def _login(client, role: str, name: str = "quinn"):
    add_user(name, role, password=PASSWORD)
    assert client.login(username=name, password=PASSWORD)
    return client


@pytest.fixture
def manager(client):
    return _login(client, "quality-manager")


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_every_kind_has_a_new_form_with_a_field_per_column(manager, org, kind):
    page = manager.get(reverse("record-create", args=[kind.name]))
    assert page.status_code == 200
    html = page.content.decode()
    for column in kind.columns:
        assert f'name="{column.name}"' in html, column.name


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_every_kind_has_an_edit_form_filled_with_the_record(manager, org, kind):
    obj = kind.model.objects.order_by("pk").first()
    page = manager.get(reverse("record-edit", args=[kind.name, obj.external_id]))
    assert page.status_code == 200
    assert f'value="{obj.external_id}"' in page.content.decode()


def test_widgets_follow_the_field_types(org):
    form = record_forms.record_form_class(get_kind("nonconformances"))()
    html = str(form)
    assert 'type="date" name="detected_on"' in html
    assert '<option value="major">Major</option>' in html  # a choice is a select
    assert '<option value="U-PL">' in html  # a reference is a select of external ids
    assert 'name="affected_customers"' in html and "multiple" in html


def test_references_to_many_records_become_a_search(manager, org, monkeypatch):
    monkeypatch.setattr(record_forms, "SELECT_LIMIT", 2)
    html = manager.get(reverse("record-create", args=["nonconformances"])).content.decode()
    assert 'name="search-affected_customers"' in html
    found = manager.get(reverse("record-search", args=["nonconformances", "affected_customers"]),
                        {"search-affected_customers": "alpha"})
    assert found.status_code == 200 and 'data-id="C-1"' in found.content.decode()
    assert 'data-id="C-2"' not in found.content.decode()


def test_new_form_suggests_the_next_free_external_id(manager, org):
    html = manager.get(reverse("record-create", args=["actions"])).content.decode()
    assert 'value="A-4"' in html


def _nc_form(**changes) -> dict:
    data = {"external_id": "N-9", "title": "Cracked valve body", "org_unit": "U-PL",
            "detected_on": "2026-01-10", "stage": "field", "source": "customer_complaint",
            "severity": "major", "quantity_affected": "3", "cost_of_poor_quality": "120.50",
            "affected_customers": ["C-1", "C-5"], "status": "open"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_create_with_many_to_many_saves_links_and_one_history_version(manager, org):
    response = manager.post(reverse("record-create", args=["nonconformances"]), _nc_form())
    assert response.status_code == 302
    assert response["Location"] == reverse("record-detail", args=["nonconformances", "N-9"])
    nc = Nonconformance.objects.get(external_id="N-9")
    assert sorted(nc.affected_customers.values_list("external_id", flat=True)) == ["C-1", "C-5"]
    assert float(nc.cost_of_poor_quality) == 120.5
    versions = list(nc.history.all())
    assert len(versions) == 1 and versions[0].history_user.username == "quinn"
    customer_page = manager.get(reverse("record-detail", args=["customers", "C-5"]))
    assert "N-9" in customer_page.content.decode()


def test_edit_changes_fields_and_links_and_history_shows_old_and_new(manager, org):
    url = reverse("record-edit", args=["change-requests", "CR-1"])
    change = ChangeRequest.objects.get(external_id="CR-1")
    form = record_forms.initial_values(get_kind("change-requests"), change)
    form = {k: v for k, v in form.items() if v is not None}
    form.update(title="Switch seal material", related_nonconformances=["N-1", "N-2"])
    assert manager.post(url, form).status_code == 302
    change.refresh_from_db()
    assert change.title == "Switch seal material"
    assert sorted(change.related_nonconformances.values_list("external_id", flat=True)) == [
        "N-1", "N-2"]
    page = manager.get(reverse("record-detail", args=["change-requests", "CR-1"])).content.decode()
    assert "New seal material" in page and "Switch seal material" in page
    assert "N-1; N-2" in page  # the links before -> after


def test_validation_errors_are_shown_next_to_the_field_and_nothing_is_saved(manager, org):
    before = Nonconformance.history.count()
    response = manager.post(reverse("record-create", args=["nonconformances"]),
                            _nc_form(detected_on="10/01/2026", org_unit="U-NOPE", title=""))
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-testid="error-detected_on"' in html and "YYYY-MM-DD" in html
    assert 'data-testid="error-org_unit"' in html and "U-NOPE" in html
    assert 'data-testid="error-title"' in html
    assert not Nonconformance.objects.filter(external_id="N-9").exists()
    assert Nonconformance.history.count() == before


def test_model_rule_is_shown_and_nothing_saved(manager, org):
    response = manager.post(reverse("record-create", args=["nonconformances"]),
                            _nc_form(status="closed"))
    assert response.status_code == 400
    assert "closing date" in response.content.decode()
    assert not Nonconformance.objects.filter(external_id="N-9").exists()


def test_htmx_post_returns_the_form_with_errors_or_a_redirect(manager, org):
    url = reverse("record-create", args=["org-units"])
    bad = manager.post(url, {"external_id": "U-NEW", "name": ""}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 200
    html = bad.content.decode()
    assert html.lstrip().startswith("<form") and "error-name" in html  # only the form
    good = manager.post(url, {"external_id": "U-NEW", "name": "Lab", "parent": "U-CO",
                              "kind": "department"}, HTTP_HX_REQUEST="true")
    assert good.status_code == 204
    assert good["HX-Redirect"] == reverse("record-detail", args=["org-units", "U-NEW"])
    assert OrgUnit.objects.get(external_id="U-NEW").parent.external_id == "U-CO"


def test_create_refuses_an_external_id_that_is_taken(manager, org):
    response = manager.post(reverse("record-create", args=["nonconformances"]),
                            _nc_form(external_id="N-1"))
    assert response.status_code == 400
    assert Nonconformance.objects.get(external_id="N-1").title == "Leaking seal"


def test_delete_asks_then_deletes_and_keeps_history(manager, org):
    url = reverse("record-delete", args=["customers", "C-3"])
    confirm = manager.get(url)
    assert confirm.status_code == 200 and "Delete" in confirm.content.decode()
    assert Customer.objects.filter(external_id="C-3").exists()
    assert manager.post(url).status_code == 302
    assert not Customer.objects.filter(external_id="C-3").exists()
    last = Customer.history.filter(external_id="C-3").first()
    assert last.history_type == "-" and last.history_user.username == "quinn"


def test_delete_of_a_record_others_depend_on_is_refused_with_the_reason(manager, org):
    response = manager.post(reverse("record-delete", args=["org-units", "U-PL"]))
    assert response.status_code == 409
    assert "still referenced by" in response.content.decode()
    assert OrgUnit.objects.filter(external_id="U-PL").exists()


@pytest.mark.parametrize("method,name,args", [
    ("get", "record-create", ["customers"]),
    ("post", "record-create", ["customers"]),
    ("get", "record-edit", ["customers", "C-1"]),
    ("post", "record-edit", ["customers", "C-1"]),
    ("post", "record-delete", ["customers", "C-1"]),
])
def test_viewer_is_refused_with_the_reason(client, org, method, name, args):
    viewer = _login(client, "viewer", "vera")
    response = getattr(viewer, method)(reverse(name, args=args),
                                       {"external_id": "C-1", "name": "Hacked"})
    assert response.status_code == 403
    assert "may read customers but not create, change or delete them" in (
        response.content.decode())
    assert Customer.objects.get(external_id="C-1").name == "Alpha Ltd"


def test_buttons_only_for_roles_that_may_write(client, org):
    viewer = _login(client, "viewer", "vera")
    detail = viewer.get(reverse("record-detail", args=["customers", "C-1"])).content.decode()
    assert reverse("record-edit", args=["customers", "C-1"]) not in detail
    client.logout()
    staff = _login(client, "staff", "sam")  # staff do not change customers (docs/roles.md)
    detail = staff.get(reverse("record-detail", args=["customers", "C-1"])).content.decode()
    assert reverse("record-edit", args=["customers", "C-1"]) not in detail
    client.logout()
    manager = _login(client, "quality-manager", "quinn")
    detail = manager.get(reverse("record-detail", args=["customers", "C-1"])).content.decode()
    assert reverse("record-edit", args=["customers", "C-1"]) in detail


def test_history_shows_the_values_a_record_was_created_with(manager, org):
    manager.post(reverse("record-create", args=["nonconformances"]), _nc_form())
    html = manager.get(reverse("record-detail", args=["nonconformances", "N-9"])).content.decode()
    created = html[html.index("Created with"):]
    assert "Cracked valve body" in created and "C-1; C-5" in created
    assert "U-PL: Plant North" in created
