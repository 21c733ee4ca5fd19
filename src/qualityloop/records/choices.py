"""Choices shared by several record apps."""

from django.db import models


class Severity(models.TextChoices):
    """How serious a nonconformance or a complaint is."""

    MINOR = "minor", "Minor"
    MAJOR = "major", "Major"
    CRITICAL = "critical", "Critical"
