from django.db import models


class UnitKind(models.TextChoices):
    COMPANY = "company", "Company"
    DIVISION = "division", "Division"
    SITE = "site", "Site"
    DEPARTMENT = "department", "Department"
    TEAM = "team", "Team"
