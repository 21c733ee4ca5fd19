"""Background jobs on the web: a job's own page (progress that polls, then the result or the
error in words) and the record import page, whose imports run as jobs with row progress.

Only the user who started a job (and administrators) see it. See docs/background-jobs.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from qualityloop.records.accounts.choices import Role
from qualityloop.records.accounts.models import role_of
from qualityloop.records.jobs.models import Job
from qualityloop.services import jobs, permissions
from qualityloop.services.record_kinds import RecordKind
from qualityloop.web import uploads
from qualityloop.web.views.records import _kind_or_404, kind_title

IMPORT_SUFFIXES = (".csv", ".xlsx", ".parquet")


def _visible_job(request: HttpRequest, job_id: int) -> Job:
    job = Job.objects.filter(pk=job_id).select_related("user").first()
    if job is None or not (job.user_id == request.user.pk or role_of(request.user) == Role.ADMIN):
        raise Http404("no such job for this account")
    return jobs.live(job)


def _job_context(job: Job) -> dict[str, Any]:
    kind_name = job.params.get("kind", "") if job.kind == "import" else ""
    return {"job": job, "poll_url": reverse("job-status", args=[job.pk]),
            "problems": job.result.get("problems", []) if job.state == "failed" else [],
            "kind_name": kind_name}


@login_required
def job_page(request: HttpRequest, job_id: int) -> HttpResponse:
    """A job's page: its progress (polled every 1.5 s), then what it did or why it failed."""
    job = _visible_job(request, job_id)
    return render(request, "qualityloop/job.html", _job_context(job))


@login_required
def job_status(request: HttpRequest, job_id: int) -> HttpResponse:
    """The job's state as an HTML fragment (what the page polls)."""
    job = _visible_job(request, job_id)
    return render(request, "qualityloop/_job_state.html", _job_context(job))


def file_response(job: Job) -> FileResponse:
    """The file a finished job wrote, as a download under the name it chose."""
    try:
        path = jobs.result_file(job)
    except FileNotFoundError as missing:
        raise Http404(str(missing)) from missing
    name = Path(str(job.result.get("download_name") or path.name)).name
    return FileResponse(path.open("rb"), as_attachment=True, filename=name)


@login_required
def job_file(request: HttpRequest, job_id: int) -> FileResponse:
    """Download what a finished job made (the PDF of a report)."""
    return file_response(_visible_job(request, job_id))


def import_refusal(user: Any, kind: RecordKind) -> str | None:
    """Why ``user`` may not import ``kind`` records from the web, or None. An import creates and
    changes any record of the kind, so it takes both rights over every unit."""
    for action in (permissions.Action.CREATE, permissions.Action.CHANGE):
        if permissions.scope_of(user, kind, action) != permissions.Scope.ALL:
            return (f"Importing {kind_title(kind).lower()} creates and changes records of every "
                    f"unit; your role may not {action} all of them.")
    return None


@login_required
@require_http_methods(["GET", "POST"])
def record_import(request: HttpRequest, kind_name: str) -> HttpResponse:
    """Import a CSV, Excel or Parquet file of one record kind, all or nothing, as a background
    job; the browser goes to the job's page, which shows the row progress and then the counts
    or every problem (file, row, column, what was expected)."""
    kind = _kind_or_404(kind_name)
    context: dict[str, Any] = {"kind": kind, "title": kind_title(kind), "problem": "",
                               "refusal": import_refusal(request.user, kind),
                               "columns": [c.name for c in kind.columns]}
    if request.method == "GET" or context["refusal"]:
        status = 403 if request.method == "POST" else 200
        return render(request, "qualityloop/record_import.html", context, status=status)
    try:  # size and content checks (web/uploads.py, docs/security.md)
        upload = uploads.checked_upload(request, "file", IMPORT_SUFFIXES)
    except uploads.UploadRefused as refused:
        context["problem"] = str(refused)
        return render(request, "qualityloop/record_import.html", context, status=refused.status)
    name = Path(upload.name or "").name if upload is not None else ""
    if upload is None or not name.lower().endswith(IMPORT_SUFFIXES):
        context["problem"] = "Choose a .csv, .xlsx or .parquet file to import."
        return render(request, "qualityloop/record_import.html", context, status=400)
    path = jobs.upload_folder() / name
    with path.open("wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    job = jobs.start("import", title=f"Import {name} as {kind_title(kind).lower()}",
                     params={"kind": kind.name, "path": str(path),
                             "dry_run": bool(request.POST.get("dry_run"))},
                     user=request.user)
    return redirect("job", job_id=job.pk)
