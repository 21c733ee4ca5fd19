"""The number of SQL queries of the main pages does not grow with the number of records.

A page that runs one query per row shown (an "N+1") is fast on a small database and slow on the
100,000-customer demo. Counting queries catches it without timing anything, every cache emptied
first: each dashboard and list page runs as many queries on a small demo as on one twice its
size; each detail page as many before and after the rows it lists (and the record's history)
are doubled. benchmarks/page_times.py measures the times.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.db.models import Count
from django.test import Client
from django.test.utils import CaptureQueriesContext

from qualityloop.records.customers.models import Customer, Order
from qualityloop.records.organisation.models import Person
from qualityloop.records.quality.models import Nonconformance, QualityObjective
from qualityloop.services.demo import generate_demo
from qualityloop.services.record_kinds import KINDS
from qualityloop.web import page_cache

SMALL, LARGE = 120, 240
PAGES = (
    "/", "/?unit=UNIT-05", "/retention/", "/relationship/", "/spc/", "/assessment/",
    "/objectives/cascade/", "/training/matrix/", "/design/", "/management-reviews/pack/",
    "/audit/?kind=nonconformances", "/records/", "/records/nonconformances/?q=a",
    "/records/complaints/?attention=past-sla", "/records/actions/?attention=overdue",
    *(f"/records/{kind.name}/" for kind in KINDS),
)
USERS = ("quality", "staff")


def _busiest(model, related: str, **only):
    """The record with the most ``related`` rows: the one an N+1 would show most."""
    return model.objects.filter(**only).annotate(n=Count(related)).order_by("-n", "pk").first()


def _copy(record, n: int, **changes) -> None:
    """Save ``record`` again as a new record with ``changes`` (its history starts too)."""
    record.pk = record.id = None
    record.external_id = f"{record.external_id}-copy{n}"
    for name, value in changes.items():
        setattr(record, name, value)
    record.save()


def _grow(customer: Customer, nc: Nonconformance, objective: QualityObjective) -> None:
    """Twice the rows each detail page lists, and a longer history of the NC."""
    for n, action in enumerate(list(nc.actions.all())):
        _copy(action, n)
    for related in ("complaints", "feedback", "orders"):
        for n, row in enumerate(list(getattr(customer, related).all()[:20])):
            _copy(row, n)
    for n, row in enumerate(list(objective.measurements.all())):
        _copy(row, n, measured_on=row.measured_on - dt.timedelta(days=1))
    people = list(Person.objects.order_by("pk")[:2])
    for n in range(6):
        nc.detected_by = people[n % 2]
        nc.title = f"{nc.title[:150]} ({n})"
        nc.save()


def _detail_pages(customer: Customer, nc: Nonconformance,
                  objective: QualityObjective) -> dict[str, str]:
    return {
        "customer": f"/records/customers/{customer.external_id}/",
        "orders of the customer": f"/records/orders/?customer={customer.external_id}",
        "nonconformance": f"/records/nonconformances/{nc.external_id}/",
        "8D report": f"/records/nonconformances/{nc.external_id}/8d/",
        "objective": f"/records/objectives/{objective.external_id}/",
    }


def _queries(client: Client, url: str) -> tuple[int, int]:
    """The status and the number of queries of ``url`` with every cache empty (a page of a
    user who may not see it is refused with the same few queries on both demos)."""
    cache.clear()
    page_cache.store().clear()
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code in (200, 403), (url, response.status_code)
    return response.status_code, len(captured.captured_queries)


def _counts(pages: dict[str, str]) -> dict[tuple[str, str], tuple[int, int]]:
    found = {}
    for username in USERS:
        client = Client()
        client.force_login(get_user_model().objects.get(username=username))
        for name, url in pages.items():
            found[(username, name)] = _queries(client, url)
    return found


def _grown(small: dict, large: dict) -> dict:
    return {page: (small[page], large[page]) for page in small if large[page] != small[page]}


@pytest.mark.slow
@pytest.mark.django_db
def test_query_counts_of_the_main_pages_do_not_grow_with_the_records():
    pages = {url: url for url in PAGES}
    generate_demo(n_customers=SMALL, seed=5)
    small = _counts(pages)
    orders = Order.objects.count()
    generate_demo(n_customers=LARGE, seed=5)
    assert Order.objects.count() > 1.5 * orders
    grown = _grown(small, _counts(pages))
    assert not grown, f"queries (status, count) on a demo and one twice its size: {grown}"


@pytest.mark.slow
@pytest.mark.django_db
def test_query_counts_of_detail_pages_do_not_grow_with_the_rows_they_list():
    generate_demo(n_customers=SMALL, seed=5)
    customer = _busiest(Customer, "complaints")
    nc = _busiest(Nonconformance, "actions")
    objective = _busiest(QualityObjective, "measurements")
    pages = _detail_pages(customer, nc, objective)
    before = _counts(pages)
    _grow(customer, nc, objective)
    assert nc.actions.count() >= 2 and customer.complaints.count() >= 2
    grown = _grown(before, _counts(pages))
    assert not grown, f"queries (status, count) before and after doubling the rows: {grown}"


def test_the_count_sees_a_query_per_row(db):
    """The measure itself: a page built with one query per record is caught."""
    from qualityloop.records.organisation.models import OrgUnit

    def per_row() -> int:
        with CaptureQueriesContext(connection) as captured:
            [unit.parent for unit in OrgUnit.objects.all()]  # parent not selected: one each
        return len(captured.captured_queries)

    OrgUnit.objects.create(external_id="ROOT", name="Root", kind="company")
    for n in range(2):
        OrgUnit.objects.create(external_id=f"U{n}", name=f"U{n}", kind="site",
                               parent=OrgUnit.objects.get(external_id="ROOT"))
    few = per_row()
    for n in range(2, 6):
        OrgUnit.objects.create(external_id=f"U{n}", name=f"U{n}", kind="site",
                               parent=OrgUnit.objects.get(external_id="ROOT"))
    assert per_row() > few


def test_figures_asked_for_twice_at_once_are_computed_once(tmp_path, settings, monkeypatch):
    """A request arriving while the warm-up computes the same figures waits for that answer."""
    settings.DATA_HOME = tmp_path
    monkeypatch.setattr(page_cache, "data_stamp", lambda: "same data")
    page_cache._store = None
    calls: list[int] = []
    started = threading.Event()

    def slow() -> int:
        calls.append(1)
        started.set()
        time.sleep(0.5)
        return 42

    answers: list[int] = []
    first = threading.Thread(
        target=lambda: answers.append(page_cache.daily("test:slow", None, slow)))
    first.start()
    started.wait(5)
    answers.append(page_cache.daily("test:slow", None, slow))
    first.join()
    page_cache._store = None
    assert answers == [42, 42]
    assert calls == [1]
