"""Optimistic concurrency in the REST API: every read and write of a record answers with an ETag,
and a PUT, PATCH or DELETE sent with ``If-Match`` is refused with 412 when the record changed
since the caller read it (nothing is written then). Without ``If-Match`` writes work as before.
The load test (tests/test_load.py) checks the same under concurrent writers on a real server."""

from __future__ import annotations

import pytest

from qualityloop.records.organisation.models import OrgUnit
from qualityloop.services.users import add_user

pytestmark = pytest.mark.django_db

URL = "/api/org-units/"


@pytest.fixture
def admin():
    return {"HTTP_AUTHORIZATION": f"Bearer {add_user('etag-admin', 'admin').token}"}


@pytest.fixture
def unit():
    return OrgUnit.objects.create(external_id="U-ETAG", name="Assembly", kind="department")


def _patch(client, auth, body, etag=None):
    headers = {} if etag is None else {"HTTP_IF_MATCH": etag}
    return client.patch(f"{URL}U-ETAG", body, content_type="application/json", **auth, **headers)


def test_a_read_gives_an_etag_that_changes_with_the_record(client, admin, unit):
    first = client.get(f"{URL}U-ETAG", **admin)
    again = client.get(f"{URL}U-ETAG", **admin)
    assert first.status_code == 200
    assert first["ETag"].startswith('"') and first["ETag"] == again["ETag"]
    changed = _patch(client, admin, {"name": "Final assembly"})
    assert changed.status_code == 200
    assert changed["ETag"] != first["ETag"]
    assert client.get(f"{URL}U-ETAG", **admin)["ETag"] == changed["ETag"]


def test_a_create_answers_with_the_etag_a_read_gives(client, admin):
    created = client.post(URL, {"external_id": "U-NEW", "name": "New", "kind": "department"},
                          content_type="application/json", **admin)
    assert created.status_code == 201
    assert created["ETag"] == client.get(f"{URL}U-NEW", **admin)["ETag"]


def test_a_stale_if_match_is_refused_and_nothing_is_written(client, admin, unit):
    read = client.get(f"{URL}U-ETAG", **admin)["ETag"]
    assert _patch(client, admin, {"name": "Changed by someone else"}).status_code == 200
    versions = unit.history.count()
    stale = _patch(client, admin, {"name": "My change"}, etag=read)
    assert stale.status_code == 412
    assert "changed since you read it" in stale.json()["detail"]
    unit.refresh_from_db()
    assert unit.name == "Changed by someone else"
    assert unit.history.count() == versions


def test_a_current_if_match_is_accepted(client, admin, unit):
    read = client.get(f"{URL}U-ETAG", **admin)["ETag"]
    answer = _patch(client, admin, {"name": "Final assembly"}, etag=read)
    assert answer.status_code == 200
    assert answer.json()["name"] == "Final assembly"


@pytest.mark.parametrize("listed", ['"0000", {etag}', "*"])
def test_if_match_accepts_a_list_holding_the_current_etag_and_the_star(
        client, admin, unit, listed):
    current = client.get(f"{URL}U-ETAG", **admin)["ETag"]
    answer = _patch(client, admin, {"name": "Final assembly"}, etag=listed.format(etag=current))
    assert answer.status_code == 200


def test_put_and_delete_check_if_match_too(client, admin, unit):
    read = client.get(f"{URL}U-ETAG", **admin)["ETag"]
    assert _patch(client, admin, {"name": "Changed"}).status_code == 200
    body = {"external_id": "U-ETAG", "name": "Replaced", "kind": "department"}
    put = client.put(f"{URL}U-ETAG", body, content_type="application/json", HTTP_IF_MATCH=read,
                     **admin)
    assert put.status_code == 412
    assert client.delete(f"{URL}U-ETAG", HTTP_IF_MATCH=read, **admin).status_code == 412
    assert OrgUnit.objects.filter(external_id="U-ETAG", name="Changed").exists()
    current = client.get(f"{URL}U-ETAG", **admin)["ETag"]
    assert client.delete(f"{URL}U-ETAG", HTTP_IF_MATCH=current, **admin).status_code == 204
    assert not OrgUnit.objects.filter(external_id="U-ETAG").exists()


def test_permissions_come_before_the_precondition(client, unit):
    viewer = {"HTTP_AUTHORIZATION": f"Bearer {add_user('etag-viewer', 'viewer').token}"}
    assert _patch(client, viewer, {"name": "x"}, etag='"stale"').status_code == 403
    assert _patch(client, viewer, {"name": "x"}, etag='"stale"').json()["detail"]
    unit.refresh_from_db()
    assert unit.name == "Assembly"


def test_the_openapi_documents_if_match_and_412(client):
    schema = client.get("/api/openapi.json").json()
    for method in ("put", "patch", "delete"):
        operation = schema["paths"]["/api/org-units/{external_id}"][method]
        headers = [p["name"] for p in operation["parameters"] if p["in"] == "header"]
        assert headers == ["If-Match"]
        assert "412" in operation["responses"]


def test_a_token_s_use_is_written_at_most_once_a_minute():
    """Under load every API read wrote last_used_at, and each such write waited for the writers."""
    import datetime as dt

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from qualityloop.records.accounts.models import ApiToken

    token, plain = ApiToken.issue(get_user_model().objects.create_user("often"))
    assert ApiToken.authenticate(plain) is not None
    token.refresh_from_db()
    first = token.last_used_at
    with CaptureQueriesContext(connection) as queries:
        assert ApiToken.authenticate(plain) is not None
    assert not any(q["sql"].lstrip().upper().startswith("UPDATE") for q in queries)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - dt.timedelta(minutes=2))
    ApiToken.authenticate(plain)
    token.refresh_from_db()
    assert token.last_used_at > first


def test_a_write_whose_record_is_deleted_before_the_answer_still_answers(admin, unit):
    """The answer is read after the write's transaction; a delete in between must not turn a
    write that was made into an error."""
    from django.http import HttpResponse

    from qualityloop.services.record_kinds import get_kind
    from qualityloop.web.api.records import _read_back

    kind = get_kind("org-units")
    unit.name = "Saved, then deleted by someone else"
    OrgUnit.objects.filter(pk=unit.pk).delete()
    response = HttpResponse()
    shown = _read_back(kind, unit, response)
    assert shown["external_id"] == "U-ETAG"
    assert shown["name"] == "Saved, then deleted by someone else"
    assert response["ETag"].startswith('"')
