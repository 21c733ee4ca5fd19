"""Reading by org unit on every page (``QUALITYLOOP_READ_SCOPE=unit``): the demo's unit lead and
staff member open every page the navigation links to, one page of every other kind linked from
those (record details, forms, the review pack...), and none of them shows the ``external_id`` of a
record they may not read.

A general check rather than one per page: the records they may not read are found through the one
policy (``permissions.restrict``) and looked for in every page's HTML as whole words.
"""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import Resolver404, resolve

from qualityloop.services import permissions
from qualityloop.services.demo import ROLE_LOGINS, generate_demo
from qualityloop.services.record_kinds import KINDS

AS_OF = dt.date(2026, 11, 25)
TOKEN = re.compile(r"[A-Za-z0-9][\w.-]*[A-Za-z0-9]|[A-Za-z0-9]")
SKIPPED_PREFIXES = ("/admin/", "/api/", "/logout/", "/login/", "/static/", "/survey/")
SKIPPED_SUFFIXES = (".pdf",)
"""Not pages of records: the admin (its own permissions), the API (tests/test_read_scope.py),
the survey form (anonymous links); the PDF report is the HTML report printed by chromium."""


class _Links(HTMLParser):
    """The ``href`` of every link and every ``hx-get``, or only the links inside
    ``<nav class="mainnav">``."""

    def __init__(self, nav_only: bool = False) -> None:
        super().__init__()
        self.nav_only, self.in_nav = nav_only, False
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        values = dict(attrs)
        if tag == "nav" and "mainnav" in (values.get("class") or ""):
            self.in_nav = True
        if tag == "a" and values.get("href") and (self.in_nav or not self.nav_only):
            self.links.append(values["href"])
        if values.get("hx-get") and not self.nav_only:  # parts a page loads (HTMX)
            self.links.append(values["hx-get"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "nav":
            self.in_nav = False


def links_of(html: str, nav_only: bool = False) -> list[str]:
    parser = _Links(nav_only)
    parser.feed(html)
    return parser.links


def _page_key(url: str) -> tuple | None:
    """What makes two links the same kind of page (its view and record kind), or None for a link
    that is not one of our pages."""
    parts = urlsplit(url)
    if parts.netloc or not parts.path.startswith("/") or parts.path.startswith(
            SKIPPED_PREFIXES) or parts.path.endswith(SKIPPED_SUFFIXES):
        return None
    try:
        match = resolve(parts.path)
    except Resolver404:
        return None
    query = tuple(sorted(name for name in parts.query.split("&") if name))
    return match.url_name, match.kwargs.get("kind_name"), query[:1] and query[0].split("=")[0]


def hidden_ids(user) -> set[str]:
    """The external ids of every record ``user`` may not read, but for those a record they may
    read refers to: a visible record's own references (its owner, its customer, the NC of an
    action assigned to them) are part of it."""
    hidden: set[str] = set()
    referred: set[str] = set()
    for kind in KINDS:
        records = kind.model._base_manager.all()
        visible = permissions.restrict(records, user, kind)
        hidden |= set(records.exclude(pk__in=visible.values("pk"))
                      .values_list("external_id", flat=True))
        for column in kind.columns:
            if column.is_reference or column.is_multi_reference:
                referred |= set(visible.exclude(**{f"{column.field.name}__isnull": True})
                                .values_list(f"{column.field.name}__external_id", flat=True))
    return hidden - referred


def leaks(html: str, hidden: set[str]) -> set[str]:
    return {token for token in TOKEN.findall(html) if token in hidden}


def crawl(client: Client, hidden: set[str]) -> tuple[dict[str, set[str]], dict[str, int],
                                                    set[tuple]]:
    """Visit the navigation's pages, then one page of every kind linked from them; return the
    hidden ids found per page, the pages that did not answer 200 (with their status) and the
    kinds of page visited."""
    start = client.get("/records/")
    assert start.status_code == 200, start.status_code
    queue = links_of(start.content.decode(), nav_only=True)
    assert len(queue) >= 15, queue
    seen: set[tuple] = set()
    found: dict[str, set[str]] = {}
    failed: dict[str, int] = {}
    depth = {url: 0 for url in queue}
    while queue:
        url = queue.pop(0)
        key = _page_key(url)
        if key is None or key in seen:
            continue
        seen.add(key)
        answer = client.get(url)
        if answer.status_code != 200:
            failed[url] = answer.status_code
            continue
        if not answer.get("Content-Type", "").startswith("text/"):
            continue
        html = answer.content.decode()
        if leaked := leaks(html, hidden):
            found[url] = leaked
        if depth[url] < 2:
            for link in links_of(html):
                if link not in depth:
                    depth[link] = depth[url] + 1
                    queue.append(link)
    return found, failed, seen


@pytest.fixture
def demo(db, settings) -> dict[str, dict]:
    settings.READ_SCOPE = "unit"
    return {who["role"]: who for who in generate_demo(n_customers=300, seed=3,
                                                      as_of=AS_OF).as_dict()["role_logins"]}


@pytest.mark.slow
@pytest.mark.django_db
@pytest.mark.parametrize("role", ["unit-lead", "staff"])
def test_no_page_shows_a_record_of_another_unit(demo, role):
    who = demo[role]
    user = get_user_model().objects.get(username=who["username"])
    hidden = hidden_ids(user)
    assert len(hidden) > 100  # the check looks for something
    client = Client()
    assert client.login(username=who["username"], password=who["password"])
    found, failed, visited = crawl(client, hidden)
    details = {kind for name, kind, _query in visited if name == "record-detail"}
    names = {name for name, _kind, _query in visited}
    assert len(visited) >= 80 and len(details) >= 15, (len(visited), details)  # it looked
    assert {"review-pack", "review-detail", "change-detail", "nc-8d"} <= names, names
    report = {url: sorted(ids)[:5] for url, ids in found.items()}
    assert not report, report
    assert not failed, failed


def test_the_demo_logins_are_the_ones_checked():
    assert {role for _name, role, _password in ROLE_LOGINS} >= {"unit-lead", "staff"}
