"""Background jobs: the relationship page and the record import page start jobs, show their
progress while they run (polled over HTMX), then the answer, or the error in words; the thread
backend runs a job without holding the request.

Jobs run inside the request in the test settings (ImmediateBackend), so a job's running state
is set up by hand where a test looks at it.
"""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from qualityloop.records.jobs.models import Job, JobState
from qualityloop.records.organisation.models import OrgUnit
from qualityloop.report import relationship as report_module
from qualityloop.report.document import Finding, ReportDocument, Table
from qualityloop.services import jobs
from qualityloop.services.importing import import_file
from qualityloop.services.users import add_user
from qualityloop.web.views import relationship as relationship_view

PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def _logged_in(client, role: str, username: str = "rita"):
    add_user(username, role, password=PASSWORD)
    assert client.login(username=username, password=PASSWORD)
    return client


def _document(as_of) -> ReportDocument:
    doc = ReportDocument(title="TQM implementation and customer retention",
                         subtitle=f"The whole organisation, records up to {as_of}")
    doc.findings.append(Finding("Customers who met a field defect left 1.6x as fast.", "strong"))
    doc.section("Which quality experiences make customers leave sooner", "drivers").add(
        Table(pd.DataFrame({"Experience": ["Field defects"], "Hazard ratio": [1.61]}),
              index=False))
    return doc


def _running_relationship_job(progress: int, message: str) -> Job:
    day = timezone.localdate()
    return Job.objects.create(
        kind="relationship", key=relationship_view._job_key(None, day),
        title="Relationship report for the whole organisation", state=JobState.RUNNING,
        progress=progress, message=message, params={"unit": None, "as_of": day.isoformat()})


@pytest.mark.django_db
def test_relationship_page_shows_progress_then_the_answer(client, monkeypatch):
    seen_while_running: list[tuple[str, int, str]] = []

    def build(*, unit=None, as_of=None, answer=None):
        jobs.report_progress(60, "Fitting the unit-level path model")
        row = Job.objects.get(kind="relationship")
        seen_while_running.append((row.state, row.progress, row.message))
        return _document(as_of)

    monkeypatch.setattr(report_module, "build_relationship_report", build)
    client = _logged_in(client, "viewer")
    job = _running_relationship_job(40, "Fitting the churn-hazard model (Cox) to every customer")

    for url in (reverse("relationship"), reverse("relationship-body")):
        html = client.get(url).content.decode()
        assert 'data-testid="job-progress"' in html and 'data-testid="computing"' not in html
        assert 'data-testid="job-percent">40%<' in html and '<progress max="100" value="40"' in html
        assert "Fitting the churn-hazard model (Cox) to every customer" in html
        assert f'hx-get="{reverse("relationship-body")}"' in html
        assert 'hx-trigger="load delay:1500ms"' in html
    assert Job.objects.count() == 1, "the page reuses the job under way"

    Job.objects.filter(pk=job.pk).update(state=JobState.QUEUED)
    jobs.execute(job.pk)
    assert seen_while_running == [("running", 60, "Fitting the unit-level path model")]
    job.refresh_from_db()
    assert (job.state, job.progress, job.error) == ("done", 100, "")
    assert job.started_at is not None and job.finished_at >= job.started_at

    body = client.get(reverse("relationship-body")).content.decode()
    assert 'data-testid="job-progress"' not in body
    assert "Customers who met a field defect left 1.6x as fast." in body
    assert 'data-section="drivers"' in body
    page = client.get(reverse("relationship")).content.decode()
    assert "relationship-document" in page and 'data-testid="job-progress"' not in page


@pytest.mark.django_db
def test_a_failing_relationship_job_shows_its_error_and_can_be_tried_again(client, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(report_module, "build_relationship_report", broken)
    client = _logged_in(client, "viewer")
    body = client.get(reverse("relationship-body")).content.decode()
    assert 'data-testid="problem"' in body and "Traceback" not in body
    assert ("No answer yet: The job stopped on an unexpected error (RuntimeError: the disk is "
            "full). The server log has the details.") in body
    assert 'data-testid="retry"' in body and f'hx-post="{reverse("relationship-body")}"' in body
    job = Job.objects.get()
    assert job.state == "failed" and "the disk is full" in job.error
    again = client.get(reverse("relationship-body")).content.decode()
    assert 'data-testid="problem"' in again and Job.objects.count() == 1, \
        "polling shows the failure; it does not start the work again"
    assert client.get(reverse("relationship-report-html")).status_code == 404

    monkeypatch.setattr(report_module, "build_relationship_report",
                        lambda *, unit=None, as_of=None, answer=None: _document(as_of))
    retried = client.post(reverse("relationship-body")).content.decode()
    assert "Customers who met a field defect left 1.6x as fast." in retried
    assert Job.objects.count() == 2 and Job.objects.first().state == "done"
    assert client.get(reverse("relationship-report-html")).status_code == 200


@pytest.mark.django_db
def test_a_download_before_the_report_is_ready_goes_to_the_page(client):
    client = _logged_in(client, "viewer")
    OrgUnit.objects.create(external_id="UNIT-P", name="Porto")
    job = _running_relationship_job(10, "Reading the records")
    response = client.get(reverse("relationship-report-html"))
    assert response.status_code == 302 and response["Location"] == reverse("relationship")
    assert Job.objects.get() == job


def _units_csv(rows: int) -> bytes:
    lines = ["external_id,name"] + [f"U-{i:04d},Plant {i}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.django_db
def test_an_import_runs_as_a_job_and_its_page_shows_the_counts(client):
    client = _logged_in(client, "admin")
    form = client.get(reverse("record-import", args=["org-units"])).content.decode()
    assert 'data-testid="import-form"' in form and "external_id" in form
    upload = SimpleUploadedFile("units.csv", _units_csv(3), content_type="text/csv")
    response = client.post(reverse("record-import", args=["org-units"]), {"file": upload})
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("job", args=[job.pk])
    assert (job.kind, job.state, job.user.username) == ("import", "done", "rita")
    assert job.result["created"] == 3 and OrgUnit.objects.count() == 3
    page = client.get(response["Location"]).content.decode()
    assert 'data-testid="job-done"' in page
    assert 'data-testid="import-counts">Created 3, updated 0, unchanged 0 of 3 rows.' in page
    assert not list(jobs.upload_folder().parent.glob("*/units.csv")), "the upload is removed"


@pytest.mark.django_db
def test_a_failing_import_shows_every_problem_and_writes_nothing(client):
    client = _logged_in(client, "admin")
    bad = b"external_id,name,parent\nU-1,Plant one,\nU-2,,NOPE\n"
    upload = SimpleUploadedFile("units.csv", bad, content_type="text/csv")
    response = client.post(reverse("record-import", args=["org-units"]), {"file": upload})
    page = client.get(response["Location"]).content.decode()
    job = Job.objects.get()
    assert job.state == "failed" and job.error.startswith("units.csv:")
    assert 'data-testid="job-error"' in page and "Nothing was imported." in page
    assert "units.csv, row 3, column" in page and "Traceback" not in page
    assert OrgUnit.objects.count() == 0


@pytest.mark.django_db
def test_jobs_and_imports_are_kept_to_their_users(client):
    owner = _logged_in(client, "admin", "ada")
    listing = owner.get(reverse("record-list", args=["org-units"])).content.decode()
    assert f'href="{reverse("record-import", args=["org-units"])}"' in listing
    upload = SimpleUploadedFile("units.csv", _units_csv(1), content_type="text/csv")
    job_url = owner.post(reverse("record-import", args=["org-units"]), {"file": upload})["Location"]
    client.logout()
    viewer = _logged_in(client, "viewer", "vic")
    listing = viewer.get(reverse("record-list", args=["org-units"])).content.decode()
    assert 'data-testid="import-records"' not in listing
    assert viewer.get(job_url).status_code == 404
    refused = viewer.post(reverse("record-import", args=["org-units"]),
                          {"file": SimpleUploadedFile("u.csv", _units_csv(1))})
    assert refused.status_code == 403 and 'data-testid="import-refused"' in refused.content.decode()
    assert Job.objects.count() == 1 and OrgUnit.objects.count() == 1
    wrong = _logged_in(client, "admin", "root")
    no_file = wrong.post(reverse("record-import", args=["org-units"]),
                         {"file": SimpleUploadedFile("units.txt", b"x")})
    assert no_file.status_code in (400, 415) and Job.objects.count() == 1, \
        "a file that is not a table starts no job"


@pytest.mark.django_db
def test_the_status_fragment_polls_while_running_and_stops_when_done(client):
    user = User.objects.create_user("ada", password=PASSWORD)
    client.force_login(user)
    job = Job.objects.create(kind="import", title="Import big.csv", user=user,
                             state=JobState.RUNNING, progress=35, message="Row 3,500 of 10,000",
                             params={"kind": "customers"})
    status_url = reverse("job-status", args=[job.pk])
    running = client.get(status_url).content.decode()
    assert "Row 3,500 of 10,000" in running and 'value="35"' in running
    assert f'hx-get="{status_url}"' in running and 'hx-target="closest .job-state"' in running
    Job.objects.filter(pk=job.pk).update(state=JobState.DONE, progress=100, result={
        "created": 10_000, "updated": 0, "unchanged": 0, "rows": 10_000})
    done = client.get(status_url).content.decode()
    assert "hx-get" not in done and "Created 10000, updated 0" in done


def test_import_file_reports_row_progress(db, tmp_path):
    path = tmp_path / "units.csv"
    path.write_bytes(_units_csv(600))
    calls: list[tuple[int, int]] = []
    report = import_file("org-units", path,
                         progress=lambda done, total: calls.append((done, total)))
    assert report.created == 600
    assert calls == [(250, 600), (500, 600), (600, 600)]


@pytest.mark.django_db
def test_a_job_that_never_started_cleanly_is_not_reused_forever():
    job = _running_relationship_job(20, "Reading the records")
    assert jobs.reusable(job.key, relationship_view.FRESH) == job
    Job.objects.filter(pk=job.pk).update(updated_at=timezone.now() - jobs.STALE_AFTER * 2)
    assert jobs.reusable(job.key, relationship_view.FRESH) is None


@pytest.mark.django_db(transaction=True)
def test_the_thread_backend_returns_at_once_and_runs_the_job_in_the_background(monkeypatch):
    release = threading.Event()

    def slow(job):
        jobs.report_progress(50, "Waiting to be released")
        assert release.wait(20)
        return {"answer": 42}

    monkeypatch.setitem(jobs.HANDLERS, "slow", slow)
    backend = {"default": {"BACKEND": "qualityloop.records.jobs.backends.ThreadBackend"}}
    with override_settings(TASKS=backend):
        job = jobs.start("slow", title="A slow job")
        assert job.state in ("queued", "running"), "start returned before the job finished"
        assert _wait_for(job, lambda j: j.progress == 50)
        assert Job.objects.get(pk=job.pk).message == "Waiting to be released"
        release.set()
        assert _wait_for(job, lambda j: j.state == "done")
    assert Job.objects.get(pk=job.pk).result == {"answer": 42}


def _wait_for(job: Job, condition, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition(Job.objects.get(pk=job.pk)):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.django_db
def test_the_pdf_is_printed_by_a_job_and_downloaded_from_it(client, monkeypatch):
    from qualityloop.report import render

    printed: list[str] = []

    def fake_pdf(document, path):
        printed.append(document.subtitle)
        path.write_bytes(b"%PDF-1.7 fake")
        return path

    monkeypatch.setattr(render, "write_pdf", fake_pdf)
    monkeypatch.setenv("QUALITYLOOP_CHROMIUM", "/usr/bin/chromium")
    monkeypatch.setattr(relationship_view, "pdf_available", lambda: True)
    monkeypatch.setattr(report_module, "build_relationship_report",
                        lambda *, unit=None, as_of=None, answer=None: _document(as_of))
    client = _logged_in(client, "viewer")
    running = _running_relationship_job(30, "Fitting")
    waiting = client.get(reverse("relationship-report-pdf"))
    assert waiting.status_code == 302 and waiting["Location"] == reverse("relationship")
    running.delete()

    response = client.get(reverse("relationship-report-pdf"))
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"%PDF-1.7 fake"
    assert response["Content-Disposition"].startswith('attachment; filename="qualityloop-report-')
    pdf_job = Job.objects.get(kind="report-pdf")
    assert pdf_job.state == "done" and pdf_job.user.username == "rita"
    again = client.get(reverse("relationship-report-pdf"))
    assert again.status_code == 200 and len(printed) == 1, "a recent PDF is not printed again"
    page = client.get(reverse("job", args=[pdf_job.pk])).content.decode()
    assert f'href="{reverse("job-file", args=[pdf_job.pk])}"' in page

    Job.objects.filter(kind="report-pdf").delete()
    monkeypatch.setattr(render, "write_pdf", _no_chromium)
    failed = client.get(reverse("relationship-report-pdf"))
    pdf_job = Job.objects.get(kind="report-pdf")
    assert failed.status_code == 302 and failed["Location"] == reverse("job", args=[pdf_job.pk])
    page = client.get(failed["Location"]).content.decode()
    assert "failed: /usr/bin/chromium could not print the report to PDF: it crashed" in page


def _no_chromium(document, path):
    from qualityloop.report.render import ReportError

    raise ReportError("/usr/bin/chromium could not print the report to PDF: it crashed")


@pytest.mark.django_db
def test_result_files_are_kept_a_day(monkeypatch):
    import os

    old, new = jobs.result_folder() / "job-1-old.pickle", jobs.result_folder() / "job-2-new.pdf"
    old.write_bytes(b"x")
    new.write_bytes(b"y")
    day_and_a_bit = time.time() - jobs.RESULTS_KEPT.total_seconds() - 60
    os.utime(old, (day_and_a_bit, day_and_a_bit))
    monkeypatch.setitem(jobs.HANDLERS, "nothing", lambda job: {})
    assert jobs.start("nothing", title="Nothing").state == "done"
    assert not old.exists() and new.exists()
    new.unlink()


def test_a_busy_database_is_asked_again_before_a_job_write_gives_up(monkeypatch):
    """Claiming a job (queued -> running) must not be lost to a moment of contention: SQLite
    refuses a write while another connection writes (at once in a shared in-memory database)."""
    from django.db import OperationalError

    monkeypatch.setattr(jobs.time, "sleep", lambda seconds: None)
    answers = iter([OperationalError("database table is locked"),
                    OperationalError("database is locked"), 1])

    def write():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert jobs._when_not_busy(write) == 1
    tries = []

    def always_busy():
        tries.append(1)
        raise OperationalError("database is locked")

    with pytest.raises(OperationalError):
        jobs._when_not_busy(always_busy)
    assert len(tries) == jobs.BUSY_TRIES
