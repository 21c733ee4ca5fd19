"""The record kinds: one description of every record type, shared by import, export, the API and
the admin.

A record kind knows its model, its command-line name and its columns. A column is read from the
model field it stands for, so a new field is importable, exportable and in the API the day it is
added. References to other records are written with the other record's ``external_id`` (``;``
between several), never with database ids, so files move between installations.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.apps import apps
from django.db import models
from django.db.models import signals
from django.utils import timezone

TRUE_WORDS = {"true", "yes", "y", "1", "t"}
FALSE_WORDS = {"false", "no", "n", "0", "f"}
SKIPPED_FIELDS = {"id", "created_at", "updated_at", "user"}


class CellError(ValueError):
    """A cell's value cannot be used; the message says what was expected."""


def is_empty(raw: Any) -> bool:
    """Whether a cell counts as empty: nothing, NaN or only white space."""
    if raw is None:
        return True
    if isinstance(raw, float) and math.isnan(raw):
        return True
    return isinstance(raw, str) and raw.strip() == ""


EXCEL_RELATIVE_PRECISION = 1e-15
"""Excel keeps a number to 15 significant digits (openpyxl writes 16), so a float read back from
a spreadsheet can differ from the stored one in its last digits."""


def same_value(stored: Any, given: Any) -> bool:
    """Whether an imported or edited value leaves the stored one as it is: equal, or two floats
    that agree to the precision a spreadsheet keeps (a round trip through Excel is no change)."""
    if isinstance(stored, float) and isinstance(given, float):
        return math.isclose(stored, given, rel_tol=EXCEL_RELATIVE_PRECISION, abs_tol=0.0)
    return bool(stored == given)


@dataclass(frozen=True)
class Column:
    """One column of a record kind's table, standing for one model field."""

    name: str
    field: models.Field

    # Properties of a field never change: they are worked out once, as a file has many cells.
    @cached_property
    def is_reference(self) -> bool:
        return isinstance(self.field, models.ForeignKey)

    @cached_property
    def is_multi_reference(self) -> bool:
        return isinstance(self.field, models.ManyToManyField)

    @cached_property
    def target(self) -> type[models.Model] | None:
        return self.field.related_model if self.field.is_relation else None  # type: ignore[return-value]

    @cached_property
    def required(self) -> bool:
        if self.is_multi_reference:
            return False
        if self.field.has_default():
            return False
        return not (self.field.null or self.field.blank)

    @cached_property
    def choices(self) -> list[tuple[Any, str]]:
        return list(self.field.choices or [])

    def expected(self) -> str:
        """A person-readable description of what the column holds."""
        f = self.field
        if self.is_multi_reference:
            return f"external ids of {self.target._meta.verbose_name_plural} separated by ';'"  # type: ignore[union-attr]
        if self.is_reference:
            return f"the external id of an existing {self.target._meta.verbose_name}"  # type: ignore[union-attr]
        if self.choices:
            return "one of: " + ", ".join(str(value) for value, _ in self.choices)
        if isinstance(f, models.DateField):
            return "a date (YYYY-MM-DD)"
        if isinstance(f, models.BooleanField):
            return "true or false"
        if isinstance(f, models.IntegerField):
            return "a whole number"
        if isinstance(f, models.FloatField | models.DecimalField):
            return "a number"
        if isinstance(f, models.EmailField):
            return "an e-mail address"
        return "text"

    def parse(self, raw: Any) -> Any:
        """Turn a cell into the field's Python value, or raise CellError saying what was expected.

        References are returned as external ids (a string, or a list for multi-references); the
        importer resolves them, because resolving needs the database.
        """
        if is_empty(raw):
            return self._empty_value()
        if self.is_multi_reference:
            return [part.strip() for part in str(raw).split(";") if part.strip()]
        if self.is_reference:
            return _text(raw)
        if self.choices:
            return self._parse_choice(raw)
        return self._parse_scalar(raw)

    def _empty_value(self) -> Any:
        if self.is_multi_reference:
            return []
        if self.required:
            raise CellError(f"a value is required: {self.expected()}")
        if self.field.has_default():
            return self.field.get_default()
        if isinstance(self.field, models.CharField | models.TextField) and not self.field.null:
            return ""
        return None

    def _parse_choice(self, raw: Any) -> Any:
        text = _text(raw)
        for value, label in self.choices:
            if text.lower() in {str(value).lower(), str(label).lower()}:
                return value
        raise CellError(f"got {text!r}, expected {self.expected()}")

    def _parse_scalar(self, raw: Any) -> Any:
        f = self.field
        try:
            if isinstance(f, models.DateTimeField):
                return _parse_datetime(raw)
            if isinstance(f, models.DateField):
                return _parse_date(raw)
            if isinstance(f, models.BooleanField):
                return _parse_bool(raw)
            if isinstance(f, models.IntegerField):
                return _parse_int(raw)
            if isinstance(f, models.DecimalField):
                value = decimal.Decimal(str(raw).strip())
                if not value.is_finite():
                    raise ValueError
                return value.quantize(decimal.Decimal(1).scaleb(-f.decimal_places))
            if isinstance(f, models.FloatField):
                number = float(raw)
                if not math.isfinite(number):
                    raise ValueError
                return number
        except (ValueError, TypeError, decimal.InvalidOperation, ArithmeticError):
            raise CellError(f"got {_text(raw)!r}, expected {self.expected()}") from None
        text = _text(raw)
        max_length = getattr(f, "max_length", None)
        if max_length and len(text) > max_length:
            raise CellError(f"text is {len(text)} characters long, at most {max_length} allowed")
        return text

    def format(self, value: Any) -> Any:
        """The value as written to a file: references as external ids, dates as ISO text."""
        if value is None:
            return None
        if self.is_multi_reference:
            return ";".join(sorted(obj.external_id for obj in value.all()))
        if self.is_reference:
            return value.external_id
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, decimal.Decimal):
            return float(value)
        return value


def _text(raw: Any) -> str:
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw).strip()


def _parse_date(raw: Any) -> dt.date:
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    if hasattr(raw, "to_pydatetime"):  # pandas Timestamp
        return raw.to_pydatetime().date()
    return dt.date.fromisoformat(str(raw).strip()[:10])


def _parse_datetime(raw: Any) -> dt.datetime:
    if isinstance(raw, dt.datetime):
        value = raw
    elif hasattr(raw, "to_pydatetime"):
        value = raw.to_pydatetime()
    else:
        value = dt.datetime.fromisoformat(str(raw).strip())
    # A time without a zone is in the installation's time zone (TIME_ZONE), as Django would
    # read it, but without its "naive datetime" warning for every row.
    return timezone.make_aware(value) if timezone.is_naive(value) else value


def _parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    word = _text(raw).lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(word)


def _parse_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError(raw)
    number = float(raw) if not isinstance(raw, int) else raw
    if isinstance(number, float) and not number.is_integer():
        raise ValueError(raw)
    return int(number)


@dataclass(frozen=True)
class RecordKind:
    """A record type as users see it in files, on the command line and in the API."""

    name: str
    model_label: str
    description: str

    @property
    def model(self) -> type[models.Model]:
        return apps.get_model(self.model_label)

    @cached_property
    def columns(self) -> list[Column]:
        fields = [
            f for f in self.model._meta.get_fields()
            if f.concrete and not f.auto_created and f.name not in SKIPPED_FIELDS
            and (f.editable or f.many_to_many)
        ]
        ordered = sorted(fields, key=lambda f: (f.name != "external_id", f.creation_counter))
        return [Column(f.name, f) for f in ordered]  # type: ignore[arg-type]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def to_row(self, obj: models.Model) -> dict[str, Any]:
        """One record as a flat row with the kind's columns."""
        return {c.name: c.format(getattr(obj, c.name)) for c in self.columns}

    @property
    def is_plain(self) -> bool:
        """Whether the kind's rows can be checked field by field and saved with plain INSERT and
        UPDATE statements, with exactly the checks of ``full_clean()`` and the effects of
        ``save()``.

        True when the model keeps no history, has no many-to-many or self references, uses
        Django's own ``save()``, ``clean()`` and ``full_clean()``, has no constraints, no parent
        tables and no save signals, and every field that is not a column is the automatic key or
        an ``auto_now`` / ``auto_now_add`` time stamp.
        """
        model = self.model
        meta = model._meta
        return (
            not hasattr(model, "history")
            and not any(c.is_multi_reference or c.target is model for c in self.columns)
            and all(getattr(model, name) is getattr(models.Model, name) for name in _PLAIN_METHODS)
            and not meta.constraints and not meta.parents
            and not signals.pre_save.has_listeners(model)
            and not signals.post_save.has_listeners(model)
            and all(self._is_automatic(f) for f in meta.concrete_fields if f.name not in
                    self.column_names)
        )

    def _is_automatic(self, field: models.Field) -> bool:
        stamped = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
        return field is self.model._meta.auto_field or bool(stamped)

    @property
    def has_unique_checks_besides_external_id(self) -> bool:
        """Whether the record writer's ``validate_unique()`` checks anything but ``external_id``
        (which an import checks itself: a repeated id in the file is a problem, an id already in
        the database is updated). Like the writer, it leaves out relations and non-columns."""
        model = self.model
        columns = set(self.column_names)
        skipped = {
            f.name for f in model._meta.concrete_fields
            if f.name not in columns or f.is_relation or f.name == "external_id"
        }
        unique, dated = model()._get_unique_checks(exclude=skipped)
        return bool(unique or dated)

    def queryset(self) -> models.QuerySet:
        qs = self.model.objects.all()
        refs = [c.name for c in self.columns if c.is_reference]
        multi = [c.name for c in self.columns if c.is_multi_reference]
        return qs.select_related(*refs).prefetch_related(*multi).order_by("pk")


_PLAIN_METHODS = ("save", "save_base", "clean", "clean_fields", "full_clean",
                  "validate_constraints")

# In dependency order: a kind only refers to kinds listed before it (or to itself).
KINDS: list[RecordKind] = [
    RecordKind("org-units", "organisation.OrgUnit", "Units of the organisation (a tree)"),
    RecordKind("people", "organisation.Person", "People: owners, trainees, problem solvers"),
    RecordKind("policies", "quality.QualityPolicy", "Quality policy statements"),
    RecordKind("strategies", "quality.QualityStrategy", "Quality strategies set by top management"),
    RecordKind("objectives", "quality.QualityObjective", "Quality objectives cascaded to units"),
    RecordKind("objective-measurements", "quality.ObjectiveMeasurement",
               "Measured KPI values of objectives over time"),
    RecordKind("training-courses", "quality.TrainingCourse", "Training courses"),
    RecordKind("training-records", "quality.TrainingRecord",
               "Completed training with assessed competence"),
    RecordKind("customers", "customers.Customer", "Customers"),
    RecordKind("requirements", "customers.CustomerRequirement",
               "Customer requirements and expectations"),
    RecordKind("requirement-measurements", "customers.RequirementMeasurement",
               "Delivered performance against requirements"),
    RecordKind("orders", "customers.Order", "Orders (the transactions behind retention)"),
    RecordKind("feedback", "customers.FeedbackResponse", "Feedback responses (NPS, CSAT, CES)"),
    RecordKind("complaints", "customers.Complaint", "Customer complaints (ISO 10002 lifecycle)"),
    RecordKind("design-projects", "customers.DesignProject", "Design and development projects"),
    RecordKind("design-reviews", "customers.DesignStageReview",
               "Design stage reviews with customer participants and defects found"),
    RecordKind("nonconformances", "quality.Nonconformance", "Nonconformances"),
    RecordKind("actions", "quality.CorrectiveAction", "Corrective and preventive actions"),
    RecordKind("change-requests", "quality.ChangeRequest", "Change requests"),
    RecordKind("management-reviews", "quality.ManagementReview", "Management reviews"),
    RecordKind("process-measurements", "quality.ProcessMeasurement",
               "Measured process characteristics (for x-bar/R and I-MR charts)"),
]

_BY_NAME = {kind.name: kind for kind in KINDS}


def kind_names() -> list[str]:
    return [kind.name for kind in KINDS]


def get_kind(name: str) -> RecordKind:
    """The record kind called ``name``; a ValueError lists the known names otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(
            f"unknown record kind {name!r}; expected one of: {', '.join(kind_names())}"
        ) from None


def kind_for_model(model: type[models.Model]) -> RecordKind | None:
    label = model._meta.label
    return next((k for k in KINDS if k.model_label == label), None)


def rows(kind: RecordKind, objects: Iterable[models.Model] | None = None) -> list[dict[str, Any]]:
    """Records of a kind as rows (every record of that kind when ``objects`` is not given)."""
    return [kind.to_row(obj) for obj in (objects if objects is not None else kind.queryset())]


def missing_required(kind: RecordKind, header: Iterable[str]) -> list[Column]:
    present = set(header)
    return [c for c in kind.columns if c.required and c.name not in present]


def unknown_columns(kind: RecordKind, header: Iterable[str]) -> list[str]:
    known = set(kind.column_names)
    return [h for h in header if h not in known]


__all__ = [
    "KINDS", "CellError", "Column", "RecordKind", "get_kind", "is_empty", "kind_for_model",
    "kind_names",
    "missing_required", "rows", "unknown_columns",
]
