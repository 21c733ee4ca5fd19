"""The embedded default: a django-tasks backend that runs tasks in a worker thread of the web
process, so the request that enqueues returns at once. Nothing survives a restart (a job left
running is taken as abandoned after a while, see ``services.jobs.STALE_AFTER``); deployments
use ``django_tasks_db.DatabaseBackend`` and ``qualityloop worker`` instead.
"""

from __future__ import annotations

import queue
import threading

from django.db import close_old_connections, connections
from django_tasks.backends.immediate import ImmediateBackend
from django_tasks.base import TaskResult


class ThreadBackend(ImmediateBackend):
    """Like django-tasks' ImmediateBackend, but each task runs later in a worker thread.

    ``OPTIONS: {"THREADS": n}`` sets how many tasks run at once (default 1: the fits already use
    every core through numpy). The threads are daemons: stopping the server does not wait for a
    fit to finish (the job is then abandoned, as any job of a stopped process).
    """

    def __init__(self, alias: str, params: dict) -> None:
        super().__init__(alias, params)
        self._threads = int(self.options.get("THREADS", 1))
        self._waiting: queue.SimpleQueue[TaskResult] = queue.SimpleQueue()
        self._started = False
        self._lock = threading.Lock()

    def _execute_task(self, task_result: TaskResult) -> None:
        self._start_threads()
        self._waiting.put(task_result)

    def _start_threads(self) -> None:
        with self._lock:
            if self._started:
                return
            for number in range(self._threads):
                threading.Thread(target=self._work, name=f"ql-job-{number}", daemon=True).start()
            self._started = True

    def _work(self) -> None:
        while True:
            task_result = self._waiting.get()
            close_old_connections()
            try:
                super()._execute_task(task_result)
            finally:
                connections.close_all()  # this thread's own connections
