"""Problem solving (ISO 9001 10.2): nonconformance -> containment -> root cause (5 whys, 6M) ->
corrective and preventive actions -> effectiveness checks -> signed closing.

Each step is one function used by the web pages and the API alike. Every write goes through
:mod:`qualityloop.services.record_writer`, so the models' rules, links and history behave as for
any other change. The rule that an NC closes only with a signature and verified actions lives in
``Nonconformance.clean()``; it therefore also holds for imports, the generic forms, the admin and
``PUT``/``PATCH`` on the API, which cannot sign and so cannot close an open NC.

Each step asks the permission table about the record itself (``permissions.check_object``:
``change`` for containment, root cause and adding an action, ``verify`` for an effectiveness
check, ``close`` for closing), as the API does, so a unit lead works only on their unit's NCs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from qualityloop.records.quality.choices import ActionStatus, NonconformanceStatus
from qualityloop.records.quality.models import WHY_LINES, CorrectiveAction, Nonconformance
from qualityloop.services import permissions
from qualityloop.services.record_kinds import get_kind
from qualityloop.services.record_writer import RowInvalid, write_record
from qualityloop.services.signatures import ReauthenticationFailed, sign  # noqa: F401  (re-exported)

NCS = "nonconformances"
ACTIONS = "actions"
# The steps in order; recording a step moves an NC forward to it, never back.
PROGRESS = (
    NonconformanceStatus.OPEN, NonconformanceStatus.CONTAINED, NonconformanceStatus.ROOT_CAUSE,
    NonconformanceStatus.ACTION, NonconformanceStatus.VERIFICATION,
)
OPEN_ACTION_STATUSES = (ActionStatus.PLANNED, ActionStatus.IN_PROGRESS)
FINISHED = (NonconformanceStatus.CLOSED, NonconformanceStatus.CANCELLED)


@dataclass(frozen=True)
class Why:
    """One line of the 5 whys."""

    why: str
    because: str


def record_containment(nc: Nonconformance, user: Any, containment: str) -> Nonconformance:
    """Record what was done to contain the nonconformance (quarantine, sorting, informing).

    Raises
    ------
    NotAllowed
        The user may not change this nonconformance (``permissions.check_object``).
    RowInvalid
        Nothing written, or the NC is closed or cancelled.
    """
    permissions.check_object(user, nc, permissions.Action.CHANGE)
    if not containment.strip():
        raise RowInvalid({"containment": "describe what was done to contain the problem"})
    return _update_nc(nc, user, {"containment": containment.strip()},
                      NonconformanceStatus.CONTAINED, "Containment recorded")


def record_root_cause(
    nc: Nonconformance, user: Any, whys: Sequence[Why], cause_category: str = "",
    root_cause: str = "",
) -> Nonconformance:
    """Record the 5 whys (up to five why/because lines), the 6M category and the root cause.

    When ``root_cause`` is empty, the last "because" is taken as the root cause.
    """
    permissions.check_object(user, nc, permissions.Action.CHANGE)
    lines = [w for w in whys if w.why.strip() or w.because.strip()]
    if len(lines) > len(WHY_LINES):
        raise RowInvalid({"why_1": f"at most {len(WHY_LINES)} why/because lines"})
    if not lines and not root_cause.strip():
        raise RowInvalid({"why_1": "give at least one why and because, or the root cause"})
    data: dict[str, Any] = {}
    for number in WHY_LINES:
        line = lines[number - 1] if number <= len(lines) else Why("", "")
        data[f"why_{number}"] = line.why.strip()
        data[f"because_{number}"] = line.because.strip()
    data["cause_category"] = cause_category
    data["root_cause"] = root_cause.strip() or (lines[-1].because.strip() if lines else "")
    return _update_nc(nc, user, data, NonconformanceStatus.ROOT_CAUSE, "Root cause recorded")


def add_action(nc: Nonconformance, user: Any, values: Mapping[str, Any]) -> CorrectiveAction:
    """Add a correction, corrective or preventive action to the NC (owner and due date needed).

    ``values`` are action columns as a form or JSON body gives them (owner by external id);
    the external id is made up when not given.
    """
    kind = get_kind(ACTIONS)
    permissions.check(user, kind, permissions.Action.CREATE)
    permissions.check_object(user, nc, permissions.Action.CHANGE)  # a step on the NC
    _refuse_finished(nc)
    data = {name: value for name, value in values.items() if value not in (None, "")}
    data["nonconformance"] = nc.external_id
    data.setdefault("external_id", next_action_id(nc))
    data.setdefault("status", ActionStatus.PLANNED)
    with transaction.atomic():
        added, _ = write_record(kind, data, instance=kind.model(), history_user=user,
                                change_reason=f"Action added to {nc.external_id}")
        permissions.check_object(user, added, permissions.Action.CREATE)
        _advance(nc, user, NonconformanceStatus.ACTION, f"Action {data['external_id']} added")
    return added  # type: ignore[return-value]


def record_effectiveness_check(
    action: CorrectiveAction, user: Any, verified_by: str, checked_on: dt.date | str,
    effective: bool, evidence: str,
) -> CorrectiveAction:
    """Record the effectiveness check of an action: who verified it (a person's external id),
    on which day, whether it worked and the evidence."""
    kind = get_kind(ACTIONS)
    permissions.check_object(user, action, permissions.Action.VERIFY)
    if action.nonconformance is not None:
        _refuse_finished(action.nonconformance)
    if not evidence.strip():
        raise RowInvalid({"effectiveness_result": "give the evidence the verdict rests on"})
    data: dict[str, Any] = {
        "verified_by": verified_by, "effectiveness_checked_on": checked_on,
        "effectiveness_result": evidence.strip(),
        "status": ActionStatus.EFFECTIVE if effective else ActionStatus.INEFFECTIVE,
    }
    if action.completed_on is None:
        data["completed_on"] = checked_on
    verdict = "effective" if effective else "ineffective"
    with transaction.atomic():
        checked, _ = write_record(kind, data, instance=action, partial=True, history_user=user,
                                  change_reason=f"Effectiveness checked: {verdict}")
        permissions.check_object(user, checked, permissions.Action.VERIFY)
        if action.nonconformance is not None:
            _advance(action.nonconformance, user, NonconformanceStatus.VERIFICATION,
                     f"Effectiveness of {action.external_id} checked")
    return checked  # type: ignore[return-value]


def close_nonconformance(
    nc: Nonconformance, user: Any, password: str, closed_on: dt.date | None = None,
) -> Nonconformance:
    """Close the NC with the user's signature, after they re-entered their password.

    Refused while an action has no effectiveness verdict or none was verified effective
    (``Nonconformance.closing_blockers``). The signer and the moment are stored on the NC and
    in its history.

    Raises
    ------
    NotAllowed
        The user may not close this nonconformance.
    ReauthenticationFailed
        The password is not the user's.
    RowInvalid
        Under ``"status"``: why it may not close yet.
    """
    permissions.check_object(user, nc, permissions.Action.CLOSE)
    signature = sign(user, password, "closing", nc)
    if nc.status == NonconformanceStatus.CLOSED:
        raise RowInvalid({"status": f"{nc.external_id} is already closed"})
    blockers = nc.closing_blockers()
    if blockers:
        raise RowInvalid({"status": f"{nc.external_id} cannot close yet: " + " ".join(blockers)})
    unsigned = (nc.signed_by_id, nc.signed_at)
    nc.signed_by, nc.signed_at = signature.user, signature.at
    data = {"status": NonconformanceStatus.CLOSED,
            "closed_on": closed_on or timezone.localdate()}
    try:
        with transaction.atomic():
            closed, _ = write_record(
                get_kind(NCS), data, instance=nc, partial=True, history_user=user,
                change_reason=f"Closed and signed by {user.get_username()}")
            permissions.check_object(user, closed, permissions.Action.CLOSE)
    except (RowInvalid, permissions.NotAllowed):
        nc.signed_by_id, nc.signed_at = unsigned
        raise
    return closed  # type: ignore[return-value]


def is_overdue(action: CorrectiveAction, today: dt.date | None = None) -> bool:
    """Planned or in progress after its due date (as the dashboard counts overdue actions)."""
    day = today or timezone.localdate()
    return action.status in OPEN_ACTION_STATUSES and action.due_on < day


def next_action_id(nc: Nonconformance) -> str:
    """A free external id for the next action of ``nc``: ``<nc id>-A1``, ``-A2`` ..."""
    taken = set(CorrectiveAction.objects.filter(
        external_id__startswith=f"{nc.external_id}-A").values_list("external_id", flat=True))
    number = 1
    while f"{nc.external_id}-A{number}" in taken:
        number += 1
    return f"{nc.external_id}-A{number}"


def _refuse_finished(nc: Nonconformance) -> None:
    if nc.status in FINISHED:
        raise RowInvalid({"status": f"{nc.external_id} is {nc.get_status_display().lower()}; "
                                    "reopen it (edit its status) before working on it"})


def _update_nc(nc: Nonconformance, user: Any, data: dict[str, Any],
               step: NonconformanceStatus, reason: str) -> Nonconformance:
    _refuse_finished(nc)
    data = {**data, "status": _advanced(nc.status, step)}
    with transaction.atomic():
        updated, _ = write_record(get_kind(NCS), data, instance=nc, partial=True,
                                  history_user=user, change_reason=reason)
        permissions.check_object(user, updated, permissions.Action.CHANGE)  # still theirs
    return updated  # type: ignore[return-value]


def _advance(nc: Nonconformance, user: Any, step: NonconformanceStatus, reason: str) -> None:
    status = _advanced(nc.status, step)
    if status != nc.status:
        write_record(get_kind(NCS), {"status": status}, instance=nc, partial=True,
                     history_user=user, change_reason=reason)


def _advanced(current: str, step: NonconformanceStatus) -> str:
    if current not in PROGRESS:
        return current
    return step if PROGRESS.index(step) > PROGRESS.index(current) else current
