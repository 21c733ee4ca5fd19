"""Roles in the admin: each role is a group whose Django permissions follow the permission
service (every role views; a role adds, changes or deletes a kind in the admin where the table
reaches every record: the managers everything, staff add nonconformances and complaints), and a
user's group and staff flags follow their role however it is set."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.cache import cache
from django.urls import reverse
from webdata import build_organisation

from qualityloop.records.accounts.choices import WRITE_ROLES, Role
from qualityloop.records.accounts.models import ApiToken, Profile
from qualityloop.records.accounts.roles import sync_role_groups
from qualityloop.records.organisation.models import OrgUnit
from qualityloop.services.record_kinds import KINDS, get_kind
from qualityloop.services.users import add_user, set_role

pytestmark = pytest.mark.django_db
PASSWORD = "pw-for-role-tests"
ROLES = list(Role.values)
WRITERS = [r for r in ROLES if r in WRITE_ROLES]
MANAGERS = ["admin", "top-management", "quality-manager"]
STAFF_ADDS = {"nonconformances", "complaints"}


def _admin_actions(role: str, kind_name: str) -> tuple[str, ...]:
    """What the admin lets a role do with a kind (docs/roles.md): unit leads and staff work on
    their unit's or assigned records on the app's pages, which check each record."""
    if role in MANAGERS:
        return ("view", "add", "change", "delete")
    if role == "staff" and kind_name in STAFF_ADDS:
        return ("view", "add")
    return ("view",)


def _url(model, action: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{action}", args=args)


def _login(client, username: str, role: str | None):
    if role is None:
        User.objects.create_user(username, password=PASSWORD)
    else:
        add_user(username, role, password=PASSWORD)
    assert client.login(username=username, password=PASSWORD)
    return client


def _group_names(username: str) -> set[str]:
    return set(User.objects.get(username=username).groups.values_list("name", flat=True))


def _unit_form(unit: OrgUnit, **changes) -> dict:
    form = {"external_id": unit.external_id, "name": unit.name, "kind": unit.kind,
            "parent": unit.parent_id or "", "head": unit.head_id or "",
            "description": unit.description}
    return {**form, **changes}


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def org():
    return build_organisation()


# --- the groups -------------------------------------------------------------------------------

def test_migrate_leaves_one_group_per_role():
    assert set(Group.objects.values_list("name", flat=True)) >= set(ROLES)


@pytest.mark.parametrize("role", ROLES)
def test_group_permissions_follow_the_write_roles(role):
    expected = {f"{kind.model._meta.app_label}.{action}_{kind.model._meta.model_name}"
                for kind in KINDS for action in _admin_actions(role, kind.name)}
    granted = {f"{p.content_type.app_label}.{p.codename}"
               for p in Group.objects.get(name=role).permissions.select_related("content_type")}
    assert granted == expected


def test_syncing_twice_changes_nothing_and_repairs_a_tampered_group():
    first = {name: set(g.permissions.values_list("pk", flat=True))
             for name, g in sync_role_groups().items()}
    viewer = Group.objects.get(name=Role.VIEWER)
    viewer.permissions.add(Permission.objects.get(codename="delete_customer"))
    second = {name: set(g.permissions.values_list("pk", flat=True))
              for name, g in sync_role_groups().items()}
    assert second == first
    assert Group.objects.filter(name__in=ROLES).count() == len(ROLES)


# --- group and flags follow the role ----------------------------------------------------------

@pytest.mark.parametrize("role", ROLES)
def test_add_user_puts_the_user_in_their_role_group(role):
    add_user("someone", role, password=PASSWORD)
    user = User.objects.get(username="someone")
    assert _group_names("someone") == {role}
    assert user.is_staff
    assert user.is_superuser == (role == Role.ADMIN)


def test_set_role_moves_the_user_to_the_new_group():
    add_user("sam", "quality-manager", password=PASSWORD)
    set_role("sam", "viewer")
    assert _group_names("sam") == {"viewer"}
    set_role("sam", "admin")
    assert _group_names("sam") == {"admin"}
    assert User.objects.get(username="sam").is_superuser
    set_role("sam", "staff")
    sam = User.objects.get(username="sam")
    assert _group_names("sam") == {"staff"} and sam.is_staff and not sam.is_superuser


def test_set_role_gives_a_user_without_a_role_their_rights():
    User.objects.create_user("late", password=PASSWORD)
    set_role("late", "unit-lead")
    late = User.objects.get(username="late")
    assert _group_names("late") == {"unit-lead"} and late.is_staff


def test_other_groups_are_left_alone():
    add_user("sam", "staff", password=PASSWORD)
    auditors = Group.objects.create(name="auditors")
    User.objects.get(username="sam").groups.add(auditors)
    set_role("sam", "viewer")
    assert _group_names("sam") == {"viewer", "auditors"}


def test_removing_the_profile_takes_the_rights_away():
    add_user("sam", "staff", password=PASSWORD)
    Profile.objects.filter(user__username="sam").delete()
    sam = User.objects.get(username="sam")
    assert _group_names("sam") == set() and not sam.is_staff


def test_deleting_a_user_with_a_role_works():
    add_user("sam", "staff", password=PASSWORD)
    User.objects.get(username="sam").delete()
    assert not User.objects.filter(username="sam").exists()


def test_role_changed_in_the_admin_moves_the_group(client):
    _login(client, "boss", "admin")
    add_user("sam", "quality-manager", password=PASSWORD)
    profile = Profile.objects.get(user__username="sam")
    response = client.post(_url(Profile, "change", profile.pk),
                           {"user": profile.user_id, "role": "viewer", "org_unit": ""})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert _group_names("sam") == {"viewer"}


# --- the admin, per role ----------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES)
def test_every_role_sees_every_record_changelist(client, org, role):
    _login(client, "someone", role)
    assert client.get(reverse("admin:index")).status_code == 200
    for kind in KINDS:
        assert client.get(_url(kind.model, "changelist")).status_code == 200, kind.name


@pytest.mark.parametrize("role", ROLES)
def test_add_pages_for_writers_only(client, role):
    _login(client, "someone", role)
    for kind in KINDS:
        expected = 200 if "add" in _admin_actions(role, kind.name) else 403
        assert client.get(_url(kind.model, "add")).status_code == expected, kind.name


def test_viewer_sees_a_record_read_only(client, org):
    _login(client, "vera", "viewer")
    page = client.get(_url(OrgUnit, "change", org["sales"].pk))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Sales West" in html
    assert 'name="_save"' not in html and 'name="name"' not in html


def test_viewer_cannot_change_add_or_delete_through_the_admin(client, org):
    _login(client, "vera", "viewer")
    unit = org["sales"]
    changed = client.post(_url(OrgUnit, "change", unit.pk), _unit_form(unit, name="Hacked"))
    assert changed.status_code == 403
    added = client.post(_url(OrgUnit, "add"), _unit_form(unit, external_id="U-NEW"))
    assert added.status_code == 403
    deleted = client.post(_url(OrgUnit, "delete", unit.pk), {"post": "yes"})
    assert deleted.status_code == 403
    unit.refresh_from_db()
    assert unit.name == "Sales West"
    assert not OrgUnit.objects.filter(external_id="U-NEW").exists()
    assert unit.history.count() == 1


def test_quality_manager_changes_a_record_and_history_names_them(client, org):
    _login(client, "quinn", "quality-manager")
    unit = org["sales"]
    response = client.post(_url(OrgUnit, "change", unit.pk),
                           _unit_form(unit, name="Sales West and South"))
    assert response.status_code == 302, response.content.decode()[:2000]
    unit.refresh_from_db()
    assert unit.name == "Sales West and South"
    latest = unit.history.first()
    assert latest.name == "Sales West and South"
    assert latest.history_user.username == "quinn"


def test_a_user_without_a_role_sees_no_records_in_the_admin(client, org):
    _login(client, "nobody", None)
    listing = client.get(_url(OrgUnit, "changelist"))
    assert listing.status_code == 302 and reverse("admin:login") in listing["Location"]
    # Even let in as staff by hand, without a role there are no rights on records.
    User.objects.filter(username="nobody").update(is_staff=True)
    assert client.get(_url(OrgUnit, "changelist")).status_code == 403
    assert client.get(_url(OrgUnit, "change", org["sales"].pk)).status_code == 403


@pytest.mark.parametrize("role", [r for r in ROLES if r != Role.ADMIN])
def test_users_and_tokens_are_admin_only(client, role):
    _login(client, "someone", role)
    for model in (Profile, ApiToken):
        assert client.get(_url(model, "changelist")).status_code == 403, model.__name__
        assert client.get(_url(model, "add")).status_code == 403, model.__name__
    profile = Profile.objects.get(user__username="someone")
    assert client.get(_url(Profile, "change", profile.pk)).status_code == 403
    index = client.get(reverse("admin:index")).content.decode()
    assert _url(Profile, "changelist") not in index


def test_users_and_tokens_stay_admin_only_when_rights_are_granted_by_hand(client):
    _login(client, "quinn", "quality-manager")
    quinn = User.objects.get(username="quinn")
    quinn.user_permissions.add(*Permission.objects.filter(content_type__app_label="accounts"))
    assert client.get(_url(Profile, "changelist")).status_code == 403
    assert client.get(_url(ApiToken, "changelist")).status_code == 403


def test_admin_role_manages_users_and_tokens(client):
    _login(client, "boss", "admin")
    for model in (Profile, ApiToken):
        assert client.get(_url(model, "changelist")).status_code == 200, model.__name__
    assert client.get(_url(Profile, "add")).status_code == 200


# --- the record pages -------------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES)
def test_record_page_buttons_follow_the_role(client, org, role):
    _login(client, "someone", role)
    kind = get_kind("org-units")
    detail = client.get(reverse("record-detail", args=[kind.name, "U-SA"])).content.decode()
    listing = client.get(reverse("record-list", args=[kind.name])).content.decode()
    may_write = role in MANAGERS  # the org tree is the managers' (docs/roles.md)
    assert ('data-testid="edit-record"' in detail) == may_write
    assert (reverse("record-edit", args=[kind.name, "U-SA"]) in detail) == may_write
    assert (reverse("record-delete", args=[kind.name, "U-SA"]) in detail) == may_write
    assert ('data-testid="new-record"' in listing) == may_write
    assert 'href="/admin/"' in detail


def test_no_admin_link_without_a_role(client, org):
    _login(client, "nobody", None)
    home = client.get(reverse("dashboard")).content.decode()
    assert 'href="/admin/"' not in home
