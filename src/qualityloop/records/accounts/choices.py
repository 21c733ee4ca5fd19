from django.db import models


class Role(models.TextChoices):
    """What a user may do. Ordered from most to least powerful."""

    ADMIN = "admin", "Administrator"
    TOP_MANAGEMENT = "top-management", "Top management"
    QUALITY_MANAGER = "quality-manager", "Quality manager"
    UNIT_LEAD = "unit-lead", "Unit lead"
    STAFF = "staff", "Staff"
    VIEWER = "viewer", "Viewer (read only)"


WRITE_ROLES = frozenset(
    {Role.ADMIN, Role.TOP_MANAGEMENT, Role.QUALITY_MANAGER, Role.UNIT_LEAD, Role.STAFF}
)
