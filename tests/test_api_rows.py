"""API list pages read records as plain values (``rows_out``), not as model instances; each record
must come out exactly as ``record_out`` shows it one by one, for every record kind."""

from __future__ import annotations

import pytest
from django.db.models import Count
from django.test import Client

from qualityloop.records.quality.models import Nonconformance
from qualityloop.services.demo import generate_demo
from qualityloop.services.record_kinds import KINDS
from qualityloop.services.users import issue_token
from qualityloop.web.api.records import etag_of
from qualityloop.web.api.schemas import record_out, rows_out


@pytest.fixture
def demo(db):
    return generate_demo(n_customers=60, seed=5)


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
def test_rows_out_shows_every_record_as_record_out_does(demo, kind):
    records = kind.queryset()
    expected = [record_out(obj) for obj in records]
    assert rows_out(records) == expected
    for shown, one in zip(rows_out(records), expected, strict=True):
        assert list(shown) == list(one)  # the same columns in the same order


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
def test_one_record_read_as_values_has_the_etag_of_record_out(demo, kind):
    """A write answers with the record read back by ``rows_out``, a GET with ``record_out``: the
    ETags must be the same text, or a client's next If-Match would be refused for nothing."""
    for obj in kind.queryset()[:25]:
        (shown,) = rows_out(kind.model._default_manager.filter(pk=obj.pk))
        assert etag_of(shown) == etag_of(record_out(obj)), (kind.name, obj.pk)


def test_kinds_with_many_to_many_links_are_covered(demo):
    """The demo links records of the kinds with many-to-many columns, so the test above checks
    the links' external ids, not only empty lists."""
    linked = [kind for kind in KINDS if any(col.is_multi_reference for col in kind.columns)]
    assert linked
    for kind in linked:
        rows = rows_out(kind.queryset())
        names = [col.name for col in kind.columns if col.is_multi_reference]
        assert any(row[name] for row in rows for name in names), kind.name


def test_a_filtered_page_through_the_api_matches_record_out(demo):
    token = issue_token(demo.login["username"], "rows")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    status = Nonconformance.objects.values("status").annotate(n=Count("pk")).order_by("-n")[0]
    assert status["n"] >= 10
    answer = client.get(f"/api/nonconformances/?limit=7&offset=3&status={status['status']}")
    assert answer.status_code == 200, answer.content
    wanted = Nonconformance.objects.filter(status=status["status"]).order_by("pk")[3:10]
    shown = answer.json()["items"]
    assert [row["external_id"] for row in shown] == [obj.external_id for obj in wanted]
    assert len(shown) == 7
    assert shown == [record_out(obj) | _as_json(obj) for obj in wanted]


def _as_json(obj) -> dict:
    """The time stamps as the API writes them (JSON text)."""
    return {name: getattr(obj, name).isoformat().replace("+00:00", "Z")
            for name in ("created_at", "updated_at")}
