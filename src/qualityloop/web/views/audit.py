"""The audit log page: every change to every record, newest first, with filters and a CSV
download. For the roles that reach every record (admin, top-management, quality-manager)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import urlencode

from qualityloop.services import audit, permissions

PAGE_SIZE = 50
FILTER_NAMES = ("user", "kind", "date_from", "date_to", "action", "record")
REFUSAL = ("the audit log is for the roles admin, top-management and quality-manager; "
           "a record's own page shows its history")


def _refused(request: HttpRequest) -> HttpResponse | None:
    if permissions.may_read_audit(request.user):
        return None
    return render(request, "qualityloop/forbidden.html", {"reason": REFUSAL}, status=403)


def _filter(request: HttpRequest) -> audit.AuditFilter:
    return audit.AuditFilter.from_text(**{name: request.GET.get(name) for name in FILTER_NAMES})


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    """One page of the log under the filters of the query string."""
    refused = _refused(request)
    if refused:
        return refused
    given = {name: request.GET.get(name, "").strip() for name in FILTER_NAMES}
    context: dict[str, Any] = {
        "given": given, "kinds": audit.kind_names(), "actions": audit.ACTIONS,
        "usernames": get_user_model().objects.order_by("username")
                                              .values_list("username", flat=True),
        "query": urlencode({k: v for k, v in given.items() if v}),
    }
    try:
        page = audit.audit_page(_filter(request), _page_number(request), PAGE_SIZE)
    except audit.AuditFilterError as problem:
        context["error"] = str(problem)
        return render(request, "qualityloop/audit.html", context, status=400)
    for row in page.rows:
        row.url = (reverse("record-detail", args=[row.kind, row.external_id])
                   if row.exists and row.has_page else "")
    context["page"] = page
    return render(request, "qualityloop/audit.html", context)


def _page_number(request: HttpRequest) -> int:
    try:
        return int(request.GET.get("page", "1"))
    except ValueError:
        return 1


class _Echo:
    """A file-like object handing each written line straight back (for streaming CSV)."""

    def write(self, value: str) -> str:
        return value


@login_required
def audit_csv(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """Every row the filters select, as a CSV file (streamed: the log can be long)."""
    refused = _refused(request)
    if refused:
        return refused
    try:
        rows = audit.with_usernames(audit.iter_rows(_filter(request)))
    except audit.AuditFilterError as problem:
        return HttpResponse(str(problem), status=400, content_type="text/plain")
    writer = csv.writer(_Echo())
    lines = (writer.writerow([row.as_export_row()[c] for c in audit.EXPORT_COLUMNS])
             for row in rows)
    header = writer.writerow(audit.EXPORT_COLUMNS)
    response = StreamingHttpResponse(_chain(header, lines), content_type="text/csv")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="audit-log-{stamp}.csv"'
    return response


def _chain(first: str, rest: Iterable[str]) -> Iterator[str]:
    yield first
    yield from rest


urlpatterns = [
    path("audit/", audit_log, name="audit"),
    path("audit/audit-log.csv", audit_csv, name="audit-csv"),
]
