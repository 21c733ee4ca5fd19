"""Back up and restore the app database, SQLite or PostgreSQL, records and history alike.

A backup is one ``.zip`` file holding ``manifest.json`` (what it is: engine, app version,
migration state, time, a checksum of the data) and the data itself:

* SQLite: ``database.sqlite3``, a copy made with SQLite's online backup API in one step, i.e.
  one read transaction: a consistent snapshot while the app keeps writing (WAL readers do not
  block writers), with the write-ahead log folded in.
* PostgreSQL: ``database.pgdump``, ``pg_dump --format=custom`` (one snapshot) run with the
  ``pg_dump`` of the server's major version (or newer).

Restoring refuses a backup of another engine, one whose schema is newer than this version of
QualityLoop knows, and (unless told to replace) a database that already holds records. SQLite is
restored by writing the new file next to the database and renaming it over the old one (atomic);
PostgreSQL by one ``psql --single-transaction`` that drops the app's tables and loads the dump
(all or nothing). Migrations newer than the backup are applied afterwards. Stop the web app while
restoring: a running server keeps the old file open.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import qualityloop

FORMAT = "qualityloop-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATA_MEMBERS = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
CHUNK = 1 << 20


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class BackupResult:
    """What a backup or restore did."""

    file: Path
    manifest: dict[str, Any]
    applied_migrations: int = 0
    """Restore only: migrations newer than the backup, applied after loading it."""

    def as_dict(self) -> dict[str, Any]:
        return {"ok": True, "file": str(self.file), "manifest": self.manifest,
                "applied_migrations": self.applied_migrations}


# --- backup ----------------------------------------------------------------------------------


def backup(path: Path) -> BackupResult:
    """Back up the app database into ``path`` (a ``.zip`` file), consistently, while it runs.

    Parameters
    ----------
    path
        The backup file to write; its folder must exist. Written under a temporary name and
        renamed at the end, so a failed backup never leaves a half-written file.

    Returns
    -------
    BackupResult
        With the manifest written into the file.

    Raises
    ------
    BackupError
        The folder is missing, the engine is not supported, ``pg_dump`` is not installed, ...
    """
    from django.db import connection

    path = Path(path)
    engine = _engine(connection.vendor)
    if not path.parent.is_dir():
        raise BackupError(f"{path}: the folder {path.parent} does not exist")
    with tempfile.TemporaryDirectory(prefix=".qualityloop-backup-", dir=path.parent) as work:
        data = Path(work) / DATA_MEMBERS[engine]
        if engine == "sqlite":
            migrations = _copy_sqlite(Path(connection.settings_dict["NAME"]), data)
            server = sqlite3.sqlite_version
        else:
            migrations, server = _dump_postgres(data)
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "engine": engine,
            "app_version": qualityloop.__version__, "server_version": server,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "migrations": migrations, "data": data.name, "data_bytes": data.stat().st_size,
            "data_sha256": _sha256(data),
        }
        _write_zip(path, manifest, data, work)
    return BackupResult(path, manifest)


def _engine(vendor: str) -> str:
    if vendor not in DATA_MEMBERS:
        raise BackupError(f"backups support SQLite and PostgreSQL, not {vendor}")
    return vendor


def copy_sqlite(source: Path, target: Path) -> None:
    """Copy a live SQLite database into a new single file, consistently, with SQLite's online
    backup API (one step: one read snapshot, whatever other connections write meanwhile).

    Raises
    ------
    BackupError
        The source does not exist or the copy fails its integrity check.
    """
    if not Path(source).is_file():
        raise BackupError(f"{source}: no such database file")
    reader = sqlite3.connect(source, timeout=30)
    writer = sqlite3.connect(target)
    try:
        reader.backup(writer)
        writer.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal
        _check_integrity(writer, target)
    finally:
        writer.close()
        reader.close()


def _copy_sqlite(source: Path, target: Path) -> dict[str, list[str]]:
    copy_sqlite(source, target)
    with _sqlite(target) as db:
        try:
            rows = db.execute("SELECT app, name FROM django_migrations ORDER BY id").fetchall()
        except sqlite3.DatabaseError:
            raise BackupError(f"{source}: not a QualityLoop database (no migrations table); "
                              "run `qualityloop migrate` first") from None
    return _by_app(rows)


def _check_integrity(db: sqlite3.Connection, where: Path) -> None:
    verdict = db.execute("PRAGMA integrity_check").fetchone()[0]
    if verdict != "ok":
        raise BackupError(f"{where}: the SQLite integrity check failed: {verdict}")


@contextmanager
def _sqlite(path: Path) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(path)
    try:
        yield db
    finally:
        db.close()


def _by_app(rows: list[tuple[str, str]]) -> dict[str, list[str]]:
    applied: dict[str, list[str]] = {}
    for app, name in rows:
        applied.setdefault(app, []).append(name)
    return {app: sorted(names) for app, names in sorted(applied.items())}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while chunk := data.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _write_zip(path: Path, manifest: dict, data: Path, work: str) -> None:
    temp = Path(work) / "backup.zip"
    # A pg_dump custom file is compressed already; a SQLite file compresses well.
    method = zipfile.ZIP_STORED if manifest["engine"] == "postgresql" else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(temp, "w", compression=method, compresslevel=1) as archive:
        archive.writestr(MANIFEST, json.dumps(manifest, indent=2))
        archive.write(data, data.name)
    os.replace(temp, path)


# --- PostgreSQL tools ------------------------------------------------------------------------


def _dump_postgres(target: Path) -> tuple[dict[str, list[str]], str]:
    from django.db import DatabaseError, connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            server = cursor.fetchone()[0]
            cursor.execute("SELECT app, name FROM django_migrations ORDER BY id")
            migrations = _by_app(cursor.fetchall())
    except DatabaseError as problem:
        first = str(problem).strip().splitlines()[0] if str(problem).strip() else ""
        raise BackupError(f"cannot read the database's migrations ({first}); is it a "
                          "QualityLoop database? run `qualityloop migrate` first") from None
    tool = postgres_tool("pg_dump", _major(server))
    _run([tool, "--format=custom", "--no-owner", "--no-privileges", f"--file={target}"],
         "pg_dump")
    return migrations, server


def _major(version: str) -> int:
    match = re.match(r"(\d+)", version)
    if match is None:
        raise BackupError(f"cannot read the PostgreSQL server version {version!r}")
    return int(match.group(1))


def postgres_tool(name: str, server_major: int) -> str:
    """The path of a PostgreSQL client program (``pg_dump``, ``psql``, ...) able to work with a
    server of major version ``server_major``: that version's own, else the oldest newer one.

    Looks in ``/usr/lib/postgresql/<major>/bin`` (Debian, Ubuntu), then on ``PATH``.

    Raises
    ------
    BackupError
        No fitting program is installed; the message says which package to install.
    """
    found: dict[int, str] = {}
    for folder in Path("/usr/lib/postgresql").glob("*/bin"):
        program = folder / name
        if program.is_file() and folder.parent.name.isdigit():
            found[int(folder.parent.name)] = str(program)
    on_path = shutil.which(name)
    if on_path:
        found.setdefault(_tool_major(on_path), on_path)
    fitting = sorted(major for major in found if major >= server_major)
    if fitting:
        return found[fitting[0]]
    have = ", ".join(f"{found[m]} ({m})" for m in sorted(found)) or "none"
    raise BackupError(
        f"{name} for PostgreSQL {server_major} or newer not found (found: {have}); install the "
        f"client programs, e.g. apt-get install postgresql-client-{server_major}")


def _tool_major(program: str) -> int:
    try:
        done = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=30)
        return _major(done.stdout.split()[-1])
    except (OSError, IndexError, BackupError, subprocess.TimeoutExpired):
        return -1


def _connection_env() -> dict[str, str]:
    """The environment telling the PostgreSQL programs where the app's database is."""
    from django.db import connection

    given = connection.settings_dict
    env = dict(os.environ)
    for key, variable in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER"),
                          ("PASSWORD", "PGPASSWORD"), ("NAME", "PGDATABASE")):
        if given.get(key):
            env[variable] = str(given[key])
    return env


def _run(command: list[str], label: str, **kwargs: Any) -> subprocess.CompletedProcess:
    done = subprocess.run(command, env=_connection_env(), capture_output=True, text=True,
                          **kwargs)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise BackupError(f"{label} failed (exit {done.returncode}): "
                          f"{detail[-1] if detail else 'no message'}")
    return done


# --- restore ---------------------------------------------------------------------------------


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of a backup file, checked to be one.

    Raises
    ------
    BackupError
        The file is missing, not a zip, not a QualityLoop backup, or of a newer backup format.
    """
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read(MANIFEST))
            names = set(archive.namelist())
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, UnicodeDecodeError):
        raise BackupError(f"{path}: not a QualityLoop backup (expected a .zip file with "
                          f"{MANIFEST}, as `qualityloop backup` writes)") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: {MANIFEST} does not describe a QualityLoop backup")
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise BackupError(f"{path}: written by a newer QualityLoop (backup format "
                          f"{manifest['format_version']}); upgrade QualityLoop to restore it")
    if manifest.get("data") not in names:
        raise BackupError(f"{path}: the data file {manifest.get('data')!r} is missing")
    return manifest


def unknown_migrations(manifest: dict[str, Any]) -> list[str]:
    """Migrations applied in the backup that this version of QualityLoop does not have."""
    from django.db.migrations.loader import MigrationLoader

    known = set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
    return sorted(f"{app}.{name}" for app, names in manifest["migrations"].items()
                  for name in names if (app, name) not in known)


def database_holds_records() -> bool:
    """Whether the app database holds any user or record (an empty, migrated one does not)."""
    from django.apps import apps
    from django.db import DatabaseError, connection

    if connection.vendor == "sqlite" and not Path(connection.settings_dict["NAME"]).exists():
        return False
    existing = set(connection.introspection.table_names())
    for model in apps.get_models():
        if model._meta.label != "auth.User" and not model.__module__.startswith("qualityloop."):
            continue
        if model._meta.db_table not in existing:
            continue
        try:
            if model._default_manager.exists():
                return True
        except DatabaseError:  # an old table layout: it holds something
            return True
    return False


def restore(path: Path, replace: bool = False) -> BackupResult:
    """Replace the app database with the one in a backup file, then migrate it up to date.

    Parameters
    ----------
    path
        A file written by :func:`backup`.
    replace
        Overwrite a database that holds records (``--yes``); without it that is refused.

    Returns
    -------
    BackupResult
        The backup's manifest and how many newer migrations were applied after loading it.

    Raises
    ------
    BackupError
        With the reason: another engine, a newer schema, a database holding records, a damaged
        file, a missing ``pg_restore``/``psql``. The database is unchanged then.
    """
    from django.db import connection

    path = Path(path)
    manifest = read_manifest(path)
    engine = _engine(connection.vendor)
    if manifest["engine"] != engine:
        raise BackupError(f"{path}: a backup of a {manifest['engine']} database cannot be restored"
                          f" into this {engine} database")
    newer = unknown_migrations(manifest)
    if newer:
        raise BackupError(f"{path}: the backup's schema is newer than this QualityLoop "
                          f"({qualityloop.__version__}) knows (migrations {', '.join(newer)}); "
                          "upgrade QualityLoop, then restore")
    if not replace and database_holds_records():
        raise BackupError("the database already holds records; restoring replaces all of them "
                          "with the backup's: add --yes to do so")
    if engine == "sqlite":
        _restore_sqlite(path, manifest, Path(connection.settings_dict["NAME"]))
    else:
        _restore_postgres(path, manifest)
    from qualityloop.web.bootstrap import migrate_if_needed

    return BackupResult(path, manifest, applied_migrations=migrate_if_needed())


def _extract(path: Path, manifest: dict, target: Path) -> None:
    """Write the backup's data file to ``target``, checking it against the manifest's checksum."""
    digest = hashlib.sha256()
    with zipfile.ZipFile(path) as archive, archive.open(manifest["data"]) as data, \
            target.open("wb") as out:
        while chunk := data.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != manifest.get("data_sha256"):
        raise BackupError(f"{path}: the data does not match its checksum; the file is damaged")


def _restore_sqlite(path: Path, manifest: dict, database: Path) -> None:
    from django.db import connections

    database.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{database.name}.restore-", dir=database.parent)
    os.close(handle)
    temp = Path(name)
    try:
        _extract(path, manifest, temp)
        with _sqlite(temp) as db:
            _check_integrity(db, path)
            db.execute("PRAGMA journal_mode=WAL")  # as the app opens it
        connections.close_all()
        _fold_wal(database)
        os.replace(temp, database)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    for suffix in ("-wal", "-shm"):  # the old file's log must not be read with the new one
        Path(f"{database}{suffix}").unlink(missing_ok=True)


def _fold_wal(database: Path) -> None:
    """Write the old database's log back into it and empty the log (before it is replaced)."""
    if not database.exists():
        return
    with _sqlite(database) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _restore_postgres(path: Path, manifest: dict) -> None:
    from django.db import connection, connections

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        major = _major(cursor.fetchone()[0])
        tables = connection.introspection.table_names(cursor)
    pg_restore, psql = postgres_tool("pg_restore", major), postgres_tool("psql", major)
    connections.close_all()
    with tempfile.TemporaryDirectory(prefix="qualityloop-restore-") as work:
        dump = Path(work) / manifest["data"]
        _extract(path, manifest, dump)
        script = Path(work) / "restore.sql"
        _run([pg_restore, "--no-owner", "--no-privileges", f"--file={script}", str(dump)],
             "pg_restore")
        preamble = _drop_tables_sql(tables)
        # One transaction (psql wraps every -c and -f in it): the old tables go and the
        # backup's come, or nothing changes.
        drop = ["-c", preamble] if preamble else []
        _run([psql, "--quiet", "--no-psqlrc", "--single-transaction", "-v", "ON_ERROR_STOP=1",
              *drop, "-f", str(script)], "psql (restore)")


def _drop_tables_sql(tables: list[str]) -> str:
    if not tables:
        return ""
    quoted = ", ".join('"' + name.replace('"', '""') + '"' for name in tables)
    return f"DROP TABLE IF EXISTS {quoted} CASCADE;"
