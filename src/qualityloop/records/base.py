"""What every record shares: an external id for import/upsert, timestamps, and full history."""

from __future__ import annotations

from django.db import models
from simple_history.models import HistoricalRecords


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


class HistoricalRecord(Record):
    """A record whose every change is kept (who, when, old and new values)."""

    history = HistoricalRecords(inherit=True)

    class Meta:
        abstract = True
