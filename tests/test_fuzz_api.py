"""schemathesis against /api/openapi.json, in process (the Django WSGI app), with a bearer token.

For every operation of the API, cases generated from its schema (and some aimed at records that
exist) are sent with an admin's token and with a viewer's: no answer may be a 5xx, every status
code must be one the operation documents, and every body must match its documented schema. A
viewer may never change anything (no 2xx answer to a writing request).

Each role's run starts from the records of tests/data/all_kinds (one or more of every kind), and
the cases' writes pile up on them. Short form (CI, marked slow): 4 cases per operation and role;
long form: scripts/fuzz-long.sh (60, or FUZZ_API_EXAMPLES).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import fuzz_support
import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from qualityloop.records.accounts.models import ApiToken
from qualityloop.services.importing import import_file
from qualityloop.services.record_kinds import KINDS
from qualityloop.services.users import add_user

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

DATA = Path(__file__).parent / "data" / "all_kinds"
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
WRITING = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass
class Findings:
    """Failures by operation (the first message of each), and the cases tried."""

    failures: dict[str, str] = field(default_factory=dict)
    cases: int = 0


@pytest.fixture
def loaded_records() -> dict[str, list[str]]:
    """Every fixture file imported; the external ids of each kind's records."""
    known: dict[str, list[str]] = {}
    for kind in KINDS:
        import_file(kind.name, DATA / f"{kind.name}.csv")
        known[kind.name] = list(kind.model.objects.values_list("external_id", flat=True))
    return known


@pytest.fixture
def api_schema():
    # schemathesis calls the WSGI app itself, not through Django's test client: the requests'
    # close_old_connections would close the test's connection inside its transaction (PostgreSQL
    # then fails every later query; SQLite's in-memory test database ignores the close). Django's
    # test client keeps the connection the same way.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application())
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def token_for(role: str) -> str:
    username = add_user(f"fuzz-{role}", role).username
    return ApiToken.issue(get_user_model().objects.get(username=username), name="fuzz")[1]


def known_ids_for(path: str, known: dict[str, list[str]]) -> list[str]:
    """Existing external ids for an operation path such as /api/customers/{external_id}."""
    parts = path.strip("/").split("/")
    return known.get(parts[1], []) if len(parts) > 2 else []


def cases_for(operation, known: dict[str, list[str]]):
    """Generated cases: valid ones, invalid ones (which must get a documented 4xx), and valid
    ones aimed at a record that exists."""
    strategies = [operation.as_strategy(), operation.as_strategy(GenerationMode.NEGATIVE)]
    ids = known_ids_for(operation.path, known)
    if "{external_id}" in operation.path and ids:
        strategies.append(st.sampled_from(ids).flatmap(
            lambda x: operation.as_strategy(path_parameters={"external_id": x})))
    return st.one_of(strategies)


def fuzz_operation(operation, token: str, role: str, known, findings: Findings,
                   max_examples: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    label = f"{operation.method.upper()} {operation.path}"

    @settings(max_examples=max_examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=cases_for(operation, known))
    def run(case) -> None:
        findings.cases += 1
        fuzz_support.count(f"api {role}")
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers)
        if role == "viewer" and case.method.upper() in WRITING:
            assert response.status_code >= 400, (
                f"a viewer got {response.status_code} for {case.method} {case.formatted_path}")

    try:
        run()
    except (Exception, BaseExceptionGroup) as failure:  # every failing operation is listed
        findings.failures[label] = str(failure)[:3000]


def operations(api_schema):
    return [result.ok() for result in api_schema.get_all_operations()]


@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_every_operation_answers_within_its_schema(role, api_schema, loaded_records):
    token = token_for(role)
    findings = Findings()
    per_operation = int(os.environ.get("FUZZ_API_EXAMPLES", fuzz_support.examples(ci=4, long=60)))
    for operation in operations(api_schema):
        fuzz_operation(operation, token, role, loaded_records, findings, per_operation)
    assert findings.cases > 0
    assert not findings.failures, "\n\n".join(f"{op}: {msg}"
                                              for op, msg in findings.failures.items())


# --- what the fuzzing found (fixed) ---------------------------------------------------------------

def admin_api(client):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token_for('admin')}"}
    return lambda method, url, **kw: getattr(client, method)(url, **kw, **auth)


def test_a_huge_offset_is_refused_not_a_server_error(client):
    """GET /api/<kind>/?offset=18294019952217495540911308800 answered 500 (SQLite cannot take
    the number); now a 422 naming the parameter."""
    call = admin_api(client)
    response = call("get", "/api/org-units/", data={"offset": 2**64})
    assert response.status_code == 422
    assert response.json()["detail"][0]["column"] == "offset"
    assert call("get", "/api/org-units/", data={"offset": 2**62}).json()["items"] == []


def test_a_body_that_is_not_json_is_a_documented_422(client):
    """POST/PUT/PATCH with a body that is not JSON answered 400, which no operation
    documents; now the 422 every writing operation documents, in its shape."""
    call = admin_api(client)
    response = call("post", "/api/org-units/", data=b"\x00\xff", content_type="application/json")
    assert response.status_code == 422
    assert response.json() == {"detail": [{
        "column": None, "message": "the request body is not valid JSON; expected a JSON object "
                                   "with the record's columns"}]}


def test_objective_status_documents_a_bad_as_of(client, api_schema):
    """GET /api/objectives/{id}/status?as_of=D answered an undocumented 422."""
    operation = api_schema["/api/objectives/{external_id}/status"]["GET"]
    documented = set(operation.definition.raw["responses"])
    assert {"403", "422"} <= documented
    response = admin_api(client)("get", "/api/objectives/X/status", data={"as_of": "D"})
    assert response.status_code == 422


def test_text_with_a_nul_character_is_refused_on_every_engine(client):
    """A NUL (\\u0000) in a body's text or a query parameter answered 500 on PostgreSQL (its text
    columns cannot hold one) and was stored on SQLite; now a 422 naming the column on both."""
    call = admin_api(client)
    body = {"external_id": "U-NUL", "name": "Plant\u0000North", "kind": "site"}
    response = call("post", "/api/org-units/", data=body, content_type="application/json")
    assert response.status_code == 422
    assert [p["column"] for p in response.json()["detail"]] == ["name"]
    assert "NUL" in response.json()["detail"][0]["message"]
    listed = call("get", "/api/org-units/", data={"q": "a\u0000b"})
    assert listed.status_code == 422
    assert listed.json()["detail"][0]["column"] == "q"
    assert call("post", "/api/org-units/", data={**body, "name": "Plant North"},
                content_type="application/json").status_code == 201
