"""Users, roles and API tokens.

A user's role lives in their ``Profile``; saving it moves the user into the role's group and sets
their staff flags (see ``records.accounts.roles``), so the admin grants what the role grants.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from qualityloop.records.accounts.choices import Role
from qualityloop.records.accounts.models import ApiToken, Profile
from qualityloop.records.accounts.roles import sync_role_groups


@dataclass(frozen=True)
class NewUser:
    username: str
    role: str
    password: str | None
    token: str


def add_user(
    username: str, role: str, password: str | None = None, email: str = "",
    generate_password: bool = False,
) -> NewUser:
    """Create a user with a role and issue an API token (the plain token is returned once).

    Raises ValueError for an unknown role or an existing username.
    """
    _check_role(role)
    User = get_user_model()
    if User.objects.filter(username=username).exists():
        raise ValueError(f"a user called {username!r} already exists")
    if password is None and generate_password:
        password = secrets.token_urlsafe(12)
    with transaction.atomic():
        sync_role_groups()
        user = User.objects.create_user(username=username, email=email, password=password)
        if password is None:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        Profile.objects.create(user=user, role=role)  # its signal gives the group and flags
        _token, plain = ApiToken.issue(user)
    return NewUser(username=username, role=role, password=password, token=plain)


def set_role(username: str, role: str) -> None:
    """Give an existing user ``role``; their group and admin rights follow at once.

    Raises ValueError for an unknown role or an unknown username.
    """
    _check_role(role)
    user = find_user(username)
    with transaction.atomic():
        sync_role_groups()
        Profile.objects.update_or_create(user=user, defaults={"role": role})


def _check_role(role: str) -> None:
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}; expected one of: {', '.join(Role.values)}")


def find_user(username: str):
    """The user called ``username``; ValueError naming it when there is none."""
    try:
        return get_user_model().objects.get(username=username)
    except get_user_model().DoesNotExist:
        raise ValueError(f"no user called {username!r}") from None


def list_users() -> list[dict]:
    """Every user with role, state and how many API tokens are active."""
    users = get_user_model().objects.order_by("username").select_related("profile")
    return [
        {
            "username": user.username,
            "role": getattr(getattr(user, "profile", None), "role", None),
            "active": user.is_active,
            "active_tokens": user.api_tokens.filter(revoked_at__isnull=True).count(),
            "last_login": user.last_login,
        }
        for user in users
    ]


def issue_token(username: str, name: str = "cli") -> str:
    """A new API token for an existing user; the plain token is returned once."""
    _token, plain = ApiToken.issue(find_user(username), name=name)
    return plain


def revoke_tokens(username: str) -> int:
    """Revoke every active API token of a user; returns how many were revoked."""
    from django.utils import timezone

    user = find_user(username)
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
