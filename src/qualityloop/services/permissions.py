"""Who may do what with records: the one place the web pages and the API ask.

One table, :data:`POLICY`, says for every record kind, action and role how far the role reaches:

* ``ALL``: every record of the kind;
* ``UNIT``: records of the user's own org unit (``Profile.org_unit``) and the units below it;
  a record's unit is found through :data:`UNIT_PATHS` (its ``org_unit``, or its customer's
  serving unit, ...);
* ``ASSIGNED``: records assigned to the user's own person (``Person.user``), e.g. the corrective
  actions they own;
* ``NONE``: nothing.

Actions are ``read``, ``create``, ``change``, ``delete`` and workflow steps (``close``,
``approve``, ``verify``, ...). A step a kind's table does not name counts as ``change``. A user
without a role may do nothing. ``docs/roles.md`` shows the table as a matrix; a test checks that
the two agree.

Kind-level questions (:func:`may`, :func:`check`: "may this role create nonconformances at all?")
answer yes when the role reaches any record. Record-level questions (:func:`may_object`,
:func:`check_object`) look at the record; writers check a record before and after a change (a
unit lead may not move a record out of their unit).

A request made with an API token scoped to a lower role (``ApiToken.role``) is judged by that
role's cells, each narrowed to what the user's own role reaches (:func:`scope_of`).

Reading is open to every role unless the deployment sets ``QUALITYLOOP_READ_SCOPE=unit``
(``settings.READ_SCOPE``): then unit leads and staff read the records of their unit and the units
below it, the records assigned to them and those they raised (:func:`read_scope`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

from qualityloop.records.accounts.choices import WRITE_ROLES, Role
from qualityloop.records.accounts.models import Profile, role_of, roles_of
from qualityloop.services.record_kinds import RecordKind, kind_for_model


class Action(StrEnum):
    READ = "read"
    WRITE = "write"
    """Kind level only: any of create, change, delete or a workflow step."""
    CREATE = "create"
    CHANGE = "change"
    DELETE = "delete"
    CLOSE = "close"
    APPROVE = "approve"
    VERIFY = "verify"


class Scope(StrEnum):
    ALL = "all"
    UNIT = "unit"
    ASSIGNED = "assigned"
    NONE = "none"


class NotAllowed(PermissionError):
    """The user may not do this; the message says why, in words a user understands."""


# ---------------------------------------------------------------------------------------------
# The policy table

A, U, OWN, N = Scope.ALL, Scope.UNIT, Scope.ASSIGNED, Scope.NONE
BASIC_ACTIONS = (Action.CREATE, Action.CHANGE, Action.DELETE)
MANAGERS = (Role.ADMIN, Role.TOP_MANAGEMENT, Role.QUALITY_MANAGER)


def _kind_rules(unit_lead: Mapping[str, Scope] | Scope = N,
                staff: Mapping[str, Scope] | None = None,
                steps: Iterable[str] = ()) -> dict[str, dict[str, Scope]]:
    """The rules of one kind: managers reach every record, the viewer none; ``unit_lead`` is one
    scope for every action or one per action; ``staff`` names the actions staff may take."""
    actions = [*BASIC_ACTIONS, *steps]
    lead = unit_lead if isinstance(unit_lead, Mapping) else dict.fromkeys(actions, unit_lead)
    rules: dict[str, dict[str, Scope]] = {}
    for action in actions:
        rules[action] = {
            **dict.fromkeys(MANAGERS, A),
            Role.UNIT_LEAD: lead.get(action, N),
            Role.STAFF: (staff or {}).get(action, N),
            Role.VIEWER: N,
        }
    return rules


RAISE: dict[str, Scope] = {Action.CREATE: A}
"""Staff raise nonconformances and complaints (in any unit: a problem is raised where seen)."""
WORK_ON_OWN: dict[str, Scope] = {Action.CHANGE: OWN}
"""Staff edit and complete the actions assigned to them."""
RAISE_AND_HANDLE: dict[str, Scope] = {**RAISE, **WORK_ON_OWN}
"""Staff raise complaints and work the ones they handle through their steps (closing is a
unit lead's or a manager's)."""

POLICY: dict[str, dict[str, dict[str, Scope]]] = {
    "org-units": _kind_rules(),
    "people": _kind_rules(U),
    "policies": _kind_rules(),
    "strategies": _kind_rules(),
    "objectives": _kind_rules(U),
    "objective-measurements": _kind_rules(U),
    "training-courses": _kind_rules(),
    "training-records": _kind_rules(U),
    "customers": _kind_rules(U),
    "requirements": _kind_rules(U),
    "requirement-measurements": _kind_rules(U),
    "orders": _kind_rules(U),
    "feedback": _kind_rules(U),
    "complaints": _kind_rules(U, staff=RAISE_AND_HANDLE, steps=[Action.CLOSE]),
    "design-projects": _kind_rules(U),
    "design-reviews": _kind_rules(U),
    "nonconformances": _kind_rules(U, staff=RAISE, steps=[Action.CLOSE]),
    "actions": _kind_rules(U, staff=WORK_ON_OWN, steps=[Action.VERIFY]),
    # A unit lead approves only low-risk changes of their unit (services.change_control).
    "change-requests": _kind_rules({Action.CREATE: U, Action.CHANGE: U, Action.DELETE: U,
                                    Action.APPROVE: U}, steps=[Action.APPROVE]),
    "management-reviews": _kind_rules(),
    "process-measurements": _kind_rules(U),
}
"""Kind name -> action -> role -> scope. Reading is open to every role (see :func:`read_scope`).
"""

UNIT_PATHS: dict[str, tuple[str, ...]] = {
    "people": ("org_unit",),
    "objectives": ("org_unit",),
    "objective-measurements": ("objective__org_unit",),
    "training-records": ("person__org_unit",),
    "customers": ("serving_unit",),
    "requirements": ("customer__serving_unit",),
    "requirement-measurements": ("customer__serving_unit", "requirement__customer__serving_unit"),
    "orders": ("customer__serving_unit",),
    "feedback": ("customer__serving_unit",),
    "complaints": ("org_unit", "customer__serving_unit"),
    "design-projects": ("org_unit",),
    "design-reviews": ("project__org_unit",),
    "nonconformances": ("org_unit",),
    "actions": ("nonconformance__org_unit",),
    "change-requests": ("org_unit",),
    "process-measurements": ("org_unit",),
}
"""How a record of a kind finds its org unit: the first path that is set wins. A record without a
unit (a segment requirement, a management-review action) is outside every unit lead's reach."""

ASSIGNED_PATHS: dict[str, str] = {"actions": "owner", "complaints": "handler"}
"""The person a record is assigned to (``Person.user`` links the person to a login)."""

STEP_STATUSES: dict[str, dict[str, Action]] = {
    "nonconformances": {"closed": Action.CLOSE},
    "complaints": {"closed": Action.CLOSE},
    "actions": {"effective": Action.VERIFY, "ineffective": Action.VERIFY},
    "change-requests": {"approved": Action.APPROVE, "rejected": Action.APPROVE},
}
"""Statuses that are a workflow step's to set: a plain write (form, API, import) that moves a
record into one needs that step's permission too, not only ``change``."""

RAISED_PATHS: dict[str, str] = {"nonconformances": "detected_by"}
"""The person who raised a record, where the record says so. Records created by a user (their
history's first entry) count as raised by them as well."""

RAISED_KINDS = frozenset({"nonconformances", "complaints"})
"""The kinds staff raise (create beyond their unit): read by who raised them, under unit reading."""

UNIT_READERS = frozenset({Role.UNIT_LEAD, Role.STAFF})
"""The roles whose reading narrows to their unit under ``READ_SCOPE = "unit"``."""

READ_SCOPES = ("organisation", "unit")
"""The values of ``QUALITYLOOP_READ_SCOPE`` (or ``settings.READ_SCOPE``, which wins)."""


def rule(kind: RecordKind | str, action: Action | str, role: str | None) -> Scope:
    """How far ``role`` reaches for ``action`` on records of ``kind`` (the table's cell).

    Parameters
    ----------
    kind
        A record kind or its name.
    action
        ``read``, ``create``, ``change``, ``delete`` or a workflow step; a step the kind's table
        does not name counts as ``change``.
    role
        A role value, or ``None`` for a user without a role.

    Returns
    -------
    Scope
    """
    if role is None or role not in Role.values:
        return N
    if action == Action.READ:
        return read_scope(role, kind)
    rules = _rules_of(kind)
    return rules.get(str(action), rules[Action.CHANGE])[role]


def read_scope(role: str, kind: RecordKind | str) -> Scope:
    """How far ``role`` may read records of ``kind``.

    Every role reads every record, unless the deployment reads by unit (``settings.READ_SCOPE``
    is ``"unit"``): then :data:`UNIT_READERS` (unit leads, staff) read ``Scope.UNIT`` of the
    kinds that belong to a unit (:data:`UNIT_PATHS`), which for reading means their unit and the
    units below it, plus the records assigned to them (:data:`ASSIGNED_PATHS`), those they
    raised (:data:`RAISED_PATHS`, :data:`RAISED_KINDS`) and their own person record.
    Organisation-wide records (the policy, strategies, courses, the org tree, management
    reviews) stay open to all. :func:`restrict` and :func:`may_object` follow; pages that list
    or count related records go through :func:`restrict` too.
    """
    if role in UNIT_READERS and reads_by_unit() and _name(kind) in UNIT_PATHS:
        return U
    return A


def reads_by_unit() -> bool:
    """Whether the deployment narrows reading to units: ``settings.READ_SCOPE``, else the
    environment's ``QUALITYLOOP_READ_SCOPE``, is ``"unit"`` (default ``"organisation"``).

    Raises
    ------
    ImproperlyConfigured
        For a value other than ``organisation`` or ``unit``.
    """
    value = getattr(settings, "READ_SCOPE", None) or os.environ.get(
        "QUALITYLOOP_READ_SCOPE", "organisation")
    if value not in READ_SCOPES:
        raise ImproperlyConfigured(f"QUALITYLOOP_READ_SCOPE is {value!r}; expected "
                                   f"{' or '.join(READ_SCOPES)}")
    return value == "unit"


def reading_units(user) -> list[int] | None:
    """The org units whose figures ``user`` may see on pages that aggregate across units
    (the dashboard, retention, SPC...): ``None`` for every unit, else the primary keys of their
    unit and the units below it (empty without a unit)."""
    if role_of(user) in UNIT_READERS and reads_by_unit():
        return units_of(user)
    return None


def reading_unit(user) -> Any:
    """The org unit whose figures a user who reads only their own unit gets (their own; its
    figures cover the units below it too), or ``None`` for a user who reads every unit.

    Raises
    ------
    NotAllowed
        For such a user without an org unit: there is no figure they may see.
    """
    from qualityloop.records.organisation.models import OrgUnit

    reach = reading_units(user)
    if reach is None:
        return None
    if not reach:
        raise NotAllowed(f"user {_username(user)!r} reads only their own org unit and has none; "
                         "ask an administrator to set one")
    return OrgUnit.objects.get(pk=reach[0])  # units_of lists the user's own unit first


def step_action(kind: RecordKind | str, step: str) -> str:
    """The table's action for a workflow step of ``kind``: the step itself when the table names
    it (``close``; ``effectiveness-check`` is ``verify``), otherwise ``change`` (``containment``
    changes the record)."""
    step = STEP_ALIASES.get(step, step)
    return step if step in _rules_of(kind) else Action.CHANGE


STEP_ALIASES = {"effectiveness-check": Action.VERIFY, "reject": Action.APPROVE}
"""Workflow steps whose API path names them differently from the table."""


def actions_of(kind: RecordKind | str) -> list[str]:
    """The actions the table names for ``kind`` (``read`` first)."""
    return [Action.READ, *_rules_of(kind)]


def _rules_of(kind: RecordKind | str) -> dict[str, dict[str, Scope]]:
    # A kind added to the registry but not to the table is left to the managers until it is
    # (tests/test_permission_matrix.py fails meanwhile).
    return POLICY.get(_name(kind)) or _kind_rules()


# ---------------------------------------------------------------------------------------------
# Kind level


def may(user, kind: RecordKind, action: Action | str) -> bool:
    """Whether ``user`` may ``action`` some records of ``kind`` ("write": create, change, delete
    or a step)."""
    return _refusal(user, kind, str(action)) is None


def check(user, kind: RecordKind, action: Action | str) -> None:
    """Raise :class:`NotAllowed` unless ``user`` may ``action`` some records of ``kind``.

    Parameters
    ----------
    user
        A Django user (anonymous users have no role).
    kind
        The record kind asked for.
    action
        ``"read"``, ``"write"`` (any change), ``"create"``, ``"change"``, ``"delete"`` or a
        workflow step such as ``"close"``.
    """
    reason = _refusal(user, kind, str(action))
    if reason is not None:
        raise NotAllowed(reason)


def may_change_records(user) -> bool:
    """Whether the user's role allows changing records at all (the viewer role does not)."""
    return role_of(user) in WRITE_ROLES


SURVEY_ROLES = frozenset({Role.ADMIN, Role.TOP_MANAGEMENT, Role.QUALITY_MANAGER})


def may_run_surveys(user) -> bool:
    """Whether the user may open and close survey rounds and import their answers."""
    return role_of(user) in SURVEY_ROLES


def check_run_surveys(user) -> None:
    """Raise :class:`NotAllowed` unless the user may open and close survey rounds."""
    if not may_run_surveys(user):
        name = getattr(user, "username", "") or "anonymous"
        raise NotAllowed(f"user {name!r} may not open or close survey rounds; that takes the "
                         "role admin, top-management or quality-manager")


def may_read_audit(user) -> bool:
    """Whether the user may read the audit log (every record's history across kinds): the roles
    that reach every record, :data:`MANAGERS` (admin, top-management, quality-manager)."""
    return role_of(user) in MANAGERS


def _refusal(user, kind: RecordKind, action: str) -> str | None:
    own, role = roles_of(user)
    name = _username(user)
    if role is None:
        return f"user {name!r} has no role; ask an administrator to give you one"
    wanted = _write_actions(kind) if action == Action.WRITE else [action]
    if any(_scope(kind, one, own, role) is not N for one in wanted):
        return None
    label = Role(role).label if role in Role.values else role
    token = "" if own == role else f" through an API token limited to it (their own: {own!r})"
    who = f"user {name!r} has the role {role!r} ({label}){token}"
    if action in (Action.WRITE, Action.CREATE, Action.CHANGE, Action.DELETE) and (
            role not in WRITE_ROLES or not any(_scope(kind, one, own, role) is not N
                                               for one in _write_actions(kind))):
        return f"{who} and may read {kind.name} but not create, change or delete them"
    return f"{who} and may not {_verb(action)} {kind.name}"


def scope_of(user, kind: RecordKind | str, action: Action | str) -> Scope:
    """How far ``user`` reaches for ``action`` on records of ``kind``: the table's cell for the
    role they act with (:func:`role_of`). With an API token scoped below their own role, that
    cell is narrowed to what their own role reaches, so a token never does more than its user.

    Parameters
    ----------
    user
        A Django user (with ``token_role`` set when the request came with an API token).
    kind
        A record kind or its name.
    action
        As for :func:`rule`.

    Returns
    -------
    Scope
        Where the token's and the user's cells differ and neither reaches all, ``Scope.NONE``
        (a unit lead's staff-scoped token does not work on assigned records outside the unit).
    """
    return _scope(kind, action, *roles_of(user))


def _scope(kind: RecordKind | str, action: Action | str, own: str | None,
           acting: str | None) -> Scope:
    scope = rule(kind, action, acting)
    if own == acting:
        return scope
    return _meet(scope, rule(kind, action, own))


def _meet(one: Scope, other: Scope) -> Scope:
    """The records within both scopes, as a scope (a mixed unit-and-assigned reach is none)."""
    if one is other or other is A:
        return one
    return other if one is A else N


def _write_actions(kind: RecordKind) -> list[str]:
    return [a for a in actions_of(kind) if a != Action.READ]


def _verb(action: str) -> str:
    plain = {"create", "change", "delete"}
    return action if action in plain else f"{action} (a workflow step of)"


# ---------------------------------------------------------------------------------------------
# Record level


def may_object(user, obj: models.Model, action: Action | str) -> bool:
    """Whether ``user`` may ``action`` this one record (see :func:`check_object`)."""
    return _object_refusal(user, obj, str(action)) is None


def check_object(user, obj: models.Model, action: Action | str) -> None:
    """Raise :class:`NotAllowed` unless ``user`` may ``action`` the record ``obj``.

    Parameters
    ----------
    user
        A Django user.
    obj
        A record of a registered kind (saved or not: a new record is judged by its values).
    action
        ``"read"``, ``"create"``, ``"change"``, ``"delete"`` or a workflow step (``"close"``,
        ``"approve"``, ``"verify"``; other steps count as ``"change"``).

    Notes
    -----
    Writers call it before a change (on the stored record) and again after it, inside the
    transaction, so a unit lead cannot move a record into another unit and staff cannot hand
    their action to someone else.
    """
    reason = _object_refusal(user, obj, str(action))
    if reason is not None:
        raise NotAllowed(reason)


def check_written(user, obj: models.Model, action: Action | str,
                  status_before: str | None = None) -> None:
    """:func:`check_object` for a record just written by a plain create or change, inside the
    writer's transaction, plus the workflow step its new status stands for (:data:`STEP_STATUSES`:
    setting a complaint's status to closed is closing it). ``status_before`` is the stored status
    before a change (None for a create)."""
    check_object(user, obj, action)
    kind = kind_for_model(type(obj))
    status = getattr(obj, "status", None)
    step = STEP_STATUSES.get(kind.name if kind else "", {}).get(status or "")
    if step is not None and status != status_before:
        check_object(user, obj, step)


def restrict(queryset: models.QuerySet, user, kind: RecordKind,
             action: Action | str = Action.READ) -> models.QuerySet:
    """The records of ``queryset`` that ``user`` may ``action`` (by default: see).

    Reading follows :func:`read_scope` (open to every role unless the deployment reads by unit).
    """
    scope = scope_of(user, kind, str(action))
    if scope is A:
        return queryset
    if scope is N:
        return queryset.none()
    return queryset.filter(_reach(user, kind, scope, str(action)))


def may_read_history(user, kind: RecordKind, external_id: str) -> bool:
    """Whether ``user`` may read the history of the record of ``kind`` called ``external_id``:
    the record's history when they may read the record; a deleted record's history when they
    read every record of the kind (under unit reading its unit is no longer known for sure)."""
    current = kind.model._base_manager.filter(external_id=external_id)
    if current.exists():
        return restrict(current, user, kind).exists()
    return scope_of(user, kind, Action.READ) is A


def units_of(user) -> list[int]:
    """Primary keys of the user's org unit and every unit below it, the user's unit first
    (empty without a unit).

    The user's unit is their profile's (``Profile.org_unit``), else the unit of the person record
    linked to their login (``Person.user``): a staff member entered as a person of a unit, whose
    login was given no unit, reads that unit rather than nothing.
    """
    profile = Profile.objects.filter(user=user).select_related("org_unit").first()
    if profile is None:
        return []
    unit = profile.org_unit
    if unit is None:
        person = person_of(user)
        unit = person.org_unit if person is not None else None
    if unit is None:
        return []
    return [unit.pk, *(below.pk for below in unit.descendants())]


def person_of(user) -> Any:
    """The person record linked to the user's login (``Person.user``), or ``None``."""
    from qualityloop.records.organisation.models import Person

    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return Person.objects.filter(user=user).first()


def _object_refusal(user, obj: models.Model, action: str) -> str | None:
    kind = kind_for_model(type(obj))
    if kind is None:
        raise TypeError(f"{type(obj).__name__} is not a record kind")
    reason = _refusal(user, kind, action)
    if reason is not None:
        return reason
    scope = scope_of(user, kind, action)
    if scope is A or _within(user, kind, obj, scope, action):
        return None
    return _outside(user, kind, obj, action, scope)


def _within(user, kind: RecordKind, obj: models.Model, scope: Scope, action: str) -> bool:
    if action == Action.READ and obj.pk is not None:
        # Reading reaches further than the record's unit (assigned, raised): ask the one
        # condition restrict() uses.
        found = kind.model._base_manager.filter(pk=obj.pk)
        return found.filter(_reach(user, kind, scope, action)).exists()
    if scope is U:
        unit_id = unit_id_of(obj, kind)
        return unit_id is not None and unit_id in units_of(user)
    if scope is OWN:
        person = person_of(user)
        path = ASSIGNED_PATHS.get(kind.name)
        return person is not None and path is not None and (
            getattr(obj, f"{path}_id", None) == person.pk)
    return False


def unit_id_of(obj: models.Model, kind: RecordKind | None = None) -> int | None:
    """The primary key of the org unit a record belongs to (:data:`UNIT_PATHS`), or ``None``."""
    kind = kind or kind_for_model(type(obj))
    for path in UNIT_PATHS.get(kind.name if kind else "", ()):
        *hops, last = path.split("__")
        node: Any = obj
        for hop in hops:
            node = getattr(node, hop, None)
            if node is None:
                break
        if node is not None and getattr(node, f"{last}_id", None) is not None:
            return getattr(node, f"{last}_id")
    return None


def _reach(user, kind: RecordKind, scope: Scope, action: str = Action.CHANGE) -> models.Q:
    """The condition selecting the records within ``scope`` of ``user`` (reading a unit also
    reaches the records assigned to the user and those they raised)."""
    if scope is OWN:
        return _assigned(user, kind)
    condition = in_units(kind, units_of(user))
    if action == Action.READ:
        condition |= _assigned(user, kind) | _raised(user, kind) | _themselves(user, kind)
    return condition


NOTHING = models.Q(pk__in=[])


def in_units(kind: RecordKind, units: list[int]) -> models.Q:
    """The condition selecting the records of ``kind`` that belong to one of ``units`` (primary
    keys), their unit found through :data:`UNIT_PATHS`; nothing for a kind without a unit."""
    condition, earlier_empty = NOTHING, models.Q()
    for path in UNIT_PATHS.get(kind.name, ()):
        condition |= earlier_empty & models.Q(**{f"{path}__in": units})
        earlier_empty &= models.Q(**{f"{path}__isnull": True})
    return condition


def _assigned(user, kind: RecordKind) -> models.Q:
    person = person_of(user)
    path = ASSIGNED_PATHS.get(kind.name)
    if person is None or path is None:
        return NOTHING
    return models.Q(**{path: person})


def _themselves(user, kind: RecordKind) -> models.Q:
    """Everyone reads their own person record, whatever unit it is in."""
    person = person_of(user) if kind.name == "people" else None
    return NOTHING if person is None else models.Q(pk=person.pk)


def _raised(user, kind: RecordKind) -> models.Q:
    if kind.name not in RAISED_KINDS:
        return NOTHING
    history = kind.model.history  # type: ignore[attr-defined]
    created = history.filter(history_type="+", history_user=user).values("id")
    condition = models.Q(pk__in=created)
    person, path = person_of(user), RAISED_PATHS.get(kind.name)
    if person is not None and path is not None:
        condition |= models.Q(**{path: person})
    return condition


def _outside(user, kind: RecordKind, obj: models.Model, action: str, scope: Scope) -> str:
    name = _username(user)
    what = f"{kind.name} {getattr(obj, 'external_id', '') or '(new)'}"
    verb = _verb(action)
    if scope is OWN:
        return (f"user {name!r} may {verb} only {kind.name} assigned to their own person, and "
                f"{what} is not (ask its owner or a quality manager)")
    if not units_of(user):
        return (f"user {name!r} has the role {role_of(user)!r} but is without an org unit; ask "
                "an administrator to set one")
    return (f"user {name!r} may {verb} only {kind.name} of their own unit and the units below "
            f"it, and {what} belongs to another unit")


def _username(user) -> str:
    return getattr(user, "username", "") or "anonymous"


def _name(kind: RecordKind | str) -> str:
    return kind if isinstance(kind, str) else kind.name
