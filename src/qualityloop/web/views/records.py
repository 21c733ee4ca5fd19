"""Record pages for every record kind: one generic list view and one generic detail view.

Both are driven by ``qualityloop.services.record_kinds.KINDS``: a new record kind gets its pages
the day it is added to the registry.
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.db import models
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import get_script_prefix, reverse
from django.utils.http import urlencode
from simple_history.utils import get_m2m_reverse_field_name

from qualityloop.records.base import external_ids, linked_pks, pks_of_link_rows
from qualityloop.services import metrics, permissions
from qualityloop.services.record_kinds import KINDS, Column, RecordKind, get_kind, kind_for_model
from qualityloop.web.views import panels
from qualityloop.web.views.nc_workflow import workflow_context

PAGE_SIZE = 50
LIST_COLUMNS = 8
MANY_SHOWN = 30
HISTORY_SHOWN = 50


@dataclass(frozen=True)
class Cell:
    """A value as shown on a page, with the address of the record it refers to (if any)."""

    text: str
    url: str = ""


def record_url(obj: models.Model) -> str:
    """The detail page of a record, or '' when its type has no record kind."""
    kind = kind_for_model(type(obj))
    if kind is None:
        return ""
    return _detail_url(get_script_prefix(), kind.name, obj.external_id)  # type: ignore[attr-defined]


@lru_cache(maxsize=50_000)
def _detail_url(prefix: str, kind_name: str, external_id: str) -> str:
    """Remembered: a list page links every row and reference (``reverse`` is a tenth of its
    time). ``prefix`` is in the key because ``reverse`` puts the script prefix in front."""
    return reverse("record-detail", args=[kind_name, external_id])


def _kind_or_404(name: str) -> RecordKind:
    try:
        return get_kind(name)
    except ValueError:
        raise Http404(f"No record kind called {name!r}") from None


def kind_title(kind: RecordKind) -> str:
    plural = str(kind.model._meta.verbose_name_plural)
    return plural[:1].upper() + plural[1:]


def _plain(value: Any) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | float):
        return f"{value:,.2f}"
    return str(value)


def cell(obj: models.Model, column: Column) -> Cell:
    """One field of one record as shown on a page."""
    if column.is_reference:
        target = getattr(obj, column.name)
        return Cell(str(target), record_url(target)) if target else Cell("–")
    if column.choices:
        value = getattr(obj, column.name)
        return Cell(_plain(_choice_labels(type(obj), column.name).get(value, value)))
    return Cell(_plain(getattr(obj, column.name)))


@cache
def _choice_labels(model: type[models.Model], name: str) -> dict[Any, Any]:
    """A choice field's labels by value (what ``get_FOO_display()`` shows; it rebuilds this
    mapping on every call, 400 times a list page)."""
    return dict(model._meta.get_field(name).flatchoices)


def many_cells(obj: models.Model, column: Column) -> tuple[list[Cell], int]:
    """The first records of a many-to-many field as links, and how many there are in all."""
    related = getattr(obj, column.name)
    shown = [Cell(str(o), record_url(o)) for o in related.all()[:MANY_SHOWN]]
    return shown, related.count()


# List --------------------------------------------------------------------------------------


def references(kind: RecordKind) -> list[str]:
    """The kind's single references, to load with the record (one query, not one each)."""
    return [c.name for c in kind.columns if c.is_reference]


def list_columns(kind: RecordKind) -> list[Column]:
    """The columns a list shows: the id, the name or title, then choices, dates and references."""
    candidates = [
        c for c in kind.columns
        if not c.is_multi_reference and not isinstance(c.field, models.TextField)
        and c.name != "external_id"
    ]

    first_date = next(
        (c.name for c in candidates if isinstance(c.field, models.DateField)), None
    )

    def rank(c: Column) -> int:
        if c.name in {"name", "title"}:
            return 0
        if c.name in {"status", "state"}:
            return 1
        if (c.is_reference and c.required) or c.name == first_date:
            return 2
        if c.choices:
            return 3
        if isinstance(c.field, models.DateField):
            return 4
        return 5 if c.is_reference else 6

    chosen = sorted(candidates, key=rank)[: LIST_COLUMNS - 1]
    order = {c.name: i for i, c in enumerate(kind.columns)}
    return [kind.column("external_id"), *sorted(chosen, key=lambda c: order[c.name])]


def search_fields(kind: RecordKind) -> list[str]:
    """Text columns searched by ``?q=``: the external id and short text fields."""
    return [
        c.name for c in kind.columns
        if isinstance(c.field, models.CharField) and not c.choices and not c.is_reference
    ]


def _filters(kind: RecordKind, params) -> tuple[Q, list[dict]]:
    """Filters from the query string: a choice value, or a referenced record's external id."""
    condition, active = Q(), []
    for column in kind.columns:
        value = params.get(column.name, "").strip()
        if not value:
            continue
        if column.choices and value in {str(v) for v, _ in column.choices}:
            condition &= Q(**{column.name: value})
            label = dict((str(v), lbl) for v, lbl in column.choices)[value]
        elif column.is_reference or column.is_multi_reference:
            condition &= Q(**{f"{column.name}__external_id": value})
            label = value
        else:
            continue
        remaining = {k: v for k, v in params.items() if k not in {column.name, "page"}}
        active.append({
            "name": column.field.verbose_name, "label": label,
            "remove": "?" + urlencode(remaining),
        })
    return condition, active


def _search(kind: RecordKind, query: str) -> Q:
    condition = Q()
    for name in search_fields(kind):
        condition |= Q(**{f"{name}__icontains": query})
    return condition


def _choice_filters(kind: RecordKind, params) -> list[dict]:
    return [
        {
            "name": c.name, "label": c.field.verbose_name,
            "options": [(str(v), lbl) for v, lbl in c.choices],
            "selected": params.get(c.name, ""),
        }
        for c in kind.columns if c.choices and not c.is_reference
    ]


def _ordering(kind: RecordKind) -> list[str]:
    """The model's ordering plus the primary key, in the same direction as the last key so that
    a single-column index (on order dates, say) still serves the sort of millions of rows."""
    ordering = [str(key) for key in kind.model._meta.ordering or ["-pk"]]
    if ordering[-1].lstrip("-") in {"pk", "id"}:
        return ordering
    return [*ordering, "-pk" if ordering[-1].startswith("-") else "pk"]


def _page(records: models.QuerySet, number: Any, related: list[str]) -> Page:
    """One page of ``records``: the page's primary keys first, then its records with their
    references. A deep page of millions of orders skips rows of the index alone; skipping
    rows of the query with its joins took half a second at page 500."""
    page = Paginator(records.values_list("pk", flat=True), PAGE_SIZE).get_page(number)
    pks = list(page.object_list)
    found = records.model._default_manager.select_related(*related).in_bulk(pks)
    page.object_list = [found[pk] for pk in pks if pk in found]
    return page


@login_required
def record_list(request: HttpRequest, kind_name: str) -> HttpResponse:
    """Records of one kind with search, choice filters, reference filters and pagination."""
    kind = _kind_or_404(kind_name)
    columns = list_columns(kind)
    query = request.GET.get("q", "").strip()
    condition, active_filters = _filters(kind, request.GET)
    records = permissions.restrict(kind.model.objects.all(), request.user, kind).filter(condition)
    records, named = panels.named_filter(kind, request.GET, records)  # ?attention=...
    active_filters += named
    if query:
        records = records.filter(_search(kind, query))
    if any(c.is_multi_reference for c in kind.columns if c.name in request.GET):
        records = records.distinct()
    page = _page(records.order_by(*_ordering(kind)), request.GET.get("page"),
                 [c.name for c in columns if c.is_reference])
    rows = [
        {"url": record_url(obj), "cells": [cell(obj, c) for c in columns]}
        for obj in page.object_list
    ]
    columns, rows = panels.list_extras(kind, columns, rows, page.object_list)
    keep = {k: str(v) for k, v in request.GET.items() if k != "page"}
    context = {
        "kind": kind, "title": kind_title(kind), "columns": columns, "rows": rows, "page": page,
        "query": query, "choice_filters": _choice_filters(kind, request.GET),
        "active_filters": active_filters, "page_query": urlencode(keep),
        "searchable": ", ".join(search_fields(kind)),
        "noun": kind.model._meta.verbose_name,
    }
    template = "qualityloop/_record_table.html" if request.htmx else "qualityloop/record_list.html"  # type: ignore[attr-defined]
    return render(request, template, context)


@login_required
def record_index(request: HttpRequest) -> HttpResponse:
    """Every record kind with how many records it holds."""
    kinds = [
        {"kind": k, "title": kind_title(k),
         "count": permissions.restrict(k.model.objects.all(), request.user, k).count(),
         "url": reverse("record-list", args=[k.name])}
        for k in KINDS
    ]
    return render(request, "qualityloop/record_index.html", {"kinds": kinds})


# Detail ------------------------------------------------------------------------------------


# Columns a kind's own part of the detail page shows instead (the NC workflow: the 5 whys).
SHOWN_ELSEWHERE = {
    "nonconformances": {f"{word}_{n}" for word in ("why", "because") for n in range(1, 6)},
}


def _fields(obj: models.Model, kind: RecordKind, user: Any = None) -> list[dict]:
    shown = []
    elsewhere = SHOWN_ELSEWHERE.get(kind.name, set())
    narrowed = user is not None and permissions.reading_units(user) is not None
    for column in kind.columns:
        if column.name in elsewhere:
            continue
        entry: dict[str, Any] = {"label": column.field.verbose_name, "many": None}
        if column.is_multi_reference:
            entry["many"], entry["total"] = many_cells(obj, column)
        else:
            entry["cell"] = cell(obj, column)
            if narrowed and column.is_reference:
                entry["cell"] = _linked_if_readable(entry["cell"], getattr(obj, column.name),
                                                    user)
            entry["long"] = isinstance(column.field, models.TextField)
        shown.append(entry)
    for name in ("created_at", "updated_at"):
        field = obj._meta.get_field(name)
        shown.append({"label": field.verbose_name, "many": None,
                      "cell": Cell(_plain(getattr(obj, name)))})
    return shown


def _linked_if_readable(shown: Cell, target: models.Model | None, user: Any) -> Cell:
    """A reference to a record the user may not read (under unit reading) names it without a
    link: its page would answer 404."""
    kind = kind_for_model(type(target)) if target is not None else None
    if kind is None or not shown.url:
        return shown
    found = kind.model._default_manager.filter(pk=target.pk)  # type: ignore[union-attr]
    return shown if permissions.restrict(found, user, kind).exists() else Cell(shown.text)


def _related(obj: models.Model, user: Any = None) -> list[dict]:
    """Counts of the records that refer to this one and ``user`` may read, each linked to a
    filtered list (without a user: every record, as the delete page tells what blocks it)."""
    found = []
    for relation in obj._meta.related_objects:
        other = kind_for_model(relation.related_model)
        if other is None:
            continue
        field_name = relation.field.name
        referring = other.model._default_manager.all()
        if user is not None:
            referring = permissions.restrict(referring, user, other)
        count = referring.filter(**{field_name: obj}).count()
        if not count:
            continue
        names = other.model._meta.verbose_name if count == 1 else kind_title(other)
        found.append({
            "title": str(names).lower(), "via": relation.field.verbose_name, "count": count,
            "url": reverse("record-list", args=[other.name]) + "?"
            + urlencode({field_name: obj.external_id}),  # type: ignore[attr-defined]
        })
    return found


class _Referred:
    """The records a history refers to by id, fetched together at the end: one query per
    model instead of one per value (a long history would otherwise cost a query per change)."""

    def __init__(self) -> None:
        self.wanted: dict[Any, set] = {}

    def ask(self, model: Any, pk: Any) -> tuple[Any, ...]:
        self.wanted.setdefault(model, set()).add(pk)
        return (self, model, pk)  # a placeholder, replaced by text()

    def texts(self, entries: list[dict]) -> None:
        """Replace every placeholder in ``entries`` by the record's name."""
        found = {model: model._default_manager.in_bulk(pks) for model, pks in self.wanted.items()}
        for entry in entries:
            for change in entry["changes"]:
                for side in ("old", "new"):
                    value = change[side]
                    if isinstance(value, tuple) and value and value[0] is self:
                        target = found[value[1]].get(value[2])
                        change[side] = str(target) if target else f"#{value[2]} (deleted)"


def _value_text(field: Any, value: Any, referred: _Referred) -> Any:
    """A historical value as text; foreign keys are stored as ids and shown as the record
    (through ``referred``)."""
    if value is None or value == "":
        return "–"
    if field.is_relation and field.related_model is not None:
        return referred.ask(field.related_model, value)
    if field.choices:
        return str(dict(field.choices).get(value, value))
    return _plain(value)


def _links_text(field: Any, rows: list[dict], _referred: _Referred | None = None) -> str:
    """The records a version was linked to, as external ids ("C-1; C-2")."""
    ids = sorted(external_ids(field.related_model, pks_of_link_rows(field, rows)))
    return "; ".join(ids) or "–"


def _field_order(obj: models.Model):
    """Sort key putting changes in the order the fields are declared (as on the page)."""
    order = {f.name: i for i, f in enumerate(obj._meta.get_fields())}
    return lambda change: order.get(change.field, len(order))


def _initial_values(obj: models.Model, version: Any, referred: _Referred) -> list[dict]:
    """The values a record was created with (every field given a value, links included)."""
    shown = []
    for field in obj._meta.concrete_fields:
        value = getattr(version, field.attname)
        if field.name in ("id", "created_at", "updated_at") or value in (None, ""):
            continue
        shown.append({"field": field.verbose_name, "old": "–",
                      "new": _value_text(field, value, referred)})
    for field in obj._meta.many_to_many:
        pks = linked_pks(version, field.name)
        if pks:
            ids = "; ".join(sorted(external_ids(field.related_model, pks)))
            shown.append({"field": field.verbose_name, "old": "–", "new": ids})
    return shown


@dataclass(frozen=True)
class _Change:
    field: str
    old: Any
    new: Any


def _link_rows(obj: models.Model, versions: list[Any]) -> dict[tuple[str, Any], list[dict]]:
    """The many-to-many rows of every version by (field, version), one query per link field:
    ``diff_against`` reads them with two queries per field for every pair of versions."""
    found: dict[tuple[str, Any], list[dict]] = {}
    for field in obj._meta.many_to_many if versions else []:
        through = getattr(versions[0], field.name).model
        names = [f.name for f in through._meta.fields
                 if f.editable and f.name not in ("id", "m2m_history_id", "history")]
        rows = (through._default_manager.filter(history__in=[v.pk for v in versions])
                .order_by(get_m2m_reverse_field_name(field)).values("history_id", *names))
        for row in rows:
            found.setdefault((field.name, row.pop("history_id")), []).append(row)
    return found


def _changes(obj: models.Model, newer: Any, older: Any,
             links: dict[tuple[str, Any], list[dict]]) -> list[Any]:
    """What ``newer`` changed against ``older``: fields by ``diff_against``, links from
    ``links`` (the same rows it would compare)."""
    link_names = [f.name for f in obj._meta.many_to_many]
    found: list[Any] = list(newer.diff_against(older, excluded_fields=link_names).changes)
    for name in link_names:
        before, after = links.get((name, older.pk), []), links.get((name, newer.pk), [])
        if before != after:
            found.append(_Change(name, before, after))
    return found


def history_entries(obj: models.Model) -> list[dict]:
    """The record's history, newest first: who, when, what kind of change, fields old -> new."""
    if not hasattr(obj, "history"):
        return []
    versions = list(obj.history.select_related("history_user")[: HISTORY_SHOWN + 1])
    entries: list[dict[str, Any]] = []
    referred = _Referred()
    links = _link_rows(obj, versions)
    for newer, older in zip(versions, [*versions[1:], None], strict=False):
        if len(entries) == HISTORY_SHOWN:
            break
        changes = []
        if older is None and newer.history_type == "+":
            changes = _initial_values(obj, newer, referred)
        elif older is not None:
            for change in sorted(_changes(obj, newer, older, links), key=_field_order(obj)):
                field = obj._meta.get_field(change.field)
                shown = _links_text if field.many_to_many else _value_text
                changes.append({
                    "field": field.verbose_name,
                    "old": shown(field, change.old, referred),
                    "new": shown(field, change.new, referred),
                })
        entries.append({
            "when": newer.history_date, "who": newer.history_user,
            "type": {"+": "Created", "~": "Changed", "-": "Deleted"}[newer.history_type],
            "reason": newer.history_change_reason or "", "changes": changes,
        })
    referred.texts(entries)
    return entries


def _customer_section(customer, user: Any) -> dict:
    def readable(name: str, records: models.QuerySet) -> list:
        return list(permissions.restrict(records, user, get_kind(name))[:10])

    return {
        "orders": metrics.customer_orders_summary(customer),
        "complaints": readable("complaints", customer.complaints.all()),
        "feedback": readable("feedback", customer.feedback.all()),
        "nonconformances": readable("nonconformances", customer.nonconformances.all()),
    }


@login_required
def record_detail(request: HttpRequest, kind_name: str, external_id: str) -> HttpResponse:
    """All fields of one record, the records that refer to it, and its full history."""
    kind = _kind_or_404(kind_name)
    visible = permissions.restrict(kind.model.objects.all(), request.user, kind)
    obj = get_object_or_404(visible.select_related(*references(kind)), external_id=external_id)
    context = detail_context(request, kind, obj)
    if kind.name == "nonconformances":
        context["workflow"] = workflow_context(obj, request.user)  # type: ignore[arg-type]
    context.update(panels.detail_panels(kind.name, obj, request.user))
    return render(request, "qualityloop/record_detail.html", context)


def detail_context(request: HttpRequest, kind: RecordKind, obj: models.Model) -> dict[str, Any]:
    """What the detail page of any record shows (pages of one kind add their own parts)."""
    return {
        "kind": kind, "title": kind_title(kind), "object": obj,
        "fields": _fields(obj, kind, request.user), "related": _related(obj, request.user),
        "history": history_entries(obj), "has_history": hasattr(obj, "history"),
        "customer": _customer_section(obj, request.user) if kind.name == "customers" else None,
    }

