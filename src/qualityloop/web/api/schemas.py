"""API schemas. Record schemas are built from a record kind's columns, so every kind gets precise,
typed OpenAPI documentation from one definition, and only the kind's columns are exposed."""

import datetime as dt
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal

from django.db import models
from ninja import Schema
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from qualityloop.services.record_kinds import Column, RecordKind, kind_for_model

# ---------------------------------------------------------------------------------------------
# Fixed schemas


class ErrorOut(Schema):
    detail: str


class ColumnProblem(Schema):
    column: str | None = Field(None, description="The column the problem is in, if any")
    message: str


class InvalidOut(Schema):
    detail: list[ColumnProblem]


class MeOut(Schema):
    username: str
    role: str | None = Field(None, description="None when the user has no role")
    can_write: bool


class ColumnOut(Schema):
    name: str
    type: str = Field(description="text, integer, number, boolean, date, datetime, reference, "
                                  "references or choice")
    required: bool
    expected: str = Field(description="What a value must look like, in words")
    choices: list[str | int] = Field(default_factory=list)
    references: str | None = Field(None, description="The record kind a reference points to")
    description: str = ""


class KindOut(Schema):
    name: str
    description: str
    url: str
    has_history: bool
    columns: list[ColumnOut]


class FieldChange(Schema):
    field: str
    old: Any = None
    new: Any = None


class HistoryEntry(Schema):
    history_id: int
    date: dt.datetime
    user: str | None = Field(None, description="Username of who made the change")
    type: Literal["created", "changed", "deleted"]
    changes: list[FieldChange]


# ---------------------------------------------------------------------------------------------
# Types of columns


def column_type_name(col: Column) -> str:
    """A short name for what a column holds (used in ``GET /api/kinds``)."""
    if col.is_multi_reference:
        return "references"
    if col.is_reference:
        return "reference"
    if col.choices:
        return "choice"
    return _SCALAR_NAMES.get(_scalar_type(col.field), "text")


def _scalar_type(field: models.Field) -> type:
    if isinstance(field, models.DateTimeField):
        return dt.datetime
    if isinstance(field, models.DateField):
        return dt.date
    if isinstance(field, models.BooleanField):
        return bool
    if isinstance(field, models.IntegerField):
        return int
    if isinstance(field, models.FloatField | models.DecimalField):
        return float
    return str


_SCALAR_NAMES = {
    dt.datetime: "datetime", dt.date: "date", bool: "boolean", int: "integer", float: "number",
    str: "text",
}


def _value_type(col: Column) -> Any:
    """The Python type of one value of the column, as the API reads and writes it."""
    if col.is_multi_reference:
        return list[str]
    if col.is_reference:
        return str
    if col.choices:
        values = [value for value, _ in col.choices]
        if col.field.blank and not col.field.null and isinstance(values[0], str):
            values.append("")
        if isinstance(values[0], int):
            # Query strings carry text; "3" must match the choice 3.
            return Annotated[Literal[tuple(values)], BeforeValidator(_number_from_text)]
        return Literal[tuple(values)]
    return _scalar_type(col.field)


def _number_from_text(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return value


def _nullable(col: Column) -> bool:
    """Whether ``null`` is a meaningful value for the column."""
    if col.is_multi_reference:
        return False
    return col.field.null or not col.required


def _field_info(col: Column, default: Any) -> Any:
    extra: dict[str, Any] = {}
    max_length = getattr(col.field, "max_length", None)
    if max_length and not _is_relation(col) and not col.choices:
        extra["max_length"] = max_length
    return Field(default, description=_description(col), **extra)


def _description(col: Column) -> str:
    """The field's help text and what a value must be, as the API (JSON) takes it."""
    if col.is_multi_reference and col.target is not None:
        expected = f"a list of external ids of {col.target._meta.verbose_name_plural}"
    else:
        expected = col.expected()
    help_text = str(col.field.help_text or "")
    return f"{help_text} ({expected})" if help_text else expected


def _is_relation(col: Column) -> bool:
    return col.is_reference or col.is_multi_reference


# ---------------------------------------------------------------------------------------------
# Record schemas built from a kind


class RecordSchema(Schema):
    """Base of the input schemas: unknown columns are refused, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class KindSchemas:
    """The schemas of one record kind."""

    out: type[BaseModel]
    create: type[Schema]
    update: type[Schema]
    patch: type[Schema]
    filters: type[Schema]


@cache
def schemas_for(kind: RecordKind) -> KindSchemas:
    """Build (once) the output, input and filter schemas of a record kind."""
    prefix = kind.model.__name__
    return KindSchemas(
        out=_out_schema(kind, prefix),
        create=_input_schema(kind, f"{prefix}Create", mode="create"),
        update=_input_schema(kind, f"{prefix}Update", mode="update"),
        patch=_input_schema(kind, f"{prefix}Patch", mode="patch"),
        filters=_filter_schema(kind, f"{prefix}Filters"),
    )


def _out_schema(kind: RecordKind, prefix: str) -> type[BaseModel]:
    """The output schema: a plain pydantic model, not a ninja ``Schema``. Records reach it as
    dicts (:func:`record_out`), which pydantic checks in its compiled core; a ``Schema`` reads
    every field through ninja's Python attribute getter (a third of a list request's time)."""
    fields: dict[str, Any] = {}
    for col in kind.columns:
        value_type = _value_type(col)
        if col.field.null and not col.is_multi_reference:
            value_type = value_type | None
        fields[col.name] = (value_type, _field_info(col, ...))
    for stamp in ("created_at", "updated_at"):
        if _has_field(kind.model, stamp):
            fields[stamp] = (dt.datetime | None, Field(None))
    return create_model(f"{prefix}Out", __base__=BaseModel, __doc__=kind.description, **fields)


def _input_schema(kind: RecordKind, name: str, mode: str) -> type[Schema]:
    """Fields for create (required columns required), update (the same, the id optional since it
    is in the path) and patch (everything optional)."""
    fields: dict[str, Any] = {}
    for col in kind.columns:
        value_type = _value_type(col)
        if _nullable(col):
            value_type = value_type | None
        required = col.required and mode == "create" or (
            col.required and mode == "update" and col.name != "external_id"
        )
        fields[col.name] = (value_type, _field_info(col, ... if required else None))
    doc = {
        "create": "A new", "update": "The full new content of a", "patch": "Changed columns of a",
    }
    return create_model(
        name, __base__=RecordSchema, __doc__=f"{doc[mode]} record of {kind.name}.", **fields
    )


def filterable_columns(kind: RecordKind) -> list[Column]:
    """Columns a list can be filtered on: choices, references and true/false columns."""
    return [
        col for col in kind.columns
        if col.choices or col.is_reference or col.is_multi_reference
        or isinstance(col.field, models.BooleanField)
    ]


def searchable_columns(kind: RecordKind) -> list[str]:
    """Columns ``?q=`` searches in."""
    return [name for name in ("external_id", "name", "title") if name in kind.column_names]


def _filter_schema(kind: RecordKind, name: str) -> type[Schema]:
    searched = ", ".join(searchable_columns(kind))
    fields: dict[str, Any] = {
        "q": (str | None, Field(None, description=f"Text contained in {searched}")),
    }
    for col in filterable_columns(kind):
        value_type = str if _is_relation(col) else _value_type(col)
        what = "external id of the referenced record" if _is_relation(col) else "value"
        fields[col.name] = (
            value_type | None, Field(None, description=f"Only records with this {what}")
        )
    return create_model(name, __base__=Schema, **fields)


def _has_field(model: type[models.Model], name: str) -> bool:
    try:
        model._meta.get_field(name)
    except Exception:
        return False
    return True


def rows_out(records: models.QuerySet) -> list[dict[str, Any]]:
    """The records of a query as :func:`record_out` shows them, read as plain values.

    A list page of 20 records costs one query per many-to-many column besides its own, and no
    model instances: loading the records with their references as objects took three quarters
    of an API list request.
    """
    kind = kind_for_model(records.model)
    if kind is None:
        raise TypeError(f"{records.model.__name__} is not a record kind")
    read = [f"{col.name}__external_id" if col.is_reference else col.name
            for col in kind.columns if not col.is_multi_reference]
    stamps = [name for name in ("created_at", "updated_at") if _has_field(kind.model, name)]
    values = list(records.prefetch_related(None).values("pk", *read, *stamps))
    pks = [row["pk"] for row in values]
    linked = {col.name: _linked_external_ids(col, pks) for col in kind.columns
              if col.is_multi_reference}
    shown = []
    for row in values:
        out: dict[str, Any] = {}
        for col in kind.columns:
            if col.is_reference:
                out[col.name] = row[f"{col.name}__external_id"]
            elif col.is_multi_reference:
                out[col.name] = linked[col.name].get(row["pk"], [])
            else:
                out[col.name] = col.format(row[col.name])
        out.update((name, row[name]) for name in stamps)
        shown.append(out)
    return shown


def _linked_external_ids(column: Column, pks: list[Any]) -> dict[Any, list[str]]:
    """For each record in ``pks``, the sorted external ids its many-to-many ``column`` links."""
    field = column.field
    through = field.remote_field.through  # type: ignore[union-attr]
    source, target = field.m2m_field_name(), field.m2m_reverse_field_name()  # type: ignore[attr-defined]
    linked: dict[Any, list[str]] = {}
    pairs = through.objects.filter(**{f"{source}__in": pks}).values_list(
        f"{source}_id", f"{target}__external_id")
    for pk, external_id in pairs:
        linked.setdefault(pk, []).append(external_id)
    return {pk: sorted(ids) for pk, ids in linked.items()}


def record_out(obj: models.Model) -> dict[str, Any]:
    """One record as the API shows it: the kind's columns, references as external ids."""
    kind = kind_for_model(type(obj))
    if kind is None:
        raise TypeError(f"{type(obj).__name__} is not a record kind")
    row = kind.to_row(obj)
    for col in kind.columns:
        if col.is_multi_reference:
            # Files join several ids with ';'; JSON has lists.
            row[col.name] = sorted(other.external_id for other in getattr(obj, col.name).all())
    for stamp in ("created_at", "updated_at"):
        if hasattr(obj, stamp):
            row[stamp] = getattr(obj, stamp)
    return row
