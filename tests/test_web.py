"""The web pages: login, dashboard figures, record lists and details with history."""

from __future__ import annotations

import re
import statistics
from html.parser import HTMLParser

import pytest
from django.core.cache import cache
from django.urls import reverse
from webdata import EXPECTED, build_organisation, days_ago

from qualityloop.records.customers.models import Customer, Order
from qualityloop.services import metrics
from qualityloop.services.record_kinds import KINDS
from qualityloop.services.users import add_user

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def org():
    return build_organisation()


@pytest.fixture
def manager(client):
    add_user("quinn", "quality-manager", password=PASSWORD)
    client.login(username="quinn", password=PASSWORD)
    return client


class _ElementText(HTMLParser):
    """Collects the text inside the first element carrying ``data-metric=metric``."""

    def __init__(self, metric: str) -> None:
        super().__init__()
        self.metric, self.depth, self.parts, self.found = metric, 0, [], False

    def handle_starttag(self, tag, attrs):
        if self.depth:
            self.depth += 1
        elif not self.found and ("data-metric", self.metric) in attrs:
            self.depth, self.found = 1, True

    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.parts.append(data)


def tile_text(html: str, metric: str) -> str:
    """The visible text of the element marked ``data-metric=metric``, spaces collapsed."""
    parser = _ElementText(metric)
    parser.feed(html)
    assert parser.found, f"no element {metric!r} on the page"
    return " ".join("".join(parser.parts).split())


# Login --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/records/", "/records/customers/",
                                  "/records/customers/C-1/"])
def test_pages_need_login(client, org, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


def test_healthz_and_login_page_are_open(client):
    assert client.get("/healthz").status_code == 200
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert b'name="password"' in page.content


def test_logging_in_lands_on_the_dashboard(client, org):
    add_user("quinn", "quality-manager", password=PASSWORD)
    response = client.post(reverse("login"), {"username": "quinn", "password": PASSWORD},
                           follow=True)
    assert response.redirect_chain[-1][0] == reverse("dashboard")
    html = response.content.decode()
    assert "quinn" in html and "Quality manager" in html
    assert "Active customers" in html


def test_wrong_password_is_refused(client, org):
    add_user("quinn", "quality-manager", password=PASSWORD)
    response = client.post(reverse("login"), {"username": "quinn", "password": "nope"})
    assert response.status_code == 200
    assert b"did not match" in response.content
    assert client.get("/").status_code == 302


def test_logout_ends_the_session(manager, org):
    assert manager.get("/").status_code == 200
    manager.post(reverse("logout"))
    assert manager.get("/").status_code == 302


# Dashboard ----------------------------------------------------------------------------------


def test_metric_functions_give_the_worked_out_figures(org):
    figures = metrics.headline_figures()
    for name, expected in EXPECTED.items():
        assert figures[name] == pytest.approx(expected), name


def test_retention_rate_matches_an_independent_count(org):
    start, end = days_ago(365), days_ago(0)
    customers = list(Customer.objects.values("acquired_on", "churned_on"))

    def active(c, day):
        return c["acquired_on"] <= day and (c["churned_on"] is None or c["churned_on"] > day)

    cohort = [c for c in customers if active(c, start)]
    expected = sum(active(c, end) for c in cohort) / len(cohort)
    assert metrics.retention_rate() == pytest.approx(expected)


def test_dashboard_shows_the_figures(manager, org):
    response = manager.get(reverse("dashboard"))
    assert response.status_code == 200
    html = response.content.decode()
    assert tile_text(html, "active_customers").endswith("3")
    assert "66.7%" in tile_text(html, "retention_rate")
    assert tile_text(html, "churned_customers").endswith("1")
    assert "400" in tile_text(html, "revenue")
    assert "25" in tile_text(html, "nps")
    assert tile_text(html, "open_nonconformances").endswith("2")
    assert tile_text(html, "overdue_actions").endswith("1")
    assert tile_text(html, "objectives_on_track") == "2"
    assert tile_text(html, "objectives_at_risk") == "1"
    assert tile_text(html, "objectives_missed") == "1"
    assert "7.0 days" in tile_text(html, "median_days_to_resolution")
    assert "67%" in tile_text(html, "design_customer_participation")
    assert tile_text(html, "field_defects") == "2"
    assert tile_text(html, "defects_caught_in_design") == "5"


def test_dashboard_revenue_equals_the_orders_summed_here(manager, org):
    since = days_ago(365)
    expected = sum(float(o.amount) for o in Order.objects.all() if o.ordered_on > since)
    assert metrics.revenue() == pytest.approx(expected)
    html = manager.get(reverse("dashboard")).content.decode()
    assert f"{expected:,.0f}" in tile_text(html, "revenue")


def test_dashboard_has_charts_as_inline_svg(manager, org):
    html = manager.get(reverse("dashboard")).content.decode()
    assert html.count("<svg") >= 3
    assert "Nonconformances by lifecycle stage" in html
    assert "http://" not in re.sub(r'xmlns(:\w+)?="http://[^"]+"', "", html)


def test_unit_filter_rerenders_only_the_tiles_over_htmx(manager, org):
    response = manager.get(reverse("dashboard"), {"unit": "U-SA"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    # Sales West serves C-3 (churned long ago), C-4 and C-5: two active customers.
    assert tile_text(html, "active_customers").endswith("2")


def test_unit_filter_includes_units_below(org):
    assert metrics.active_customers(unit=org["company"]) == 3
    assert metrics.active_customers(unit=org["plant"]) == 1
    assert metrics.open_nonconformances(unit=org["plant"]) == 2


def test_figures_as_of_an_earlier_date(org):
    # 200 days ago C-2 was still a customer and C-4 not yet one; C-3 had left 300 days before.
    assert metrics.active_customers(as_of=days_ago(200)) == 3
    assert metrics.churned_customers(as_of=days_ago(200)) == 1
    assert metrics.churned_customers(as_of=days_ago(50)) == 1


def test_monthly_customers_series_ends_with_todays_count(org):
    frame = metrics.monthly_customers(months=12)
    assert len(frame) == 12
    assert frame["active"].iloc[-1] == EXPECTED["active_customers"]
    assert frame["churned"].sum() == 1


def test_median_resolution_is_the_median_of_the_resolved(org):
    from qualityloop.records.customers.models import Complaint

    days = [(c.resolved_on - c.received_on).days for c in Complaint.objects.all()
            if c.resolved_on]
    assert metrics.median_days_to_resolution() == statistics.median(days)


# Record pages -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_every_kind_has_list_and_detail_pages(manager, org, kind):
    listing = manager.get(reverse("record-list", args=[kind.name]))
    assert listing.status_code == 200
    first = kind.model.objects.order_by("pk").first()
    assert first is not None, f"the test organisation has no {kind.name}"
    assert first.external_id in listing.content.decode()
    detail = manager.get(reverse("record-detail", args=[kind.name, first.external_id]))
    assert detail.status_code == 200
    html = detail.content.decode()
    assert first.external_id in html
    if hasattr(first, "history"):
        assert 'id="history"' in html and "Created" in html


def test_record_index_lists_every_kind(manager, org):
    html = manager.get(reverse("record-index")).content.decode()
    for kind in KINDS:
        assert reverse("record-list", args=[kind.name]) in html


def test_unknown_kind_and_record_are_404(manager, org):
    assert manager.get("/records/widgets/").status_code == 404
    assert manager.get("/records/customers/NOPE/").status_code == 404


def test_search_finds_by_name(manager, org):
    html = manager.get(reverse("record-list", args=["customers"]), {"q": "alph"}).content.decode()
    assert "C-1" in html and "Beta GmbH" not in html
    assert "1 record" in html


def test_live_search_over_htmx_returns_the_table_only(manager, org):
    response = manager.get(reverse("record-list", args=["customers"]), {"q": "beta"},
                           HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<html" not in html and "Beta GmbH" in html and "Alpha Ltd" not in html


def test_choice_filter(manager, org):
    html = manager.get(reverse("record-list", args=["nonconformances"]),
                       {"stage": "field"}).content.decode()
    assert "Leaking seal" in html and "Wrong label" in html and "Burr on flange" not in html


def test_reference_filter_lists_a_customers_orders(manager, org):
    page = manager.get(reverse("record-list", args=["orders"]), {"customer": "C-1"})
    html = page.content.decode()
    assert "2 records" in html


def test_pagination(manager, org):
    for n in range(60):
        Customer.objects.create(external_id=f"X-{n:03}", name=f"Extra {n}", segment="enterprise",
                                acquired_on=days_ago(5), serving_unit=org["plant"])
    first = manager.get(reverse("record-list", args=["customers"])).content.decode()
    assert "Page 1 of 2" in first
    second = manager.get(reverse("record-list", args=["customers"]), {"page": 2}).content.decode()
    assert "Page 2 of 2" in second


def test_detail_links_references_to_their_pages(manager, org):
    html = manager.get(reverse("record-detail", args=["nonconformances", "N-1"])).content.decode()
    assert reverse("record-detail", args=["org-units", "U-PL"]) in html
    assert reverse("record-detail", args=["customers", "C-2"]) in html


def test_history_shows_who_changed_what(manager, org):
    from django.contrib.auth.models import User

    nc = org["nc1"]
    nc._history_user = User.objects.get(username="quinn")
    nc.status = "contained"
    nc.severity = "critical"
    nc.org_unit = org["sales"]
    nc.save()
    html = manager.get(reverse("record-detail", args=["nonconformances", "N-1"])).content.decode()
    history = html[html.index('id="history"'):]
    assert "quinn" in history and "Changed" in history
    row = r'{}</td><td class="old">{}</td><td class="new">{}'
    assert re.search(row.format("Status", "Open", "Contained"), history)
    assert re.search(row.format("Severity", "Major", "Critical"), history)
    assert "U-PL: Plant North" in history and "U-SA: Sales West" in history


def test_customer_detail_lists_orders_complaints_feedback_and_ncs(manager, org):
    html = manager.get(reverse("record-detail", args=["customers", "C-1"])).content.decode()
    section = html[html.index('data-section="customer"'):]
    assert tile_text(section, "orders") == "2"
    assert "K-1" in section and "F-0" in section and "N-1" in section


def test_viewer_can_read_everything_and_change_nothing(client, org):
    # Every role enters the admin; the viewer's rights there are read only (see test_roles.py).
    add_user("vera", "viewer", password=PASSWORD)
    client.login(username="vera", password=PASSWORD)
    home = client.get("/").content.decode()
    assert "vera" in home and "Viewer (read only)" in home
    assert 'href="/admin/"' in home
    listing = client.get(reverse("record-list", args=["complaints"]))
    assert listing.status_code == 200 and 'data-testid="new-record"' not in listing.content.decode()
    detail = client.get(reverse("record-detail", args=["complaints", "K-1"]))
    assert detail.status_code == 200 and 'data-testid="edit-record"' not in detail.content.decode()
    assert client.get("/admin/").status_code == 200


def test_a_user_without_a_role_sees_no_records(client, org):
    # The same permission service as the API decides; a login alone grants nothing.
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("nobody", password=PASSWORD)
    client.login(username="nobody", password=PASSWORD)
    listing = client.get(reverse("record-list", args=["complaints"]))
    assert listing.status_code == 200
    assert "K-1" not in listing.content.decode()
    assert client.get(reverse("record-detail", args=["complaints", "K-1"])).status_code == 404


def test_monthly_customers_of_an_empty_database_is_all_zero():
    frame = metrics.monthly_customers(months=3)
    assert len(frame) == 3
    assert frame[["active", "acquired", "churned"]].to_numpy().sum() == 0


EMPTY_DATABASE_PAGES = ["/", "/retention/", "/relationship/", "/assessment/", "/spc/",
                        "/objectives/cascade/", "/audit/"]


@pytest.mark.parametrize("path", EMPTY_DATABASE_PAGES)
def test_pages_of_an_empty_database_render(client, path):
    # A fresh install: one administrator and no records at all.
    add_user("ada", "admin", password=PASSWORD)
    client.login(username="ada", password=PASSWORD)
    client.raise_request_exception = True
    response = client.get(path)
    assert response.status_code == 200
    assert "<main" in response.content.decode()
