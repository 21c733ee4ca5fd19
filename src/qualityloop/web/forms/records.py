"""Create and edit forms for every record kind, generated from the record-kind registry.

A form only collects the raw values a user typed or picked (text, ISO dates, external ids of
other records); parsing, reference lookup and the model's validation are done by
:mod:`qualityloop.services.record_writer`, exactly as for an import or an API call, and its
messages are put next to the fields they concern.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from django import forms
from django.db import models, transaction

from qualityloop.services import permissions
from qualityloop.services.record_kinds import Column, RecordKind, kind_for_model
from qualityloop.services.record_writer import ALL, RowInvalid, prepare_record, save_prepared

SELECT_LIMIT = 200  # more records than this: a searchable text input instead of a select
_TRAILING_NUMBER = re.compile(r"^(.*?)(\d+)$")


class Pick(forms.ChoiceField):
    """A select whose value the record writer checks (same message as an import would give)."""

    def valid_value(self, value: Any) -> bool:
        return True


class PickMany(forms.MultipleChoiceField):
    """A multi-select whose values the record writer checks."""

    def valid_value(self, value: Any) -> bool:
        return True


def is_searchable(column: Column) -> bool:
    """Whether a reference column is typed with search help (too many records for a select)."""
    if not (column.is_reference or column.is_multi_reference) or column.target is None:
        return False
    return column.target._default_manager.count() > SELECT_LIMIT


def _reference_options(column: Column, reader: Any = None) -> list[tuple[str, str]]:
    """The records a reference may pick: those ``reader`` may read (every one without)."""
    target = column.target._default_manager.order_by("external_id")  # type: ignore[union-attr]
    kind = kind_for_model(column.target) if reader is not None else None  # type: ignore[arg-type]
    if kind is not None:
        target = permissions.restrict(target, reader, kind)
    return [(obj.external_id, str(obj)) for obj in target]  # type: ignore[union-attr]


def _search_widget(column: Column, multiple: bool) -> forms.TextInput:
    hint = "external ids separated by ;" if multiple else "external id"
    return forms.TextInput(attrs={
        "data-search": column.target._meta.label,  # type: ignore[union-attr]
        "data-multiple": "1" if multiple else "", "placeholder": hint, "autocomplete": "off",
    })


def form_field(column: Column, reader: Any = None) -> forms.Field:
    """The form field of one column: the widget says what is expected, the writer checks it.
    A select of references offers the records ``reader`` may read (every one without)."""
    made = _form_field(column, reader)
    if column.required:  # shown as a mark; the form is not blocked by the browser (novalidate)
        made.widget.attrs["required"] = True
    return made


def _form_field(column: Column, reader: Any = None) -> forms.Field:
    field = column.field
    common: dict[str, Any] = {
        "required": False, "label": str(field.verbose_name).capitalize(),
        "help_text": field.help_text or "",
    }
    if column.is_multi_reference:
        if is_searchable(column):
            return forms.CharField(widget=_search_widget(column, True), **common)
        common["help_text"] = "Ctrl- or Cmd-click to pick several."
        return PickMany(choices=_reference_options(column, reader), **common)
    if column.is_reference:
        if is_searchable(column):
            return forms.CharField(widget=_search_widget(column, False), **common)
        return Pick(choices=[("", "–"), *_reference_options(column, reader)], **common)
    if column.choices:
        options = [(str(value), label) for value, label in column.choices]
        return Pick(choices=[("", "–"), *options], **common)
    return forms.CharField(widget=_widget(column), **common)


def _widget(column: Column) -> forms.Widget:
    field = column.field
    attrs: dict[str, Any] = {}
    if column.required:
        attrs["required"] = True
    if isinstance(field, models.BooleanField):
        return forms.Select(choices=[("true", "Yes"), ("false", "No")])
    if isinstance(field, models.DateTimeField):
        return forms.DateTimeInput(attrs={**attrs, "type": "datetime-local"})
    if isinstance(field, models.DateField):
        return forms.DateInput(attrs={**attrs, "type": "date"})
    if isinstance(field, models.IntegerField):
        return forms.NumberInput(attrs={**attrs, "step": "1"})
    if isinstance(field, models.FloatField | models.DecimalField):
        return forms.NumberInput(attrs={**attrs, "step": "any"})
    if isinstance(field, models.TextField):
        return forms.Textarea(attrs={**attrs, "rows": 3})
    if getattr(field, "max_length", None):
        attrs["maxlength"] = field.max_length
    return forms.TextInput(attrs=attrs)


class RecordForm(forms.Form):
    """A form for one record of ``kind``; :meth:`save` writes it through the record writer."""

    # Not "kind" etc.: a class attribute is replaced by a form field of the same name.
    record_kind: RecordKind
    searchable_fields: frozenset[str] = frozenset()  # references typed with search help
    wide_fields: frozenset[str] = frozenset()  # given a whole row (long text, several links)

    def __init__(self, *args: Any, instance: models.Model | None = None, **kwargs: Any) -> None:
        self.instance = instance
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = initial_values(self.record_kind, instance)
        super().__init__(*args, **kwargs)
        self._offer_current_values()

    def _offer_current_values(self) -> None:
        """A select keeps the record's own values among its options, by external id, when they
        are not offered (a reference the user may not read): saving the form unchanged must not
        drop them."""
        for name, field in self.fields.items():
            if not isinstance(field, Pick | PickMany):
                continue
            current = self.initial.get(name)
            wanted = current if isinstance(current, list) else [current]
            choices = list(field.choices)  # type: ignore[arg-type]
            offered = {str(value) for value, _label in choices}
            missing = [str(v) for v in wanted if v not in (None, "") and str(v) not in offered]
            field.choices = [*choices, *((value, value) for value in missing)]

    def values(self) -> dict[str, Any]:
        """The raw column values, as an import row or a JSON body would give them."""
        data: dict[str, Any] = {}
        for column in self.record_kind.columns:
            if column.name not in self.fields:
                continue
            value = self.cleaned_data.get(column.name)
            if column.is_multi_reference and isinstance(value, str):
                value = [part.strip() for part in value.split(";") if part.strip()]
            data[column.name] = value
        return data

    def save(self, user: Any) -> models.Model | None:
        """Write the record (one history version, who = ``user``); on refusal the writer's
        messages become the form's errors and nothing is saved (returns ``None``)."""
        target = self.instance if self.instance is not None else self.record_kind.model()
        try:
            with transaction.atomic():
                prepared = prepare_record(self.record_kind, self.values(), instance=target)
                if prepared.status != "unchanged":
                    save_prepared(prepared, history_user=user)
        except RowInvalid as invalid:
            self.show_problems(invalid.errors)
            return None
        return prepared.obj

    def show_problems(self, problems: dict[str, str]) -> None:
        for name, message in problems.items():
            self.add_error(None if name == ALL or name not in self.fields else name, message)


def record_form_class(kind: RecordKind, only: Sequence[str] | None = None,
                      reader: Any = None) -> type[RecordForm]:
    """The form class of a record kind: one field per column of the kind (or per column named in
    ``only``), in column order; its selects of references offer what ``reader`` may read.

    Built per request, because whether a reference is a select or a search depends on how many
    records it could point to.
    """
    fields = {column.name: form_field(column, reader) for column in kind.columns
              if only is None or column.name in only}
    searchable = frozenset(
        name for name, field in fields.items() if "data-search" in field.widget.attrs
    )
    wide = frozenset(
        c.name for c in kind.columns
        if c.is_multi_reference or isinstance(c.field, models.TextField)
    )
    name = kind.model.__name__ + "Form"
    return type(name, (RecordForm,),
                {"record_kind": kind, "searchable_fields": searchable,
                 "wide_fields": wide, **fields})


def initial_values(kind: RecordKind, obj: models.Model) -> dict[str, Any]:
    """A record's current values as the form shows them (external ids, ISO dates)."""
    row = kind.to_row(obj)
    values: dict[str, Any] = {}
    for column in kind.columns:
        value = row[column.name]
        if column.is_multi_reference:
            ids = [part for part in (value or "").split(";") if part]
            value = "; ".join(ids) if is_searchable(column) else ids
        elif isinstance(value, bool):
            value = "true" if value else "false"
        values[column.name] = value
    return values


def new_record_values(kind: RecordKind) -> dict[str, Any]:
    """What a new record's form starts with: each column's default and a free external id."""
    values: dict[str, Any] = {"external_id": suggested_external_id(kind)}
    for column in kind.columns:
        if column.field.has_default() and not column.is_multi_reference:
            default = column.format(column.field.get_default())
            values[column.name] = ("true" if default else "false") if isinstance(
                default, bool) else default
    return values


def suggested_external_id(kind: RecordKind) -> str:
    """A free external id following the newest record's pattern (``NC-000041`` -> ``NC-000042``);
    empty when the newest id ends in no number."""
    manager = kind.model._default_manager
    latest = manager.order_by("-pk").values_list("external_id", flat=True).first()
    match = _TRAILING_NUMBER.match(latest or "")
    if match is None:
        return ""
    prefix, digits = match.groups()
    number = int(digits)
    for _ in range(1000):
        number += 1
        candidate = f"{prefix}{number:0{len(digits)}d}"
        if not manager.filter(external_id=candidate).exists():
            return candidate
    return ""
