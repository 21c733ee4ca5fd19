"""Start Django outside a web server (CLI, notebooks) and bring the database up to date."""

from __future__ import annotations

import os

_ready = False


def setup(migrate: bool = True) -> None:
    """Configure Django once; apply pending migrations so a first start needs no extra step."""
    global _ready
    if _ready:
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qualityloop.web.settings")
    import django

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
    """Apply pending migrations; returns how many were applied."""
    from django.core.management import call_command

    pending = pending_migrations()
    if pending:
        call_command("migrate", interactive=False, verbosity=0)
    return len(pending)
