"""The SQLite backend queues write transactions (web/sqlite/): many writers in threads and
processes all land, a writer that waits too long gets SQLite's own error, and the turn is given
back however the transaction ends."""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from pathlib import Path

import pytest
from django.db import OperationalError
from django.db.utils import ConnectionHandler

from qualityloop.web.sqlite.writer_queue import WriterQueueTimeout, writer_queue

THREADS = 4
INCREMENTS = 25


@pytest.fixture(autouse=True)
def _own_databases(django_db_blocker, monkeypatch):
    """These tests open their own SQLite files, not the test database, from plain synchronous
    code; a browser test run earlier in the same process can leave an event loop marked running
    in this thread, which Django's guard against opening connections inside async code takes
    for an async context."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with django_db_blocker.unblock():
        yield


def _connections(database: Path, timeout: float = 20) -> ConnectionHandler:
    """A Django connection handler (a connection per thread) for one SQLite file."""
    return ConnectionHandler({"default": {
        "ENGINE": "qualityloop.web.sqlite", "NAME": str(database),
        "OPTIONS": {"timeout": timeout, "transaction_mode": "IMMEDIATE",
                    "init_command": "PRAGMA journal_mode=WAL;"},
    }})


def _counter_database(tmp_path: Path) -> Path:
    database = tmp_path / "counter.sqlite3"
    handler = _connections(database)
    with handler["default"].cursor() as cursor:
        cursor.execute("CREATE TABLE counter (n INTEGER)")
        cursor.execute("INSERT INTO counter VALUES (0)")
    handler.close_all()
    return database


def _add(database: Path, times: int, errors: list[BaseException]) -> None:
    handler = _connections(database)
    connection = handler["default"]
    try:
        for _ in range(times):
            _in_transaction(connection, lambda cursor: cursor.execute(
                "UPDATE counter SET n = ? ", [_read(cursor) + 1]))
    except BaseException as error:  # noqa: BLE001 - the test reports it
        errors.append(error)
    finally:
        handler.close_all()


def _read(cursor) -> int:
    cursor.execute("SELECT n FROM counter")
    return cursor.fetchone()[0]


def _in_transaction(connection, work) -> None:
    """What ``transaction.atomic`` does on the way in and out, on a given connection."""
    connection.ensure_connection()
    connection._start_transaction_under_autocommit()
    try:
        with connection.cursor() as cursor:
            work(cursor)
    except BaseException:
        connection._rollback()
        raise
    connection._commit()


def _writers(database: str, threads: int, times: int) -> list[BaseException]:
    """``threads`` threads of this process each adding 1 ``times`` times; their errors."""
    failed: list[BaseException] = []
    workers = [threading.Thread(target=_add, args=(Path(database), times, failed))
               for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return failed


def _writer_process(database: str, threads: int, times: int) -> None:
    """Another process's writers; exits 1 (printing the errors) when any failed."""
    import django
    from django.conf import settings

    settings.configure()
    django.setup()
    failed = _writers(database, threads, times)
    for error in failed:
        print(repr(error))
    sys.exit(1 if failed else 0)


def _value(database: Path) -> int:
    handler = _connections(database)
    with handler["default"].cursor() as cursor:
        value = _read(cursor)
    handler.close_all()
    return value


def test_writers_in_threads_and_processes_all_land(tmp_path):
    database = _counter_database(tmp_path)
    context = multiprocessing.get_context("spawn")
    others = [context.Process(target=_writer_process, args=(str(database), THREADS, INCREMENTS))
              for _ in range(2)]
    for process in others:
        process.start()
    failed = _writers(str(database), THREADS, INCREMENTS)
    for process in others:
        process.join(120)
        assert process.exitcode == 0
    assert failed == []
    assert _value(database) == 3 * THREADS * INCREMENTS


def test_a_writer_that_waits_too_long_gets_database_is_locked(tmp_path):
    database = _counter_database(tmp_path)
    holder = _connections(database)["default"]
    holder.ensure_connection()
    holder._start_transaction_under_autocommit()
    try:
        failed: list[BaseException] = []
        waiter = threading.Thread(target=_add_with_timeout, args=(database, 0.2, failed))
        waiter.start()
        waiter.join(30)
        assert len(failed) == 1
        assert isinstance(failed[0], OperationalError)
        assert "database is locked" in str(failed[0])
    finally:
        holder._rollback()
        holder.close()
    # The queue is free again: a write goes through at once.
    errors: list[BaseException] = []
    _add(database, 1, errors)
    assert errors == [] and _value(database) == 1


def _add_with_timeout(database: Path, timeout: float, failed: list[BaseException]) -> None:
    handler = _connections(database, timeout=timeout)
    try:
        _in_transaction(handler["default"], lambda cursor: cursor.execute(
            "UPDATE counter SET n = n + 1"))
    except BaseException as error:  # noqa: BLE001 - the test reports it
        failed.append(error)
    finally:
        handler.close_all()


@pytest.mark.parametrize("ending", ["commit", "rollback", "close"])
def test_the_turn_is_given_back_however_the_transaction_ends(tmp_path, ending):
    database = _counter_database(tmp_path)
    connection = _connections(database)["default"]
    connection.ensure_connection()
    connection._start_transaction_under_autocommit()
    queue = writer_queue(database)
    assert not queue.is_free()
    getattr(connection, {"commit": "_commit", "rollback": "_rollback"}.get(ending, "close"))()
    assert queue.is_free()
    connection.close()


def test_the_turn_is_given_back_when_the_work_fails(tmp_path):
    database = _counter_database(tmp_path)
    connection = _connections(database)["default"]
    queue = writer_queue(database)
    seen_taken = []

    def fail(cursor) -> None:
        seen_taken.append(not queue.is_free())
        raise RuntimeError("the work failed")

    with pytest.raises(RuntimeError):
        _in_transaction(connection, fail)
    assert seen_taken == [True] and queue.is_free()
    connection.close()


def test_in_memory_databases_do_not_queue(tmp_path):
    connection = ConnectionHandler({"default": {
        "ENGINE": "qualityloop.web.sqlite", "NAME": ":memory:",
        "OPTIONS": {"transaction_mode": "IMMEDIATE"}}})["default"]
    connection.ensure_connection()
    connection._start_transaction_under_autocommit()
    assert connection._turn is None
    connection._rollback()
    connection.close()


def test_a_forked_process_queues_apart_from_its_parent(tmp_path):
    """Server workers are forked from a process that has written already (migrations): each
    must hold a file lock of its own, or the workers' turns would not exclude each other."""
    database = _counter_database(tmp_path)
    holder = _connections(database)["default"]
    holder.ensure_connection()
    holder._start_transaction_under_autocommit()  # the parent writes once before forking
    holder._rollback()
    taken_read, taken_write = os.pipe()
    child = os.fork()
    if child == 0:  # the child waits until the parent holds the turn, then asks for one
        code = 1
        try:
            os.read(taken_read, 1)
            try:
                writer_queue(database).acquire(timeout=0.3)
            except WriterQueueTimeout:
                code = 0
        finally:
            os._exit(code)
    try:
        holder._start_transaction_under_autocommit()
        os.write(taken_write, b"x")
        _pid, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0, "the child got a turn the parent held"
    finally:
        holder._rollback()
        holder.close()
        os.close(taken_read)
        os.close(taken_write)
