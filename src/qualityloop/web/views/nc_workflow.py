"""What the nonconformance page shows of the problem-solving workflow: the steps reached, the
5 whys, the actions with their effectiveness checks (overdue ones marked), the forms of each step
and, until it may close, why not."""

from __future__ import annotations

import copy
import re
from typing import Any

from django import forms
from django.utils import timezone

from qualityloop.records.quality.choices import CauseCategory, NonconformanceStatus
from qualityloop.records.quality.models import WHY_LINES, CorrectiveAction, Nonconformance
from qualityloop.services import permissions, problem_solving
from qualityloop.services.record_kinds import get_kind
from qualityloop.web.forms.records import RecordForm, form_field, record_form_class

ACTION_FIELDS = ("kind", "description", "owner", "due_on", "effectiveness_criteria")
STEP_LABELS = (
    (NonconformanceStatus.OPEN, "Raised"), (NonconformanceStatus.CONTAINED, "Contained"),
    (NonconformanceStatus.ROOT_CAUSE, "Root cause"), (NonconformanceStatus.ACTION, "Actions"),
    (NonconformanceStatus.VERIFICATION, "Verification"), (NonconformanceStatus.CLOSED, "Closed"),
)


def action_form(data: Any = None, user: Any = None) -> RecordForm:
    """The form that adds an action from the NC page (owner and due date required there); its
    owner select offers the people ``user`` may read."""
    return record_form_class(get_kind(problem_solving.ACTIONS), only=ACTION_FIELDS,
                             reader=user)(data)


class CheckForm(forms.Form):
    """The effectiveness check of one action."""

    effective = forms.ChoiceField(
        label="Effective?", choices=[("yes", "Yes, effective"), ("no", "No, not effective")],
        widget=forms.RadioSelect)

    def __init__(self, *args: Any, record_fields: dict[str, forms.Field] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in (record_fields or check_record_fields()).items():
            self.fields[name] = copy.deepcopy(field)
        self.order_fields(["verified_by", "checked_on", "effective", "evidence"])

    @property
    def searchable_fields(self) -> frozenset[str]:
        """Fields typed with search help (as on the record forms)."""
        return frozenset(name for name, field in self.fields.items()
                         if "data-search" in field.widget.attrs)


def check_record_fields(user: Any = None) -> dict[str, forms.Field]:
    """The check form's fields taken from the action's record columns. Made once per page and
    copied into each action's form: the verifier field lists every person ``user`` may read
    (one query)."""
    kind = get_kind(problem_solving.ACTIONS)
    made = {"verified_by": form_field(kind.column("verified_by"), user),
            "checked_on": form_field(kind.column("effectiveness_checked_on")),
            "evidence": form_field(kind.column("effectiveness_result"))}
    for name, label in (("verified_by", "Verified by"), ("checked_on", "Checked on"),
                        ("evidence", "Evidence")):
        made[name].label = label
    return made


def check_form(action: CorrectiveAction, data: Any = None,
               record_fields: dict[str, forms.Field] | None = None) -> CheckForm:
    initial = {"checked_on": timezone.localdate().isoformat()}
    return CheckForm(data, prefix=action.external_id, initial=initial,
                     record_fields=record_fields)


def steps(nc: Nonconformance) -> list[dict[str, str]]:
    """The workflow steps with their state: done, current or to do (cancelled: all to do)."""
    order = [str(status) for status, _ in STEP_LABELS]
    reached = order.index(nc.status) if nc.status in order else -1
    return [{"label": label, "state": "done" if i < reached else
             "current" if i == reached else "todo"}
            for i, (_status, label) in enumerate(STEP_LABELS)]


def step_rights(nc: Nonconformance, user: Any) -> dict[str, bool]:
    """Which step forms the user gets on this NC: the same record-level questions the steps
    ask (services/problem_solving.py); without the right the step is shown read-only."""
    may_change = permissions.may_object(user, nc, permissions.Action.CHANGE)
    return {
        "may_change": may_change,
        "may_add_action": may_change and permissions.may(
            user, get_kind(problem_solving.ACTIONS), permissions.Action.CREATE),
        "may_close": permissions.may_object(user, nc, permissions.Action.CLOSE),
    }


def _verifier(user: Any) -> Any:
    """Whether ``user`` may verify an action: asked once when their scope is all or none, per
    action only for a scope that depends on the action (its unit or its owner)."""
    scope = permissions.scope_of(user, problem_solving.ACTIONS, permissions.Action.VERIFY)
    if scope in (permissions.Scope.ALL, permissions.Scope.NONE):
        allowed = scope is permissions.Scope.ALL
        return lambda action: allowed
    return lambda action: permissions.may_object(user, action, permissions.Action.VERIFY)


def _readable_blockers(nc: Nonconformance, shown: list[CorrectiveAction]) -> list[str]:
    """Why the NC may not close yet, without naming the actions the reader may not read (under
    unit reading, those of another unit on an NC the reader raised): one line stands for them."""
    blockers = nc.closing_blockers()
    hidden = set(nc.actions.values_list("external_id", flat=True)) - {
        a.external_id for a in shown}
    if not hidden:
        return blockers
    naming = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, sorted(hidden))) + r")(?![\w-])")
    kept = [line for line in blockers if not naming.search(line)]
    if dropped := len(blockers) - len(kept):
        kept.append(f"{dropped} more about actions of another unit, which you may not read.")
    return kept


def workflow_context(nc: Nonconformance, user: Any, problems: dict[str, Any] | None = None,
                     forms_given: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything the workflow part of the NC page needs.

    ``problems`` maps a step (``containment``, ``root_cause``, ``close``) to its messages;
    ``forms_given`` holds bound forms with their errors (``action``, ``check:<action id>``).
    """
    given = forms_given or {}
    today = timezone.localdate()
    actions = list(permissions.restrict(nc.actions.all(), user, get_kind(problem_solving.ACTIONS))
                   .select_related("owner", "verified_by").order_by("due_on", "pk"))
    whys = dict(enumerate(nc.whys(), start=1))
    closed = nc.status == NonconformanceStatus.CLOSED
    record_fields = check_record_fields(user) if actions else {}
    may_verify = _verifier(user)
    return {
        "nc": nc, "steps": steps(nc), "problems": problems or {},
        **step_rights(nc, user),
        "open": nc.status not in problem_solving.FINISHED,
        "closed": closed,
        "whys": [{"number": n, "why": whys.get(n, ("", ""))[0],
                  "because": whys.get(n, ("", ""))[1]} for n in WHY_LINES],
        "cause_options": CauseCategory.choices,
        "actions": [{
            "obj": a, "overdue": problem_solving.is_overdue(a, today),
            "judged": a.status in ("effective", "ineffective"),
            "check_form": given.get(f"check:{a.external_id}") or check_form(a, None, record_fields),
            "check_open": f"check:{a.external_id}" in given,
            "may_verify": may_verify(a),
        } for a in actions],
        "overdue_count": sum(problem_solving.is_overdue(a, today) for a in actions),
        "action_form": given.get("action") or action_form(user=user),
        "blockers": [] if closed else _readable_blockers(nc, actions),
        "today": today,
    }
