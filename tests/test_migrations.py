"""Migrations: none missing, and a fresh database is brought up to date on first start."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.core.management import call_command

# Runs in a fresh interpreter against a fresh database: migrate twice, then list what exists.
FIRST_START = """
import json
from qualityloop.web.bootstrap import migrate_if_needed, pending_migrations, setup

setup(migrate=False)
from django.apps import apps
from django.conf import settings
from django.db import connection
from django.db.migrations.loader import MigrationLoader

known = len(MigrationLoader(None, ignore_no_migrations=True).graph.nodes)
first = migrate_if_needed()
second = migrate_if_needed()
tables = set(connection.introspection.table_names())
missing = sorted(m._meta.db_table for m in apps.get_models() if m._meta.db_table not in tables)
print(json.dumps({
    "known": known, "first": first, "second": second, "pending": len(pending_migrations()),
    "missing_tables": missing, "vendor": connection.vendor,
    "name": str(settings.DATABASES["default"]["NAME"]),
}))
"""


@pytest.fixture
def fresh_database_env(tmp_path):
    """Environment for a subprocess with an empty database: a new SQLite file in a new data
    folder, or, when the suite runs on PostgreSQL, a new database on that server."""
    env = {**os.environ, "QUALITYLOOP_HOME": str(tmp_path / "home")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    url = os.environ.get("QUALITYLOOP_DATABASE_URL")
    if not url:
        yield env
        return
    import psycopg

    name = f"ql_migrate_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    env["QUALITYLOOP_DATABASE_URL"] = urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    yield env
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.django_db
def test_no_model_change_lacks_a_migration():
    out = io.StringIO()
    try:
        call_command("makemigrations", check=True, dry_run=True, stdout=out, stderr=out)
    except SystemExit as exit_:
        pytest.fail(f"models changed without a migration (exit {exit_.code}):\n{out.getvalue()}")
    assert "No changes detected" in out.getvalue()


def test_first_start_migrates_a_fresh_database_from_zero(fresh_database_env):
    done = subprocess.run(
        [sys.executable, "-c", FIRST_START], env=fresh_database_env, capture_output=True,
        text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["known"] > 0
    assert result["first"] == result["known"], "the first start should apply every migration"
    assert result["second"] == 0, "a second start should find nothing to apply"
    assert result["pending"] == 0
    assert result["missing_tables"] == []
    if "QUALITYLOOP_DATABASE_URL" in fresh_database_env:
        assert result["vendor"] == "postgresql"
    else:
        assert result["vendor"] == "sqlite"
        assert result["name"].startswith(fresh_database_env["QUALITYLOOP_HOME"])


def test_two_processes_starting_on_a_new_data_folder_take_turns_migrating(tmp_path):
    """`qualityloop worker &` and `qualityloop serve` started together (README, Production):
    both migrated the new SQLite file at once and one failed with "table ... already exists"."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("QUALITYLOOP_DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    env["QUALITYLOOP_HOME"] = str(tmp_path)
    start = "from qualityloop.web import bootstrap; bootstrap.setup(); print('ready')"
    processes = [subprocess.Popen([sys.executable, "-c", start], env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for _ in range(2)]
    outputs = [process.communicate(timeout=600) for process in processes]
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0 and out.strip() == "ready", err[-2000:]
