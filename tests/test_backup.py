"""Backups: `qualityloop backup` and `qualityloop restore` bring back every record and its
history (every table, row for row) on SQLite and PostgreSQL; a backup taken while another
connection writes is consistent; restore refuses what it must.

The SQLite tests run the CLI in fresh processes on a copy of a small demo built once per
session; the PostgreSQL tests need QUALITYLOOP_TEST_POSTGRES_URL (scripts/test.sh sets it).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
import zipfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from db_snapshot import (
    DB_NAME,
    copy_home,
    demo_template,  # noqa: F401 (a fixture)
    ok,
    postgres_snapshot,
    row_counts,
    run_cli,
    sqlite_snapshot,
)

from qualityloop.services.backup import BackupError, copy_sqlite

CHANGED_CUSTOMERS = ("external_id,name,segment,acquired_on,serving_unit\n"
                     "C-NEW,Late Comer,enterprise,2024-01-01,{unit}\n")


def _failed(done, message: str) -> None:
    assert done.returncode == 1, f"{done.stdout}\n{done.stderr}"
    output = done.stdout + done.stderr
    assert message in " ".join(output.split()), output
    assert "Traceback" not in output


def _unit_of(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT external_id FROM organisation_orgunit LIMIT 1").fetchone()[0]


def _change(home: Path, unit: str, **pg) -> None:
    """Add a customer (a new record and a history row) through an import."""
    path = home.parent / f"change-{uuid.uuid4().hex[:6]}.csv"
    path.write_text(CHANGED_CUSTOMERS.format(unit=unit), encoding="utf-8")
    ok(run_cli(home, "import", "customers", str(path), **pg))


def _rewrite_manifest(source: Path, target: Path, **changes) -> None:
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        manifest = json.loads(old.read("manifest.json"))
        for key, value in changes.items():
            if callable(value):
                value(manifest[key])
            else:
                manifest[key] = value
        new.writestr("manifest.json", json.dumps(manifest))
        for item in old.infolist():
            if item.filename != "manifest.json":
                new.writestr(item, old.read(item.filename))


# --- SQLite ----------------------------------------------------------------------------------


@pytest.fixture
def sqlite_home(demo_template, tmp_path):  # noqa: F811
    return copy_home(demo_template, tmp_path / "home")


@pytest.mark.slow
def test_sqlite_round_trip_brings_back_every_row_of_every_table(sqlite_home, tmp_path):
    before = sqlite_snapshot(sqlite_home / DB_NAME)
    counts = row_counts(before)
    assert counts["customers_historicalcustomer"] > 0 and counts["customers_order"] > 0
    assert counts["quality_historicalnonconformance_affected_customers"] >= 0
    file = tmp_path / "backup.zip"
    done = ok(run_cli(sqlite_home, "backup", str(file), "--json"))
    manifest = json.loads(done.stdout)["manifest"]
    assert manifest["engine"] == "sqlite" and manifest["format"] == "qualityloop-backup"
    assert "customers" in manifest["migrations"] and manifest["app_version"]
    with zipfile.ZipFile(file) as archive:
        assert sorted(archive.namelist()) == ["database.sqlite3", "manifest.json"]

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    ok(run_cli(fresh, "restore", str(file)))
    assert sqlite_snapshot(fresh / DB_NAME) == before

    _change(sqlite_home, _unit_of(sqlite_home / DB_NAME))
    changed = sqlite_snapshot(sqlite_home / DB_NAME)
    assert changed != before
    _failed(run_cli(sqlite_home, "restore", str(file)), "already holds records")
    assert sqlite_snapshot(sqlite_home / DB_NAME) == changed
    ok(run_cli(sqlite_home, "restore", str(file), "--yes"))
    assert sqlite_snapshot(sqlite_home / DB_NAME) == before
    assert not Path(f"{sqlite_home / DB_NAME}.restore").exists()
    assert [p.name for p in sqlite_home.iterdir() if ".restore-" in p.name] == []
    _change(sqlite_home, _unit_of(sqlite_home / DB_NAME))  # the restored database is usable


@pytest.mark.slow
def test_restore_refuses_newer_schema_other_engine_and_damage(sqlite_home, tmp_path):
    file = tmp_path / "backup.zip"
    ok(run_cli(sqlite_home, "backup", str(file)))
    before = sqlite_snapshot(sqlite_home / DB_NAME)

    newer = tmp_path / "newer.zip"
    _rewrite_manifest(file, newer,
                      migrations=lambda m: m["customers"].append("0999_from_the_future"))
    _failed(run_cli(sqlite_home, "restore", str(newer), "--yes"),
            "schema is newer than this QualityLoop")
    other = tmp_path / "other.zip"
    _rewrite_manifest(file, other, engine="postgresql")
    _failed(run_cli(sqlite_home, "restore", str(other), "--yes"),
            "a backup of a postgresql database cannot be restored into this sqlite database")
    damaged = tmp_path / "damaged.zip"
    _rewrite_manifest(file, damaged, data_sha256="0" * 64)
    _failed(run_cli(sqlite_home, "restore", str(damaged), "--yes"), "the file is damaged")
    text = tmp_path / "notes.zip"
    text.write_text("not a backup", encoding="utf-8")
    _failed(run_cli(sqlite_home, "restore", str(text), "--yes"), "not a QualityLoop backup")
    _failed(run_cli(sqlite_home, "restore", str(tmp_path / "missing.zip")), "no such file")
    _failed(run_cli(sqlite_home, "backup", str(tmp_path / "nowhere" / "b.zip")),
            "does not exist")
    assert sqlite_snapshot(sqlite_home / DB_NAME) == before


def test_backup_while_another_connection_writes_is_consistent(tmp_path):
    """Each write adds one row to two tables in one transaction: any consistent copy holds as
    many rows in both."""
    source = tmp_path / "live.sqlite3"
    with sqlite3.connect(source) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT)")
        setup.execute("CREATE TABLE order_history (id INTEGER PRIMARY KEY, note TEXT)")
        setup.executemany("INSERT INTO orders (note) VALUES (?)", [("x" * 200,)] * 20000)
        setup.execute("INSERT INTO order_history SELECT * FROM orders")
    setup.close()
    stop = threading.Event()
    written = []

    def write() -> None:
        db = sqlite3.connect(source, timeout=30, isolation_level=None)
        while not stop.is_set():
            db.execute("BEGIN IMMEDIATE")
            cursor = db.execute("INSERT INTO orders (note) VALUES ('y')")
            db.execute("INSERT INTO order_history VALUES (?, 'y')", (cursor.lastrowid,))
            db.execute("COMMIT")
            written.append(cursor.lastrowid)
        db.close()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        copies = []
        for number in range(5):
            while len(written) < 50 * (number + 1):
                time.sleep(0.01)
            copy = tmp_path / f"copy-{number}.sqlite3"
            copy_sqlite(source, copy)
            copies.append(copy)
    finally:
        stop.set()
        writer.join()
    sizes = []
    for copy in copies:
        assert not Path(f"{copy}-wal").exists()
        with sqlite3.connect(copy) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)
            orders, history = (db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                               for t in ("orders", "order_history"))
        db.close()
        assert orders == history
        sizes.append(orders)
    assert sizes == sorted(sizes) and sizes[-1] > sizes[0] > 20000


def test_copy_of_a_missing_database_is_a_clear_error(tmp_path):
    with pytest.raises(BackupError, match="no such database file"):
        copy_sqlite(tmp_path / "none.sqlite3", tmp_path / "copy.sqlite3")


def test_missing_postgres_programs_are_named(monkeypatch, tmp_path):
    from qualityloop.services import backup

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(backup.Path, "glob", lambda self, pattern: iter(()))
    with pytest.raises(BackupError, match="pg_dump for PostgreSQL 99 or newer not found.*"
                                          "apt-get install postgresql-client-99"):
        backup.postgres_tool("pg_dump", 99)


# --- PostgreSQL ------------------------------------------------------------------------------

SERVER_URL = os.environ.get("QUALITYLOOP_TEST_POSTGRES_URL", "")
needs_postgres = pytest.mark.skipif(
    not SERVER_URL, reason="QUALITYLOOP_TEST_POSTGRES_URL is not set (scripts/test.sh sets it)")


@pytest.fixture
def new_database():
    """Make empty databases on the test server; all dropped afterwards."""
    import psycopg

    made = []

    def make() -> str:
        name = f"ql_backup_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(SERVER_URL, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return urlunsplit(urlsplit(SERVER_URL)._replace(path=f"/{name}"))

    yield make
    with psycopg.connect(SERVER_URL, autocommit=True) as admin:
        for name in made:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_unit(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as db:
        return db.execute("SELECT external_id FROM organisation_orgunit LIMIT 1").fetchone()[0]


@pytest.mark.postgres
@needs_postgres
def test_postgres_round_trip_brings_back_every_row_of_every_table(new_database, tmp_path):
    source, target = new_database(), new_database()
    home = tmp_path / "home"
    home.mkdir()
    ok(run_cli(home, "demo", "--customers", "10", "--no-serve", database_url=source))
    before = postgres_snapshot(source)
    assert row_counts(before)["customers_historicalcustomer"] > 0
    file = tmp_path / "pg-backup.zip"
    done = ok(run_cli(home, "backup", str(file), "--json", database_url=source))
    manifest = json.loads(done.stdout)["manifest"]
    assert manifest["engine"] == "postgresql" and manifest["data"] == "database.pgdump"

    ok(run_cli(home, "restore", str(file), database_url=target))
    assert postgres_snapshot(target) == before
    _change(home, _pg_unit(target), database_url=target)  # sequences restored: inserts work

    _change(home, _pg_unit(source), database_url=source)
    changed = postgres_snapshot(source)
    _failed(run_cli(home, "restore", str(file), database_url=source), "already holds records")
    assert postgres_snapshot(source) == changed
    ok(run_cli(home, "restore", str(file), "--yes", database_url=source))
    assert postgres_snapshot(source) == before


@pytest.mark.postgres
@needs_postgres
def test_postgres_restore_failing_halfway_changes_nothing(new_database, tmp_path):
    source = new_database()
    home = tmp_path / "home"
    home.mkdir()
    ok(run_cli(home, "user", "add", "ada", "--role", "admin", database_url=source))
    file = tmp_path / "pg-backup.zip"
    ok(run_cli(home, "backup", str(file), database_url=source))
    with zipfile.ZipFile(file) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        dump = archive.read("database.pgdump")
    broken = tmp_path / "broken.zip"
    cut = dump[: len(dump) * 2 // 3]  # a truncated dump: pg_restore or psql fails
    import hashlib

    manifest["data_sha256"] = hashlib.sha256(cut).hexdigest()
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        archive.writestr("database.pgdump", cut)
    ok(run_cli(home, "user", "add", "bob", "--role", "viewer", database_url=source))
    before = postgres_snapshot(source)
    done = run_cli(home, "restore", str(broken), "--yes", database_url=source)
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    assert postgres_snapshot(source) == before


def test_backup_does_not_migrate_and_needs_a_database(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    _failed(run_cli(empty, "backup", str(tmp_path / "b.zip")), "no such database file")
    sqlite3.connect(empty / DB_NAME).close()
    _failed(run_cli(empty, "backup", str(tmp_path / "b.zip")), "not a QualityLoop database")
    assert sqlite_snapshot(empty / DB_NAME) == {}
