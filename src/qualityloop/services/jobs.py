"""Background jobs: start (or reuse) a job, run it, report its progress, keep its result.

A :class:`~qualityloop.records.jobs.models.Job` row is the job's record; the pages poll it.
The work itself is handed to django-tasks (``records/jobs/tasks.run_job``), so where it runs is
a setting (``QUALITYLOOP_JOBS``: a thread of the web process, or a ``qualityloop worker``
process; see docs/background-jobs.md). Each kind of job is a handler ``f(job) -> result`` in
:data:`HANDLERS`; inside it, :func:`report_progress` moves the bar.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import logging
import pickle
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings
from django.db import OperationalError, connections
from django.utils import timezone

from qualityloop.records.jobs.models import Job, JobState

log = logging.getLogger(__name__)
T = TypeVar("T")

# A queued or running job that has not moved for this long is taken as abandoned (the thread
# backend survives no restart; a worker may have been killed) and is not reused.
STALE_AFTER = dt.timedelta(minutes=15)
# What jobs made is kept this long (a day: pages reuse a result for minutes, downloads for hours).
RESULTS_KEPT = dt.timedelta(days=1)
# Progress is written at most this often (seconds), and always when the percentage changes.
WRITE_EVERY = 0.5


@dataclass
class _Reporter:
    """The running job's progress: written to its row, and kept here for this process."""

    job_id: int
    in_transaction: bool = False
    last_written: float = 0.0
    last_percent: int = -1
    lock: threading.Lock = field(default_factory=threading.Lock)


_current: contextvars.ContextVar[_Reporter | None] = contextvars.ContextVar(
    "qualityloop_job", default=None)
# Progress made inside a transaction the job itself holds open (an all-or-nothing import) cannot
# reach the database through the job's connection before the commit; pages in the same process
# read it from here.
_live: dict[int, tuple[int, str]] = {}
_live_lock = threading.Lock()


def report_progress(percent: float, message: str) -> None:
    """Move the running job's progress bar; does nothing outside a job.

    Parameters
    ----------
    percent
        0-100, how far the job has come.
    message
        What it is doing now, in words ("Fitting the churn model").
    """
    reporter = _current.get()
    if reporter is None:
        return
    value = max(0, min(100, int(percent)))
    message = message[:300]
    with _live_lock:
        _live[reporter.job_id] = (value, message)
    now = time.monotonic()
    if value == reporter.last_percent and now - reporter.last_written < WRITE_EVERY:
        return
    reporter.last_percent, reporter.last_written = value, now
    _write_progress(reporter, value, message)


def _write_progress(reporter: _Reporter, percent: int, message: str) -> None:
    if not reporter.in_transaction:
        _when_not_busy(lambda: Job.objects.filter(pk=reporter.job_id).update(
            progress=percent, message=message, updated_at=timezone.now()))
    elif connections["default"].vendor == "postgresql":
        _write_on_the_side(reporter.job_id, percent, message)
    # SQLite inside the job's own write transaction: a second connection would wait for it.


def _write_on_the_side(job_id: int, percent: int, message: str) -> None:
    """Write progress through a connection of its own, outside the job's open transaction."""
    side = connections.create_connection("default")
    try:
        with side.cursor() as cursor:
            cursor.execute(f"UPDATE {Job._meta.db_table} SET progress = %s, message = %s, "
                           "updated_at = %s WHERE id = %s",
                           [percent, message, timezone.now(), job_id])
    except Exception as problem:  # progress is a courtesy: never fail the job over it
        log.warning("job %s: progress not written (%s)", job_id, problem)
    finally:
        side.close()


@contextlib.contextmanager
def progress_in_transaction() -> Iterator[None]:
    """Mark the job's progress reports as made inside its own open transaction (see _live)."""
    reporter = _current.get()
    if reporter is None:
        yield
        return
    reporter.in_transaction = True
    try:
        yield
    finally:
        reporter.in_transaction = False


def live(job: Job) -> Job:
    """``job`` with the progress its own process holds, if newer than the row's."""
    with _live_lock:
        held = _live.get(job.pk)
    if held is not None and job.state == JobState.RUNNING and held[0] >= job.progress:
        job.progress, job.message = held
    return job


def start(kind: str, *, title: str, params: dict[str, Any] | None = None, user: Any = None,
          key: str = "") -> Job:
    """Record a new job and hand it to the task backend; returns the job (queued, or already
    finished when the backend runs jobs immediately).

    Parameters
    ----------
    kind
        A key of :data:`HANDLERS`.
    title
        What the job does, as the page names it.
    params
        JSON-able arguments for the handler.
    user
        Who started it (None for the system).
    key
        Names the work, so :func:`reusable` can find the same work already under way.
    """
    from qualityloop.records.jobs.tasks import run_job

    if kind not in HANDLERS:
        raise ValueError(f"unknown job kind {kind!r}; expected one of {', '.join(HANDLERS)}")
    prune_results()
    job = Job.objects.create(kind=kind, title=title, params=params or {}, key=key,
                             user=user if getattr(user, "pk", None) else None)
    try:
        result = run_job.enqueue(job.pk)
    except Exception as problem:
        _finish(job.pk, JobState.FAILED, error=f"The job could not be queued: {problem}")
    else:
        _when_not_busy(lambda: Job.objects.filter(pk=job.pk).update(task_id=str(result.id)[:64]))
    job.refresh_from_db()
    return job


def reusable(key: str, fresh_for: dt.timedelta) -> Job | None:
    """The latest job for ``key`` still worth showing: under way and not stale, or finished
    within ``fresh_for`` (a failure too, so a polling page does not start it again and again)."""
    job = Job.objects.filter(key=key).first()
    if job is None:
        return None
    now = timezone.now()
    if not job.finished:
        return job if now - job.updated_at < STALE_AFTER else None
    if job.finished_at is None or now - job.finished_at > fresh_for:
        return None
    if job.state == JobState.DONE and not _result_exists(job):
        return None
    return job


def start_or_reuse(kind: str, *, key: str, fresh_for: dt.timedelta, **start_args: Any) -> Job:
    """:func:`reusable` for ``key`` if there is one, else a new job (:func:`start`)."""
    return reusable(key, fresh_for) or start(kind, key=key, **start_args)


def execute(job_id: int) -> None:
    """Run job ``job_id`` once: claim it (queued -> running), call its handler, record the
    result or the error in words. A job already claimed elsewhere is left alone."""
    if not _claim(job_id):
        return
    job = Job.objects.get(pk=job_id)
    token = _current.set(_Reporter(job_id))
    try:
        result = HANDLERS[job.kind](job)
    except Exception as problem:
        _fail(job, problem)
    except BaseException:  # the worker was stopped (Ctrl-C, SIGTERM): say so, then stop
        _finish(job_id, JobState.FAILED, error="The worker running the job was stopped; "
                                               "start the job again.")
        raise
    else:
        _finish(job_id, JobState.DONE, result=result or {})
    finally:
        _current.reset(token)
        with _live_lock:
            _live.pop(job_id, None)


BUSY_TRIES = 6


def _claim(job_id: int) -> bool:
    """Mark the job running if it is still queued; False when someone else has it."""
    return bool(_when_not_busy(lambda: Job.objects.filter(pk=job_id, state=JobState.QUEUED)
                               .update(state=JobState.RUNNING, started_at=timezone.now(),
                                       updated_at=timezone.now(), message="Started")))


def _when_not_busy(write: Callable[[], T]) -> T:
    """``write()``, asked again a few times, waiting a little longer each time, while the
    database is busy (SQLite refuses a write while another connection writes: at once in a
    shared in-memory database, after its busy timeout in a file). The job's own bookkeeping
    (claimed, queued as task N, progress, outcome) must not be lost to a moment of contention."""
    for attempt in range(BUSY_TRIES - 1):
        try:
            return write()
        except OperationalError:
            time.sleep(0.05 * 2**attempt)
    return write()


def _fail(job: Job, problem: Exception) -> None:
    from qualityloop.services.importing import ImportFailed

    result: dict[str, Any] = {}
    if isinstance(problem, ImportFailed):
        result["problems"] = [p.text for p in problem.problems]
    text = error_text(problem)
    if not _worded(problem):
        log.exception("job %s (%s) failed", job.pk, job.kind, exc_info=problem)
    _finish(job.pk, JobState.FAILED, error=text, result=result)


def _finish(job_id: int, state: str, *, result: dict[str, Any] | None = None,
            error: str = "") -> None:
    now = timezone.now()
    changes: dict[str, Any] = {"state": state, "error": error, "finished_at": now,
                               "updated_at": now, "result": result or {}}
    if state == JobState.DONE:
        changes.update(progress=100, message="Done")
    # The outcome must not be lost to a moment of contention either (CI: "table is locked").
    _when_not_busy(lambda: Job.objects.filter(pk=job_id).update(**changes))


def _worded(problem: Exception) -> bool:
    """Whether the exception's own text is meant for the user (domain errors say what is
    wrong); anything else is a bug, shown by class and logged with its traceback."""
    from qualityloop.analytics.exceptions import ConvergenceError
    from qualityloop.report.render import ReportError
    from qualityloop.services.importing import ImportFailed

    return isinstance(problem, ValueError | ImportFailed | ConvergenceError | FileNotFoundError
                      | ReportError)


def error_text(problem: Exception) -> str:
    """The failure in words for the page: the domain error's own message, or which error
    stopped the job (the traceback goes to the server log, never to the page)."""
    if _worded(problem):
        return str(problem)
    return (f"The job stopped on an unexpected error ({type(problem).__name__}: {problem}). "
            "The server log has the details.")


# ---- results kept as files (a worker process and the web process share only the database
# and the data folder) --------------------------------------------------------------------

def result_folder() -> Path:
    """Where jobs keep what they made (under the data folder)."""
    folder = Path(settings.DATA_HOME) / "job-results"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def prune_results(older_than: dt.timedelta = RESULTS_KEPT) -> int:
    """Remove result files older than ``older_than`` (their jobs stay, as the record); returns
    how many were removed."""
    cutoff = time.time() - older_than.total_seconds()
    removed = 0
    for path in result_folder().iterdir():
        if path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def save_object(job: Job, value: Any) -> str:
    """Pickle ``value`` (made by this job) into the result folder; returns its file name."""
    name = f"job-{job.pk}-{uuid.uuid4().hex[:8]}.pickle"
    path = result_folder() / name
    temporary = path.with_suffix(".part")
    temporary.write_bytes(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    temporary.replace(path)
    return name


def load_object(job: Job) -> Any:
    """The object a finished job saved with :func:`save_object` (only our own files: the name
    comes from the job row and is looked up inside the result folder)."""
    name = Path(str(job.result.get("object", ""))).name
    if not name:
        raise FileNotFoundError(f"job {job.pk} saved no result")
    return pickle.loads((result_folder() / name).read_bytes())  # noqa: S301 (our own file)


def result_file(job: Job) -> Path:
    """The file a finished job wrote into the result folder (``result['file']``)."""
    name = Path(str(job.result.get("file", ""))).name
    path = result_folder() / name
    if not name or not path.is_file():
        raise FileNotFoundError(f"job {job.pk} wrote no file, or it has been removed")
    return path


def _result_exists(job: Job) -> bool:
    names = [job.result[k] for k in ("object", "file") if k in job.result]
    return all((result_folder() / Path(str(name)).name).exists() for name in names)


def upload_folder() -> Path:
    """A new folder under the data folder for a file a job will read (the request's own
    temporary upload is gone once the response is sent)."""
    folder = Path(settings.DATA_HOME) / "job-uploads" / uuid.uuid4().hex
    folder.mkdir(parents=True)
    return folder


# ---- the kinds of job ---------------------------------------------------------------------

def relationship_job(job: Job) -> dict[str, Any]:
    """The relationship report (Cox and PLS fits) for ``params['unit']`` (pk or None) as of
    ``params['as_of']`` (ISO day); saves the document."""
    from qualityloop.records.organisation.models import OrgUnit
    from qualityloop.report import relationship as report_module

    unit_pk = job.params.get("unit")
    unit = OrgUnit.objects.get(pk=unit_pk) if unit_pk else None
    as_of = dt.date.fromisoformat(job.params["as_of"])
    report_progress(2, "Reading the records")
    document = report_module.build_relationship_report(unit=unit, as_of=as_of)
    report_progress(97, "Saving the report")
    return {"object": save_object(job, document)}


def report_pdf_job(job: Job) -> dict[str, Any]:
    """Print the document of the finished relationship job ``params['document_job']`` to PDF
    with the server's Chromium; the file is kept in the result folder."""
    from qualityloop.report.render import write_pdf

    source = Job.objects.get(pk=job.params["document_job"])
    report_progress(5, "Reading the report")
    document = load_object(source)
    report_progress(15, "Printing the report to PDF with Chromium")
    name = f"job-{job.pk}-{uuid.uuid4().hex[:8]}.pdf"
    write_pdf(document, result_folder() / name)
    return {"file": name, "download_name": job.params.get("download_name", "report.pdf")}


def import_job(job: Job) -> dict[str, Any]:
    """Import ``params['path']`` as ``params['kind']`` records, all or nothing, with row
    progress; the uploaded file's folder is removed afterwards."""
    import shutil

    from qualityloop.services.importing import import_file

    path = Path(job.params["path"])
    try:
        report_progress(1, f"Reading {path.name}")
        with progress_in_transaction():
            report = import_file(job.params["kind"], path, dry_run=bool(job.params.get("dry_run")),
                                 user=job.user, progress=_row_progress)
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)
    return report.as_dict()


def _row_progress(done: int, total: int) -> None:
    report_progress(5 + 90 * done / max(total, 1), f"Row {done:,} of {total:,}")


HANDLERS: dict[str, Callable[[Job], dict[str, Any]]] = {
    "relationship": relationship_job,
    "report-pdf": report_pdf_job,
    "import": import_job,
}
