"""Template helpers for QualityLoop pages."""

from __future__ import annotations

import html

from django import template
from django.utils.safestring import SafeString

from qualityloop.records.accounts.choices import Role
from qualityloop.records.accounts.models import role_of
from qualityloop.services import permissions

register = template.Library()


@register.filter
def role_label(user) -> str:
    """The user's role as people read it, e.g. "Quality manager"; empty without a role."""
    role = role_of(user)
    return str(Role(role).label) if role else ""


@register.filter
def may_write(user, kind) -> bool:
    """Whether the user may create, change and delete records of ``kind`` (permission service)."""
    return permissions.may(user, kind, permissions.Action.WRITE)


@register.filter
def may_create(user, kind) -> bool:
    """Whether the user may create some records of ``kind`` (the "New" button)."""
    return permissions.may(user, kind, permissions.Action.CREATE)


@register.filter
def may_import(user, kind) -> bool:
    """Whether the user may import files of ``kind`` records (the "Import" button)."""
    from qualityloop.web.views.jobs import import_refusal

    return import_refusal(user, kind) is None


@register.filter
def reads_own_unit(user) -> bool:
    """Whether the user reads only their own unit (``QUALITYLOOP_READ_SCOPE=unit``): their unit
    selects offer no "Whole organisation"."""
    return permissions.reading_units(user) is not None


@register.filter
def may_change(user, obj) -> bool:
    """Whether the user may change this record (its "Edit" button)."""
    return permissions.may_object(user, obj, permissions.Action.CHANGE)


@register.filter
def may_delete(user, obj) -> bool:
    """Whether the user may delete this record (its "Delete" button)."""
    return permissions.may_object(user, obj, permissions.Action.DELETE)


@register.filter
def percent(value, digits: int = 1) -> str:
    """A 0-1 fraction as a percentage, or an en dash when undefined."""
    if value is None:
        return "–"
    return f"{100 * value:.{digits}f}%"


@register.filter
def number(value, digits: int = 0) -> str:
    """A number with thousands separators, or an en dash when undefined."""
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


@register.filter
def compact_money(value) -> str:
    """Money in a short form: 1.2M, 350k."""
    if value is None:
        return "–"
    for size, suffix in ((1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:,.1f}{suffix}"
    return f"{value:,.0f}"


@register.simple_tag
def record_rows(rows) -> SafeString:
    """The body rows of a record table (``{"url": ..., "cells": [Cell, ...]}`` each): the first
    cell links to the record, a reference cell to the record it names.

    Built here rather than by a template loop: 50 rows of 8 cells through the template engine
    (or through ``format_html``) were half the CPU of a record list page."""
    return SafeString("\n".join(f"<tr>{_cells(row)}</tr>" for row in rows))


def _cells(row) -> str:
    shown = []
    for position, cell in enumerate(row["cells"]):
        text = _escaped(cell.text)
        if position == 0:
            shown.append(f'<td><a href="{_escaped(row["url"])}">{text}</a></td>')
        elif cell.url:
            shown.append(f'<td><a class="ref" href="{_escaped(cell.url)}">{text}</a></td>')
        else:
            shown.append(f"<td>{text}</td>")
    return "".join(shown)


def _escaped(value) -> str:
    """As the template engine would show it: safe text as it is, anything else escaped."""
    if hasattr(value, "__html__"):
        return value.__html__()
    return html.escape(str(value))
