"""Management review (services/management_review.py, report/review_pack.py, its pages): the
pack's numbers match the records, it has every section, and review actions are tracked."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from webdata import build_organisation, days_ago

from qualityloop.records.accounts.models import Profile
from qualityloop.records.customers.models import Complaint, FeedbackResponse
from qualityloop.records.organisation.models import OrgUnit
from qualityloop.records.quality.models import (
    ChangeRequest,
    CorrectiveAction,
    ManagementReview,
    Nonconformance,
)
from qualityloop.report.render import render_html
from qualityloop.report.review_pack import SECTIONS, review_pack
from qualityloop.services import management_review as review
from qualityloop.services.permissions import NotAllowed
from qualityloop.services.record_writer import RowInvalid
from qualityloop.services.users import add_user

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"
START, END = days_ago(120), days_ago(0)
HEADLINE = {"customers": 5, "orders": 5, "revenue": 1.0, "repeat_purchase_rate": 0.4,
            "churn_period": "2026-01-01", "churn_rate": 0.125}


@pytest.fixture
def org():
    return build_organisation()


def _user(name, role, unit=None):
    add_user(name, role, password=PASSWORD)
    user = get_user_model().objects.get(username=name)
    if unit:
        Profile.objects.filter(user=user).update(org_unit=OrgUnit.objects.get(external_id=unit))
    return user


def _figures():
    return review.pack_figures(START, END, retention=lambda: HEADLINE)


def test_period_defaults_and_refusals():
    today = dt.date(2026, 11, 25)
    assert review.period(None, None, today) == (dt.date(2026, 5, 26), today)
    assert review.period("2026-01-01", "2026-06-30") == (dt.date(2026, 1, 1),
                                                         dt.date(2026, 6, 30))
    with pytest.raises(review.PeriodInvalid, match="expected a date"):
        review.period("01/02/2026", None)
    with pytest.raises(review.PeriodInvalid, match="ends"):
        review.period("2026-06-30", "2026-01-01")


def test_complaint_and_problem_figures_match_the_records(org):
    f = _figures()
    received = Complaint.objects.filter(received_on__range=(START, END))
    assert f.complaints["received"] == received.count() == 3
    assert f.complaints["resolved"] == 2 and f.complaints["median_days_to_resolve"] == 7
    assert f.complaints["open_at_end"] == 1
    raised = Nonconformance.objects.filter(detected_on__range=(START, END)).count()
    assert f.nonconformances["total"].sum() == raised == 4
    assert f.nonconformances["field"].sum() == 2
    # Actions due in the period: A-1 (overdue, in progress) and A-3 (done early); A-2 later.
    assert (f.capa["due"], f.capa["on_time"], f.capa["overdue_at_end"]) == (2, 1, 1)
    assert f.capa["ncs_open_at_end"] == 2 and f.capa["ncs_closed"] == 1


def test_feedback_figures_are_monthly_nps_and_csat(org):
    f = _figures()
    assert f.feedback["responses"].sum() == FeedbackResponse.objects.filter(
        responded_on__range=(START, END)).count() == 3
    month = f.feedback.set_index(f.feedback["month"].dt.to_period("M"))
    five_days = month.loc[days_ago(5).strftime("%Y-%m")]
    scores = list(FeedbackResponse.objects.filter(
        responded_on__year=days_ago(5).year, responded_on__month=days_ago(5).month,
        responded_on__range=(START, END)).values_list("nps", flat=True))
    expected = 100 * (sum(s >= 9 for s in scores) - sum(s <= 6 for s in scores)) / len(scores)
    assert five_days["nps"] == pytest.approx(expected) and five_days["csat"] == 4


def test_objective_training_change_and_retention_figures(org):
    f = _figures()
    assert sum(f.objective_counts.values()) == len(f.objectives) > 0
    assert f.training["completed"] == 1 and f.training["passed"] == 1  # TR-1, 40 days ago
    assert f.training["problem_recognition_coverage"] == pytest.approx(1 / 2)  # Bob of Ann+Bob
    assert f.changes["requested"] == ChangeRequest.objects.filter(
        requested_on__range=(START, END)).count() == 1
    assert f.retention == HEADLINE


def test_the_pack_has_every_section_with_the_numbers(org):
    document = review_pack(START, END, figures=_figures())
    assert [s.anchor for s in document.sections] == [anchor for anchor, _ in SECTIONS]
    text = {s.anchor: " ".join(getattr(b, "text", "") for b in s.blocks)
            for s in document.sections}
    assert "3 received and 2 resolved" in text["customers"]
    assert "median time to resolve: 7.0 days" in text["customers"]
    assert "due in the period: 2, of which 1 on time (50%)" in text["problems"]
    assert "repeat purchase rate 40.0%" in text["retention"]
    assert "12.5% (the month from 2026-01-01)" in text["retention"]
    assert "1 requested" in text["changes"]
    html = render_html(document)
    for _anchor, title in SECTIONS:
        assert title in html


def test_review_actions_are_tracked_and_overdue_ones_marked(org):
    quinn = _user("quinn", "quality-manager")
    mr = ManagementReview.objects.get(external_id="MR-1")
    late = review.add_review_action(mr, quinn, {"description": "Fund refresher training",
                                                "owner": "P-ANN", "due_on": days_ago(3)})
    review.add_review_action(mr, quinn, {"description": "Review supplier list",
                                         "owner": "P-BOB", "due_on": days_ago(-30)})
    assert late.external_id == "MR-1-A1" and late.management_review == mr
    frame = review.review_actions_frame(CorrectiveAction.objects.filter(management_review=mr))
    assert frame["overdue"].tolist() == [True, False]
    text = " ".join(b.text for b in review_pack(START, END, figures=_figures()).sections[-1].blocks
                    if hasattr(b, "text"))
    assert "2 review actions in all; 2 still open, 1 overdue" in text
    with pytest.raises(RowInvalid, match="required"):
        review.add_review_action(mr, quinn, {"description": "No owner", "due_on": days_ago(1)})


@pytest.mark.parametrize(("role", "unit"), [("staff", "U-PL"), ("viewer", None),
                                            ("unit-lead", "U-PL")])
def test_only_management_records_review_actions(org, role, unit):
    user = _user("someone", role, unit)
    mr = ManagementReview.objects.get(external_id="MR-1")
    with pytest.raises(NotAllowed):
        review.add_review_action(mr, user, {"description": "x", "owner": "P-ANN",
                                            "due_on": days_ago(-3)})
    assert not mr.actions.exists()


def test_pack_pages(client, org, monkeypatch):
    from qualityloop.web.views import management_review as views

    monkeypatch.setattr(views, "_headline", lambda: HEADLINE)
    _user("vic", "viewer")
    client.login(username="vic", password=PASSWORD)
    query = {"from": START.isoformat(), "to": END.isoformat()}
    page = client.get(reverse("review-pack"), query).content.decode()
    for anchor, _title in SECTIONS:
        assert f'data-section="{anchor}"' in page
    assert "3 received and 2 resolved" in page
    printable = client.get(reverse("review-pack-print"), query)
    assert printable.status_code == 200 and b"<!doctype html>" in printable.content
    assert b"/static/" not in printable.content  # self-contained
    bad = client.get(reverse("review-pack"), {"from": "yesterday"})
    assert bad.status_code == 400 and "expected a date" in bad.content.decode()


def test_review_page_adds_actions_and_shows_overdue(client, org):
    _user("quinn", "quality-manager")
    client.login(username="quinn", password=PASSWORD)
    url = reverse("review-add-action", args=["MR-1"])
    added = client.post(url, {"description": "Audit the seal supplier", "owner": "P-ANN",
                              "due_on": days_ago(2).isoformat()})
    assert added.status_code == 302
    page = client.get(reverse("record-detail", args=["management-reviews", "MR-1"]))
    text = page.content.decode()
    assert 'data-testid="review-overdue"' in text and "MR-1-A1" in text
    assert "Action decided by MR-1" not in text  # that reason is in the action's history
    missing = client.post(url, {"description": "No owner", "due_on": days_ago(2).isoformat()})
    assert missing.status_code == 400 and CorrectiveAction.objects.filter(
        management_review__external_id="MR-1").count() == 1


def test_a_viewer_sees_the_panel_but_no_add_form_and_is_refused(client, org):
    _user("vic", "viewer")
    client.login(username="vic", password=PASSWORD)
    page = client.get(reverse("record-detail", args=["management-reviews", "MR-1"]))
    text = page.content.decode()
    assert 'data-testid="review-panel"' in text and "review-add-action" not in text
    assert "/actions/new/" not in text
    refused = client.post(reverse("review-add-action", args=["MR-1"]),
                          {"description": "x", "owner": "P-ANN", "due_on": "2030-01-01"})
    assert refused.status_code == 403


# --- the API ----------------------------------------------------------------------------------

def _token(name, role, unit=None):
    made = add_user(name, role, password=PASSWORD)
    if unit:
        Profile.objects.filter(user__username=name).update(
            org_unit=OrgUnit.objects.get(external_id=unit))
    return {"HTTP_AUTHORIZATION": f"Bearer {made.token}"}


def test_api_pack_gives_the_same_figures(client, org, monkeypatch):
    from qualityloop.services import retention

    monkeypatch.setattr(retention.RetentionOverview, "headline", lambda self: HEADLINE)
    auth = _token("vic", "viewer")
    answer = client.get("/api/review-pack", {"from": START.isoformat(), "to": END.isoformat()},
                        **auth)
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["start"] == START.isoformat() and body["complaints"]["received"] == 3
    assert sum(row["total"] for row in body["nonconformances"]) == 4
    assert body["capa"]["on_time"] == 1 and body["retention"] == HEADLINE
    bad = client.get("/api/review-pack", {"from": "soon"}, **auth)
    assert bad.status_code == 422 and "expected a date" in bad.json()["detail"][0]["message"]


def test_api_records_review_actions_for_management_only(client, org):
    body = {"description": "Fund refresher training", "owner": "P-ANN",
            "due_on": days_ago(-20).isoformat()}
    url = "/api/management-reviews/MR-1/actions"
    for name, role, unit in (("sue", "staff", "U-PL"), ("lee", "unit-lead", "U-PL"),
                             ("vic", "viewer", None)):
        refused = client.post(url, body, content_type="application/json",
                              **_token(name, role, unit))
        assert refused.status_code == 403, (role, refused.content)
    added = client.post(url, body, content_type="application/json",
                        **_token("quinn", "quality-manager"))
    assert added.status_code == 201, added.content
    assert added.json()["management_review"] == "MR-1"
    assert added.json()["external_id"] == "MR-1-A1"
