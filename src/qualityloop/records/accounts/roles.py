"""Roles as Django groups, so the admin grants what the permission service grants.

Each role is a group of the same name holding Django model permissions on every record kind:
every role may view; a role may add, change or delete a kind's records in the admin where the
permission table (``services.permissions.POLICY``) lets it reach every record of the kind. Work
limited to a unit or to assigned records (unit leads, staff) happens on the app's own pages,
which check each record; the admin cannot. A user's
group and staff flags follow their ``Profile.role``: every user with a role may enter the admin
(``is_staff``) and only the admin role is a superuser (who alone manages users and tokens).
"""

from __future__ import annotations

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType

from qualityloop.records.accounts.choices import WRITE_ROLES, Role

READ_ACTIONS = ("view",)
WRITE_ACTIONS = ("view", "add", "change", "delete")


ADMIN_ACTIONS = {"add": "create", "change": "change", "delete": "delete"}
"""Django permission action -> action of the permission table."""


def role_actions(role: str, kind_name: str | None = None) -> tuple[str, ...]:
    """The Django permission actions ("view", "add", ...) a role has on records of ``kind_name``
    (without a kind: the most any kind gives the role)."""
    if kind_name is None:
        return WRITE_ACTIONS if role in WRITE_ROLES else READ_ACTIONS
    from qualityloop.services.permissions import Scope, rule

    return READ_ACTIONS + tuple(
        django_action for django_action, action in ADMIN_ACTIONS.items()
        if rule(kind_name, action, role) is Scope.ALL)


def _record_models() -> list:
    from qualityloop.services.record_kinds import KINDS

    return [kind.model for kind in KINDS]


def _ensure_permissions_exist(models: list) -> None:
    # post_migrate reaches the apps one by one; the later apps' permissions may not exist yet.
    for app_label in sorted({m._meta.app_label for m in models}):
        create_permissions(global_apps.get_app_config(app_label), verbosity=0)


def _permissions(models: list, role: str) -> list[Permission]:
    from qualityloop.services.record_kinds import KINDS

    content_types = ContentType.objects.get_for_models(*models).values()
    codenames = [f"{action}_{kind.model._meta.model_name}" for kind in KINDS
                 for action in role_actions(role, kind.name)]
    return list(Permission.objects.filter(content_type__in=content_types, codename__in=codenames))


def sync_role_groups() -> dict[str, Group]:
    """Create or update one group per role with exactly that role's record permissions.

    Idempotent: safe to call after every migration and whenever a role is given.

    Returns
    -------
    dict
        The group of each role, keyed by the role's value.
    """
    models = _record_models()
    _ensure_permissions_exist(models)
    groups = {}
    for role in Role.values:
        group, _created = Group.objects.get_or_create(name=role)
        group.permissions.set(_permissions(models, role))
        groups[role] = group
    return groups


def _role_group(role: str) -> Group:
    group = Group.objects.filter(name=role).first()
    if group is None or not group.permissions.exists():
        group = sync_role_groups()[role]
    return group


def apply_role(user, role: str | None) -> None:
    """Make ``user``'s groups and staff flags follow ``role`` (``None``: no role, no rights).

    Groups that are not role groups are left alone.
    """
    role_groups = Group.objects.filter(name__in=Role.values)
    if role is None:
        user.groups.remove(*role_groups)
        flags = {"is_staff": user.is_superuser, "is_superuser": user.is_superuser}
    else:
        user.groups.remove(*role_groups.exclude(name=role))
        user.groups.add(_role_group(role))
        flags = {"is_staff": True, "is_superuser": role == Role.ADMIN}
    changed = [name for name, value in flags.items() if getattr(user, name) != value]
    if changed:
        for name in changed:
            setattr(user, name, flags[name])
        user.save(update_fields=changed)


def sync_all_users() -> None:
    """Apply every profile's role to its user (after a migration, e.g. on upgrade)."""
    from qualityloop.records.accounts.models import Profile

    for profile in Profile.objects.select_related("user"):
        apply_role(profile.user, profile.role)
