"""The permission matrix: every API operation x every role, each sent as a real request with the
role's bearer token, asserting allowed (any answer but 401/403) or refused (403) as the policy
table of ``services/permissions.py`` says; plus the record pages' new/edit/delete on the web.

The operations come from the API's OpenAPI document, so an endpoint added later is in the matrix
at once: the generated per-kind operations map to (kind, action) by their operation id; any other
operation needs an entry in ``STEPS`` (the test says so when it is missing).

Records are hand-made in a small org tree: the unit lead leads U-OWN, which has U-SUB below it;
U-OTHER is outside. Every kind has an "own" record (in U-SUB or U-OWN, assigned to the staff
user's person) and an "other" record (in U-OTHER, assigned to someone else), so unit-lead
own-unit vs other-unit and staff own-action vs other action are both asserted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client
from django.urls import reverse

from qualityloop.records.accounts.choices import Role
from qualityloop.records.accounts.models import ApiToken, Profile
from qualityloop.records.organisation.models import OrgUnit, Person
from qualityloop.services import permissions
from qualityloop.services.permissions import Scope
from qualityloop.services.record_kinds import KINDS, get_kind
from qualityloop.services.record_writer import write_record
from qualityloop.web.api.api import api
from qualityloop.web.api.schemas import record_out

PASSWORD = "matrix-Pass-42"
ROLES: list[str | None] = [*Role.values, None]  # None: a user without a role
GENERATED = {"list": "read", "get": "read", "history": "read", "create": "create",
             "update": "change", "patch": "change", "delete": "delete"}
ANY_USER = "any signed-in user"

STEPS: dict[str, tuple[str, str] | str] = {
    "GET /api/me": ANY_USER,
    "GET /api/kinds": ANY_USER,
    "POST /api/nonconformances/{external_id}/containment": ("nonconformances", "change"),
    "POST /api/nonconformances/{external_id}/root-cause": ("nonconformances", "change"),
    "POST /api/nonconformances/{external_id}/actions": ("nonconformances", "change"),
    "POST /api/nonconformances/{external_id}/close": ("nonconformances", "close"),
    "POST /api/actions/{external_id}/effectiveness-check": ("actions", "verify"),
    "POST /api/complaints/{external_id}/acknowledge": ("complaints", "change"),
    "POST /api/complaints/{external_id}/assess": ("complaints", "change"),
    "POST /api/complaints/{external_id}/investigate": ("complaints", "change"),
    "POST /api/complaints/{external_id}/respond": ("complaints", "change"),
    "POST /api/complaints/{external_id}/close": ("complaints", "close"),
    "POST /api/complaints/{external_id}/satisfaction": ("complaints", "change"),
    "POST /api/complaints/{external_id}/nonconformance": ("complaints", "change"),
    "GET /api/complaints/{external_id}/timers": ("complaints", "read"),
    "GET /api/objectives/{external_id}/status": ("objectives", "read"),
    "POST /api/change-requests/{external_id}/submit": ("change-requests", "change"),
    "POST /api/change-requests/{external_id}/approve": ("change-requests", "approve"),
    "POST /api/change-requests/{external_id}/reject": ("change-requests", "approve"),
    "POST /api/change-requests/{external_id}/implement": ("change-requests", "change"),
    "POST /api/change-requests/{external_id}/verify": ("change-requests", "change"),
    "POST /api/management-reviews/{external_id}/actions": ("management-reviews", "change"),
    "GET /api/review-pack": ("management-reviews", "read"),
}
"""Operations besides the generated per-kind ones: METHOD path -> (record kind, action) of the
policy table, or ANY_USER for operations every signed-in user may call."""


# ---------------------------------------------------------------------------------------------
# The operations, from the OpenAPI document


@cache
def openapi() -> dict:
    """The document ``/api/openapi.json`` serves (a test below checks they are the same)."""
    return api.get_openapi_schema()


def operations() -> list[dict[str, Any]]:
    found = []
    for path, methods in openapi()["paths"].items():
        for method, op in methods.items():
            found.append({"key": f"{method.upper()} {path}", "method": method.upper(),
                          "path": path, "op": op})
    return found


def target_of(operation: dict[str, Any]) -> tuple[str, str] | str | None:
    """(kind, action) or ANY_USER for an operation; None when the matrix does not know it."""
    if operation["key"] in STEPS:
        return STEPS[operation["key"]]
    match = re.fullmatch(r"(list|get|history|create|update|patch|delete)_(\w+)",
                         operation["op"]["operationId"])
    if match is None:
        return None
    kind = match.group(2).replace("_", "-")
    if kind not in {k.name for k in KINDS}:
        return None
    return kind, GENERATED[match.group(1)]


def variants(operation: dict[str, Any]) -> list[str]:
    """"own" and "other" for operations on one record or creating one; "any" otherwise."""
    names_a_record = "{external_id}" in operation["path"]
    creates = operation["method"] == "POST" and not names_a_record and target_of(operation) != (
        ANY_USER)
    return ["own", "other"] if names_a_record or creates else ["any"]


CASES = [
    pytest.param(op["key"], role, variant, id=f"{op['key']}|{role or 'no-role'}|{variant}")
    for op in operations() for role in ROLES for variant in variants(op)
]


# ---------------------------------------------------------------------------------------------
# Hand-made records


UNITS = [("U-TOP", "Company", "company", ""), ("U-OWN", "Lead's unit", "site", "U-TOP"),
         ("U-SUB", "Below the lead's unit", "team", "U-OWN"),
         ("U-OTHER", "Another unit", "site", "U-TOP")]


def _rows(tag: str, unit: str, person: str) -> list[tuple[str, dict[str, Any]]]:
    """One record of every kind, in ``unit`` and assigned to ``person``; ids end in ``tag``."""
    def i(prefix: str) -> str:
        return f"{prefix}-{tag}"
    return [
        ("people", {"external_id": i("P"), "name": f"Person {tag}", "org_unit": unit}),
        ("policies", {"external_id": i("POL"), "title": "Policy", "statement": "Do well"}),
        ("strategies", {"external_id": i("STR"), "title": "Strategy", "policy": i("POL"),
                        "period_start": "2024-01-01", "period_end": "2025-12-31"}),
        ("objectives", {"external_id": i("OBJ"), "title": "Fewer defects", "org_unit": unit,
                        "owner": person, "kpi": "defects", "target": "5",
                        "direction": "decrease", "due_on": "2025-12-31"}),
        ("objective-measurements", {"external_id": i("OM"), "objective": i("OBJ"),
                                    "measured_on": "2024-06-30", "value": "7"}),
        ("training-courses", {"external_id": i("TC"), "title": "Course",
                              "course_type": "problem_recognition"}),
        ("training-records", {"external_id": i("TR"), "person": person, "course": i("TC"),
                              "completed_on": "2024-03-01"}),
        ("customers", {"external_id": i("C"), "name": f"Customer {tag}",
                       "segment": "enterprise", "acquired_on": "2020-01-01",
                       "serving_unit": unit}),
        ("requirements", {"external_id": i("R"), "title": "On time", "customer": i("C"),
                          "characteristic": "on-time delivery", "target": "95"}),
        ("requirement-measurements", {"external_id": i("RM"), "requirement": i("R"),
                                      "customer": i("C"), "measured_on": "2024-06-30",
                                      "value": "97"}),
        ("orders", {"external_id": i("O"), "customer": i("C"), "ordered_on": "2024-01-15",
                    "amount": "100"}),
        ("feedback", {"external_id": i("F"), "customer": i("C"), "responded_on": "2024-02-01",
                      "nps": "9"}),
        # No org unit of its own: it belongs to its customer's serving unit.
        ("complaints", {"external_id": i("CO"), "customer": i("C"), "received_on": "2024-02-01",
                        "description": "Late", "handler": person}),
        ("design-projects", {"external_id": i("DP"), "name": "Widget", "org_unit": unit,
                             "started_on": "2024-01-01"}),
        ("design-reviews", {"external_id": i("DR"), "project": i("DP"), "stage": "concept",
                            "held_on": "2024-02-01"}),
        ("nonconformances", {"external_id": i("NC"), "title": "Scratches", "org_unit": unit,
                             "detected_on": "2024-03-01", "stage": "production",
                             "source": "internal_audit", "severity": "minor"}),
        ("actions", {"external_id": i("A"), "nonconformance": i("NC"), "kind": "corrective",
                     "description": "Fix the fixture", "owner": person, "due_on": "2024-05-01"}),
        ("change-requests", {"external_id": i("CR"), "title": "New fixture", "reason": "NCs",
                             "org_unit": unit, "requested_by": person,
                             "requested_on": "2024-03-05", "risk_level": "low"}),
        ("management-reviews", {"external_id": i("MR"), "title": "Review", "held_on": "2024-12-10",
                                "chair": person}),
        ("process-measurements", {"external_id": i("PM"), "characteristic": "Bore",
                                  "org_unit": unit, "subgroup": "S-1",
                                  "measured_at": "2024-06-01T08:00:00+00:00", "value": "12.0"}),
    ]


RECORD_IDS = {
    variant: {kind: row["external_id"] for kind, row in _rows(tag, "", "")}
    for variant, tag in (("own", "OWN"), ("other", "OTHER"))
}
RECORD_IDS["own"]["org-units"], RECORD_IDS["other"]["org-units"] = "U-SUB", "U-OTHER"


def _build_world() -> dict[str | None, str]:
    """The org tree, the records and one user (with a token) per role; returns the tokens."""
    for external_id, name, unit_kind, parent in UNITS:
        write_record(get_kind("org-units"),
                     {"external_id": external_id, "name": name, "kind": unit_kind,
                      "parent": parent})
    write_record(get_kind("people"), {"external_id": "P-STAFF", "name": "Sam Staff",
                                      "org_unit": "U-SUB"})
    write_record(get_kind("people"), {"external_id": "P-ELSE", "name": "Elle Else",
                                      "org_unit": "U-OTHER"})
    for tag, unit, person in (("OWN", "U-SUB", "P-STAFF"), ("OTHER", "U-OTHER", "P-ELSE")):
        for kind_name, row in _rows(tag, unit, person):
            write_record(get_kind(kind_name), row)
    return {role: _user_with_token(role) for role in ROLES}


def _user_with_token(role: str | None) -> str:
    user = get_user_model().objects.create_user(f"as-{role or 'nobody'}", password=PASSWORD)
    if role is not None:
        unit = OrgUnit.objects.get(external_id="U-OWN") if role == Role.UNIT_LEAD else None
        Profile.objects.create(user=user, role=role, org_unit=unit)
    if role == Role.STAFF:
        Person.objects.filter(external_id="P-STAFF").update(user=user)
    return ApiToken.issue(user)[1]


@pytest.fixture(scope="module")
def tokens(django_db_setup, django_db_blocker) -> Iterator[dict[str | None, str]]:
    """Built once for the module inside a transaction that is rolled back at the end; every test
    runs in its own savepoint, so a request that deletes or closes a record changes nothing for
    the next one."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield _build_world()
        transaction.set_rollback(True)


# ---------------------------------------------------------------------------------------------
# Requests


def _example(schema: dict[str, Any], components: dict[str, Any], name: str = "") -> Any:
    """A value the schema accepts (required fields only; passwords are the caller's own)."""
    if "$ref" in schema:
        return _example(components[schema["$ref"].rsplit("/", 1)[-1]], components, name)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return _example(options[0], components, name)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {field: _example(sub, components, field)
                for field, sub in schema.get("properties", {}).items()
                if field in schema.get("required", [])}
    if kind == "array":
        return []
    if kind == "boolean":
        return True
    if kind in ("integer", "number"):
        return max(1, schema.get("minimum", 1))
    if schema.get("format") == "date":
        return "2024-06-01"
    if schema.get("format") == "date-time":
        return "2024-06-01T08:00:00+00:00"
    if name == "password":
        return PASSWORD
    return "P-STAFF" if name in ("owner", "verified_by") else "x"


def _body(operation: dict[str, Any], target: tuple[str, str] | str, variant: str) -> Any:
    """A body the schema accepts: for the generated create and update operations the content of
    the own or other record (so a refused write is refused for who, not for what)."""
    method = operation["method"]
    if isinstance(target, tuple) and target[1] in ("create", "change") and not operation[
            "path"].count("}/"):
        if method == "PATCH":
            return {}
        row = _record_row(target[0], variant)
        if method == "POST":
            row["external_id"] = f"NEW-{variant}"
        return row
    content = operation["op"].get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    if schema is None:
        return None
    body = _example(schema, openapi()["components"]["schemas"])
    # Signed steps need the caller's password; step inputs ignore unknown fields.
    return {**body, "password": PASSWORD} if isinstance(body, dict) else body


def _record_row(kind_name: str, variant: str) -> dict[str, Any]:
    kind = get_kind(kind_name)
    obj = kind.queryset().get(external_id=RECORD_IDS[variant][kind_name])
    row = record_out(obj)
    for stamp in ("created_at", "updated_at"):
        row.pop(stamp, None)
    return {name: (str(value) if hasattr(value, "isoformat") else value)
            for name, value in row.items()}


def send(client: Client, token: str | None, operation: dict[str, Any], variant: str):
    target = target_of(operation)
    path = operation["path"]
    if isinstance(target, tuple):
        path = path.replace("{external_id}", RECORD_IDS.get(variant, RECORD_IDS["own"])[target[0]])
    body = _body(operation, target, variant) if target is not None else None
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    method = getattr(client, operation["method"].lower())
    if body is None:
        return method(path, **headers)
    return method(path, body, content_type="application/json", **headers)


def expected_allowed(target: tuple[str, str] | str, role: str | None, variant: str) -> bool:
    """What the policy table says: the role's scope, and whether the record is within it (own
    records are in the unit lead's unit and assigned to the staff user's person)."""
    if target == ANY_USER:
        return True
    kind, action = target
    scope = permissions.rule(kind, action, role)
    if scope is Scope.ALL:
        return True
    return scope is not Scope.NONE and variant == "own"


# ---------------------------------------------------------------------------------------------
# The matrix

BY_KEY = {op["key"]: op for op in operations()}


@pytest.mark.django_db
@pytest.mark.parametrize(("key", "role", "variant"), CASES)
def test_api_operation_by_role(tokens, client, key, role, variant):
    operation = BY_KEY[key]
    target = target_of(operation)
    assert target is not None, (
        f"{key} has no expectation in the permission matrix: add it to STEPS in "
        f"tests/test_permission_matrix.py as (record kind, action of services/permissions.POLICY)"
        f" or ANY_USER")
    response = send(client, tokens[role], operation, variant)
    answer = response.content.decode()[:300]
    if expected_allowed(target, role, variant):
        assert response.status_code not in (401, 403, 404), answer
        assert response.status_code < 500, answer
    else:
        assert response.status_code == 403, answer


@pytest.mark.django_db
def test_every_operation_refuses_callers_without_a_token(tokens, client):
    for operation in operations():
        response = send(client, None, operation, "own")
        assert response.status_code == 401, operation["key"]


@pytest.mark.django_db
def test_the_matrix_reads_the_served_openapi_document(client):
    served = client.get("/api/openapi.json").json()
    assert set(served["paths"]) == set(openapi()["paths"])
    keys = {op["key"] for op in operations()}
    assert len(keys) > 150
    stale = set(STEPS) - keys
    assert not stale, f"STEPS names operations the API no longer has: {sorted(stale)}"


def test_every_record_kind_is_in_the_policy_table():
    missing = [kind.name for kind in KINDS if kind.name not in permissions.POLICY]
    assert not missing, f"add {missing} to services/permissions.POLICY and docs/roles.md"


# ---------------------------------------------------------------------------------------------
# Hand-written anchors: the table itself says what item 8 of issue 6 says


def test_the_table_follows_the_issue():
    rule = permissions.rule
    for kind in KINDS:
        for action in permissions.actions_of(kind):
            assert rule(kind, action, Role.ADMIN) is Scope.ALL
            assert rule(kind, action, Role.QUALITY_MANAGER) is Scope.ALL
            assert rule(kind, action, Role.TOP_MANAGEMENT) is Scope.ALL
            assert rule(kind, action, None) is Scope.NONE
            assert (rule(kind, action, Role.VIEWER) is Scope.ALL) == (action == "read")
    assert rule("nonconformances", "create", Role.STAFF) is Scope.ALL
    assert rule("complaints", "create", Role.STAFF) is Scope.ALL
    assert rule("actions", "change", Role.STAFF) is Scope.ASSIGNED
    assert rule("customers", "create", Role.STAFF) is Scope.NONE
    assert rule("nonconformances", "close", Role.STAFF) is Scope.NONE
    assert rule("nonconformances", "change", Role.UNIT_LEAD) is Scope.UNIT
    assert rule("change-requests", "approve", Role.UNIT_LEAD) is Scope.UNIT
    assert rule("policies", "change", Role.UNIT_LEAD) is Scope.NONE


def _api(client: Client, token: str):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}

    def call(method: str, path: str, body: Any = None):
        if body is None:
            return getattr(client, method)(path, **headers)
        return getattr(client, method)(path, body, content_type="application/json", **headers)
    return call


@pytest.mark.django_db
def test_a_unit_lead_cannot_move_a_record_out_of_their_unit(tokens, client):
    call = _api(client, tokens[Role.UNIT_LEAD])
    moved = call("patch", "/api/nonconformances/NC-OWN", {"org_unit": "U-OTHER"})
    assert moved.status_code == 403
    assert "own unit" in moved.json()["detail"]
    assert call("get", "/api/nonconformances/NC-OWN").json()["org_unit"] == "U-SUB"
    assert call("patch", "/api/nonconformances/NC-OWN", {"title": "Dents"}).status_code == 200
    created = call("post", "/api/nonconformances/", {**_record_row("nonconformances", "other"),
                                                     "external_id": "NC-NEW"})
    assert created.status_code == 403
    assert call("get", "/api/nonconformances/NC-NEW").status_code == 404


@pytest.mark.django_db
def test_staff_work_on_their_own_actions_only(tokens, client):
    call = _api(client, tokens[Role.STAFF])
    assert call("patch", "/api/actions/A-OWN", {"status": "in_progress"}).status_code == 200
    refused = call("patch", "/api/actions/A-OTHER", {"status": "in_progress"})
    assert refused.status_code == 403 and "assigned to their own person" in refused.json()[
        "detail"]
    handed_on = call("patch", "/api/actions/A-OWN", {"owner": "P-ELSE"})
    assert handed_on.status_code == 403
    raised = call("post", "/api/nonconformances/", {**_record_row("nonconformances", "other"),
                                                    "external_id": "NC-RAISED"})
    assert raised.status_code == 201
    assert call("patch", "/api/nonconformances/NC-RAISED", {"title": "x"}).status_code == 403


@pytest.mark.django_db
def test_staff_work_the_complaints_they_handle_but_do_not_close_them(tokens, client):
    call = _api(client, tokens[Role.STAFF])
    assert call("patch", "/api/complaints/CO-OWN", {"category": "late"}).status_code == 200
    refused = call("patch", "/api/complaints/CO-OTHER", {"category": "late"})
    assert refused.status_code == 403 and "assigned to their own person" in refused.json()[
        "detail"]
    assert call("patch", "/api/complaints/CO-OWN", {"handler": "P-ELSE"}).status_code == 403


@pytest.mark.django_db
def test_a_plain_write_into_a_step_status_needs_the_step(tokens, client):
    """Setting the status a workflow step sets (permissions.STEP_STATUSES) is that step."""
    staff = _api(client, tokens[Role.STAFF])
    verdict = {"status": "effective", "effectiveness_checked_on": "2024-06-01"}
    refused = staff("patch", "/api/actions/A-OWN", verdict)
    assert refused.status_code == 403 and "verify" in refused.json()["detail"]
    assert staff("patch", "/api/actions/A-OWN", {"status": "done"}).status_code == 200
    manager = _api(client, tokens[Role.QUALITY_MANAGER])
    assert manager("patch", "/api/actions/A-OWN", verdict).status_code == 200
    # Writing other fields of a record already in a step status is no new step.
    assert staff("patch", "/api/actions/A-OWN", {"description": "Fixed"}).status_code == 200


@pytest.mark.django_db
def test_the_complaint_follows_its_own_unit_before_its_customers(tokens, client):
    call = _api(client, tokens[Role.UNIT_LEAD])
    assert call("patch", "/api/complaints/CO-OWN", {"category": "late"}).status_code == 200
    assert call("patch", "/api/complaints/CO-OWN", {"org_unit": "U-OTHER"}).status_code == 403


@pytest.mark.django_db
def test_a_unit_lead_without_a_unit_is_told_so(tokens, client):
    Profile.objects.filter(user__username="as-unit-lead").update(org_unit=None)
    response = _api(client, tokens[Role.UNIT_LEAD])("patch", "/api/nonconformances/NC-OWN", {})
    assert response.status_code == 403 and "without an org unit" in response.json()["detail"]


# ---------------------------------------------------------------------------------------------
# The web pages agree with the API

WEB_KINDS = ["nonconformances", "actions", "customers", "complaints", "policies"]
FORMS = {"new": ("record-create", "create"), "edit": ("record-edit", "change"),
         "delete": ("record-delete", "delete")}
WEB_CASES = [
    pytest.param(kind, form, role, variant, id=f"{kind}|{form}|{role or 'no-role'}|{variant}")
    for kind in WEB_KINDS for form in FORMS for role in ROLES
    for variant in (["any"] if form == "new" else ["own", "other"])
]


@pytest.mark.django_db
@pytest.mark.parametrize(("kind", "form", "role", "variant"), WEB_CASES)
def test_record_pages_by_role(tokens, client, kind, form, role, variant):
    client.login(username=f"as-{role or 'nobody'}", password=PASSWORD)
    name, action = FORMS[form]
    args = [kind] if form == "new" else [kind, RECORD_IDS[variant][kind]]
    response = client.get(reverse(name, args=args))
    answer = response.content.decode()[:300]
    allowed = expected_allowed((kind, action), role, variant if form != "new" else "own")
    if allowed:
        assert response.status_code == 200, answer
    else:
        assert response.status_code == 403, answer
    if role is not None:  # the button leading there is shown exactly when the page opens
        shown_on = (reverse("record-list", args=[kind]) if form == "new"
                    else reverse("record-detail", args=args))
        assert (reverse(name, args=args) in client.get(shown_on).content.decode()) == allowed


@pytest.mark.django_db
def test_web_edit_cannot_move_a_record_to_another_unit(tokens, client):
    client.login(username="as-unit-lead", password=PASSWORD)
    form = {**_record_row("nonconformances", "own"), "org_unit": "U-OTHER"}
    form = {k: ("" if v is None else ";".join(v) if isinstance(v, list) else v)
            for k, v in form.items()}
    response = client.post(reverse("record-edit", args=["nonconformances", "NC-OWN"]), form)
    assert response.status_code == 403
    assert get_kind("nonconformances").model.objects.get(
        external_id="NC-OWN").org_unit.external_id == "U-SUB"


# ---------------------------------------------------------------------------------------------
# The documented matrix is the table


def test_docs_roles_matrix_matches_the_table():
    text = (Path(__file__).parents[1] / "docs" / "roles.md").read_text()
    documented = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 + len(Role.values) and cells[0].startswith("`"):
            documented[(cells[0].strip("`"), cells[1])] = cells[2:]
    symbol = {Scope.ALL: "all", Scope.UNIT: "unit", Scope.ASSIGNED: "assigned", Scope.NONE: "–"}
    for kind in KINDS:
        for action in permissions.actions_of(kind):
            row = documented.get((kind.name, action))
            assert row is not None, f"docs/roles.md lacks the row {kind.name} {action}"
            assert row == [symbol[permissions.rule(kind, action, role)] for role in Role.values], (
                f"docs/roles.md row {kind.name} {action} differs from permissions.POLICY")


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "nc"), [(Role.STAFF, "NC-OWN"), (Role.UNIT_LEAD, "NC-OTHER")])
def test_web_nc_steps_agree_with_the_api(tokens, client, role, nc):
    api = _api(client, tokens[role])
    assert api("post", f"/api/nonconformances/{nc}/containment",
               {"containment": "Hold"}).status_code == 403
    client.login(username=f"as-{role}", password=PASSWORD)
    response = client.post(reverse("nc-containment", args=[nc]), {"containment": "Hold"})
    assert response.status_code == 403
    for step in ("nc-containment", "nc-root-cause", "nc-add-action", "nc-close"):
        assert client.post(reverse(step, args=[nc]), {}).status_code == 403, step


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "nc", "forms_shown"), [
    (Role.UNIT_LEAD, "NC-OWN", True), (Role.UNIT_LEAD, "NC-OTHER", False),
    (Role.STAFF, "NC-OWN", False), (Role.QUALITY_MANAGER, "NC-OTHER", True)])
def test_nc_page_shows_step_forms_only_to_who_may_take_them(tokens, client, role, nc,
                                                             forms_shown):
    client.login(username=f"as-{role}", password=PASSWORD)
    page = client.get(reverse("record-detail", args=["nonconformances", nc])).content.decode()
    assert 'data-testid="workflow"' in page
    for step in ("nc-containment", "nc-root-cause", "nc-add-action", "nc-close"):
        assert (f'action="{reverse(step, args=[nc])}"' in page) is forms_shown, step


@pytest.mark.django_db
def test_restrict_by_action_selects_the_records_within_reach(tokens):
    users = {u.username: u for u in get_user_model().objects.filter(username__startswith="as-")}
    lead, staff = users["as-unit-lead"], users["as-staff"]

    def reach(user, kind_name: str, action: str) -> list[str]:
        kind = get_kind(kind_name)
        found = permissions.restrict(kind.model.objects.all(), user, kind, action)
        return sorted(found.values_list("external_id", flat=True))

    assert reach(lead, "nonconformances", "change") == ["NC-OWN"]
    assert reach(lead, "complaints", "close") == ["CO-OWN"]  # through its customer's unit
    assert reach(lead, "requirement-measurements", "delete") == ["RM-OWN"]
    assert reach(lead, "policies", "change") == []
    assert reach(staff, "actions", "change") == ["A-OWN"]
    assert reach(staff, "nonconformances", "create") == ["NC-OTHER", "NC-OWN"]
    assert reach(users["as-viewer"], "actions", "read") == ["A-OTHER", "A-OWN"]
    assert reach(users["as-nobody"], "actions", "read") == []


@pytest.mark.django_db
def test_reading_by_unit_plugs_into_read_scope(tokens, client, monkeypatch):
    """The seam for issue 9: narrowing read_scope narrows every list, read and search."""
    monkeypatch.setattr(permissions, "read_scope", lambda role, kind: (
        Scope.UNIT if role == Role.UNIT_LEAD and permissions.UNIT_PATHS.get(
            kind if isinstance(kind, str) else kind.name) else Scope.ALL))
    call = _api(client, tokens[Role.UNIT_LEAD])
    listed = call("get", "/api/nonconformances/").json()["items"]
    assert [nc["external_id"] for nc in listed] == ["NC-OWN"]
    assert call("get", "/api/nonconformances/NC-OTHER").status_code == 404
    assert call("get", "/api/policies/POL-OTHER").status_code == 200
    everyone = _api(client, tokens[Role.VIEWER])("get", "/api/nonconformances/").json()
    assert everyone["count"] == 2


# ---------------------------------------------------------------------------------------------
# Scoped tokens: every operation again, with a token limited below its user's role

SCOPED = [("as-admin", Role.ADMIN, Role.VIEWER),
          ("as-tm-lead", Role.TOP_MANAGEMENT, Role.UNIT_LEAD)]
"""(user, their role, the token's scope): an admin's read-only token for a reporting tool, and a
top manager of U-OWN with a unit-lead token."""


@pytest.fixture(scope="module")
def scoped_tokens(tokens, django_db_blocker) -> dict[str, str]:
    """One scoped token per SCOPED user, made inside the module's rolled-back transaction."""
    with django_db_blocker.unblock():
        manager = get_user_model().objects.create_user("as-tm-lead", password=PASSWORD)
        Profile.objects.create(user=manager, role=Role.TOP_MANAGEMENT,
                               org_unit=OrgUnit.objects.get(external_id="U-OWN"))
        users = get_user_model().objects.in_bulk([name for name, *_ in SCOPED],
                                                 field_name="username")
        return {name: ApiToken.issue(users[name], "scoped", role=scope)[1]
                for name, _role, scope in SCOPED}


@pytest.mark.django_db
@pytest.mark.parametrize(("username", "role", "scope"), SCOPED)
def test_a_scoped_token_does_what_both_its_scope_and_its_user_may(scoped_tokens, client,
                                                                  username, role, scope):
    wrong = []
    for operation in operations():
        target = target_of(operation)
        for variant in variants(operation):
            with transaction.atomic():  # each request's changes are undone for the next
                response = send(client, scoped_tokens[username], operation, variant)
                transaction.set_rollback(True)
            allowed = (expected_allowed(target, scope, variant)
                       and expected_allowed(target, role, variant))
            refused = response.status_code in (401, 403, 404) or response.status_code >= 500
            if allowed == refused or (not allowed and response.status_code != 403):
                wrong.append(f"{operation['key']} {variant}: {response.status_code} "
                             f"{response.content.decode()[:120]}")
    assert not wrong, "\n".join(wrong)
