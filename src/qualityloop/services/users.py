"""Users, roles and API tokens."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from qualityloop.records.accounts.choices import Role
from qualityloop.records.accounts.models import ApiToken, Profile


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
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}; expected one of: {', '.join(Role.values)}")
    User = get_user_model()
    if User.objects.filter(username=username).exists():
        raise ValueError(f"a user called {username!r} already exists")
    if password is None and generate_password:
        password = secrets.token_urlsafe(12)
    with transaction.atomic():
        user = User.objects.create_user(
            username=username, email=email, password=password,
            is_staff=role == Role.ADMIN, is_superuser=role == Role.ADMIN,
        )
        if password is None:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        Profile.objects.create(user=user, role=role)
        _token, plain = ApiToken.issue(user)
    return NewUser(username=username, role=role, password=password, token=plain)


def set_role(username: str, role: str) -> None:
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}; expected one of: {', '.join(Role.values)}")
    user = get_user_model().objects.get(username=username)
    Profile.objects.update_or_create(user=user, defaults={"role": role})
