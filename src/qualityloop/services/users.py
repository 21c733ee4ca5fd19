"""Users, roles and API tokens.

A user's role lives in their ``Profile``; saving it moves the user into the role's group and sets
their staff flags (see ``records.accounts.roles``), so the admin grants what the role grants.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
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

    Raises ValueError for an unknown role, an existing username or a password the
    password validators refuse (too short, too common, all digits, like the username).
    """
    _check_role(role)
    User = get_user_model()
    if User.objects.filter(username=username).exists():
        raise ValueError(f"a user called {username!r} already exists")
    if password is None and generate_password:
        password = secrets.token_urlsafe(12)
    if password is not None:
        _check_password(password, User(username=username, email=email))
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


def _check_password(password: str, user) -> None:
    """ValueError with every reason AUTH_PASSWORD_VALIDATORS give against ``password``."""
    try:
        password_validation.validate_password(password, user)
    except ValidationError as refused:
        raise ValueError("password refused: " + " ".join(refused.messages)) from None


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
    """Every user with role, state and their active API tokens (how many, and each one's name,
    prefix and scope: the role requests with it act with now)."""
    users = get_user_model().objects.order_by("username").select_related("profile")
    return [
        {
            "username": user.username,
            "role": getattr(getattr(user, "profile", None), "role", None),
            "active": user.is_active,
            "active_tokens": len(tokens := _active_tokens(user)),
            "tokens": tokens,
            "last_login": user.last_login,
        }
        for user in users
    ]


def _active_tokens(user) -> list[dict]:
    active = user.api_tokens.filter(revoked_at__isnull=True).order_by("created_at", "pk")
    return [{"name": token.name, "prefix": token.prefix, "scope": token.scope,
             "limited_to": token.role} for token in active]


def issue_token(username: str, name: str = "cli", role: str | None = None) -> str:
    """A new API token for an existing user; the plain token is returned once.

    Parameters
    ----------
    username
        The token's owner.
    name
        A label for the token.
    role
        The token's scope (``viewer`` for a reporting tool), at most the user's role; ``None``:
        the user's role.

    Raises
    ------
    ValueError
        For an unknown user or role, or a role above the user's.
    """
    _token, plain = ApiToken.issue(find_user(username), name=name, role=role)
    return plain


def revoke_tokens(username: str) -> int:
    """Revoke every active API token of a user; returns how many were revoked."""
    from django.utils import timezone

    user = find_user(username)
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
