"""The embedded default: a django-tasks backend that runs tasks in a worker thread of the web
process, so the request that enqueues returns at once. Nothing survives a restart (a job left
running is taken as abandoned after a while, see ``services.jobs.STALE_AFTER``); deployments
use ``django_tasks_db.DatabaseBackend`` and ``qualityloop worker`` instead.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections, connections
from django_tasks.backends.immediate import ImmediateBackend
from django_tasks.base import TaskResult


class ThreadBackend(ImmediateBackend):
    """Like django-tasks' ImmediateBackend, but each task runs later in a worker thread.

    ``OPTIONS: {"THREADS": n}`` sets how many tasks run at once (default 1: the fits already use
    every core through numpy).
    """

    supports_get_result = False

    def __init__(self, alias: str, params: dict) -> None:
        super().__init__(alias, params)
        self._threads = int(self.options.get("THREADS", 1))
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="ql-job")
            return self._pool

    def _execute_task(self, task_result: TaskResult) -> None:
        self._executor().submit(self._run_in_thread, task_result)

    def _run_in_thread(self, task_result: TaskResult) -> None:
        close_old_connections()
        try:
            super()._execute_task(task_result)
        finally:
            connections.close_all()  # this thread's own connections
