"""The Relationship page: the relationship report (``report.relationship``) inside the app.

The page and the downloadable report are one mechanism: the same
:class:`~qualityloop.report.document.ReportDocument`, its sections prepared by
``report.render.document_sections``. Building it takes seconds (Cox and PLS fits), so the
document is cached per unit and day, and the first visit loads the body lazily over HTMX behind
a "computing" note instead of holding the whole page.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from qualityloop.records.organisation.models import OrgUnit
from qualityloop.report.document import ReportDocument, Table
from qualityloop.services import permissions
from qualityloop.services.record_kinds import get_kind
from qualityloop.web.views.unit_scope import selected_unit, unit_options

CACHE_SECONDS = 600  # as long as relationship_answer keeps its fits


def _key(unit: OrgUnit | None, day: dt.date) -> str:
    return f"ql:relationship-report:{day.isoformat()}:{unit.pk if unit else 'all'}"


def cached_document(unit: OrgUnit | None) -> ReportDocument | None:
    """Today's document for ``unit`` if it has been built, else None (without building)."""
    return cache.get(_key(unit, timezone.localdate()))


def relationship_document(unit: OrgUnit | None) -> ReportDocument:
    """Today's relationship report for ``unit``, built at most once per unit and 10 minutes.

    Raises
    ------
    qualityloop.services.relationship.RelationshipError
        The records cannot answer (too few churns ...).
    """
    from qualityloop.report.relationship import build_relationship_report

    day = timezone.localdate()
    document = cache.get(_key(unit, day))
    if document is None:
        document = build_relationship_report(unit=unit, as_of=day)
        cache.set(_key(unit, day), document, CACHE_SECONDS)
    return document


def _allowed(request: HttpRequest) -> bool:
    return permissions.may(request.user, get_kind("customers"), permissions.Action.READ)


def pdf_available() -> bool:
    """Whether the server has a Chromium to print PDFs with."""
    from qualityloop.report.render import ReportError, find_browser

    try:
        find_browser()
    except ReportError:
        return False
    return True


def _context(unit: OrgUnit | None) -> dict[str, Any]:
    return {"allowed": True, "unit": unit, "unit_query": f"?unit={unit.external_id}" if unit
            else "", "document": cached_document(unit), "sections": None, "problem": "",
            "pdf": pdf_available()}


def _with_document(context: dict[str, Any]) -> dict[str, Any]:
    """Build (or take from the cache) the document and prepare its sections for the template."""
    from qualityloop.analytics.exceptions import ConvergenceError
    from qualityloop.report.render import document_sections
    from qualityloop.services.relationship import RelationshipError

    try:
        document = relationship_document(context["unit"])
    except (RelationshipError, ConvergenceError, ValueError) as problem:
        return {**context, "document": None, "problem": f"No answer yet: {problem}."}
    sections = document_sections(document)
    _link_actions(document, sections)
    return {**context, "document": document, "sections": sections}


def _link_actions(document: ReportDocument, sections: list[dict[str, Any]]) -> None:
    """Give the ranked actions' rows links to their records (``linked_rows``: (url, cells))."""
    from qualityloop.services.relationship import KIND_NAMES

    for section, prepared in zip(document.sections, sections, strict=True):
        if section.anchor != "actions":
            continue
        for block, shown in zip(section.blocks, prepared["blocks"], strict=True):
            if not isinstance(block, Table) or "Kind" not in block.frame:
                continue
            urls = [reverse("record-detail", args=[KIND_NAMES[kind], external_id])
                    if kind in KIND_NAMES else ""
                    for external_id, kind in zip(block.frame.index, block.frame["Kind"],
                                                 strict=True)]
            shown["linked_rows"] = list(zip(urls, shown["table"].rows, strict=True))


@login_required
def relationship_page(request: HttpRequest) -> HttpResponse:
    """The Relationship page. Without a cached document the body is a placeholder that loads
    :func:`relationship_body` as soon as it is shown; an HTMX request (the unit select) returns
    only the body."""
    if not _allowed(request):
        return render(request, "qualityloop/relationship.html", {"allowed": False})
    unit = selected_unit(request)
    context = _context(unit)
    if context["document"] is not None:
        context = _with_document(context)
    context["units"] = unit_options()
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "qualityloop/relationship_body.html", context)
    return render(request, "qualityloop/relationship.html", context)


@login_required
def relationship_body(request: HttpRequest) -> HttpResponse:
    """The body of the page: the document's findings and sections (computed if need be)."""
    if not _allowed(request):
        return HttpResponse("Your account may not see customer data.", status=403)
    context = _with_document(_context(selected_unit(request)))
    return render(request, "qualityloop/relationship_body.html", context)


def _file_name(unit: OrgUnit | None, suffix: str) -> str:
    scope = unit.external_id if unit else "organisation"
    return f"qualityloop-report-{scope}-{timezone.localdate():%Y-%m-%d}.{suffix}"


def _download(request: HttpRequest) -> tuple[ReportDocument, OrgUnit | None]:
    from qualityloop.services.relationship import RelationshipError

    if not _allowed(request):
        raise Http404("no report for this account")
    unit = selected_unit(request)
    try:
        return relationship_document(unit), unit
    except RelationshipError as problem:
        raise Http404(str(problem)) from problem


@login_required
def report_html(request: HttpRequest) -> HttpResponse:
    """The report as the same self-contained HTML file ``qualityloop report`` writes."""
    from qualityloop.report.render import render_html

    document, unit = _download(request)
    response = HttpResponse(render_html(document), content_type="text/html; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_file_name(unit, "html")}"'
    return response


@login_required
def report_pdf(request: HttpRequest) -> HttpResponse:
    """The report printed to PDF by the server's Chromium (404 when it has none)."""
    from qualityloop.report.render import ReportError, write_pdf

    document, unit = _download(request)
    with tempfile.TemporaryDirectory(prefix="qualityloop-pdf-") as work:
        try:
            content = write_pdf(document, Path(work) / "report.pdf").read_bytes()
        except ReportError as problem:
            raise Http404(str(problem)) from problem
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{_file_name(unit, "pdf")}"'
    return response
