"""Change control (ISO 9001 6.3, 8.5.6): a change request moves
draft -> submitted -> approved or rejected -> implemented -> verified (closed).

Each transition is one function used by the web page and the API alike; every write goes through
:mod:`qualityloop.services.record_writer`, so the model's rules, links and history behave as for
any other change.

Who may decide (approve or reject) a change, and verify it:

* the roles ``admin``, ``top-management`` and ``quality-manager``, any change;
* a ``unit-lead``, a **low-risk** change of their own unit (the unit on their profile, or a unit
  below it: the ``approve`` row of ``services.permissions.POLICY``); a medium- or high-risk
  change goes to quality or top management;
* staff and viewers, none;
* nobody decides a change they requested themselves (the person linked to their user is the
  requester): a second pair of eyes.

Deciding is signed: the decider re-enters their password (:func:`services.signatures.sign`), and
the signer and the moment are stored on the change (``signed_by``, ``signed_at``) and so in its
history. ``ChangeRequest.clean()`` refuses an approval or rejection without a fresh signature, so
imports, the generic forms and ``PUT``/``PATCH`` on the API cannot approve a change. Submitting
and recording the implementation need the right to change the change request (managers any,
a unit lead those of their unit; staff and viewers none).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from qualityloop.records.accounts.choices import Role
from qualityloop.records.accounts.models import role_of
from qualityloop.records.quality.choices import ChangeStatus, RiskLevel
from qualityloop.records.quality.models import ChangeRequest
from qualityloop.services import permissions
from qualityloop.services.record_kinds import get_kind
from qualityloop.services.record_writer import RowInvalid, write_record
from qualityloop.services.signatures import ReauthenticationFailed, sign

__all__ = [
    "ReauthenticationFailed", "approve", "decision_refusal", "may_decide", "record_implementation",
    "record_verification", "reject", "submit",
]

CHANGES = "change-requests"
# The way a change request goes, for the step list on its page.
PATH = (ChangeStatus.DRAFT, ChangeStatus.SUBMITTED, ChangeStatus.APPROVED,
        ChangeStatus.IMPLEMENTED, ChangeStatus.VERIFIED)
FINISHED = (ChangeStatus.REJECTED, ChangeStatus.VERIFIED, ChangeStatus.CLOSED)


def decision_refusal(user: Any, change: ChangeRequest) -> str | None:
    """Why ``user`` may not approve, reject or verify ``change`` (None when they may)."""
    try:
        permissions.check_object(user, change, permissions.Action.APPROVE)
    except permissions.NotAllowed as refusal:
        return str(refusal)
    name = getattr(user, "username", "") or "anonymous"
    person = permissions.person_of(user)
    if person is not None and person.pk == change.requested_by_id:
        return (f"user {name!r} requested {change.external_id} and may not decide it; another "
                "person must approve or reject it")
    if role_of(user) == Role.UNIT_LEAD and change.risk_level != RiskLevel.LOW:
        return (f"{change.external_id} is {change.get_risk_level_display().lower()} risk: a unit "
                "lead decides only low-risk changes of their own unit; ask a quality manager or "
                "top management")
    return None


def may_decide(user: Any, change: ChangeRequest) -> bool:
    """Whether ``user`` may approve, reject or verify ``change``."""
    return decision_refusal(user, change) is None


def submit(change: ChangeRequest, user: Any) -> ChangeRequest:
    """Submit a draft change for approval.

    Raises
    ------
    NotAllowed
        The user may not change records.
    RowInvalid
        The change is not a draft.
    """
    _check_change(user, change)
    _require_status(change, ChangeStatus.DRAFT, "submitted")
    return _write(change, user, {"status": ChangeStatus.SUBMITTED}, "Submitted for approval")


def approve(change: ChangeRequest, user: Any, password: str, note: str = "",
            approved_on: dt.date | None = None) -> ChangeRequest:
    """Approve a submitted change with the user's signature (their password again).

    The user's linked person, if any, becomes the approver; the signer and the moment are stored.

    Raises
    ------
    NotAllowed
        The user may not decide this change (see the module's rule).
    ReauthenticationFailed
        The password is not the user's.
    RowInvalid
        The change is not submitted.
    """
    return _decide(change, user, password, ChangeStatus.APPROVED, note,
                   approved_on or timezone.localdate())


def reject(change: ChangeRequest, user: Any, password: str, note: str) -> ChangeRequest:
    """Reject a submitted change with the user's signature; the reason is required."""
    if not note.strip():
        raise RowInvalid({"decision_note": "say why the change is rejected"})
    return _decide(change, user, password, ChangeStatus.REJECTED, note, None)


def record_implementation(change: ChangeRequest, user: Any, note: str,
                          implemented_on: dt.date | None = None) -> ChangeRequest:
    """Record that an approved change was carried out: what was done and when."""
    _check_change(user, change)
    _require_status(change, ChangeStatus.APPROVED, "marked implemented")
    if not note.strip():
        raise RowInvalid({"implementation_note": "describe what was changed, and where"})
    day = _not_before(implemented_on, change.approved_on, "implemented_on", "the approval")
    data = {"status": ChangeStatus.IMPLEMENTED, "implemented_on": day,
            "implementation_note": note.strip()}
    return _write(change, user, data, "Implementation recorded")


def record_verification(change: ChangeRequest, user: Any, note: str,
                        verified_on: dt.date | None = None,
                        verified_by: str | None = None) -> ChangeRequest:
    """Record that an implemented change was verified to work; this closes it.

    ``verified_by`` is a person's external id (default: the person linked to the user).
    Verification takes the same rights as deciding.
    """
    refusal = decision_refusal(user, change)
    if refusal is not None:
        raise permissions.NotAllowed(refusal)
    _require_status(change, ChangeStatus.IMPLEMENTED, "verified")
    if not note.strip():
        raise RowInvalid({"verification_note": "give the evidence that the change works"})
    day = _not_before(verified_on, change.implemented_on, "verified_on", "the implementation")
    person = permissions.person_of(user)
    data: dict[str, Any] = {"status": ChangeStatus.VERIFIED, "verified_on": day,
                            "verification_note": note.strip()}
    if verified_by or person is not None:
        data["verified_by"] = verified_by or person.external_id  # type: ignore[union-attr]
    return _write(change, user, data, "Verified and closed")


def _decide(change: ChangeRequest, user: Any, password: str, status: ChangeStatus, note: str,
            approved_on: dt.date | None) -> ChangeRequest:
    refusal = decision_refusal(user, change)
    if refusal is not None:
        raise permissions.NotAllowed(refusal)
    what = "approving" if status == ChangeStatus.APPROVED else "rejecting"
    signature = sign(user, password, what, change)
    _require_status(change, ChangeStatus.SUBMITTED, str(status.label).lower())
    data: dict[str, Any] = {"status": status, "decision_note": note.strip()}
    if approved_on is not None:
        data["approved_on"] = _not_before(approved_on, change.requested_on, "approved_on",
                                          "the request")
        person = permissions.person_of(user)
        if person is not None:
            data["approver"] = person.external_id
    unsigned = (change.signed_by_id, change.signed_at)
    change.signed_by, change.signed_at = signature.user, signature.at
    verb = "Approved" if status == ChangeStatus.APPROVED else "Rejected"
    try:
        return _write(change, user, data, f"{verb} and signed by {user.get_username()}")
    except RowInvalid:
        change.signed_by_id, change.signed_at = unsigned
        raise


def _not_before(day: dt.date | None, earlier: dt.date | None, column: str,
                what: str) -> dt.date:
    """``day`` (default: today), refused when it comes before the step it follows."""
    day = day or timezone.localdate()
    if earlier is not None and day < earlier:
        raise RowInvalid({column: f"{day} is before {what} on {earlier}"})
    return day


def _check_change(user: Any, change: ChangeRequest) -> None:
    permissions.check_object(user, change, permissions.Action.CHANGE)


def _require_status(change: ChangeRequest, wanted: ChangeStatus, becoming: str) -> None:
    if change.status != wanted:
        raise RowInvalid({"status": (
            f"{change.external_id} is {change.get_status_display().lower()}; only a change "
            f"that is {wanted.label.lower()} can be {becoming}")})


def _write(change: ChangeRequest, user: Any, data: dict[str, Any], reason: str) -> ChangeRequest:
    with transaction.atomic():
        written, _ = write_record(get_kind(CHANGES), data, instance=change, partial=True,
                                  history_user=user, change_reason=reason)
    return written  # type: ignore[return-value]
