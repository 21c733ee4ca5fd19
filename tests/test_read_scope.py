"""Reading by org unit (``QUALITYLOOP_READ_SCOPE=unit``): unit leads and staff read their unit's
records (and below), those assigned to them and those they raised; everyone else, and every role
without the option, reads everything. Lists, details, the API and the unit-filtered pages follow.

A small world: U-A with U-A1 below it, and U-B; an NC in each, an action on NC-B owned by the staff
user's person, a customer served by each unit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from qualityloop.records.accounts.choices import Role
from qualityloop.records.accounts.models import Profile
from qualityloop.records.organisation.models import OrgUnit, Person
from qualityloop.services import permissions
from qualityloop.services.record_kinds import get_kind
from qualityloop.services.record_writer import write_record
from qualityloop.services.users import add_user, issue_token

PASSWORD = "unit-Pass-42"


def _nc(external_id: str, unit: str, **more: Any) -> dict[str, Any]:
    return {"external_id": external_id, "title": "Scratches", "org_unit": unit,
            "detected_on": "2024-03-01", "stage": "production", "source": "internal_audit",
            "severity": "minor", **more}


def _write(kind: str, row: dict[str, Any]) -> None:
    write_record(get_kind(kind), row)


@pytest.fixture
def world(db) -> dict[str, str]:
    """The records and one user per role (lead and staff in U-A); returns their tokens."""
    for external_id, parent in (("U-A", ""), ("U-A1", "U-A"), ("U-B", "")):
        _write("org-units", {"external_id": external_id, "name": f"Unit {external_id}",
                             "kind": "site", "parent": parent})
    _write("people", {"external_id": "P-S", "name": "Sam", "org_unit": "U-A"})
    _write("people", {"external_id": "P-X", "name": "Xan", "org_unit": "U-B"})
    _write("nonconformances", _nc("NC-A1", "U-A1"))
    _write("nonconformances", _nc("NC-B", "U-B"))
    _write("nonconformances", _nc("NC-B-SEEN", "U-B", detected_by="P-S"))
    _write("actions", {"external_id": "A-B", "nonconformance": "NC-B", "kind": "corrective",
                       "description": "Fix", "owner": "P-S", "due_on": "2024-05-01"})
    _write("actions", {"external_id": "A-B2", "nonconformance": "NC-B", "kind": "corrective",
                       "description": "Fix more", "owner": "P-X", "due_on": "2024-05-01"})
    for unit in ("U-A", "U-B"):
        _write("customers", {"external_id": f"C-{unit}", "name": f"Customer {unit}",
                             "segment": "enterprise", "acquired_on": "2020-01-01",
                             "serving_unit": unit})
    tokens: dict[str, str] = {}
    for role in (Role.UNIT_LEAD, Role.STAFF, Role.VIEWER, Role.QUALITY_MANAGER):
        tokens[role] = add_user(f"as-{role}", role, password=PASSWORD).token
    Profile.objects.filter(role__in=[Role.UNIT_LEAD, Role.STAFF]).update(
        org_unit=OrgUnit.objects.get(external_id="U-A"))
    Person.objects.filter(external_id="P-S").update(
        user=get_user_model().objects.get(username="as-staff"))
    return tokens


@pytest.fixture
def by_unit(settings) -> None:
    settings.READ_SCOPE = "unit"


def _ids(client: Client, token: str, kind: str) -> list[str]:
    answer = client.get(f"/api/{kind}/?limit=1000", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert answer.status_code == 200, answer.content
    return sorted(item["external_id"] for item in answer.json()["items"])


def _status(client: Client, token: str, path: str) -> int:
    return client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}").status_code


ALL_NCS = ["NC-A1", "NC-B", "NC-B-SEEN"]


# ---------------------------------------------------------------------------------------------
# The API


@pytest.mark.django_db
def test_without_the_option_everyone_reads_everything(world, client):
    for role in world:
        assert _ids(client, world[role], "nonconformances") == ALL_NCS, role
    assert _status(client, world[Role.UNIT_LEAD], "/api/nonconformances/NC-B") == 200


@pytest.mark.django_db
def test_a_unit_lead_reads_their_unit_and_below(world, client, by_unit):
    lead = world[Role.UNIT_LEAD]
    assert _ids(client, lead, "nonconformances") == ["NC-A1"]
    assert _ids(client, lead, "actions") == []
    assert _ids(client, lead, "customers") == ["C-U-A"]
    assert _status(client, lead, "/api/nonconformances/NC-A1") == 200
    assert _status(client, lead, "/api/nonconformances/NC-B") == 404
    assert _status(client, lead, "/api/customers/C-U-B") == 404
    assert _status(client, lead, "/api/nonconformances/NC-A1/history") == 200
    assert _status(client, lead, "/api/nonconformances/NC-B/history") == 404
    get_kind("nonconformances").model.objects.filter(external_id="NC-A1").delete()
    assert _status(client, lead, "/api/nonconformances/NC-A1/history") == 404  # unit unknown
    assert _status(client, world[Role.VIEWER], "/api/nonconformances/NC-A1/history") == 200
    # Organisation-wide records stay open: the org tree, the policy.
    assert _ids(client, lead, "org-units") == ["U-A", "U-A1", "U-B"]


@pytest.mark.django_db
def test_staff_read_their_unit_their_actions_and_what_they_raised(world, client, by_unit):
    staff = world[Role.STAFF]
    assert _ids(client, staff, "nonconformances") == ["NC-A1", "NC-B-SEEN"]  # detected by them
    assert _ids(client, staff, "actions") == ["A-B"]  # assigned, in another unit
    raised = client.post("/api/nonconformances/", _nc("NC-NEW", "U-B"),
                         content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {staff}")
    assert raised.status_code == 201, raised.content
    assert _status(client, staff, "/api/nonconformances/NC-NEW") == 200  # they created it
    assert _status(client, staff, "/api/nonconformances/NC-B") == 404


@pytest.mark.django_db
def test_managers_and_viewers_keep_reading_everything(world, client, by_unit):
    for role in (Role.QUALITY_MANAGER, Role.VIEWER):
        assert _ids(client, world[role], "nonconformances") == ALL_NCS, role


@pytest.mark.django_db
def test_a_paged_export_through_the_api_has_only_their_rows(world, client, by_unit):
    lead, rows, offset = world[Role.UNIT_LEAD], [], 0
    while True:
        page = client.get(f"/api/customers/?limit=1&offset={offset}",
                          HTTP_AUTHORIZATION=f"Bearer {lead}").json()
        rows += [item["external_id"] for item in page["items"]]
        offset += 1
        if offset >= page["count"]:
            break
    assert rows == ["C-U-A"]


@pytest.mark.django_db
def test_the_environment_variable_turns_it_on_and_a_bad_value_is_named(world, monkeypatch):
    lead = get_user_model().objects.get(username="as-unit-lead")
    kind = get_kind("nonconformances")
    monkeypatch.setenv("QUALITYLOOP_READ_SCOPE", "unit")
    assert permissions.restrict(kind.model.objects.all(), lead, kind).count() == 1
    monkeypatch.setenv("QUALITYLOOP_READ_SCOPE", "units")
    with pytest.raises(ImproperlyConfigured, match="QUALITYLOOP_READ_SCOPE is 'units'"):
        permissions.restrict(kind.model.objects.all(), lead, kind)


@pytest.mark.django_db
def test_may_object_read_agrees_with_restrict(world, by_unit):
    users = {u.username: u for u in get_user_model().objects.all()}
    kind = get_kind("nonconformances")
    for username in ("as-unit-lead", "as-staff", "as-viewer"):
        user = users[username]
        visible = set(permissions.restrict(kind.model.objects.all(), user, kind)
                      .values_list("external_id", flat=True))
        for nc in kind.model.objects.all():
            assert permissions.may_object(user, nc, "read") is (nc.external_id in visible), (
                username, nc.external_id)


@pytest.mark.django_db
def test_a_viewer_token_of_a_unit_lead_reads_only_the_unit(world, client, by_unit):
    token = issue_token("as-unit-lead", "bi", role=Role.VIEWER)
    assert _ids(client, token, "nonconformances") == ["NC-A1"]


# ---------------------------------------------------------------------------------------------
# The web pages


@pytest.mark.django_db
def test_the_web_list_and_detail_follow(world, client, by_unit):
    client.login(username="as-unit-lead", password=PASSWORD)
    page = client.get(reverse("record-list", args=["nonconformances"])).content.decode()
    assert "NC-A1" in page and "NC-B" not in page
    detail = reverse("record-detail", args=["nonconformances", "NC-B"])
    assert client.get(detail).status_code == 404
    assert client.get(reverse("record-detail", args=["nonconformances", "NC-A1"])).status_code \
        == 200


@pytest.mark.django_db
def test_the_dashboard_is_narrowed_to_the_users_unit(world, client, by_unit):
    client.login(username="as-unit-lead", password=PASSWORD)
    assert client.get("/").context["unit"].external_id == "U-A"
    assert client.get("/?unit=U-B").context["unit"].external_id == "U-A"  # not theirs
    assert client.get("/?unit=U-A1").context["unit"].external_id == "U-A1"  # below theirs
    client.logout()
    client.login(username="as-viewer", password=PASSWORD)
    assert client.get("/").context["unit"] is None
    assert client.get("/?unit=U-B").context["unit"].external_id == "U-B"


@pytest.mark.django_db
def test_the_training_matrix_opens_on_the_users_unit(world, client, by_unit):
    """The page opens on a first unit by name when none is asked for (U-B's people): a unit
    reader gets their own instead."""
    OrgUnit.objects.filter(external_id="U-B").update(name="A first unit")
    client.login(username="as-viewer", password=PASSWORD)
    assert client.get("/training/matrix/").context["unit"].external_id == "U-B"
    client.logout()
    client.login(username="as-unit-lead", password=PASSWORD)
    assert client.get("/training/matrix/").context["unit"].external_id == "U-A"
    assert client.get("/training/matrix/?unit=").context["unit"].external_id == "U-A"


@pytest.mark.django_db
def test_without_the_option_the_dashboard_is_not_narrowed(world, client):
    client.login(username="as-unit-lead", password=PASSWORD)
    assert client.get("/").context["unit"] is None
    assert client.get("/?unit=U-B").context["unit"].external_id == "U-B"


@pytest.mark.django_db
def test_a_scoped_reader_without_a_unit_is_told_so(world, client, by_unit):
    Profile.objects.filter(role=Role.UNIT_LEAD).update(org_unit=None)
    client.login(username="as-unit-lead", password=PASSWORD)
    answer = client.get("/spc/")
    assert answer.status_code == 403
    assert "reads only their own org unit and has none" in answer.content.decode()
    dashboard = client.get("/")  # their own work, and why there are no figures
    assert dashboard.status_code == 200
    assert "reads only their own org unit and has none" in dashboard.content.decode()


# ---------------------------------------------------------------------------------------------
# What detail pages list, the unit select, the review pack, readers without a unit


def _more_of_other_units() -> None:
    """A complaint of U-B about U-A's customer, and an action of another unit's person on the NC
    the staff member raised in U-B."""
    _write("complaints", {"external_id": "CMP-B", "customer": "C-U-A", "org_unit": "U-B",
                          "received_on": "2024-03-02", "description": "Late"})
    _write("actions", {"external_id": "A-SEEN", "nonconformance": "NC-B-SEEN",
                       "kind": "corrective", "description": "Other unit's", "owner": "P-X",
                       "due_on": "2024-05-01"})


def _page(client: Client, username: str, path: str) -> str:
    client.login(username=username, password=PASSWORD)
    answer = client.get(path)
    assert answer.status_code == 200, (path, answer.status_code)
    return answer.content.decode()


@pytest.mark.django_db
def test_a_customer_page_lists_and_counts_only_readable_records(world, client, by_unit):
    _more_of_other_units()
    path = reverse("record-detail", args=["customers", "C-U-A"])
    page = _page(client, "as-unit-lead", path)
    assert "CMP-B" not in page
    related = client.get(path).context["related"]
    assert not [r for r in related if r["title"].startswith("complaint")], related
    client.logout()
    page = _page(client, "as-quality-manager", path)
    assert "CMP-B" in page


@pytest.mark.django_db
def test_an_nc_page_lists_only_the_actions_the_reader_may_read(world, client, by_unit):
    _more_of_other_units()
    page = _page(client, "as-staff", reverse("record-detail", args=["nonconformances",
                                                                    "NC-B-SEEN"]))
    assert "A-SEEN" not in page
    assert "1 more about actions of another unit, which you may not read." in page  # not closable
    assert "A-SEEN" not in _page(client, "as-staff", "/records/nonconformances/NC-B-SEEN/8d/")
    client.logout()
    assert "A-SEEN" in _page(client, "as-quality-manager",
                             reverse("record-detail", args=["nonconformances", "NC-B-SEEN"]))


@pytest.mark.django_db
def test_reference_selects_offer_only_readable_records_and_keep_the_current_one(
        world, client, by_unit):
    _more_of_other_units()
    client.login(username="as-unit-lead", password=PASSWORD)
    form = client.get(reverse("record-create", args=["complaints"])).context["form"]
    assert [value for value, _ in form.fields["customer"].choices] == ["", "C-U-A"]
    NC = get_kind("nonconformances").model
    NC.objects.filter(external_id="NC-A1").update(
        complaint=get_kind("complaints").model.objects.get(external_id="CMP-B"))
    form = client.get(reverse("record-edit", args=["nonconformances", "NC-A1"])).context["form"]
    assert ("CMP-B", "CMP-B") in form.fields["complaint"].choices  # its own, by id only
    page = client.get(reverse("record-detail", args=["nonconformances", "NC-A1"]))
    owners = [value for value, _ in page.context["workflow"]["action_form"].fields["owner"].choices]
    assert owners == ["", "P-S"]  # not P-X of U-B


@pytest.mark.django_db
def test_the_unit_select_offers_only_the_readers_units(world, client, by_unit):
    page = _page(client, "as-unit-lead", "/")
    assert [u.external_id for u in client.get("/").context["units"]] == ["U-A", "U-A1"]
    assert "Whole organisation" not in page
    client.logout()
    page = _page(client, "as-viewer", "/")
    assert len(client.get("/").context["units"]) == 3
    assert "Whole organisation" in page


@pytest.mark.parametrize("path", ["/", "/spc/", "/retention/", "/design/", "/training/matrix/",
                                  "/objectives/cascade/"])
@pytest.mark.django_db
def test_another_unit_asked_by_address_shows_the_readers_own(world, client, by_unit, path):
    client.login(username="as-unit-lead", password=PASSWORD)
    answer = client.get(path + "?unit=U-B")
    assert answer.status_code == 200
    assert answer.context["unit"].external_id == "U-A"


@pytest.mark.django_db
def test_the_review_pack_covers_the_readers_units(world, client, by_unit):
    from qualityloop.services.management_review import pack_figures

    pack = "/management-reviews/pack/?from=2024-01-01&to=2024-06-30"
    page = _page(client, "as-unit-lead", pack)
    assert "covering U-A and below" in page
    assert "NC-B" not in page
    client.logout()
    assert "covering" not in _page(client, "as-quality-manager", pack)
    start, end = dt.date(2024, 1, 1), dt.date(2024, 6, 30)
    unit = OrgUnit.objects.get(external_id="U-A")
    assert pack_figures(start, end, lambda: {}, unit).nonconformances["total"].sum() == 1
    assert pack_figures(start, end, lambda: {}).nonconformances["total"].sum() == 3
    for role, unit, ncs in ((Role.UNIT_LEAD, "U-A", 1), (Role.QUALITY_MANAGER, None, 3)):
        answer = client.get("/api/review-pack?from=2024-01-01&to=2024-06-30",
                            HTTP_AUTHORIZATION=f"Bearer {world[role]}")
        assert answer.status_code == 200, answer.content
        found = answer.json()
        assert (found["unit"], sum(m["total"] for m in found["nonconformances"])) == (unit, ncs)
    Profile.objects.filter(role=Role.UNIT_LEAD).update(org_unit=None)
    assert _status(client, world[Role.UNIT_LEAD], "/api/review-pack") == 403


@pytest.mark.django_db
def test_staff_without_a_unit_of_their_own_read_their_persons_unit(world, client, by_unit):
    """The demo's staff login has no unit; their person has one."""
    Profile.objects.filter(role=Role.STAFF).update(org_unit=None)
    staff = world[Role.STAFF]
    assert _ids(client, staff, "nonconformances") == ["NC-A1", "NC-B-SEEN"]
    assert _ids(client, staff, "people") == ["P-S"]
    page = _page(client, "as-staff", "/")
    assert client.get("/").context["unit"].external_id == "U-A" and "A-B" in page


@pytest.mark.django_db
def test_staff_without_any_unit_read_what_is_assigned_and_raised(world, client, by_unit):
    """No unit on the login nor on the person: the records assigned to them, those they raised
    and their own person; the dashboard shows their work and why there are no figures."""
    Profile.objects.filter(role=Role.STAFF).update(org_unit=None)
    Person.objects.filter(external_id="P-S").update(org_unit=None)
    staff = world[Role.STAFF]
    assert _ids(client, staff, "nonconformances") == ["NC-B-SEEN"]
    assert _ids(client, staff, "actions") == ["A-B"]
    assert _ids(client, staff, "people") == ["P-S"]
    assert _status(client, staff, "/api/actions/A-B") == 200
    page = _page(client, "as-staff", "/")
    assert 'data-testid="my-work"' in page and "A-B" in page
    assert "reads only their own org unit and has none" in page
    assert client.get("/spc/").status_code == 403


@pytest.mark.django_db
def test_the_admin_is_narrowed_too(world, client, by_unit):
    """Every role may enter the admin and view records there: its lists, pages, histories and
    reference searches hold only what the user may read."""
    NC = get_kind("nonconformances").model
    hidden = NC.objects.get(external_id="NC-B")
    version = hidden.history.first().history_id
    client.login(username="as-unit-lead", password=PASSWORD)
    listed = client.get("/admin/quality/nonconformance/").content.decode()
    assert "NC-A1" in listed and "NC-B" not in listed
    assert "C-U-B" not in client.get("/admin/customers/customer/").content.decode()
    assert "Xan" not in client.get("/admin/organisation/person/").content.decode()
    change = client.get(f"/admin/quality/nonconformance/{hidden.pk}/change/")
    assert change.status_code == 302  # the admin's answer to a record it cannot find
    assert client.get(f"/admin/quality/nonconformance/{hidden.pk}/history/").status_code == 404
    assert client.get(f"/admin/quality/nonconformance/{hidden.pk}/history/{version}/"
                      ).status_code == 404
    assert _autocompleted(client) == ["NC-A1"]
    client.logout()
    client.login(username="as-quality-manager", password=PASSWORD)
    assert client.get(f"/admin/quality/nonconformance/{hidden.pk}/history/").status_code == 200
    assert _autocompleted(client) == ALL_NCS


def _autocompleted(client: Client) -> list[str]:
    """The NCs the admin's action form offers when "NC" is typed."""
    found = client.get("/admin/autocomplete/", {
        "term": "NC", "app_label": "quality", "model_name": "correctiveaction",
        "field_name": "nonconformance"})
    assert found.status_code == 200, found.content
    return sorted(r["text"].split(":")[0] for r in found.json()["results"])


@pytest.mark.django_db
def test_a_customers_segment_nps_counts_only_the_readers_customers(world, client, by_unit):
    today = timezone.localdate().isoformat()
    for customer, score in (("C-U-A", 10), ("C-U-B", 0)):
        _write("feedback", {"external_id": f"F-{customer}", "customer": customer,
                            "responded_on": today, "nps": score})
    path = reverse("record-detail", args=["customers", "C-U-A"])

    def trend(username: str) -> tuple[list, str]:
        client.login(username=username, password=PASSWORD)
        panel = client.get(path).context["customer_panel"]
        client.logout()
        return [(q["responses"], q["nps"]) for q in panel["nps_trend"] if q["responses"]], \
            panel["nps_covering"]

    assert trend("as-unit-lead") == ([(1, 100.0)], "U-A and below")
    assert trend("as-quality-manager") == ([(2, 0.0)], "")


@pytest.mark.django_db
def test_complaint_and_design_pages_list_only_readable_ncs(world, client, by_unit):
    """An NC raised in U-B from U-A's complaint, and one that escaped from U-A's design project
    into U-B's production."""
    _write("complaints", {"external_id": "CMP-A", "customer": "C-U-A", "org_unit": "U-A",
                          "received_on": "2024-03-02", "description": "Late"})
    _write("design-projects", {"external_id": "DP-A", "name": "Valve", "org_unit": "U-A",
                               "started_on": "2024-01-01"})
    _write("nonconformances", _nc("NC-B-FROM-CMP", "U-B", complaint="CMP-A"))
    _write("nonconformances", _nc("NC-B-ESCAPED", "U-B", design_project="DP-A"))
    pages = [reverse("record-detail", args=["complaints", "CMP-A"]),
             reverse("record-detail", args=["design-projects", "DP-A"])]
    for page in pages:
        shown = _page(client, "as-unit-lead", page)
        assert "NC-B-FROM-CMP" not in shown and "NC-B-ESCAPED" not in shown, page
    client.logout()
    shown = "".join(_page(client, "as-quality-manager", page) for page in pages)
    assert "NC-B-FROM-CMP" in shown and "NC-B-ESCAPED" in shown


@pytest.mark.django_db
def test_a_reference_the_reader_may_not_open_is_not_a_link(world, client, by_unit):
    """Staff read the action assigned to them on another unit's NC; the page names the NC
    without linking to its page, which would answer 404."""
    page = _page(client, "as-staff", reverse("record-detail", args=["actions", "A-B"]))
    nc_page = reverse("record-detail", args=["nonconformances", "NC-B"])
    assert "NC-B" in page and f'href="{nc_page}"' not in page
    assert f'href="{reverse("record-detail", args=["people", "P-S"])}"' in page  # their own
    client.logout()
    assert f'href="{nc_page}"' in _page(client, "as-quality-manager",
                                        reverse("record-detail", args=["actions", "A-B"]))
