"""The REST API: authentication, role permissions, CRUD by external id, validation, history,
filtering and pagination. Users and tokens come from ``services.users.add_user``."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from qualityloop.records.accounts.models import ApiToken
from qualityloop.records.organisation.models import OrgUnit, Person
from qualityloop.services.record_kinds import KINDS
from qualityloop.services.users import add_user

pytestmark = pytest.mark.django_db

# Roles that may create people anywhere: a unit lead only in their own unit, staff not at all
# (docs/roles.md; tests/test_permission_matrix.py sends every operation as every role).
WRITERS = ["admin", "top-management", "quality-manager"]


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


class Api:
    """A test client that sends one user's token with every request."""

    def __init__(self, client, token: str):
        self.client, self.auth = client, bearer(token)

    def get(self, url, **params):
        return self.client.get(url, params, **self.auth)

    def post(self, url, body):
        return self.client.post(url, body, content_type="application/json", **self.auth)

    def put(self, url, body):
        return self.client.put(url, body, content_type="application/json", **self.auth)

    def patch(self, url, body):
        return self.client.patch(url, body, content_type="application/json", **self.auth)

    def delete(self, url):
        return self.client.delete(url, **self.auth)


@pytest.fixture
def api_as(client):
    def make(role: str, name: str | None = None) -> Api:
        return Api(client, add_user(name or f"{role}-user", role).token)
    return make


@pytest.fixture
def units():
    ops = OrgUnit.objects.create(external_id="U-OPS", name="Operations", kind="division")
    OrgUnit.objects.create(external_id="U-ASM", name="Assembly", kind="department", parent=ops)
    OrgUnit.objects.create(external_id="U-QA", name="Quality assurance", kind="department",
                           parent=ops)
    OrgUnit.objects.create(external_id="U-SAL", name="Sales", kind="division")
    return ops


def snapshot() -> list[tuple]:
    """Everything about org units and people a write could change, history included."""
    return [
        tuple(OrgUnit.objects.order_by("pk").values_list("external_id", "name", "kind", "parent")),
        tuple(Person.objects.order_by("pk").values_list("external_id", "name", "org_unit")),
        (OrgUnit.history.count(), Person.history.count()),
    ]


# --- OpenAPI ---------------------------------------------------------------------------------


def test_openapi_lists_every_kind(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "QualityLoop API"
    paths = schema["paths"]
    for kind in KINDS:
        assert f"/api/{kind.name}/" in paths, kind.name
        item = paths[f"/api/{kind.name}/{{external_id}}"]
        assert {"get", "put", "patch", "delete"} <= set(item), kind.name
        assert "post" in paths[f"/api/{kind.name}/"]
    assert "/api/me" in paths and "/api/kinds" in paths
    assert "/api/org-units/{external_id}/history" in paths
    assert "/api/orders/{external_id}/history" not in paths  # orders keep no history
    schemes = schema["components"]["securitySchemes"]
    assert schemes["TokenAuth"] == {"type": "http", "scheme": "bearer"}
    assert "SessionAuth" in schemes
    parameters = [p["name"] for p in paths["/api/org-units/"]["get"]["parameters"]]
    assert parameters == ["q", "kind", "parent", "head", "limit", "offset"]


def test_openapi_schemas_are_typed_from_columns(client):
    schemas = client.get("/api/openapi.json").json()["components"]["schemas"]
    create = schemas["NonconformanceCreate"]
    props = create["properties"]
    assert {"external_id", "title", "org_unit", "detected_on", "stage"} <= set(create["required"])
    assert props["detected_on"]["format"] == "date"
    assert props["stage"]["enum"] == ["design", "prototype", "production", "delivery", "field"]
    assert props["affected_customers"]["type"] == "array"
    assert props["quantity_affected"]["anyOf"][0]["type"] == "integer"
    assert create["additionalProperties"] is False
    # Only the kind's columns, never internal fields.
    out = schemas["PersonOut"]["properties"]
    assert "user" not in out and "id" not in out
    assert "required" not in schemas["NonconformancePatch"]


def test_docs_page_uses_no_cdn(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger" in html.lower()
    assert "cdn." not in html


# --- Authentication --------------------------------------------------------------------------


def test_no_token_is_401(client, units):
    response = client.get("/api/org-units/")
    assert response.status_code == 401
    assert client.get("/api/me").status_code == 401


def test_bad_token_is_401(client, units):
    add_user("someone", "staff")
    assert client.get("/api/org-units/", **bearer("ql_not-a-token")).status_code == 401


def test_revoked_token_is_401(client, units):
    token = add_user("leaver", "staff").token
    assert client.get("/api/org-units/", **bearer(token)).status_code == 200
    ApiToken.objects.filter(user__username="leaver").update(revoked_at=timezone.now())
    assert client.get("/api/org-units/", **bearer(token)).status_code == 401


def test_inactive_user_token_is_401(client, units):
    token = add_user("gone", "staff").token
    get_user_model().objects.filter(username="gone").update(is_active=False)
    assert client.get("/api/org-units/", **bearer(token)).status_code == 401


def test_session_login_works_for_web_pages(client, units):
    add_user("browser", "viewer")
    client.force_login(get_user_model().objects.get(username="browser"))
    response = client.get("/api/org-units/")
    assert response.status_code == 200
    assert response.json()["count"] == 4


def test_me_reports_role(api_as):
    assert api_as("viewer", "vera").get("/api/me").json() == {
        "username": "vera", "role": "viewer", "can_write": False,
    }
    assert api_as("staff", "sam").get("/api/me").json()["can_write"] is True


def test_kinds_lists_the_registry(api_as):
    kinds = api_as("viewer").get("/api/kinds").json()
    assert [k["name"] for k in kinds] == [k.name for k in KINDS]
    people = next(k for k in kinds if k["name"] == "people")
    org_unit = next(c for c in people["columns"] if c["name"] == "org_unit")
    assert org_unit["type"] == "reference" and org_unit["references"] == "org-units"
    assert people["url"] == "/api/people/"


# --- Permissions -----------------------------------------------------------------------------


def test_user_without_role_gets_403_everywhere(client, units):
    user = get_user_model().objects.create_user("nobody")
    _token, plain = ApiToken.issue(user)
    api = Api(client, plain)
    for response in (
        api.get("/api/org-units/"), api.get("/api/org-units/U-OPS"),
        api.get("/api/org-units/U-OPS/history"),
        api.post("/api/org-units/", {"external_id": "U-NEW", "name": "New"}),
    ):
        assert response.status_code == 403
        assert "no role" in response.json()["detail"]


def test_viewer_reads_but_never_writes(api_as, units):
    viewer = api_as("viewer")
    assert viewer.get("/api/org-units/").status_code == 200
    assert viewer.get("/api/org-units/U-OPS").json()["name"] == "Operations"
    assert viewer.get("/api/org-units/U-OPS/history").status_code == 200
    before = snapshot()
    attempts = [
        viewer.post("/api/org-units/", {"external_id": "U-NEW", "name": "New"}),
        viewer.put("/api/org-units/U-OPS", {"name": "Renamed"}),
        viewer.patch("/api/org-units/U-OPS", {"name": "Renamed"}),
        viewer.delete("/api/org-units/U-SAL"),
        viewer.post("/api/people/", {"external_id": "P-1", "name": "Ann"}),
    ]
    for response in attempts:
        assert response.status_code == 403
        assert "viewer" in response.json()["detail"]
        assert "may read" in response.json()["detail"]
    assert snapshot() == before


@pytest.mark.parametrize("role", WRITERS)
def test_every_writing_role_can_create(api_as, units, role):
    response = api_as(role).post(
        "/api/people/", {"external_id": "P-ANN", "name": "Ann", "org_unit": "U-ASM"}
    )
    assert response.status_code == 201, response.json()
    assert Person.objects.get(external_id="P-ANN").org_unit.external_id == "U-ASM"


# --- Create, read, update, delete ------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "quality-manager"])
def test_create_update_patch_delete(api_as, units, role):
    api = api_as(role)
    created = api.post("/api/org-units/", {"external_id": "U-PNT", "name": "Paint shop",
                                           "parent": "U-OPS"})
    assert created.status_code == 201
    body = created.json()
    assert body["parent"] == "U-OPS" and body["kind"] == "department" and body["head"] is None
    assert body["created_at"]

    replaced = api.put("/api/org-units/U-PNT", {"name": "Paint", "kind": "team"})
    assert replaced.status_code == 200, replaced.json()
    assert replaced.json()["parent"] is None  # left out of a PUT: emptied
    assert replaced.json()["kind"] == "team"

    patched = api.patch("/api/org-units/U-PNT", {"parent": "U-ASM"})
    assert patched.status_code == 200
    unit = OrgUnit.objects.get(external_id="U-PNT")
    assert (unit.name, unit.kind, unit.parent.external_id) == ("Paint", "team", "U-ASM")
    assert api.get("/api/org-units/U-PNT").json()["parent"] == "U-ASM"

    assert api.delete("/api/org-units/U-PNT").status_code == 204
    assert not OrgUnit.objects.filter(external_id="U-PNT").exists()
    assert api.get("/api/org-units/U-PNT").status_code == 404


def test_patch_can_rename_external_id(api_as, units):
    api = api_as("quality-manager")
    response = api.patch("/api/org-units/U-SAL", {"external_id": "U-SALES"})
    assert response.status_code == 200
    assert OrgUnit.objects.filter(external_id="U-SALES").exists()
    assert api.patch("/api/org-units/U-SALES", {"external_id": "U-OPS"}).status_code == 409


def test_many_to_many_columns_are_lists(api_as, units):
    api = api_as("quality-manager")
    for pid, name in [("P-1", "Ann"), ("P-2", "Bob"), ("P-3", "Cy")]:
        assert api.post("/api/people/", {"external_id": pid, "name": name}).status_code == 201
    response = api.post("/api/management-reviews/", {
        "external_id": "MR-1", "title": "Q1 review", "held_on": "2024-03-31", "chair": "P-1",
        "attendees": ["P-2", "P-3"],
    })
    assert response.status_code == 201, response.json()
    assert response.json()["attendees"] == ["P-2", "P-3"]
    assert response.json()["held_on"] == "2024-03-31"
    assert api.get("/api/management-reviews/", attendees="P-3").json()["count"] == 1
    assert api.get("/api/management-reviews/", attendees="P-1").json()["count"] == 0


def test_duplicate_external_id_is_409(api_as, units):
    response = api_as("quality-manager").post("/api/org-units/",
                                              {"external_id": "U-OPS", "name": "Again"})
    assert response.status_code == 409
    assert "U-OPS" in response.json()["detail"]
    assert OrgUnit.objects.get(external_id="U-OPS").name == "Operations"


def test_unknown_external_id_is_404(api_as, units):
    api = api_as("quality-manager")
    assert api.get("/api/org-units/U-NONE").status_code == 404
    assert "U-NONE" in api.get("/api/org-units/U-NONE").json()["detail"]
    assert api.put("/api/org-units/U-NONE", {"name": "x"}).status_code == 404
    assert api.patch("/api/org-units/U-NONE", {"name": "x"}).status_code == 404
    assert api.delete("/api/org-units/U-NONE").status_code == 404
    assert api.get("/api/org-units/U-NONE/history").status_code == 404


def test_deleting_a_referenced_record_is_409(api_as, units):
    response = api_as("quality-manager").delete("/api/org-units/U-OPS")  # U-ASM's parent, protected
    assert response.status_code == 409
    assert OrgUnit.objects.filter(external_id="U-OPS").exists()


# --- Bad input -------------------------------------------------------------------------------


def problems(response) -> dict:
    assert response.status_code == 422, response.content
    return {p["column"]: p["message"] for p in response.json()["detail"]}


def test_wrong_types_are_422_by_column(api_as, units):
    before = snapshot()
    found = problems(api_as("quality-manager").post("/api/org-units/", {
        "external_id": "U-BAD", "name": "Bad", "kind": "galaxy", "colour": "red",
    }))
    assert set(found) == {"kind", "colour"}
    assert "division" in found["kind"]
    assert found["colour"] == "unknown column"
    assert snapshot() == before


def test_missing_required_column_is_422(api_as, units):
    found = problems(api_as("quality-manager").post("/api/org-units/", {"external_id": "U-X"}))
    assert "name" in found


def test_unknown_reference_is_422_from_the_writer(api_as, units):
    before = snapshot()
    found = problems(api_as("quality-manager").post("/api/people/", {
        "external_id": "P-9", "name": "Ann", "org_unit": "U-MARS",
    }))
    assert "U-MARS" in found["org_unit"]
    assert snapshot() == before


def test_model_rules_are_422(api_as, units):
    api = api_as("quality-manager")
    found = problems(api.post("/api/customers/", {
        "external_id": "C-1", "name": "Acme", "segment": "enterprise",
        "acquired_on": "2024-05-01", "serving_unit": "U-SAL", "churned_on": "2023-01-01",
    }))
    assert "churned_on" in found
    bad_date = problems(api.patch("/api/org-units/U-OPS", {"name": None}))
    assert "name" in bad_date


def test_bad_date_is_422(api_as, units):
    found = problems(api_as("quality-manager").post("/api/customers/", {
        "external_id": "C-2", "name": "Acme", "segment": "enterprise",
        "acquired_on": "2024-13-45", "serving_unit": "U-SAL",
    }))
    assert "acquired_on" in found and "date" in found["acquired_on"]


# --- History ---------------------------------------------------------------------------------


def test_history_shows_who_changed_what(api_as, units):
    creator, editor = api_as("top-management", "sam"), api_as("quality-manager", "quinn")
    assert creator.post("/api/people/", {
        "external_id": "P-ANN", "name": "Ann", "job_title": "Welder", "org_unit": "U-ASM",
    }).status_code == 201
    assert editor.patch("/api/people/P-ANN", {"job_title": "Lead welder"}).status_code == 200
    assert editor.patch("/api/people/P-ANN", {"org_unit": "U-QA",
                                              "name": "Ann Lee"}).status_code == 200

    history = api_as("viewer").get("/api/people/P-ANN/history").json()
    assert [(h["type"], h["user"]) for h in history] == [
        ("changed", "quinn"), ("changed", "quinn"), ("created", "sam"),
    ]
    latest, first_edit, created = history
    assert {c["field"]: (c["old"], c["new"]) for c in latest["changes"]} == {
        "org_unit": ("U-ASM", "U-QA"), "name": ("Ann", "Ann Lee"),
    }
    assert first_edit["changes"] == [{"field": "job_title", "old": "Welder",
                                      "new": "Lead welder"}]
    assert {"field": "name", "old": None, "new": "Ann"} in created["changes"]
    assert latest["date"] >= first_edit["date"] >= created["date"]


def test_history_outlives_a_deleted_record(api_as, units):
    api = api_as("top-management", "sam")
    api.post("/api/org-units/", {"external_id": "U-TMP", "name": "Temporary"})
    assert api.delete("/api/org-units/U-TMP").status_code == 204
    history = api.get("/api/org-units/U-TMP/history").json()
    assert [(h["type"], h["user"]) for h in history] == [("deleted", "sam"), ("created", "sam")]


def test_unchanged_write_adds_no_history(api_as, units):
    api = api_as("quality-manager")
    count = OrgUnit.history.count()
    assert api.patch("/api/org-units/U-OPS", {"name": "Operations"}).status_code == 200
    assert OrgUnit.history.count() == count


# --- Lists -----------------------------------------------------------------------------------


def test_list_filters_by_choice_reference_and_text(api_as, units):
    api = api_as("viewer")
    ids = lambda response: [r["external_id"] for r in response.json()["items"]]  # noqa: E731
    assert ids(api.get("/api/org-units/", kind="division")) == ["U-OPS", "U-SAL"]
    assert ids(api.get("/api/org-units/", parent="U-OPS")) == ["U-ASM", "U-QA"]
    assert ids(api.get("/api/org-units/", parent="U-OPS", q="quality")) == ["U-QA"]
    assert ids(api.get("/api/org-units/", q="u-sal")) == ["U-SAL"]
    assert ids(api.get("/api/org-units/", parent="U-NONE")) == []
    found = problems(api.get("/api/org-units/", kind="galaxy"))
    assert "kind" in found


def test_list_paginates(api_as, units):
    api = api_as("viewer")
    everything = api.get("/api/org-units/").json()
    assert everything["count"] == 4 and len(everything["items"]) == 4
    page = api.get("/api/org-units/", limit=2, offset=1).json()
    assert page["count"] == 4
    assert [r["external_id"] for r in page["items"]] == [
        r["external_id"] for r in everything["items"][1:3]
    ]
    assert api.get("/api/org-units/", limit=2, offset=4).json()["items"] == []
    assert api.get("/api/org-units/", limit=0).status_code == 422


def test_list_filters_by_number_choice_and_true_false(api_as, units):
    api = api_as("quality-manager")
    assert api.post("/api/people/", {"external_id": "P-1", "name": "Ann"}).status_code == 201
    assert api.post("/api/training-courses/", {
        "external_id": "TC-1", "title": "Problem recognition", "course_type": "problem_recognition",
    }).status_code == 201, api.get("/api/kinds").json()
    for rid, level, passed in [("TR-1", 2, True), ("TR-2", 3, False), ("TR-3", 3, True)]:
        response = api.post("/api/training-records/", {
            "external_id": rid, "person": "P-1", "course": "TC-1", "completed_on": "2024-01-02",
            "competence_level": level, "passed": passed,
        })
        assert response.status_code == 201, response.json()
    ids = lambda **f: sorted(r["external_id"] for r in  # noqa: E731
                             api.get("/api/training-records/", **f).json()["items"])
    assert ids(competence_level="3") == ["TR-2", "TR-3"]
    assert ids(competence_level="3", passed="true") == ["TR-3"]
    assert ids(course="TC-1", passed="false") == ["TR-2"]


def test_session_writes_need_the_csrf_token():
    from django.test import Client

    OrgUnit.objects.create(external_id="U-1", name="One")
    add_user("webby", "quality-manager")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(get_user_model().objects.get(username="webby"))
    body = {"name": "Renamed"}
    refused = browser.patch("/api/org-units/U-1", body, content_type="application/json")
    assert refused.status_code == 403
    browser.get("/api/docs")  # sets the CSRF cookie, as any page with a form does
    token = browser.cookies["csrftoken"].value
    allowed = browser.patch("/api/org-units/U-1", body, content_type="application/json",
                            HTTP_X_CSRFTOKEN=token)
    assert allowed.status_code == 200
    assert OrgUnit.objects.get(external_id="U-1").name == "Renamed"
    assert OrgUnit.history.first().history_user.username == "webby"
