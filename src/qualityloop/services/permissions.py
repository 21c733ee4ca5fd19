"""Who may do what with records: the one place the web pages and the API ask.

A user's role (see ``records.accounts.choices.Role``) decides it. Every role may read every record
kind; the viewer role may never change anything; a user without a role may do nothing.
"""

from __future__ import annotations

from enum import StrEnum

from django.db import models

from qualityloop.records.accounts.choices import WRITE_ROLES, Role
from qualityloop.records.accounts.models import role_of
from qualityloop.services.record_kinds import RecordKind


class Action(StrEnum):
    READ = "read"
    WRITE = "write"


class NotAllowed(PermissionError):
    """The user may not do this; the message says why, in words a user understands."""


def may(user, kind: RecordKind, action: Action | str) -> bool:
    """Whether ``user`` may ``action`` ("read" or "write") records of ``kind``."""
    return _refusal(user, kind, Action(action)) is None


def check(user, kind: RecordKind, action: Action | str) -> None:
    """Raise :class:`NotAllowed` unless ``user`` may ``action`` records of ``kind``.

    Parameters
    ----------
    user
        A Django user (anonymous users have no role).
    kind
        The record kind asked for.
    action
        ``"read"`` or ``"write"`` (create, update and delete).
    """
    reason = _refusal(user, kind, Action(action))
    if reason is not None:
        raise NotAllowed(reason)


def may_change_records(user) -> bool:
    """Whether the user's role allows changing records at all (the viewer role does not)."""
    return role_of(user) in WRITE_ROLES


SURVEY_ROLES = frozenset({Role.ADMIN, Role.TOP_MANAGEMENT, Role.QUALITY_MANAGER})


def may_run_surveys(user) -> bool:
    """Whether the user may open and close survey rounds and import their answers."""
    return role_of(user) in SURVEY_ROLES


def check_run_surveys(user) -> None:
    """Raise :class:`NotAllowed` unless the user may open and close survey rounds."""
    if not may_run_surveys(user):
        name = getattr(user, "username", "") or "anonymous"
        raise NotAllowed(f"user {name!r} may not open or close survey rounds; that takes the "
                         "role admin, top-management or quality-manager")


def restrict(queryset: models.QuerySet, user, kind: RecordKind) -> models.QuerySet:
    """The records of ``queryset`` that ``user`` may see (none when the user may not read)."""
    return queryset if may(user, kind, Action.READ) else queryset.none()


def _refusal(user, kind: RecordKind, action: Action) -> str | None:
    role = role_of(user)
    name = getattr(user, "username", "") or "anonymous"
    if role is None:
        return f"user {name!r} has no role; ask an administrator to give you one"
    if action is Action.WRITE and role not in WRITE_ROLES:
        label = Role(role).label if role in Role.values else role
        return (
            f"user {name!r} has the role {role!r} ({label}) and may read {kind.name} "
            "but not create, change or delete them"
        )
    return None
