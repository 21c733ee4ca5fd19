"""Admin pages for the organisation: units and people (with their history)."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from qualityloop.records.organisation.models import OrgUnit, Person


@admin.register(OrgUnit)
class OrgUnitAdmin(SimpleHistoryAdmin):
    list_display = ("external_id", "name", "kind", "parent", "head")
    list_filter = ("kind",)
    search_fields = ("external_id", "name")
    autocomplete_fields = ("parent", "head")


@admin.register(Person)
class PersonAdmin(SimpleHistoryAdmin):
    list_display = ("external_id", "name", "job_title", "org_unit", "is_top_management", "active")
    list_filter = ("is_top_management", "active", "org_unit")
    search_fields = ("external_id", "name", "email", "job_title")
    autocomplete_fields = ("org_unit", "user")
