"""Operations: ``qualityloop backup``, ``qualityloop restore`` and ``qualityloop audit export``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qualityloop.commands.common import JsonFlag, emit, reported, start_django

audit_app = typer.Typer(help="The audit trail: every change to every record.",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the operations commands to the main ``qualityloop`` command."""
    app.command("backup")(backup)
    app.command("restore")(restore)
    app.add_typer(audit_app, name="audit")


def backup(
    file: Annotated[Path, typer.Argument(help="The backup file to write (.zip).")],
    as_json: JsonFlag = False,
) -> None:
    """Back up the database (records and their history), consistently, while the app runs."""
    start_django(migrate=False)  # back up the database as it is, before any upgrade
    from qualityloop.services.backup import BackupError
    from qualityloop.services.backup import backup as make_backup

    with reported(as_json, BackupError):
        done = make_backup(file.expanduser().resolve())
    manifest = done.manifest
    emit(done.as_dict(), as_json,
         f"Backed up the {manifest['engine']} database to {done.file} "
         f"({manifest['data_bytes']:,} bytes of data, "
         f"{sum(len(v) for v in manifest['migrations'].values())} migrations applied).")


def restore(
    file: Annotated[Path, typer.Argument(help="A backup file written by `qualityloop backup`.")],
    yes: Annotated[bool, typer.Option(
        "--yes", help="Replace a database that already holds records.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Replace the database with a backup (stop the web app first), then migrate it."""
    start_django(migrate=False)
    from qualityloop.services.backup import BackupError
    from qualityloop.services.backup import restore as restore_backup

    with reported(as_json, BackupError):
        done = restore_backup(file.expanduser().resolve(), replace=yes)
    manifest = done.manifest
    newer = (f"; applied {done.applied_migrations} newer migrations"
             if done.applied_migrations else "")
    emit(done.as_dict(), as_json,
         f"Restored the {manifest['engine']} backup of {manifest['created_at']} "
         f"(QualityLoop {manifest['app_version']}) from {done.file}{newer}.")


DateOption = Annotated[str | None, typer.Option(help="A day, YYYY-MM-DD (inclusive).")]


@audit_app.command("export")
def audit_export(
    file: Annotated[Path, typer.Argument(help="Where to write: .csv or .xlsx.")],
    date_from: Annotated[str | None, typer.Option(
        "--from", help="First day, YYYY-MM-DD.")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD.")] = None,
    user: Annotated[str | None, typer.Option(
        help="Only changes by this user ('-' for changes without a user).")] = None,
    kind: Annotated[str | None, typer.Option(help="Only this record kind (see `kinds`).")] = None,
    action: Annotated[str | None, typer.Option(
        help="Only created, changed or deleted.")] = None,
    record: Annotated[str | None, typer.Option(
        help="Only the record with this external id.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Write the audit trail (who changed which record when), newest first, to a file."""
    start_django()
    from qualityloop.services.audit import AuditFilter, AuditFilterError, export
    from qualityloop.services.tabular import TableError

    with reported(as_json, AuditFilterError, TableError):
        chosen = AuditFilter.from_text(user=user, kind=kind, date_from=date_from,
                                       date_to=date_to, action=action, record=record)
        count = export(chosen, file)
    emit({"ok": True, "file": str(file), "rows": count}, as_json,
         f"Wrote {count:,} history rows to {file}.")
