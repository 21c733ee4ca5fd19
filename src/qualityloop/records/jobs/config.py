"""Settings for background jobs, read by ``web/settings.py`` (docs/background-jobs.md).

``QUALITYLOOP_JOBS`` chooses where jobs run:

``thread`` (default, the embedded setup)
    a worker thread inside the web process; nothing to start, nothing survives a restart.
``queue`` (deployed)
    django-tasks' database backend: jobs wait in the database until a ``qualityloop worker``
    process (one or more, on any machine that reaches the database) takes them.
``immediate``
    inside the request that starts them (the test suite; debugging).
"""

from __future__ import annotations

import os
from typing import Any

INSTALLED_JOB_APPS = ["django_tasks", "django_tasks_db", "qualityloop.records.jobs"]

BACKENDS = {
    "thread": "qualityloop.records.jobs.backends.ThreadBackend",
    "queue": "django_tasks_db.DatabaseBackend",
    "immediate": "django_tasks.backends.immediate.ImmediateBackend",
}


def jobs_mode() -> str:
    """The ``QUALITYLOOP_JOBS`` choice; an unknown value stops the start with a clear message."""
    mode = os.environ.get("QUALITYLOOP_JOBS", "thread").strip().lower() or "thread"
    if mode not in BACKENDS:
        raise SystemExit(f"QUALITYLOOP_JOBS={mode!r}: expected one of {', '.join(BACKENDS)}")
    return mode


def tasks_setting(mode: str | None = None) -> dict[str, Any]:
    """Django's ``TASKS`` setting for ``mode`` (default: :func:`jobs_mode`)."""
    return {"default": {"BACKEND": BACKENDS[mode or jobs_mode()]}}
