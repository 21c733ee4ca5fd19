"""Start Django outside a web server (CLI, notebooks) and bring the database up to date."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

_ready = False
MIGRATION_LOCK = ".migrate.lock"


def setup(migrate: bool = True) -> None:
    """Configure Django once; apply pending migrations so a first start needs no extra step."""
    global _ready
    if _ready:
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qualityloop.web.settings")
    import django
    from django.apps import apps

    # Django set up already (a test run, a host application): setting it up again would
    # configure logging anew, dropping the handlers the host put on the root logger.
    if not apps.ready:
        django.setup()
    if migrate:
        migrate_if_needed()
    _ready = True


def pending_migrations() -> list[tuple[str, str]]:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [(m.app_label, m.name) for m, _backwards in plan]


def migrate_if_needed() -> int:
    """Apply pending migrations; returns how many were applied. Processes started together on
    one data folder (``qualityloop worker &`` and ``serve``) take turns: the second finds the
    database up to date."""
    from django.core.management import call_command

    if not pending_migrations():
        return 0
    with _migration_lock():
        pending = pending_migrations()
        if pending:
            call_command("migrate", interactive=False, verbosity=0)
    return len(pending)


@contextmanager
def _migration_lock() -> Iterator[None]:
    """An exclusive lock on a file in the data folder, held while migrating (POSIX; elsewhere
    no lock)."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    from qualityloop.web.paths import data_home

    with open(data_home() / MIGRATION_LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
