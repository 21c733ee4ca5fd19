"""Management review pages: the review pack for a period (in the app and as a printable page)
and, on a review's page, its period, pack and the actions it decided (overdue ones marked)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from qualityloop.records.organisation.models import OrgUnit
from qualityloop.records.quality.models import ManagementReview
from qualityloop.report.render import document_sections, render_html
from qualityloop.report.review_pack import review_pack
from qualityloop.services import management_review as service
from qualityloop.services import permissions, problem_solving
from qualityloop.services.record_kinds import get_kind
from qualityloop.services.record_writer import RowInvalid
from qualityloop.services.retention import RetentionOverview
from qualityloop.web import page_cache
from qualityloop.web.forms.records import record_form_class
from qualityloop.web.views.record_forms import refused
from qualityloop.web.views.records import detail_context, record_url
from qualityloop.web.views.unit_scope import cached_for_unit, selected_unit

REVIEW_ACTION_FIELDS = ("description", "owner", "due_on")


def _headline() -> dict[str, Any]:
    """The retention headline from the shared daily cache: it reads every order (about 40 s
    on the 100,000-customer demo's 3.4 million orders)."""
    return _unit_headline(None)


def _unit_headline(unit: OrgUnit | None) -> dict[str, Any]:
    """The retention headline of the customers ``unit`` and the units below it serve (None: the
    organisation's), from the shared daily cache."""
    return page_cache.daily("retention-headline", unit,
                            lambda: RetentionOverview().headline(unit=unit))


def pack_url(name: str, start: dt.date, end: dt.date) -> str:
    """The address of the pack page (or its printable page) for a period."""
    return reverse(name) + "?" + urlencode({"from": start.isoformat(), "to": end.isoformat()})


def _document(request: HttpRequest):
    """The pack of the period asked for: the whole organisation's, or for a user who reads only
    their own unit (``QUALITYLOOP_READ_SCOPE=unit``) their unit's and the units' below it."""
    start, end = service.period(request.GET.get("from"), request.GET.get("to"))
    unit = selected_unit(request)
    document = cached_for_unit(
        f"review-pack:{start}:{end}", unit,
        lambda: review_pack(start, end, unit=unit, retention=_headline if unit is None
                            else lambda: _unit_headline(unit)))
    return start, end, document


@login_required
def pack_page(request: HttpRequest) -> HttpResponse:
    """``/management-reviews/pack/?from=&to=``: the review pack for a period, in the app."""
    try:
        start, end, document = _document(request)
    except service.PeriodInvalid as wrong:
        return render(request, "qualityloop/review_pack.html",
                      {"problem": str(wrong), "start": request.GET.get("from", ""),
                       "end": request.GET.get("to", "")}, status=400)
    return render(request, "qualityloop/review_pack.html", {
        "doc": document, "sections": document_sections(document), "start": start, "end": end,
        "print_url": pack_url("review-pack-print", start, end),
    })


@login_required
def pack_print(request: HttpRequest) -> HttpResponse:
    """The same pack as one self-contained printable page (the report renderer's HTML)."""
    try:
        _start, _end, document = _document(request)
    except service.PeriodInvalid as wrong:
        return HttpResponse(str(wrong), status=400, content_type="text/plain; charset=utf-8")
    return HttpResponse(render_html(document))


# The review's page ----------------------------------------------------------------------------


def review_action_form(data: Any = None, user: Any = None):
    """The form that adds a review action (description, owner, due date); its owner select
    offers the people ``user`` may read."""
    return record_form_class(get_kind(service.ACTIONS), only=REVIEW_ACTION_FIELDS,
                             reader=user)(data)


def panel_context(review: ManagementReview, user: Any, form: Any = None,
                  problems: list[str] | None = None) -> dict[str, Any]:
    """The review panel: the pack's period and link, and the actions with their status."""
    start, end = service.review_period(review)
    today = timezone.localdate()
    actions = list(permissions.restrict(review.actions.all(), user, get_kind(service.ACTIONS))
                   .select_related("owner").order_by("due_on", "pk"))
    return {
        "review": review, "start": start, "end": end,
        "pack_url": pack_url("review-pack", start, end),
        "actions": [{"obj": a, "overdue": problem_solving.is_overdue(a, today)} for a in actions],
        "overdue_count": sum(problem_solving.is_overdue(a, today) for a in actions),
        "open_count": sum(a.status in problem_solving.OPEN_ACTION_STATUSES for a in actions),
        "may_add": permissions.may_object(user, review, permissions.Action.CHANGE),
        "form": form or review_action_form(user=user), "problems": problems or [],
    }


def _review(request: HttpRequest, external_id: str) -> ManagementReview:
    visible = permissions.restrict(ManagementReview.objects.all(), request.user,
                                   get_kind(service.REVIEWS))
    return get_object_or_404(visible, external_id=external_id)


def _page(request: HttpRequest, review: ManagementReview, status: int = 200,
          **panel: Any) -> HttpResponse:
    review.refresh_from_db()
    context = detail_context(request, get_kind(service.REVIEWS), review)
    context["review_panel"] = panel_context(review, request.user, **panel)
    code = 200 if request.htmx else status  # type: ignore[attr-defined]
    return render(request, "qualityloop/record_detail.html", context, status=code)


@login_required
def review_detail(request: HttpRequest, external_id: str) -> HttpResponse:
    """The management-review page: its fields, pack, actions and history."""
    return _page(request, _review(request, external_id))


@login_required
@require_POST
def add_action(request: HttpRequest, external_id: str) -> HttpResponse:
    """Record an action the review decided."""
    review = _review(request, external_id)
    form = review_action_form(request.POST)
    form.is_valid()
    try:
        service.add_review_action(review, request.user, form.values())
    except permissions.NotAllowed as refusal:
        return refused(request, str(refusal))
    except RowInvalid as invalid:
        form.show_problems(invalid.errors)
        return _page(request, review, 400, form=form)
    if request.htmx:  # type: ignore[attr-defined]
        return _page(request, review)
    return redirect(record_url(review) + "#review-actions")


REVIEW = "records/management-reviews/<str:external_id>/"
urlpatterns = [
    path("management-reviews/pack/", pack_page, name="review-pack"),
    path("management-reviews/pack/print/", pack_print, name="review-pack-print"),
    path(REVIEW, review_detail, name="review-detail"),
    path(REVIEW + "actions/new/", add_action, name="review-add-action"),
]
