"""Electronic signatures: a step that must be signed asks for the user's password again.

Closing a nonconformance (``services.problem_solving``) and approving or rejecting a change
(``services.change_control``) call :func:`sign`; the signer and the moment it returns are stored
on the record (and so in its history).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from qualityloop.services.permissions import NotAllowed


class ReauthenticationFailed(NotAllowed):
    """The password given to sign did not match the signer's."""


@dataclass(frozen=True)
class Signature:
    """Who signed and when."""

    user: Any
    at: dt.datetime


def sign(user: Any, password: str, what: str) -> Signature:
    """Check that ``password`` is the active ``user``'s own and return the signature.

    Parameters
    ----------
    user
        The Django user signing.
    password
        What they typed again.
    what
        The step being signed, as a gerund ("closing", "approving"), for the refusal message.

    Raises
    ------
    ReauthenticationFailed
        The password is empty or not the user's, or the user is inactive.
    """
    if not (password and user.is_active and user.check_password(password)):
        raise ReauthenticationFailed(
            f"the password is not correct; {what} needs your own password as a signature")
    return Signature(user, timezone.now())
