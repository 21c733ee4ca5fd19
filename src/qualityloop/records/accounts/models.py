"""Roles and API tokens. Tokens are stored as SHA-256 hashes: the plain token is shown once.

A token may be scoped to a role below its owner's (a viewer token for a reporting tool): a request
made with it is judged by the lower of the token's role and the owner's current role.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from qualityloop.records.accounts.choices import WRITE_ROLES, Role


class Profile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)
    org_unit = models.ForeignKey(
        "organisation.OrgUnit", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )

    def __str__(self) -> str:
        return f"{self.user.username} ({self.role})"

    @property
    def can_write(self) -> bool:
        return self.role in WRITE_ROLES


def role_of(user) -> str | None:
    """The role the user acts with: their own role (:func:`own_role`), lowered to their API
    token's scope when the request came with a scoped token."""
    return roles_of(user)[1]


def roles_of(user) -> tuple[str | None, str | None]:
    """The user's own role and the role they act with (see :func:`role_of`), in one query."""
    own = own_role(user)
    return own, lower_role(own, getattr(user, TOKEN_ROLE, None))


def own_role(user) -> str | None:
    """The user's role; superusers count as admin, users without a profile have none."""
    if user is None or not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.ADMIN.value
    if hasattr(user, OWN_ROLE):  # read with the user by ApiToken.authenticate, for this request
        return getattr(user, OWN_ROLE)
    # Read once per user object (Django keeps the profile on it): a logged-in user is loaded
    # afresh for each request, and a page asks for the role at every permission check.
    try:
        return str(user.profile.role)
    except Profile.DoesNotExist:
        return None


def lower_role(role: str | None, limit: str | None) -> str | None:
    """The less powerful of ``role`` and ``limit`` (``Role`` is ordered from most to least
    powerful); no ``limit`` leaves ``role`` as it is, no ``role`` stays no role."""
    if role is None or limit is None:
        return role
    order = Role.values
    return max(role, limit, key=lambda r: order.index(r) if r in order else len(order))


def role_at_most(role: str, ceiling: str | None) -> bool:
    """Whether ``role`` is no more powerful than ``ceiling`` (false without a ceiling)."""
    return ceiling is not None and lower_role(ceiling, role) == role


TOKEN_ROLE = "token_role"
"""The attribute :meth:`ApiToken.authenticate` sets on the user it returns: the token's scope
(``None``: the user's own role), for :func:`role_of`."""
# Where ApiToken.authenticate leaves the user's own role, read in the same query as the token
# (a request asks for the role several times: one query instead of one each time).
OWN_ROLE = "_own_role"
# How exactly ApiToken.last_used_at follows the token's use.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def can_write(user) -> bool:
    return role_of(user) in WRITE_ROLES


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, default="cli")
    prefix = models.CharField(max_length=8, help_text="First characters, to tell tokens apart")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    role = models.CharField(
        "scope", max_length=20, choices=Role.choices, null=True, blank=True,
        help_text="The most this token may do: requests with it are judged by the lower of this "
                  "role and the user's current role (empty: the user's role).",
    )

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user.username})"

    @property
    def scope(self) -> str | None:
        """The role requests with this token act with now (its owner's role may have changed)."""
        return lower_role(own_role(self.user), self.role)

    @classmethod
    def issue(cls, user, name: str = "cli", role: str | None = None) -> tuple[ApiToken, str]:
        """Create a token for ``user``; returns the record and the plain token (shown once).

        Parameters
        ----------
        user
            The token's owner.
        name
            A label to tell the owner's tokens apart.
        role
            The token's scope, at most the owner's role; ``None``: the owner's role, whatever it
            is at the time of each request.

        Raises
        ------
        ValueError
            For an unknown role, or a role above the owner's.
        """
        _check_scope(user, role)
        plain = "ql_" + secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, name=name, prefix=plain[:8],
                                   key_hash=_digest(plain), role=role)
        return token, plain

    @classmethod
    def authenticate(cls, plain: str):
        """The active user owning this token, or None."""
        try:
            token = (cls.objects.select_related("user", "user__profile")
                     .get(key_hash=_digest(plain), revoked_at__isnull=True, user__is_active=True))
        except cls.DoesNotExist:
            return None
        profile = getattr(token.user, "profile", None)
        setattr(token.user, OWN_ROLE, profile.role if profile is not None else None)
        now = timezone.now()
        # At most one write a minute per token: a write on every API read made each read wait
        # for the writers under load (SQLite has one writer at a time).
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            cls.objects.filter(pk=token.pk).update(last_used_at=now)
        setattr(token.user, TOKEN_ROLE, token.role)
        return token.user


def _check_scope(user, role: str | None) -> None:
    if role is None:
        return
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r} for the token; expected one of: "
                         f"{', '.join(Role.values)}")
    owner = own_role(user)
    if owner is None:
        raise ValueError(f"user {user.username!r} has no role, so no token of theirs can have "
                         f"the role {role!r}; give them a role first")
    if not role_at_most(role, owner):
        raise ValueError(
            f"a token of {user.username!r} cannot have the role {role!r}: a token may do at most "
            f"what its user may, and {user.username!r} has the role {owner!r}; choose {owner!r} "
            "or a role below it")
