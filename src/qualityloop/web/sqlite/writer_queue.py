"""One writer at a time for an SQLite file, waiting in line instead of polling.

SQLite allows one writer. A transaction that finds the write lock taken is handed to SQLite's busy
handler, which sleeps and tries again, sleeping longer each time (up to 100 ms between tries). Under
many concurrent writers the lock then often lies free while every waiter sleeps, and a write
waits for seconds that the database spends idle.

Here a writer first takes its turn in a queue: the threads of one process wait on a lock that
wakes the next one the moment it is released; the processes (server workers, a command run
alongside) take turns on an advisory file lock beside the database, tried every millisecond.
Only then does the transaction begin (``BEGIN IMMEDIATE``), and SQLite's lock is normally free.
Writes that do not go through a transaction (a single ``UPDATE`` in autocommit) skip the queue
and wait on SQLite's busy timeout as before; the queue orders writers, SQLite still guards the
data.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

# How long a process waits between tries of the file lock another process holds.
POLL_SECONDS = 0.001


class WriterQueueTimeout(Exception):
    """The writer did not get its turn within the time allowed."""


class WriterQueue:
    """The queue of writers to one database file, shared by the threads of this process."""

    def __init__(self, database: Path) -> None:
        self.lock_path = Path(f"{database}.writers")
        self._threads = threading.Lock()
        self._file: int | None = None

    def acquire(self, timeout: float) -> None:
        """Wait for this thread's turn to write; ``WriterQueueTimeout`` after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        if not self._threads.acquire(timeout=max(0.0, timeout)):
            raise WriterQueueTimeout(f"no turn to write within {timeout:g} s")
        try:
            self._lock_file(deadline, timeout)
        except BaseException:
            self._threads.release()
            raise

    def release(self) -> None:
        """End this thread's turn; the next writer in line goes."""
        try:
            if self._file is not None:
                fcntl.flock(self._file, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def is_free(self) -> bool:
        """No thread of this process holds a turn."""
        return not self._threads.locked()

    def _lock_file(self, deadline: float, timeout: float) -> None:
        if self._file is None:
            self._file = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        while True:
            try:
                fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WriterQueueTimeout(f"no turn to write within {timeout:g} s") from None
                time.sleep(POLL_SECONDS)


_queues: dict[str, WriterQueue] = {}
_queues_lock = threading.Lock()


def _forget_queues_after_fork() -> None:
    """A forked child (a server worker) makes queues of its own: a file lock belongs to the
    open file, which the child would share with its parent and siblings, so they would not
    exclude each other."""
    global _queues_lock
    for queue in _queues.values():
        if queue._file is not None:
            os.close(queue._file)
    _queues.clear()
    _queues_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_queues_after_fork)


def writer_queue(database: str | Path) -> WriterQueue:
    """The process's queue for this database file (one per file, made on first use)."""
    key = os.path.realpath(database)
    with _queues_lock:
        if key not in _queues:
            _queues[key] = WriterQueue(Path(key))
        return _queues[key]
