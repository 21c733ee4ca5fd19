"""Roles and API tokens. Tokens are stored as SHA-256 hashes: the plain token is shown once."""

from __future__ import annotations

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
    """The user's role; superusers count as admin, users without a profile have none."""
    if user is None or not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.ADMIN
    profile = Profile.objects.filter(user=user).only("role").first()
    return profile.role if profile else None


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

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user.username})"

    @classmethod
    def issue(cls, user, name: str = "cli") -> tuple[ApiToken, str]:
        """Create a token for ``user``; returns the record and the plain token (shown once)."""
        plain = "ql_" + secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, name=name, prefix=plain[:8], key_hash=_digest(plain))
        return token, plain

    @classmethod
    def authenticate(cls, plain: str):
        """The active user owning this token, or None."""
        token = (
            cls.objects.select_related("user")
            .filter(key_hash=_digest(plain), revoked_at__isnull=True, user__is_active=True)
            .first()
        )
        if token is None:
            return None
        cls.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        return token.user
