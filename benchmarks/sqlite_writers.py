"""Concurrent SQLite writers: Django's SQLite backend (writers wait in SQLite's busy handler)
against QualityLoop's (``qualityloop.web.sqlite``: writers wait in a queue), in the same run.

PROCESSES processes of THREADS threads each (as the production server's workers) run write
transactions as the API does: ``BEGIN IMMEDIATE``, read a row, some Python work, update it and
append a history row, ``COMMIT``. Reports writes/s, the latency of a write (waiting for its turn
plus the transaction) at p50/p95/p99/max, and the writes refused with "database is locked".

SQLite's busy handler is unfair: the writer that just committed usually wins the lock again while
the others sleep, so most writes are quick and a few wait seconds. The queue takes writers in
turn: the typical write waits longer, the longest wait is far shorter, and a web request that
writes is not left waiting for seconds behind others.

    python benchmarks/sqlite_writers.py                 # 4 processes x 4 threads, 2 ms of work
    python benchmarks/sqlite_writers.py 4 1 2 200       # processes threads work-ms writes-each
"""

from __future__ import annotations

import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ENGINES = {"Django's SQLite backend": "django.db.backends.sqlite3",
           "QualityLoop's (writer queue)": "qualityloop.web.sqlite"}


def _handler(engine: str, database: Path):
    from django.db.utils import ConnectionHandler

    return ConnectionHandler({"default": {
        "ENGINE": engine, "NAME": str(database),
        "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE",
                    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
    }})


def _busy(milliseconds: float) -> None:
    """Python work inside the transaction (validation, building the history row)."""
    end = time.thread_time() + milliseconds / 1000
    while time.thread_time() < end:
        pass


def _writer(engine: str, database: Path, writes: int, work_ms: float,
            latencies: list[float], refused: list[int]) -> None:
    from django.db import OperationalError

    handler = _handler(engine, database)
    connection = handler["default"]
    connection.ensure_connection()
    for _ in range(writes):
        started = time.perf_counter()
        try:
            connection._start_transaction_under_autocommit()
        except OperationalError:
            refused.append(1)
            continue
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT n FROM counter")
                (n,) = cursor.fetchone()
                _busy(work_ms)
                cursor.execute("UPDATE counter SET n = %s", [n + 1])
                cursor.execute("INSERT INTO history (n) VALUES (%s)", [n + 1])
            connection._commit()
        except OperationalError:
            connection._rollback()
            refused.append(1)
            continue
        latencies.append(time.perf_counter() - started)
    handler.close_all()


def _process(engine: str, database: str, threads: int, writes: int, work_ms: float,
             results) -> None:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure()
        django.setup()
    latencies: list[float] = []
    refused: list[int] = []
    workers = [threading.Thread(target=_writer, args=(engine, Path(database), writes, work_ms,
                                                      latencies, refused))
               for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put((latencies, len(refused)))


def _database(folder: Path, engine: str) -> Path:
    database = folder / f"{engine.rsplit('.', 1)[-1]}.sqlite3"
    handler = _handler("django.db.backends.sqlite3", database)
    with handler["default"].cursor() as cursor:
        cursor.execute("CREATE TABLE counter (n INTEGER)")
        cursor.execute("INSERT INTO counter VALUES (0)")
        cursor.execute("CREATE TABLE history (id INTEGER PRIMARY KEY, n INTEGER)")
    handler.close_all()
    return database


def measure(engine: str, folder: Path, processes: int, threads: int, work_ms: float,
            writes: int) -> dict:
    database = _database(folder, engine)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    started = time.perf_counter()
    running = [context.Process(target=_process,
                               args=(engine, str(database), threads, writes, work_ms, results))
               for _ in range(processes)]
    for process in running:
        process.start()
    gathered = [results.get(timeout=600) for _ in running]
    for process in running:
        process.join()
    wall = time.perf_counter() - started
    latencies = sorted(x for done, _refused in gathered for x in done)
    return {"wall": wall, "writes": len(latencies), "refused": sum(r for _d, r in gathered),
            "p50": statistics.median(latencies),
            "p95": latencies[int(0.95 * (len(latencies) - 1))],
            "p99": latencies[int(0.99 * (len(latencies) - 1))], "max": latencies[-1]}


def main(argv: list[str]) -> int:
    import django
    from django.conf import settings

    settings.configure()
    django.setup()
    processes, threads, work_ms, writes = (int(argv[0]) if argv else 4,
                                           int(argv[1]) if len(argv) > 1 else 4,
                                           float(argv[2]) if len(argv) > 2 else 2.0,
                                           int(argv[3]) if len(argv) > 3 else 100)
    print(f"{processes} processes x {threads} threads, {writes} writes each, {work_ms:g} ms of "
          "Python work per transaction")
    found = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, engine in ENGINES.items():
            found[name] = result = measure(engine, Path(folder), processes, threads, work_ms,
                                           writes)
            print(f"{name:30s} {result['writes'] / result['wall']:7.1f} writes/s  latency p50 "
                  f"{1000 * result['p50']:6.1f} ms  p95 {1000 * result['p95']:6.1f} ms  p99 "
                  f"{1000 * result['p99']:6.1f} ms  max "
                  f"{1000 * result['max']:7.1f} ms  refused {result['refused']}")
    stock, queued = found.values()
    print(f"Ratio (queue / Django's): writes/s "
          f"{(queued['writes'] / queued['wall']) / (stock['writes'] / stock['wall']):.2f}x, "
          f"p99 latency {queued['p99'] / stock['p99']:.2f}x, longest wait "
          f"{queued['max'] / stock['max']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
