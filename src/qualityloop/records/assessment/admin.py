"""Admin pages for survey instruments, rounds, links and responses.

Links and responses are read-only here: links are issued by opening a round (the plain token is
shown once) and responses come from the survey form or an import.
"""

from django.contrib import admin

from qualityloop.records.assessment.models import (
    Instrument,
    SurveyInvitation,
    SurveyResponse,
    SurveyRound,
)
from qualityloop.records.history_admin import RecordHistoryAdmin


@admin.register(Instrument)
class InstrumentAdmin(RecordHistoryAdmin):
    list_display = ("external_id", "name", "version", "loaded_by", "loaded_on")
    search_fields = ("external_id", "name")
    readonly_fields = ("external_id", "name", "version")
    autocomplete_fields = ("loaded_by",)


@admin.register(SurveyRound)
class SurveyRoundAdmin(RecordHistoryAdmin):
    list_display = ("external_id", "name", "instrument", "status", "anonymous", "opened_on",
                    "closes_on")
    list_filter = ("status", "anonymous")
    search_fields = ("external_id", "name")
    autocomplete_fields = ("instrument", "units", "opened_by")


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SurveyInvitation)
class SurveyInvitationAdmin(ReadOnlyAdmin):
    list_display = ("pk", "round", "unit", "person", "created_at", "used_at")
    list_filter = ("round",)
    exclude = ("key_hash",)
    raw_id_fields = ("round", "unit", "person")


@admin.register(SurveyResponse)
class SurveyResponseAdmin(ReadOnlyAdmin):
    list_display = ("pk", "round", "unit", "source", "submitted_at")
    list_filter = ("round", "source")
    raw_id_fields = ("round", "unit", "invitation")
