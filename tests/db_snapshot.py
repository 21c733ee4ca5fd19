"""Helpers for the backup and crash-safety tests: the CLI in a fresh process, a demo database built
once per test session, and a logical snapshot of every table (rows compared, not bytes)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

DB_NAME = "qualityloop.sqlite3"


def cli_command() -> list[str]:
    script = Path(sys.executable).with_name("qualityloop")
    return [str(script)] if script.exists() else [sys.executable, "-m", "qualityloop.cli"]


def cli_env(home: Path, database_url: str | None = None) -> dict[str, str]:
    """The environment of a CLI run on its own data folder (and database, if given)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DJANGO_SETTINGS_MODULE", "QUALITYLOOP_DATABASE_URL")}
    env["QUALITYLOOP_HOME"] = str(home)
    if database_url:
        env["QUALITYLOOP_DATABASE_URL"] = database_url
    return env


def run_cli(home: Path, *args: str, database_url: str | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*cli_command(), *args], env=cli_env(home, database_url),
                          capture_output=True, text=True, timeout=timeout, cwd=home.parent)


def ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """A data folder holding a small demo (records of every kind, their history, orders), built
    once per session; copy it with :func:`copy_home` before changing it."""
    home = tmp_path_factory.mktemp("demo-template") / "home"
    home.mkdir()
    ok(run_cli(home, "demo", "--customers", "10", "--no-serve", "--json"))
    return home


def copy_home(template: Path, target: Path) -> Path:
    """A copy of a SQLite data folder (the database folded into one file first)."""
    target.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(template / DB_NAME) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    for name in (DB_NAME, "secret_key"):
        shutil.copy2(template / name, target / name)
    return target


def _sorted_rows(rows: list[tuple]) -> list[tuple]:
    return sorted(rows, key=lambda row: tuple((v is None, repr(v)) for v in row))


def sqlite_snapshot(path: Path) -> dict[str, list[tuple]]:
    """Every table of a SQLite database and its rows (sorted), for comparing contents."""
    db = sqlite3.connect(path)
    try:
        tables = [name for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        return {name: _sorted_rows(db.execute(f'SELECT * FROM "{name}"').fetchall())
                for name in sorted(tables)}
    finally:
        db.close()


def postgres_snapshot(url: str) -> dict[str, list[tuple]]:
    """Every table of the public schema of a PostgreSQL database and its rows (sorted)."""
    import psycopg

    with psycopg.connect(url) as db:
        tables = [name for (name,) in db.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()]
        return {name: _sorted_rows(db.execute(f'SELECT * FROM "{name}"').fetchall())
                for name in sorted(tables)}


def row_counts(snapshot: dict[str, list[tuple]]) -> dict[str, int]:
    return {name: len(rows) for name, rows in snapshot.items()}
