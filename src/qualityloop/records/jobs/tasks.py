"""The one django-tasks task: run a job record by its id (``services.jobs.execute``)."""

from __future__ import annotations

from django_tasks import task


@task()
def run_job(job_id: int) -> None:
    """Run the job ``job_id`` (any backend, any process): see :func:`services.jobs.execute`."""
    from qualityloop.services.jobs import execute

    execute(job_id)
