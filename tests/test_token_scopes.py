"""API tokens scoped to a role: issued at most at the user's role, judged by the lower of the
token's scope and the user's current role, shown by ``user list`` and the admin.

A small world: unit U-A (with U-A1 below it) and U-B, one nonconformance in each.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from typer.testing import CliRunner

from qualityloop.cli import app
from qualityloop.records.accounts.choices import Role
from qualityloop.records.accounts.models import ApiToken, Profile, lower_role, role_of
from qualityloop.records.organisation.models import OrgUnit
from qualityloop.services.record_kinds import get_kind
from qualityloop.services.record_writer import write_record
from qualityloop.services.users import add_user, issue_token, list_users, set_role

PASSWORD = "scoped-Pass-42"


def _nc(external_id: str, unit: str) -> dict[str, Any]:
    return {"external_id": external_id, "title": "Scratches", "org_unit": unit,
            "detected_on": "2024-03-01", "stage": "production", "source": "internal_audit",
            "severity": "minor"}


@pytest.fixture
def world(db) -> None:
    for external_id, parent in (("U-A", ""), ("U-A1", "U-A"), ("U-B", "")):
        write_record(get_kind("org-units"), {"external_id": external_id, "name": external_id,
                                             "kind": "site", "parent": parent})
    write_record(get_kind("nonconformances"), _nc("NC-A", "U-A1"))
    write_record(get_kind("nonconformances"), _nc("NC-B", "U-B"))


def _user(username: str, role: str, unit: str | None = None):
    add_user(username, role, password=PASSWORD)
    if unit is not None:
        Profile.objects.filter(user__username=username).update(
            org_unit=OrgUnit.objects.get(external_id=unit))
    return get_user_model().objects.get(username=username)


class Api:
    """Requests with one bearer token."""

    def __init__(self, client: Client, token: str):
        self.client, self.headers = client, {"HTTP_AUTHORIZATION": f"Bearer {token}"}

    def __call__(self, method: str, path: str, body: Any = None) -> int:
        if body is None:
            return getattr(self.client, method)(path, **self.headers).status_code
        return getattr(self.client, method)(path, body, content_type="application/json",
                                            **self.headers).status_code


WRITES = [
    ("post", "/api/nonconformances/", _nc("NC-NEW", "U-B")),
    ("patch", "/api/nonconformances/NC-B", {"title": "Dents"}),
    ("put", "/api/nonconformances/NC-B", _nc("NC-B", "U-B")),
    ("delete", "/api/nonconformances/NC-B", None),
    ("post", "/api/nonconformances/NC-B/containment", {"containment": "Hold"}),
    ("post", "/api/nonconformances/NC-B/close", {"closed_on": "2024-04-01",
                                                 "password": PASSWORD}),
    ("post", "/api/org-units/", {"external_id": "U-NEW", "name": "New", "kind": "site"}),
    ("post", "/api/policies/", {"external_id": "POL-1", "title": "Policy", "statement": "Do"}),
]
READS = ["/api/nonconformances/", "/api/nonconformances/NC-B", "/api/nonconformances/NC-B/history",
         "/api/org-units/", "/api/me"]


# ---------------------------------------------------------------------------------------------
# Issuing


def test_lower_role_follows_the_order_of_roles():
    assert lower_role(Role.ADMIN, Role.VIEWER) == Role.VIEWER
    assert lower_role(Role.STAFF, Role.QUALITY_MANAGER) == Role.STAFF
    assert lower_role(Role.UNIT_LEAD, None) == Role.UNIT_LEAD
    assert lower_role(None, Role.VIEWER) is None


@pytest.mark.django_db
def test_a_token_scope_above_the_users_role_is_refused_clearly(world):
    _user("lee", Role.UNIT_LEAD, "U-A")
    with pytest.raises(ValueError, match="may do at most what its user may.*'unit-lead'"):
        issue_token("lee", "bi", role=Role.QUALITY_MANAGER)
    with pytest.raises(ValueError, match="unknown role 'boss'"):
        issue_token("lee", "bi", role="boss")
    assert ApiToken.objects.filter(user__username="lee").count() == 1  # only add_user's
    issue_token("lee", "bi", role=Role.VIEWER)
    issue_token("lee", "same", role=Role.UNIT_LEAD)
    assert ApiToken.objects.filter(user__username="lee").count() == 3


@pytest.mark.django_db
def test_the_cli_issues_scoped_tokens_and_lists_their_scope(world):
    _user("ann", Role.ADMIN)

    def cli(*args: str):
        return CliRunner().invoke(app, [*args], terminal_width=200)

    issued = cli("user", "token", "ann", "--name", "bi", "--role", "viewer", "--json")
    assert issued.exit_code == 0, issued.output
    assert json.loads(issued.output)["role"] == "viewer"
    listed = json.loads(cli("user", "list", "--json").output)[0]
    assert [(t["name"], t["scope"]) for t in listed["tokens"]] == [("cli", "admin"),
                                                                 ("bi", "viewer")]
    table = cli("user", "list").output
    assert "cli: admin, bi: viewer" in table
    _user("sam", Role.STAFF)
    refused = cli("user", "token", "sam", "--role", "admin")
    assert refused.exit_code == 1
    assert "a token may do at most what its user may" in refused.output
    assert "Traceback" not in refused.output


# ---------------------------------------------------------------------------------------------
# Requests


@pytest.mark.django_db
def test_a_viewer_token_of_an_admin_reads_but_never_writes(world, client):
    _user("ann", Role.ADMIN)
    full = Api(client, issue_token("ann", "full"))
    viewer = Api(client, issue_token("ann", "bi", role=Role.VIEWER))
    for path in READS:
        assert viewer("get", path) == 200, path
    for method, path, body in WRITES:
        assert viewer(method, path, body) == 403, (method, path)
    assert full("post", "/api/nonconformances/", _nc("NC-NEW", "U-B")) == 201
    assert full("patch", "/api/nonconformances/NC-B", {"title": "Dents"}) == 200
    me = client.get("/api/me", HTTP_AUTHORIZATION=viewer.headers["HTTP_AUTHORIZATION"]).json()
    assert me["role"] == Role.VIEWER


@pytest.mark.django_db
def test_a_refusal_names_the_tokens_limit(world, client):
    _user("ann", Role.ADMIN)
    token = issue_token("ann", "bi", role=Role.VIEWER)
    answer = client.post("/api/org-units/", {"external_id": "U-X", "name": "X", "kind": "site"},
                         content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert answer.status_code == 403
    assert "has the role 'viewer' (Viewer (read only)) through an API token limited to it " \
        "(their own: 'admin')" in answer.json()["detail"]


@pytest.mark.django_db
def test_demoting_the_user_narrows_their_tokens(world, client):
    user = _user("qm", Role.QUALITY_MANAGER)
    unscoped = Api(client, issue_token("qm", "all"))
    staff = Api(client, issue_token("qm", "staff", role=Role.STAFF))
    assert staff("post", "/api/nonconformances/", _nc("NC-1", "U-B")) == 201  # staff raise NCs
    assert staff("patch", "/api/nonconformances/NC-B", {"title": "Dents"}) == 403
    assert unscoped("patch", "/api/nonconformances/NC-B", {"title": "Dents"}) == 200
    set_role("qm", Role.VIEWER)
    for token in (unscoped, staff):
        assert token("get", "/api/nonconformances/NC-B") == 200
        assert token("post", "/api/nonconformances/", _nc("NC-2", "U-B")) == 403
        assert token("patch", "/api/nonconformances/NC-B", {"title": "Gone"}) == 403
    set_role("qm", Role.QUALITY_MANAGER)  # promoted again: each token back to its own limit
    assert unscoped("patch", "/api/nonconformances/NC-B", {"title": "Back"}) == 200
    assert staff("patch", "/api/nonconformances/NC-B", {"title": "Back"}) == 403
    assert role_of(user) == Role.QUALITY_MANAGER  # a session (no token) acts with the own role


@pytest.mark.django_db
def test_a_staff_token_of_a_unit_lead_stays_within_the_unit(world, client):
    """Staff raise NCs in any unit, a unit lead only in theirs: the token gets the narrower."""
    _user("qm", Role.QUALITY_MANAGER, "U-A")
    staff = Api(client, issue_token("qm", "staff", role=Role.STAFF))
    set_role("qm", Role.UNIT_LEAD)
    assert staff("post", "/api/nonconformances/", _nc("NC-1", "U-A")) == 201
    assert staff("post", "/api/nonconformances/", _nc("NC-2", "U-B")) == 403
    assert staff("patch", "/api/nonconformances/NC-A", {"title": "Dents"}) == 403  # staff can't


@pytest.mark.django_db
def test_revoked_and_scoped_tokens_together(world, client):
    _user("ann", Role.ADMIN)
    token = issue_token("ann", "bi", role=Role.VIEWER)
    ApiToken.objects.filter(role=Role.VIEWER).update(revoked_at="2024-01-01T00:00:00Z")
    assert Api(client, token)("get", "/api/nonconformances/") == 401


@pytest.mark.django_db
def test_the_admin_shows_each_tokens_scope(world, client):
    _user("ann", Role.ADMIN)
    _user("sam", Role.STAFF)
    issue_token("ann", "bi", role=Role.VIEWER)
    issue_token("sam", "mine")
    client.login(username="ann", password=PASSWORD)
    page = client.get("/admin/accounts/apitoken/").content.decode()
    assert "Scope" in page and "Acts as" in page
    assert "Viewer (read only)" in page and ">staff<" in page
    rows = {row["username"]: row for row in list_users()}
    assert [t["limited_to"] for t in rows["ann"]["tokens"]] == [None, Role.VIEWER]
