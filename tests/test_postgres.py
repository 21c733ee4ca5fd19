"""The real CLI against a real PostgreSQL server: data must land in PostgreSQL, not in SQLite.

Needs QUALITYLOOP_TEST_POSTGRES_URL (a role allowed to create databases); scripts/test.sh starts
a throwaway server and sets it.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

SERVER_URL = os.environ.get("QUALITYLOOP_TEST_POSTGRES_URL", "")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not SERVER_URL,
        reason="QUALITYLOOP_TEST_POSTGRES_URL is not set (scripts/test.sh starts a server)",
    ),
]

ORG_UNITS = "external_id,name,kind,parent\nU-1,Pumps Ltd,company,\nU-2,Plant North,site,U-1\n"
CUSTOMERS = (
    "external_id,name,segment,acquired_on,serving_unit\n"
    "C-1,Acme,enterprise,2021-02-03,U-2\n"
    "C-2,Beta & Söhne,mid_market,2022-11-30,U-2\n"
)
BAD_CUSTOMERS = (
    "external_id,name,segment,acquired_on,serving_unit\n"
    "C-3,Gamma,enterprise,2023-01-01,U-9\n"
)


@pytest.fixture
def database_url():
    """A new, empty database on the test server; dropped afterwards."""
    import psycopg

    name = f"ql_cli_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(SERVER_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield urlunsplit(urlsplit(SERVER_URL)._replace(path=f"/{name}"))
    with psycopg.connect(SERVER_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def cli(database_url, tmp_path):
    """Run ``qualityloop`` in a fresh process with QUALITYLOOP_DATABASE_URL set."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env |= {"QUALITYLOOP_DATABASE_URL": database_url, "QUALITYLOOP_HOME": str(home)}
    script = Path(sys.executable).with_name("qualityloop")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "qualityloop.cli"]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*command, *args], env=env, capture_output=True, text=True,
                              timeout=300, cwd=tmp_path)

    run.home = home  # type: ignore[attr-defined]
    return run


def query(url: str, sql: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def ok_json(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout)


def test_migrate_creates_the_schema_in_postgresql(cli, database_url):
    report = ok_json(cli("migrate", "--json"))
    assert report["applied"] > 0
    assert report["database"] == urlsplit(database_url).path.lstrip("/")
    tables = {row[0] for row in query(database_url, "SELECT tablename FROM pg_tables")}
    assert {"customers_customer", "customers_historicalcustomer", "quality_nonconformance",
            "organisation_orgunit", "accounts_apitoken"} <= tables
    assert ok_json(cli("migrate", "--json"))["applied"] == 0
    assert not (cli.home / "qualityloop.sqlite3").exists(), "nothing may go to SQLite"


def test_user_add_stores_the_user_and_a_hashed_token_in_postgresql(cli, database_url):
    created = ok_json(cli("user", "add", "quinn", "--role", "quality-manager", "--json"))
    rows = query(database_url, """
        SELECT u.username, p.role, t.key_hash FROM auth_user u
        JOIN accounts_profile p ON p.user_id = u.id JOIN accounts_apitoken t ON t.user_id = u.id
    """)
    assert [(name, role) for name, role, _ in rows] == [("quinn", "quality-manager")]
    assert created["token"] not in rows[0][2], "the token must be stored hashed"


def test_import_and_export_go_through_postgresql(cli, database_url, tmp_path):
    (tmp_path / "units.csv").write_text(ORG_UNITS, encoding="utf-8")
    (tmp_path / "customers.csv").write_text(CUSTOMERS, encoding="utf-8")
    ok_json(cli("import", "org-units", "units.csv", "--json"))
    first = ok_json(cli("import", "customers", "customers.csv", "--json"))
    assert first["created"] == 2

    stored = query(database_url, """
        SELECT c.external_id, c.name, c.segment, c.acquired_on::text, u.external_id
        FROM customers_customer c JOIN organisation_orgunit u ON u.id = c.serving_unit_id
        ORDER BY c.external_id
    """)
    assert stored == [("C-1", "Acme", "enterprise", "2021-02-03", "U-2"),
                      ("C-2", "Beta & Söhne", "mid_market", "2022-11-30", "U-2")]
    history = query(database_url, "SELECT count(*) FROM customers_historicalcustomer")
    assert history == [(2,)]

    again = ok_json(cli("import", "customers", "customers.csv", "--json"))
    assert (again["created"], again["updated"]) == (0, 0)
    assert query(database_url, "SELECT count(*) FROM customers_historicalcustomer") == [(2,)]

    ok_json(cli("export", "customers", "out.csv", "--json"))
    with open(tmp_path / "out.csv", encoding="utf-8", newline="") as exported:
        rows = list(csv.DictReader(exported))
    assert [(r["external_id"], r["name"], r["serving_unit"]) for r in rows] == [
        ("C-1", "Acme", "U-2"), ("C-2", "Beta & Söhne", "U-2")]
    assert not (cli.home / "qualityloop.sqlite3").exists(), "nothing may go to SQLite"


def test_failed_import_leaves_postgresql_unchanged(cli, database_url, tmp_path):
    (tmp_path / "units.csv").write_text(ORG_UNITS, encoding="utf-8")
    (tmp_path / "bad.csv").write_text(BAD_CUSTOMERS, encoding="utf-8")
    ok_json(cli("import", "org-units", "units.csv", "--json"))
    done = cli("import", "customers", "bad.csv")
    assert done.returncode == 1
    assert "U-9" in done.stderr and "Traceback" not in done.stdout + done.stderr
    assert query(database_url, "SELECT count(*) FROM customers_customer") == [(0,)]
