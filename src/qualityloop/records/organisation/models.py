"""The organisation: a tree of units and the people in them."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from qualityloop.records.base import HistoricalRecord
from qualityloop.records.organisation.choices import UnitKind


class OrgUnit(HistoricalRecord):
    """A unit of the organisation (company, division, site, department, team)."""

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=UnitKind.choices, default=UnitKind.DEPARTMENT)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    head = models.ForeignKey(
        "organisation.Person",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="units_headed",
    )
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "org unit"

    def clean(self) -> None:
        node = self.parent
        while node is not None:
            if node.pk == self.pk and self.pk is not None:
                raise ValidationError({"parent": "A unit cannot be its own ancestor."})
            node = node.parent

    def ancestors(self) -> list[OrgUnit]:
        """Units above this one, nearest first."""
        chain, node = [], self.parent
        while node is not None:
            chain.append(node)
            node = node.parent
        return chain

    def descendants(self) -> list[OrgUnit]:
        """All units below this one (breadth first)."""
        found: list[OrgUnit] = []
        frontier = list(self.children.all())
        while frontier:
            found.extend(frontier)
            frontier = list(OrgUnit.objects.filter(parent__in=frontier))
        return found


class Person(HistoricalRecord):
    """Someone who owns objectives, is trained, raises or solves problems."""

    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    job_title = models.CharField(max_length=200, blank=True)
    org_unit = models.ForeignKey(
        OrgUnit, null=True, blank=True, on_delete=models.PROTECT, related_name="people"
    )
    is_top_management = models.BooleanField(default=False)
    active = models.BooleanField(default=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="person",
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "people"
