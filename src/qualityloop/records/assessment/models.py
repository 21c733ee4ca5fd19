"""Survey rounds of the TQM assessment.

An :class:`Instrument` is the YAML text of a survey instrument (checked by
``qualityloop.analytics.assessment.load_instrument`` whenever it is saved). A :class:`SurveyRound`
asks the people of some units to answer one instrument; each respondent gets a personal link
(:class:`SurveyInvitation`, stored only as a SHA-256 hash of its token, like an API token) that
can be used once; each answer sheet is a :class:`SurveyResponse`.

History: instruments and rounds keep full history (who opened, changed or closed a round). The
invitations and responses do not: a response is a submission that is never edited (like an
order), and in an anonymous round a history row (its exact time, its link to the invitation)
would be one more way to tell who answered what. In an anonymous round a response is not linked
to its invitation and both keep only the day they were used.
"""

from __future__ import annotations

import hashlib
import secrets
from functools import cached_property
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from qualityloop.records.assessment.choices import ResponseSource, RoundStatus
from qualityloop.records.base import HistoricalRecord

if TYPE_CHECKING:
    from qualityloop.analytics.assessment import Instrument as InstrumentSpec

TOKEN_PREFIX = "sv_"


def instrument_key(instrument_id: str, version: str) -> str:
    """The external id of an instrument record: its YAML id and version, ``tqm-core@1.0``."""
    return f"{instrument_id}@{version}"


class Instrument(HistoricalRecord):
    """A survey instrument: constructs of items on one agreement scale, as YAML text."""

    name = models.CharField(max_length=200)
    version = models.CharField(max_length=40)
    yaml = models.TextField(help_text="The instrument in QualityLoop's YAML format.")
    loaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    loaded_on = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "version"]

    @cached_property
    def spec(self) -> InstrumentSpec:
        """The parsed instrument (``qualityloop.analytics.assessment.Instrument``)."""
        from qualityloop.analytics.assessment import load_instrument

        return load_instrument(self.yaml, source=self.name or "instrument")

    def clean(self) -> None:
        from qualityloop.analytics.assessment import InstrumentError

        self.__dict__.pop("spec", None)
        try:
            spec = self.spec
        except InstrumentError as problem:
            raise ValidationError({"yaml": [str(p) for p in problem.problems]}) from None
        self.external_id = instrument_key(spec.id, spec.version)
        self.name, self.version = spec.name, spec.version

    def save(self, *args, **kwargs) -> None:
        """Check the YAML with ``load_instrument`` (ValidationError naming every problem) and
        take the external id (``<id>@<version>``), name and version from it."""
        self.clean()
        super().save(*args, **kwargs)


class SurveyRound(HistoricalRecord):
    """One run of an instrument in chosen units, open until it is closed."""

    name = models.CharField(max_length=200)
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="rounds")
    units = models.ManyToManyField("organisation.OrgUnit", related_name="survey_rounds")
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    opened_on = models.DateTimeField(default=timezone.now)
    closes_on = models.DateField(null=True, blank=True,
                                 help_text="The last day answers are taken (optional).")
    closed_on = models.DateTimeField(null=True, blank=True)
    anonymous = models.BooleanField(
        default=True, help_text="Responses are not linked to people.")
    status = models.CharField(max_length=10, choices=RoundStatus.choices,
                              default=RoundStatus.OPEN)

    class Meta:
        ordering = ["-opened_on", "name"]

    @property
    def is_open(self) -> bool:
        """Open and not past its closing date."""
        if self.status != RoundStatus.OPEN:
            return False
        return self.closes_on is None or timezone.localdate() <= self.closes_on


def token_hash(plain: str) -> str:
    """The SHA-256 hex digest stored for a personal link's token."""
    return hashlib.sha256(plain.encode()).hexdigest()


class SurveyInvitation(models.Model):
    """A personal link to answer a round once. Only the hash of its token is stored."""

    round = models.ForeignKey(SurveyRound, on_delete=models.CASCADE, related_name="invitations")
    unit = models.ForeignKey("organisation.OrgUnit", on_delete=models.PROTECT, related_name="+")
    person = models.ForeignKey(
        "organisation.Person", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="survey_invitations", help_text="Empty in anonymous rounds.",
    )
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["round", "unit", "pk"]

    def __str__(self) -> str:
        return f"link {self.pk} of {self.round.external_id} ({self.unit.external_id})"

    def save(self, *args, **kwargs) -> None:
        self.clean()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if self.person_id is not None and self.round.anonymous:
            raise ValidationError({"person": "an anonymous round keeps no person on its links"})

    @classmethod
    def issue(cls, round: SurveyRound, unit, person=None) -> tuple[SurveyInvitation, str]:
        """Create a link; returns the record and the plain token (shown once, never stored)."""
        plain = TOKEN_PREFIX + secrets.token_urlsafe(24)
        link = cls.objects.create(round=round, unit=unit, person=person, key_hash=token_hash(plain))
        return link, plain

    @classmethod
    def find(cls, plain: str) -> SurveyInvitation | None:
        """The link this plain token belongs to, or None."""
        return (cls.objects.select_related("round", "round__instrument", "unit")
                .filter(key_hash=token_hash(plain)).first())


class SurveyResponse(models.Model):
    """One respondent's answers: item id -> answer on the instrument's scale (None: skipped)."""

    round = models.ForeignKey(SurveyRound, on_delete=models.CASCADE, related_name="responses")
    unit = models.ForeignKey("organisation.OrgUnit", on_delete=models.PROTECT, related_name="+")
    invitation = models.OneToOneField(
        SurveyInvitation, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="response", help_text="Empty in anonymous rounds and for imported answers.",
    )
    respondent = models.CharField(
        max_length=64, blank=True,
        help_text="The respondent id of an imported answer sheet, if the file had one.")
    submitted_at = models.DateTimeField(default=timezone.now)
    answers = models.JSONField(default=dict)
    source = models.CharField(max_length=10, choices=ResponseSource.choices,
                              default=ResponseSource.WEB)

    class Meta:
        ordering = ["round", "unit", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["round", "respondent"], condition=~models.Q(respondent=""),
                name="assessment_response_unique_respondent_per_round"),
        ]

    def __str__(self) -> str:
        return f"response {self.pk} to {self.round.external_id} ({self.unit.external_id})"

    @property
    def respondent_id(self) -> str:
        """The id this response has in a responses table: the imported id, or ``R<pk>``."""
        return self.respondent or f"R{self.pk}"
