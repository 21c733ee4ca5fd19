"""Create, edit and delete pages for every record kind, generated from the record-kind registry.

Every write goes through :mod:`qualityloop.services.record_writer` (via the generated form), so a
record saved here is validated, linked and recorded in history exactly as by an import or the API.
With HTMX the form is swapped in place (errors next to the fields, no reload); without
JavaScript it is a plain POST and redirect.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.db import models, transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from qualityloop.services import permissions
from qualityloop.services.record_kinds import RecordKind, kind_for_model
from qualityloop.services.record_writer import RowInvalid, delete_record
from qualityloop.web.forms.records import (
    RecordForm,
    is_searchable,
    new_record_values,
    record_form_class,
)
from qualityloop.web.views.edit_conflicts import (
    SEEN_FIELD,
    VERSION_FIELD,
    Conflict,
    conflict_since,
    held,
    opened_on,
)
from qualityloop.web.views.records import _kind_or_404, _related, kind_title, record_url

SEARCH_SHOWN = 12


def refused(request: HttpRequest, reason: str) -> HttpResponse:
    """The 403 page: what was refused and why."""
    return render(request, "qualityloop/forbidden.html", {"reason": reason}, status=403)


def writable_kind(
    request: HttpRequest, kind_name: str, action: str = permissions.Action.CREATE
) -> tuple[RecordKind, HttpResponse | None]:
    """The kind, and the 403 page when the user may not ``action`` its records."""
    kind = _kind_or_404(kind_name)
    try:
        permissions.check(request.user, kind, action)
    except permissions.NotAllowed as refusal:
        return kind, refused(request, str(refusal))
    return kind, None


def writable_record(
    request: HttpRequest, kind_name: str, external_id: str, action: str
) -> tuple[RecordKind, models.Model | None, HttpResponse | None]:
    """The kind and the record (404 when unknown or hidden), or the 403 page when the user may
    not ``action`` this record."""
    kind, refusal = writable_kind(request, kind_name, action)
    if refusal is not None:
        return kind, None, refusal
    records = permissions.restrict(kind.model.objects.all(), request.user, kind)
    obj = get_object_or_404(records, external_id=external_id)
    try:
        permissions.check_object(request.user, obj, action)
    except permissions.NotAllowed as refusal_reason:
        return kind, None, refused(request, str(refusal_reason))
    return kind, obj, None


@login_required
@require_http_methods(["GET", "POST"])
def record_create(request: HttpRequest, kind_name: str) -> HttpResponse:
    """A new record of any kind."""
    kind, refusal = writable_kind(request, kind_name)
    if refusal is not None:
        return refusal
    form_class = record_form_class(kind, reader=request.user)
    if request.method == "GET":
        initial = {**new_record_values(kind), **request.GET.dict()}
        return _form_page(request, kind, form_class(initial=initial), None)
    return _save(request, kind, form_class(request.POST), None)


@login_required
@require_http_methods(["GET", "POST"])
def record_edit(request: HttpRequest, kind_name: str, external_id: str) -> HttpResponse:
    """Change one record of any kind."""
    kind, obj, refusal = writable_record(request, kind_name, external_id,
                                         permissions.Action.CHANGE)
    if refusal is not None or obj is None:
        return refusal or HttpResponse(status=404)
    form_class = record_form_class(kind, reader=request.user)
    if request.method == "GET":
        return _form_page(request, kind, form_class(instance=obj), obj)
    return _save(request, kind, form_class(request.POST, instance=obj), obj)


class _Changed(Exception):
    """The record changed after the form was opened: nothing is written."""

    def __init__(self, conflict: Conflict, current: models.Model):
        super().__init__(conflict.message)
        self.conflict, self.current = conflict, current


def _save(request: HttpRequest, kind: RecordKind, form: RecordForm,
          obj: models.Model | None) -> HttpResponse:
    action = permissions.Action.CREATE if obj is None else permissions.Action.CHANGE
    try:
        with transaction.atomic():
            status_before = getattr(_current(request, kind, form, obj), "status", None)
            saved = form.save(request.user) if form.is_valid() else None
            # Checked again on the saved values: nobody moves a record out of their reach, nor
            # into a status only a workflow step may set.
            if saved is not None:
                permissions.check_written(request.user, saved, action, status_before)
    except permissions.NotAllowed as refusal:
        return refused(request, str(refusal))
    except _Changed as changed:
        return _conflict_page(request, kind, changed)
    if saved is None:
        return _form_page(request, kind, form, obj, status=200 if request.htmx else 400)  # type: ignore[attr-defined]
    target = record_url(saved)
    if request.htmx:  # type: ignore[attr-defined]
        return HttpResponse(status=204, headers={"HX-Redirect": target})
    return redirect(target)


def _current(request: HttpRequest, kind: RecordKind, form: RecordForm,
             obj: models.Model | None) -> models.Model | None:
    """The record being edited as it is now, held by the write's transaction and given to the
    form; raises :class:`_Changed` when it is not the version the form was opened on."""
    if obj is None:
        return None
    current = held(kind, obj)
    if current is None:
        raise Http404(f"{obj} was deleted since you opened it")
    conflict = conflict_since(kind, current, request.POST, form)
    if conflict is not None:
        raise _Changed(conflict, current)
    form.instance = current
    return current


def _conflict_page(request: HttpRequest, kind: RecordKind, changed: _Changed) -> HttpResponse:
    """The form again, with the record's current values and what the user sent beside them."""
    form = record_form_class(kind, reader=request.user)(instance=changed.current)
    return _form_page(request, kind, form, changed.current,
                      status=200 if request.htmx else 409,  # type: ignore[attr-defined]
                      conflict=changed.conflict)


def _opened(request: HttpRequest, obj: models.Model | None,
            conflict: Conflict | None) -> dict[str, str] | None:
    """The version the form carries: a form sent back for corrections keeps the one it was
    opened on; a new or refused-as-changed form gets the record's version now."""
    if obj is None:
        return None
    if request.method == "POST" and conflict is None and request.POST.get(VERSION_FIELD):
        return {"version": request.POST[VERSION_FIELD], "seen": request.POST.get(SEEN_FIELD, "")}
    return opened_on(obj)


def _form_page(request: HttpRequest, kind: RecordKind, form: RecordForm,
               obj: models.Model | None, status: int = 200,
               conflict: Conflict | None = None) -> HttpResponse:
    context: dict[str, Any] = {
        "kind": kind, "title": kind_title(kind), "form": form, "object": obj,
        "action": request.path, "cancel_url": record_url(obj) if obj is not None
        else reverse("record-list", args=[kind.name]),
        "noun": kind.model._meta.verbose_name, "conflict": conflict,
        "opened": _opened(request, obj, conflict),
        "version_field": VERSION_FIELD, "seen_field": SEEN_FIELD,
    }
    template = "qualityloop/_record_form.html" if request.htmx else "qualityloop/record_form.html"  # type: ignore[attr-defined]
    return render(request, template, context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def record_delete(request: HttpRequest, kind_name: str, external_id: str) -> HttpResponse:
    """Ask for confirmation, then delete; a record others still depend on is kept."""
    kind, obj, refusal = writable_record(request, kind_name, external_id,
                                         permissions.Action.DELETE)
    if refusal is not None or obj is None:
        return refusal or HttpResponse(status=404)
    problem = ""
    if request.method == "POST":
        try:
            with transaction.atomic():
                delete_record(kind, obj, history_user=request.user)
        except RowInvalid as blocked:
            problem = "It cannot be deleted: " + "; ".join(blocked.errors.values()) + "."
        else:
            return redirect(reverse("record-list", args=[kind.name]))
    context = {"kind": kind, "title": kind_title(kind), "object": obj, "problem": problem,
               "related": _related(obj), "detail_url": record_url(obj)}
    return render(request, "qualityloop/record_delete.html", context,
                  status=409 if problem else 200)


@login_required
def reference_search(request: HttpRequest, kind_name: str, column_name: str) -> HttpResponse:
    """Records a reference column may point to, matching ``?q=`` by external id or name (the
    search help of fields with too many records for a select)."""
    kind = _kind_or_404(kind_name)
    try:
        column = kind.column(column_name)
    except KeyError:
        return HttpResponse(status=404)
    target_kind = kind_for_model(column.target) if column.target is not None else None
    if target_kind is None or not is_searchable(column):
        return HttpResponse(status=404)
    query = request.GET.get(f"search-{column_name}", request.GET.get("q", "")).strip()
    found: list[models.Model] = []
    if query:
        records = permissions.restrict(target_kind.model.objects.all(), request.user, target_kind)
        found = list(records.filter(_matching(target_kind, query)).order_by("external_id")
                     [:SEARCH_SHOWN])
    return render(request, "qualityloop/_reference_options.html",
                  {"found": found, "column": column, "query": query,
                   "multiple": column.is_multi_reference})


def _matching(kind: RecordKind, query: str) -> models.Q:
    condition = models.Q(external_id__istartswith=query)
    for name in ("name", "title"):
        if name in kind.column_names:
            condition |= models.Q(**{f"{name}__icontains": query})
    return condition
