"""Keep users' groups and staff flags in step with their role, however the role is set."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models.signals import post_delete, post_save

from qualityloop.records.accounts.models import Profile
from qualityloop.records.accounts.roles import apply_role, sync_all_users, sync_role_groups


def role_saved(sender, instance: Profile, **kwargs) -> None:
    if kwargs.get("raw"):  # loading fixtures: the users come with their own flags
        return
    apply_role(instance.user, instance.role)


def role_removed(sender, instance: Profile, origin=None, **kwargs) -> None:
    if isinstance(origin, get_user_model()):  # the user is being deleted with the profile
        return
    apply_role(instance.user, None)


def roles_after_migrate(sender, using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    if not _role_tables_exist(using):  # e.g. after migrating an app back to zero
        return
    sync_role_groups()
    sync_all_users()


def connect() -> None:
    post_save.connect(role_saved, sender=Profile, dispatch_uid="accounts.role_saved")
    post_delete.connect(role_removed, sender=Profile, dispatch_uid="accounts.role_removed")


def _role_tables_exist(using: str) -> bool:
    from qualityloop.services.record_kinds import KINDS

    needed = {"auth_group", "auth_permission", Profile._meta.db_table}
    needed |= {kind.model._meta.db_table for kind in KINDS}
    return needed <= set(connections[using].introspection.table_names())
