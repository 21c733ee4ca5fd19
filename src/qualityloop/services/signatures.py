"""Electronic signatures: a step that must be signed asks for the user's password again.

Closing a nonconformance (``services.problem_solving``) and approving or rejecting a change
(``services.change_control``) call :func:`sign`; the signer and the moment it returns are stored
on the record (and so in its history).

Wrong passwords are limited (21 CFR Part 11, 11.300(d)): after ``SIGNATURE_FAILURE_LIMIT`` wrong
passwords in a row, each within ``SIGNATURE_COOLOFF_TIME`` of the one before, the user's
signatures are refused for ``SIGNATURE_COOLOFF_TIME`` after the last one, even with the right
password (:class:`SignatureLocked`). The count is a database row (``SignatureFailures``), so every
server process sees it; a good signature deletes it. Every refusal (wrong password, the lockout,
an attempt while locked) is written as a ``SignatureRefusal``, whose history row the audit log
lists, and logged as a warning by the ``qualityloop.signatures`` logger.

The refusals must outlive the step they refused: services sign before they write anything, and a
caller that runs a step inside a transaction commits it before letting
:class:`ReauthenticationFailed` out (``web.api.conditional.held_for_step`` does, for the web
pages and the API); tests/test_signature_limits.py checks the count and the audit log after
refused web and API requests.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass
from typing import Any, NoReturn

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from qualityloop.records.quality.choices import SignatureRefusalReason as Reason
from qualityloop.records.quality.models import SignatureFailures, SignatureRefusal
from qualityloop.services.permissions import NotAllowed

log = logging.getLogger("qualityloop.signatures")


class ReauthenticationFailed(NotAllowed):
    """The password given to sign did not match the signer's."""


class SignatureLocked(ReauthenticationFailed):
    """Too many wrong passwords: the user's signatures are refused until :attr:`until`."""

    def __init__(self, message: str, until: dt.datetime, now: dt.datetime) -> None:
        super().__init__(message)
        self.until = until
        self.retry_after = max(1, math.ceil((until - now).total_seconds()))
        """Seconds until a signature is accepted again (for ``Retry-After``)."""


@dataclass(frozen=True)
class Signature:
    """Who signed and when."""

    user: Any
    at: dt.datetime


def sign(user: Any, password: str, what: str, record: Any = None) -> Signature:
    """Check that ``password`` is the active ``user``'s own and return the signature.

    Parameters
    ----------
    user
        The Django user signing.
    password
        What they typed again.
    what
        The step being signed, as a gerund ("closing", "approving"), for the refusal message.
    record
        The record being signed (its ``external_id`` goes into the audit log).

    Raises
    ------
    SignatureLocked
        Signing is locked for this user (too many wrong passwords), or this wrong password
        reached the limit. The password is not checked while locked.
    ReauthenticationFailed
        The password is empty or not the user's, or the user is inactive.
    """
    now = timezone.now()
    until = locked_until(user, now)
    if until is not None:
        _refused(user, what, record, Reason.WHILE_LOCKED, now)
        raise SignatureLocked(_locked_message(until), until, now)
    if not (password and user.is_active and user.check_password(password)):
        _wrong_password(user, password, what, record, now)
    SignatureFailures.objects.filter(user=user).delete()
    return Signature(user, now)


def limit() -> int:
    """Wrong passwords in a row that lock signing (``SIGNATURE_FAILURE_LIMIT``)."""
    return int(settings.SIGNATURE_FAILURE_LIMIT)


def cooloff() -> dt.timedelta:
    """How long signing stays locked after the last wrong password (``SIGNATURE_COOLOFF_TIME``)."""
    return settings.SIGNATURE_COOLOFF_TIME


def locked_until(user: Any, now: dt.datetime | None = None) -> dt.datetime | None:
    """When ``user``'s signatures are accepted again, or None when they are not locked."""
    now = now or timezone.now()
    row = SignatureFailures.objects.filter(user=user).first()
    if row is None or row.failures < limit():
        return None
    until = row.last_failure_at + cooloff()
    return until if until > now else None


def lock_notice(user: Any) -> str | None:
    """What to tell ``user`` before they try to sign while locked (None when not locked)."""
    until = locked_until(user)
    return None if until is None else _locked_message(until)


def unlock(user: Any) -> int:
    """Lift ``user``'s signature lock (and forget their wrong passwords) at once.

    For an administrator who has checked who was typing; the refusals stay in the audit log.

    Returns
    -------
    int
        How many wrong passwords in a row were forgotten (0: nothing to lift).
    """
    row = SignatureFailures.objects.filter(user=user).first()
    if row is None:
        return 0
    row.delete()
    log.warning("signature lock lifted: user %s (%d wrong passwords forgotten)",
                user.get_username(), row.failures)
    return row.failures


def _locked_message(until: dt.datetime) -> str:
    return (f"signing is locked after {limit()} wrong passwords in a row; try again after "
            f"{_clock(until)}")


def _wrong_password(user: Any, password: str, what: str, record: Any,
                    now: dt.datetime) -> NoReturn:
    """Count the wrong password (an empty one is no attempt), record it and refuse."""
    message = f"the password is not correct; {what} needs your own password as a signature"
    if not password:
        raise ReauthenticationFailed(message)
    failures = _count_failure(user, now)
    _refused(user, what, record, Reason.WRONG, now)
    if failures >= limit():
        until = now + cooloff()
        if failures == limit():  # a concurrent attempt past the limit is no second lockout
            _refused(user, what, record, Reason.LOCKED, now)
        raise SignatureLocked(f"{message}. After {failures} wrong passwords, signing is locked "
                              f"until {_clock(until)}", until, now)
    left = limit() - failures
    raise ReauthenticationFailed(
        f"{message} ({left} more wrong {'password locks' if left == 1 else 'passwords lock'} "
        f"signing for {_minutes(cooloff())})")


def _count_failure(user: Any, now: dt.datetime) -> int:
    """Add a wrong password to the user's count (restarted when the last one is too old)."""
    with transaction.atomic():
        row, _ = SignatureFailures.objects.select_for_update().get_or_create(
            user=user, defaults={"failures": 0, "last_failure_at": now})
        if row.last_failure_at < now - cooloff():
            row.failures = 0
        row.failures += 1
        row.last_failure_at = now
        row.save(update_fields=["failures", "last_failure_at"])
    return row.failures


def _refused(user: Any, what: str, record: Any, reason: Reason, now: dt.datetime) -> None:
    """Write the refusal for the audit log (its history row) and log it."""
    external_id = str(getattr(record, "external_id", "") or "")
    refusal = SignatureRefusal(external_id=external_id, at=now, user=user,
                               username=user.get_username(), step=what, reason=reason)
    refusal._history_user = user  # type: ignore[attr-defined]
    step = f"{what} {external_id}".strip()
    refusal._change_reason = f"{reason.label} ({step})"  # type: ignore[attr-defined]
    with transaction.atomic():
        refusal.save()
    log.warning("%s: user %s, %s", reason.label, refusal.username, step)


def _clock(moment: dt.datetime) -> str:
    """``16:55 UTC`` in the server's time zone (with the date when it is not today)."""
    local = timezone.localtime(moment)
    day = "" if local.date() == timezone.localdate() else f"{local:%Y-%m-%d} "
    return f"{day}{local:%H:%M} {local.tzname()}"


def _minutes(span: dt.timedelta) -> str:
    minutes = math.ceil(span.total_seconds() / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
