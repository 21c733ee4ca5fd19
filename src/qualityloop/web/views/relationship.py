"""The Relationship page: the relationship report (``report.relationship``) inside the app.

The page and the downloadable report are one mechanism: the same
:class:`~qualityloop.report.document.ReportDocument`, its sections prepared by
``report.render.document_sections``. Building it takes seconds to minutes (Cox and PLS fits), so
it is a background job (``services.jobs``, docs/background-jobs.md): the body starts one per unit
and day (or reuses the one under way or done in the last 10 minutes), polls its progress every
1.5 s over HTMX, and shows the answer, or the job's error in words, when it has finished.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from qualityloop.records.jobs.models import Job, JobState
from qualityloop.records.organisation.models import OrgUnit
from qualityloop.report.document import ReportDocument, Table
from qualityloop.services import jobs, permissions
from qualityloop.services.record_kinds import get_kind
from qualityloop.web.views.unit_scope import selected_unit, unit_options

CACHE_SECONDS = 600  # as long as relationship_answer keeps its fits
FRESH = dt.timedelta(seconds=CACHE_SECONDS)


def _job_key(unit: OrgUnit | None, day: dt.date) -> str:
    return f"relationship:{day.isoformat()}:{unit.pk if unit else 'all'}"


def recent_job(unit: OrgUnit | None) -> Job | None:
    """Today's relationship job for ``unit`` under way or finished lately (None: none)."""
    job = jobs.reusable(_job_key(unit, timezone.localdate()), FRESH)
    return jobs.live(job) if job is not None else None


def relationship_job(unit: OrgUnit | None, user: Any, *, again: bool = False) -> Job:
    """Today's relationship job for ``unit``: the recent one, or a new one (always new with
    ``again``: the retry after a failure)."""
    day = timezone.localdate()
    scope = unit.name if unit else "the whole organisation"
    start_args: dict[str, Any] = {
        "title": f"Relationship report for {scope}", "user": user,
        "params": {"unit": unit.pk if unit else None, "as_of": day.isoformat()}}
    key = _job_key(unit, day)
    if again:
        return jobs.start("relationship", key=key, **start_args)
    return jobs.live(jobs.start_or_reuse("relationship", key=key, fresh_for=FRESH, **start_args))


def job_document(job: Job) -> ReportDocument:
    """The document a finished relationship job made (read once per process, then cached)."""
    key = f"ql:relationship-job:{job.pk}"
    document = cache.get(key)
    if document is None:
        document = jobs.load_object(job)
        cache.set(key, document, CACHE_SECONDS)
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


def _context(unit: OrgUnit | None, job: Job | None) -> dict[str, Any]:
    query = f"?unit={unit.external_id}" if unit else ""
    return {"allowed": True, "unit": unit, "unit_query": query, "job": job, "document": None,
            "sections": None, "problem": "", "pdf": False,
            "poll_url": reverse("relationship-body") + query}


def _with_job(context: dict[str, Any]) -> dict[str, Any]:
    """The context for the job's state: its document and sections when done, its error when
    failed, else the job itself (the template shows its progress)."""
    job = context["job"]
    if job is None or not job.finished:
        return context
    if job.state == JobState.FAILED:
        return {**context, "problem": f"No answer yet: {job.error.rstrip('.')}."}
    try:
        document = job_document(job)
    except FileNotFoundError as missing:
        return {**context, "problem": f"The finished report could not be read: {missing}."}
    # Imported only for a finished job: while a job's thread imports the report modules, a
    # progress poll would otherwise wait for the import lock (seconds on a cold start).
    from qualityloop.report.render import document_sections

    sections = document_sections(document)
    _link_actions(document, sections)
    return {**context, "document": document, "sections": sections, "pdf": pdf_available()}


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
    """The Relationship page. With a recent job its state is shown at once (the answer, the
    error, or the progress that polls); without one the body is a placeholder that loads
    :func:`relationship_body` (which starts the job) as soon as it is shown. An HTMX request
    (the unit select) returns only the body."""
    if not _allowed(request):
        return render(request, "qualityloop/relationship.html", {"allowed": False})
    unit = selected_unit(request)
    context = _with_job(_context(unit, recent_job(unit)))
    context["units"] = unit_options(request.user)
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "qualityloop/relationship_body.html", context)
    return render(request, "qualityloop/relationship.html", context)


@login_required
def relationship_body(request: HttpRequest) -> HttpResponse:
    """The body of the page for the unit's job, started (or reused) here: the answer, the
    error, or the progress that polls this view again. POST starts the job afresh (retry)."""
    if not _allowed(request):
        return HttpResponse("Your account may not see customer data.", status=403)
    unit = selected_unit(request)
    job = relationship_job(unit, request.user, again=request.method == "POST")
    return render(request, "qualityloop/relationship_body.html", _with_job(_context(unit, job)))


def _file_name(unit: OrgUnit | None, suffix: str) -> str:
    scope = unit.external_id if unit else "organisation"
    return f"qualityloop-report-{scope}-{timezone.localdate():%Y-%m-%d}.{suffix}"


class _NotReady(Exception):
    """The report is still being made: send the visitor to the page that shows its progress."""


def _finished_job(request: HttpRequest) -> tuple[Job, OrgUnit | None]:
    """The unit's finished relationship job (404 when it failed, _NotReady while it runs)."""
    if not _allowed(request):
        raise Http404("no report for this account")
    unit = selected_unit(request)
    job = relationship_job(unit, request.user)
    if job.state == JobState.FAILED:
        raise Http404(job.error)
    if job.state != JobState.DONE:
        raise _NotReady
    return job, unit


def _download(request: HttpRequest) -> tuple[ReportDocument, OrgUnit | None]:
    job, unit = _finished_job(request)
    try:
        return job_document(job), unit
    except FileNotFoundError as missing:
        raise Http404(str(missing)) from missing


def _to_the_page(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("unit")
    return redirect(reverse("relationship") + (f"?{urlencode({'unit': query})}" if query else ""))


@login_required
def report_html(request: HttpRequest) -> HttpResponse:
    """The report as the same self-contained HTML file ``qualityloop report`` writes."""
    from qualityloop.report.render import render_html

    try:
        document, unit = _download(request)
    except _NotReady:
        return _to_the_page(request)
    response = HttpResponse(render_html(document), content_type="text/html; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_file_name(unit, "html")}"'
    return response


@login_required
def report_pdf(request: HttpRequest) -> HttpResponse | FileResponse:
    """The report printed to PDF by the server's Chromium (404 when it has none), as a
    background job: a PDF this user had printed in the last 10 minutes downloads at once,
    otherwise the browser goes to the job's page, which offers the file when it is ready."""
    from qualityloop.web.views.jobs import file_response

    if not pdf_available():
        raise Http404("the server has no Chromium to print PDFs with")
    try:
        job, unit = _finished_job(request)
    except _NotReady:
        return _to_the_page(request)
    scope = unit.name if unit else "the whole organisation"
    printing = jobs.start_or_reuse(
        "report-pdf", key=f"report-pdf:{job.pk}:{request.user.pk}", fresh_for=FRESH,
        title=f"PDF of the relationship report for {scope}", user=request.user,
        params={"document_job": job.pk, "download_name": _file_name(unit, "pdf")})
    if printing.state == JobState.DONE:
        return file_response(printing)
    return redirect("job", job_id=printing.pk)
