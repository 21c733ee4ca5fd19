"""What every record shares: an external id for import/upsert, timestamps, and full history."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.db import models
from simple_history import utils
from simple_history.models import HistoricalRecords
from simple_history.signals import (
    post_create_historical_m2m_records,
    pre_create_historical_m2m_records,
)


class Record(models.Model):
    """Abstract base for every record kind.

    ``external_id`` is the key users put in their spreadsheets and other systems; importing the
    same file twice updates rows by this key instead of creating duplicates.
    """

    external_id = models.CharField(
        max_length=64,
        unique=True,
        help_text="Your own identifier for this record, used for imports and links.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        label = getattr(self, "title", None) or getattr(self, "name", None)
        return f"{self.external_id}: {label}" if label else self.external_id


class RecordHistory(HistoricalRecords):
    """History of a record: its concrete fields and every many-to-many link it declares.

    simple-history tracks only the many-to-many fields it is given by name; taking them from the
    model means a link field added later is tracked without anyone remembering to list it.
    Each version then stores the links the record had at that moment.
    """

    def get_m2m_fields_from_model(self, model: type[models.Model]) -> list[models.Field]:
        return list(model._meta.local_many_to_many)

    def create_historical_record_m2ms(self, history_instance, instance) -> None:
        """Store the links the record has now with its new version, as simple-history does, but
        reading the link rows' ids only: it loaded every linked record in full to copy two ids
        per link, on every write of a record with link fields."""
        for field in history_instance._history_m2m_fields:
            m2m_history_model = self.m2m_models[field]
            through = getattr(history_instance.instance, field.name).through
            names = [f.attname for f in through._meta.fields]
            links = through._default_manager.filter(
                **{utils.get_m2m_field_name(field): instance}).values(*names)
            rows = [m2m_history_model(history=history_instance, **link) for link in links]
            pre_create_historical_m2m_records.send(
                sender=m2m_history_model, rows=rows, history_instance=history_instance,
                instance=instance, field=field)
            created = m2m_history_model._default_manager.bulk_create(rows)
            post_create_historical_m2m_records.send(
                sender=m2m_history_model, created_rows=created,
                history_instance=history_instance, instance=instance, field=field)

    def m2m_changed(self, instance, action, attr, pk_set, reverse, **kwargs) -> None:
        """Record a version of the record that owns the link field, also when the link was
        changed from the other side (``customer.nonconformances.add(nc)`` is a change to nc)."""
        if not reverse:
            super().m2m_changed(instance, action, attr, pk_set, reverse, **kwargs)
            return
        if not getattr(settings, "SIMPLE_HISTORY_ENABLED", True):
            return
        owners = kwargs["model"]
        if action == "pre_clear":
            field = owners._meta.get_field(attr)
            through = field.remote_field.through._default_manager
            linked = through.filter(**{field.m2m_reverse_field_name(): instance.pk})
            instance._history_cleared_owners = set(  # read back at post_clear
                linked.values_list(f"{field.m2m_field_name()}_id", flat=True))
            return
        if action == "post_clear":
            pk_set = instance.__dict__.pop("_history_cleared_owners", set())
        if action not in ("post_add", "post_remove", "post_clear") or not pk_set:
            return
        for owner in owners._default_manager.filter(pk__in=pk_set):
            if hasattr(instance, "_history_user"):
                owner._history_user = instance._history_user
            self.create_historical_record(owner, "~")


RECORD_HISTORY = RecordHistory(inherit=True)


class HistoricalRecord(Record):
    """A record whose every change is kept (who, when, old and new values, links)."""

    history = RECORD_HISTORY

    class Meta:
        abstract = True


def save_with_links(
    record: models.Model, links: Mapping[str, Iterable[Any]], save_fields: bool = True
) -> bool:
    """Save a record and set its many-to-many links, keeping ONE history version for both.

    ``.set()`` on its own records a version for the removals and another for the additions, and
    a new record would get a "created" version without its links; here the version is written
    once everything is in place.

    Parameters
    ----------
    record
        The record, new or existing, with its field values already set.
    links
        Many-to-many field name -> primary keys the record must be linked to.
    save_fields
        ``False`` when only links may have changed (the record row itself is not saved then).

    Returns
    -------
    bool
        Whether anything changed (a history version was written, if the model keeps history).
    """
    creating = record._state.adding
    changed = creating or save_fields or _links_differ(record, links)
    if not changed:
        return False
    record.skip_history_when_saving = True  # type: ignore[attr-defined]
    try:
        if creating or save_fields:
            record.save()
        for name, pks in links.items():
            getattr(record, name).set(pks)
    finally:
        del record.skip_history_when_saving  # type: ignore[attr-defined]
    if hasattr(type(record), "history") and getattr(settings, "SIMPLE_HISTORY_ENABLED", True):
        RECORD_HISTORY.create_historical_record(record, "+" if creating else "~")
    return True


def _links_differ(record: models.Model, links: Mapping[str, Iterable[Any]]) -> bool:
    return any(
        set(getattr(record, name).values_list("pk", flat=True)) != set(pks)
        for name, pks in links.items()
    )


def linked_pks(version: models.Model, field_name: str) -> list[Any]:
    """The primary keys a stored history version was linked to through ``field_name``."""
    field = version.instance_type._meta.get_field(field_name)  # type: ignore[attr-defined]
    target = field.m2m_reverse_field_name()
    return list(getattr(version, field_name).order_by(target).values_list(target, flat=True))


def pks_of_link_rows(field: models.Field, rows: Iterable[Mapping[str, Any]]) -> list[Any]:
    """The linked primary keys in the rows ``diff_against`` gives for a many-to-many change."""
    target = field.m2m_reverse_field_name()  # type: ignore[attr-defined]
    return [row[target] for row in rows]


def external_ids(model: type[models.Model], pks: Iterable[Any]) -> list[str]:
    """External ids of records by primary key, in the given order; a deleted record's id is
    taken from its history, and ``#pk`` stands for one with no trace left."""
    wanted = list(pks)
    found = dict(model._default_manager.filter(pk__in=wanted).values_list("pk", "external_id"))
    missing = [pk for pk in wanted if pk not in found]
    if missing and hasattr(model, "history"):
        past = model.history.filter(id__in=missing).order_by("history_date")  # type: ignore[attr-defined]
        found.update(past.values_list("id", "external_id"))
    return [found.get(pk, f"#{pk}") for pk in wanted]
