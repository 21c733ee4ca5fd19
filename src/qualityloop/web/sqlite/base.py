"""Django's SQLite backend, with write transactions taking their turn in a queue first.

Settings: ``"ENGINE": "qualityloop.web.sqlite"`` with ``"transaction_mode": "IMMEDIATE"`` (every
transaction may write, so every transaction queues); ``"timeout"`` bounds the wait as it bounds
SQLite's own. An in-memory database (the tests') has one connection and no queue.
"""

from __future__ import annotations

from django.db import OperationalError
from django.db.backends.sqlite3 import base

from .writer_queue import WriterQueue, WriterQueueTimeout, writer_queue


class DatabaseWrapper(base.DatabaseWrapper):
    _turn: WriterQueue | None = None

    def _start_transaction_under_autocommit(self) -> None:
        queue = self._queue()
        if queue is not None:
            try:
                queue.acquire(timeout=float(self.settings_dict["OPTIONS"].get("timeout", 5)))
            except WriterQueueTimeout as waited_too_long:
                raise OperationalError(f"database is locked ({waited_too_long})") from None
            self._turn = queue
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]  # private, not in the stubs
        except BaseException:
            self._end_turn()
            raise

    def _commit(self) -> None:
        try:
            super()._commit()  # type: ignore[misc]  # private, not in the stubs
        finally:
            self._end_turn()

    def _rollback(self) -> None:
        try:
            super()._rollback()  # type: ignore[misc]  # private, not in the stubs
        finally:
            self._end_turn()

    def _close(self) -> None:
        try:
            super()._close()  # type: ignore[misc]  # private, not in the stubs
        finally:
            self._end_turn()

    def _queue(self) -> WriterQueue | None:
        if getattr(self, "transaction_mode", None) != "IMMEDIATE" or self.is_in_memory_db():
            return None
        return writer_queue(self.settings_dict["NAME"])

    def _end_turn(self) -> None:
        turn, self._turn = self._turn, None
        if turn is not None:
            turn.release()
