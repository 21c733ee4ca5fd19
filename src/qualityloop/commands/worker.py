"""``qualityloop worker``: run background jobs queued in the database (docs/background-jobs.md).

Deployed next to ``qualityloop serve --production`` with ``QUALITYLOOP_JOBS=queue`` for both:
the web processes queue relationship fits, reports and big imports, and one or more workers
(any machine that reaches the database) run them. The queue is django-tasks' database backend
(``django_tasks_db``); this command is its ``db_worker`` with our settings.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.table import Table

from qualityloop.commands.common import JsonFlag, emit, start_django

app = typer.Typer(help="Run the background jobs that the web pages queue (QUALITYLOOP_JOBS="
                       "queue): relationship fits, reports, big imports.")

BatchFlag = Annotated[bool, typer.Option(
    "--batch", help="Run the jobs waiting now, then exit (default: keep waiting for new ones).")]
IntervalOption = Annotated[float, typer.Option(
    "--interval", min=0.1, help="Seconds between looks at the queue when it is empty.")]
MaxJobsOption = Annotated[int | None, typer.Option(
    "--max-jobs", min=1, help="Exit after this many jobs (a supervisor starts a fresh one).")]


@app.callback(invoke_without_command=True)
def worker(ctx: typer.Context, batch: BatchFlag = False, interval: IntervalOption = 1.0,
           max_jobs: MaxJobsOption = None) -> None:
    """Take queued jobs from the database and run them, one at a time, until stopped
    (Ctrl-C or SIGTERM let the current job finish its step and stop)."""
    if ctx.invoked_subcommand is not None:
        return
    os.environ["QUALITYLOOP_JOBS"] = "queue"  # the worker reads the database queue, always
    start_django()
    from django.core.management import call_command

    options: dict[str, object] = {"interval": interval, "batch": batch, "reload": False,
                                  "verbosity": 1}
    if max_jobs is not None:
        options["max_tasks"] = max_jobs
    if batch:
        options["startup_delay"] = False
    call_command("db_worker", **options)


@app.command("jobs")
def list_jobs(limit: Annotated[int, typer.Option("--limit", min=1)] = 20,
              as_json: JsonFlag = False) -> None:
    """The latest jobs: what, who, state, progress, and the error of a failed one."""
    start_django()
    from qualityloop.records.jobs.models import Job

    rows = [{"id": job.pk, "kind": job.kind, "title": job.title, "state": job.state,
             "progress": job.progress, "message": job.message,
             "user": job.user.get_username() if job.user else None,
             "created_at": job.created_at.isoformat(),
             "finished_at": job.finished_at.isoformat() if job.finished_at else None,
             "error": job.error, "result": job.result}
            for job in Job.objects.select_related("user")[:limit]]
    table = Table("id", "job", "who", "state", "progress", "message or error")
    for row in rows:
        table.add_row(str(row["id"]), str(row["title"]), str(row["user"] or "-"),
                      str(row["state"]), f"{row['progress']}%",
                      str(row["error"] or row["message"]))
    emit({"jobs": rows}, as_json, table)
