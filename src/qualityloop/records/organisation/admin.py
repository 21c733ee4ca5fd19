"""Admin pages for the organisation: units and people (with their history)."""

from django.contrib import admin

from qualityloop.records.history_admin import RecordHistoryAdmin
from qualityloop.records.organisation.models import OrgUnit, Person


@admin.register(OrgUnit)
class OrgUnitAdmin(RecordHistoryAdmin):
    list_display = ("external_id", "name", "kind", "parent", "head")
    list_filter = ("kind",)
    search_fields = ("external_id", "name")
    autocomplete_fields = ("parent", "head")


@admin.register(Person)
class PersonAdmin(RecordHistoryAdmin):
    list_display = ("external_id", "name", "job_title", "org_unit", "is_top_management", "active")
    list_filter = ("is_top_management", "active", "org_unit")
    search_fields = ("external_id", "name", "email", "job_title")
    autocomplete_fields = ("org_unit", "user")
