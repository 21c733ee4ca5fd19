"""What the generic record pages add for complaints, objectives and the "needs attention" lists.

The generic list and detail views (``views/records.py``) call these hooks, so the parts specific
to a kind live with that kind's workflow:

- the complaint page gets the ISO 10002 workflow panel, the objective page its status panel,
  the design project page its reviews and escaped defects, the customer page their
  requirements, measured performance and NPS trend;
- the objective list gets a computed status column, the complaint list its service-level flags;
- every list understands ``?attention=<filter>`` (and then ``&unit=<external id>``): the named
  filters of :mod:`qualityloop.services.attention` the dashboard links to.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet
from django.utils.http import urlencode

from qualityloop.records.organisation.models import OrgUnit
from qualityloop.services import attention
from qualityloop.services.record_kinds import RecordKind


def detail_panels(kind_name: str, obj: Any, user: Any) -> dict[str, Any]:
    """Context the detail page of ``obj`` adds for its kind (empty for most kinds)."""
    if kind_name == "complaints":
        from qualityloop.web.views import complaints

        return {"complaint_workflow": complaints.workflow_context(obj, user)}
    if kind_name == "objectives":
        from qualityloop.web.views import objectives

        return {"objective_panel": objectives.panel_context(obj, user)}
    if kind_name == "customers":
        from qualityloop.web.views import customer_page

        return {"customer_panel": customer_page.customer_panel(obj, user)}
    if kind_name == "design-projects":
        from qualityloop.web.views import design

        return {"design_panel": design.project_panel(obj, user)}
    return {}


def named_filter(kind: RecordKind, params: Any, records: QuerySet) -> tuple[QuerySet, list[dict]]:
    """``records`` narrowed by ``?attention=<filter>`` (and ``unit``), with its filter chip."""
    key = params.get(attention.PARAMETER, "").strip()
    found = attention.filter_named(kind.name, key) if key else None
    if found is None:
        return records, []
    unit = _unit(params.get("unit", "").strip())
    narrowed = attention.filtered(kind.name, key, records, unit=unit)
    remaining = {k: v for k, v in params.items() if k not in {attention.PARAMETER, "unit", "page"}}
    label = found.title + (f" in {unit.name}" if unit is not None else "")
    return narrowed, [{"name": "Needs attention", "label": label,
                       "remove": "?" + urlencode(remaining)}]


def _unit(external_id: str) -> OrgUnit | None:
    if not external_id:
        return None
    return OrgUnit.objects.filter(external_id=external_id).first()


def list_extras(kind: RecordKind, columns: list, rows: list[dict],
                objects: Iterable[Any]) -> tuple[list, list[dict]]:
    """Extra computed columns of a kind's list (objectives' status, complaints' timers)."""
    objects = list(objects)
    if kind.name == "objectives" and objects:
        from qualityloop.web.views import objectives

        return objectives.add_status_column(columns, rows, objects)
    if kind.name == "complaints" and objects:
        from qualityloop.web.views import complaints

        return complaints.add_sla_column(columns, rows, objects)
    return columns, rows
