"""Crash safety: an import killed with SIGKILL in the middle of writing leaves the database
exactly as it was (every table, row for row), and the same import then succeeds.

The importer writes everything in one transaction. The test watches from outside, with no hook
in the product: it knows the import is inside its write transaction when another connection
cannot take the write lock, and that rows are being written when the write-ahead log grows.
"""

from __future__ import annotations

import csv
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from db_snapshot import (
    DB_NAME,
    cli_command,
    cli_env,
    copy_home,
    demo_template,  # noqa: F401 (a fixture)
    ok,
    run_cli,
    sqlite_snapshot,
)

ORDERS = 150_000
WAL_GROWTH = 4 << 20
"""Bytes the log must grow by before the kill: uncommitted rows spilled from the page cache."""


def _write_orders(db: Path, target: Path, count: int) -> None:
    with sqlite3.connect(db) as conn:
        customers = [c for (c,) in conn.execute("SELECT external_id FROM customers_customer")]
    conn.close()
    with target.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["external_id", "customer", "ordered_on", "amount", "currency", "product"])
        for i in range(count):
            writer.writerow([f"BIG-{i:07d}", customers[i % len(customers)],
                             f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}", f"{10 + i % 990}.50",
                             "EUR", "Planetary gearbox 300"])


def _holds_write_lock(db: Path) -> bool:
    """Whether another connection holds the database's write lock (an open write transaction)."""
    probe = sqlite3.connect(db, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as busy:
        assert "locked" in str(busy) or "busy" in str(busy), busy
        return True
    finally:
        probe.close()


def _wal_size(db: Path) -> int:
    try:
        return Path(f"{db}-wal").stat().st_size
    except FileNotFoundError:
        return 0


def _kill_while_writing(process: subprocess.Popen, db: Path, deadline: float) -> None:
    start_wal = _wal_size(db)
    while time.monotonic() < deadline:
        assert process.poll() is None, (
            "the import finished before it could be killed; make the file larger\n"
            + (process.stdout.read() if process.stdout else ""))
        if _wal_size(db) - start_wal > WAL_GROWTH and _holds_write_lock(db):
            os.kill(process.pid, signal.SIGKILL)
            return
        time.sleep(0.02)
    process.kill()
    pytest.fail("the import never started writing")


@pytest.mark.slow
def test_import_killed_halfway_leaves_the_database_as_it_was(demo_template, tmp_path):  # noqa: F811
    home = copy_home(demo_template, tmp_path / "home")
    db = home / DB_NAME
    big = tmp_path / "BIG.csv"
    _write_orders(db, big, ORDERS)
    before = sqlite_snapshot(db)

    process = subprocess.Popen([*cli_command(), "import", "orders", str(big)],
                               env=cli_env(home), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    _kill_while_writing(process, db, deadline=time.monotonic() + 300)
    assert process.wait(timeout=60) == -signal.SIGKILL
    assert _wal_size(db) > 0, "the log of the killed transaction should still be on disk"

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
    after = sqlite_snapshot(db)
    assert after.keys() == before.keys()
    changed = [name for name in before if after[name] != before[name]]
    assert changed == []

    done = ok(run_cli(home, "import", "orders", str(big), "--json"))
    assert '"created": 150000' in done.stdout
    with sqlite3.connect(db) as conn:
        orders = conn.execute("SELECT count(*) FROM customers_order").fetchone()[0]
    conn.close()
    assert orders == len(before["customers_order"]) + ORDERS
