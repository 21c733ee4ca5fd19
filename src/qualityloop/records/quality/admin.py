"""Admin pages for the quality system records, each with its full history."""

from django.contrib import admin

from qualityloop.records.history_admin import RecordHistoryAdmin
from qualityloop.records.quality.models import (
    ChangeRequest,
    CorrectiveAction,
    ManagementReview,
    Nonconformance,
    ObjectiveMeasurement,
    ProcessMeasurement,
    QualityObjective,
    QualityPolicy,
    QualityStrategy,
    TrainingCourse,
    TrainingRecord,
)


@admin.register(QualityPolicy)
class QualityPolicyAdmin(RecordHistoryAdmin):
    list_display = ("external_id", "title", "version", "status", "approved_on", "effective_from")
    list_filter = ("status",)
    search_fields = ("external_id", "title", "statement")
    autocomplete_fields = ("approved_by",)


@admin.register(QualityStrategy)
class QualityStrategyAdmin(RecordHistoryAdmin):
    list_display = ("external_id", "title", "policy", "owner", "period_start", "period_end")
    search_fields = ("external_id", "title")
    autocomplete_fields = ("policy", "owner")


@admin.register(QualityObjective)
class QualityObjectiveAdmin(RecordHistoryAdmin):
    list_display = ("external_id", "title", "org_unit", "owner", "kpi", "target", "direction",
                    "due_on", "state")
    list_filter = ("state", "direction", "org_unit")
    search_fields = ("external_id", "title", "kpi")
    autocomplete_fields = ("strategy", "parent", "org_unit", "owner")


@admin.register(ObjectiveMeasurement)
class ObjectiveMeasurementAdmin(RecordHistoryAdmin):
    list_display = ("external_id", "objective", "measured_on", "value")
    search_fields = ("external_id", "objective__title")
    autocomplete_fields = ("objective",)


@admin.register(TrainingCourse)
class TrainingCourseAdmin(RecordHistoryAdmin):
    list_display = ("external_id", "title", "course_type", "duration_hours", "validity_months")
    list_filter = ("course_type",)
    search_fields = ("external_id", "title")


@admin.register(TrainingRecord)
class TrainingRecordAdmin(RecordHistoryAdmin):
    list_display = ("external_id", "person", "course", "completed_on", "score", "passed",
                    "competence_level")
    list_filter = ("passed", "competence_level", "course")
    search_fields = ("external_id", "person__name", "course__title")
    autocomplete_fields = ("person", "course", "assessed_by")
    list_select_related = ("person", "course")


@admin.register(Nonconformance)
class NonconformanceAdmin(RecordHistoryAdmin):
    list_display = ("external_id", "title", "org_unit", "stage", "severity", "cause_category",
                    "detected_on", "status")
    list_filter = ("status", "stage", "severity", "cause_category", "source", "org_unit")
    search_fields = ("external_id", "title", "description")
    autocomplete_fields = ("org_unit", "detected_by", "affected_customers", "design_project",
                           "complaint")
    list_select_related = ("org_unit",)


@admin.register(CorrectiveAction)
class CorrectiveActionAdmin(RecordHistoryAdmin):
    list_display = ("external_id", "nonconformance", "kind", "owner", "due_on", "completed_on",
                    "status")
    list_filter = ("status", "kind")
    search_fields = ("external_id", "description", "root_cause")
    autocomplete_fields = ("nonconformance", "owner", "verified_by", "management_review")
    list_select_related = ("nonconformance", "owner")


@admin.register(ChangeRequest)
class ChangeRequestAdmin(RecordHistoryAdmin):
    list_display = ("external_id", "title", "org_unit", "requested_on", "risk_level", "status")
    list_filter = ("status", "risk_level", "org_unit")
    search_fields = ("external_id", "title", "reason")
    autocomplete_fields = ("org_unit", "requested_by", "approver", "verified_by",
                           "related_nonconformances", "related_objectives")


@admin.register(ManagementReview)
class ManagementReviewAdmin(RecordHistoryAdmin):
    list_display = ("external_id", "title", "held_on", "chair", "status")
    list_filter = ("status",)
    search_fields = ("external_id", "title", "decisions")
    autocomplete_fields = ("chair", "attendees")


@admin.register(ProcessMeasurement)
class ProcessMeasurementAdmin(RecordHistoryAdmin):
    list_display = ("external_id", "characteristic", "org_unit", "subgroup", "measured_at",
                    "value", "unit_of_measure")
    list_filter = ("characteristic", "org_unit")
    search_fields = ("external_id", "characteristic", "subgroup")
    autocomplete_fields = ("org_unit",)
    list_select_related = ("org_unit",)
