"""The Django admin: every record model registered with history; every role gets in, with the
rights of its role (the details per role are in test_roles.py); no role, no entry."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.urls import reverse
from simple_history.admin import SimpleHistoryAdmin
from webdata import build_organisation

from qualityloop.services.record_kinds import KINDS
from qualityloop.services.users import add_user

pytestmark = pytest.mark.django_db
RECORD_APPS = {"organisation", "customers", "quality", "accounts"}


def _url(model, action: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{action}", args=args)


def _record_models():
    return [m for m in admin.site._registry if m._meta.app_label in RECORD_APPS]


@pytest.fixture
def superuser_client(client):
    User.objects.create_superuser("root", "root@example.org", "pw-for-tests")
    client.login(username="root", password="pw-for-tests")
    return client


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_every_record_kind_is_in_the_admin(kind):
    model_admin = admin.site._registry.get(kind.model)
    assert model_admin is not None, f"{kind.model_label} has no admin"
    if hasattr(kind.model, "history"):
        assert isinstance(model_admin, SimpleHistoryAdmin)
    assert model_admin.search_fields, "admin search needs search_fields"


def test_references_never_render_as_full_selects():
    # A select listing 100,000 customers would make the page unusable.
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label not in RECORD_APPS:
            continue
        picked = set(model_admin.autocomplete_fields) | set(model_admin.raw_id_fields)
        editable = [f for f in model._meta.get_fields()
                    if (f.many_to_one or f.many_to_many or f.one_to_one) and f.concrete
                    and f.editable and f.name not in (model_admin.readonly_fields or ())]
        for field in editable:
            assert field.name in picked, f"{model.__name__}.{field.name} renders a full select"


def test_changelist_add_and_change_pages_for_every_model(superuser_client):
    build_organisation()
    for model in _record_models():
        listing = superuser_client.get(_url(model, "changelist"))
        assert listing.status_code == 200, model.__name__
        if admin.site._registry[model].has_add_permission(_FakeRequest()):
            assert superuser_client.get(_url(model, "add")).status_code == 200, model.__name__
        first = model.objects.first()
        if first is not None:
            change = superuser_client.get(_url(model, "change", first.pk))
            assert change.status_code == 200, model.__name__
            if hasattr(model, "history"):
                history = superuser_client.get(_url(model, "history", first.pk))
                assert history.status_code == 200, model.__name__


def test_admin_search_and_filter(superuser_client):
    build_organisation()
    from qualityloop.records.customers.models import Customer

    found = superuser_client.get(_url(Customer, "changelist"), {"q": "Alpha"}).content.decode()
    assert "Alpha Ltd" in found and "Beta GmbH" not in found
    churned = superuser_client.get(_url(Customer, "changelist"), {"status__exact": "churned"})
    assert "Beta GmbH" in churned.content.decode()
    assert "Alpha Ltd" not in churned.content.decode()


def test_admin_edit_is_recorded_in_history(superuser_client):
    org = build_organisation()
    from qualityloop.records.organisation.models import OrgUnit

    unit = org["sales"]
    form = {"external_id": unit.external_id, "name": "Sales West and South", "kind": unit.kind,
            "parent": org["company"].pk, "head": "", "description": ""}
    response = superuser_client.post(_url(OrgUnit, "change", unit.pk), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    latest = unit.history.first()
    assert latest.name == "Sales West and South"
    assert latest.history_user.username == "root"


@pytest.mark.parametrize("role", ["viewer", "staff", "quality-manager", "top-management"])
def test_non_admin_roles_enter_the_admin_with_the_rights_of_their_role(client, role):
    add_user("someone", role, password="pw-for-tests")
    client.login(username="someone", password="pw-for-tests")
    from qualityloop.records.customers.models import Customer

    assert client.get(reverse("admin:index")).status_code == 200
    assert client.get(_url(Customer, "changelist")).status_code == 200
    # Staff raise NCs and complaints, not customers (docs/roles.md).
    expected_add = 403 if role in ("viewer", "staff") else 200
    assert client.get(_url(Customer, "add")).status_code == expected_add


def test_a_user_without_a_role_is_sent_to_the_admin_login(client):
    User.objects.create_user("nobody", password="pw-for-tests")
    client.login(username="nobody", password="pw-for-tests")
    from qualityloop.records.customers.models import Customer

    for url in (reverse("admin:index"), _url(Customer, "changelist")):
        response = client.get(url)
        assert response.status_code == 302
        assert reverse("admin:login") in response["Location"]


def test_admin_role_gets_in(client):
    add_user("boss", "admin", password="pw-for-tests")
    client.login(username="boss", password="pw-for-tests")
    assert client.get(reverse("admin:index")).status_code == 200


class _FakeRequest:
    """Just enough of a request for ``has_add_permission`` on a superuser."""

    class user:  # noqa: N801 - mimics request.user
        is_active = is_staff = is_superuser = is_authenticated = True

        @staticmethod
        def has_perm(*_args, **_kwargs):
            return True
