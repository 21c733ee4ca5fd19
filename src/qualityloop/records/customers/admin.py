"""Admin pages for customers and what they tell us. Customers can number 100,000 and orders
millions, so references are picked by autocomplete and lists skip the full count."""

from django.contrib import admin

from qualityloop.records.customers.models import (
    Complaint,
    Customer,
    CustomerRequirement,
    DesignProject,
    DesignStageReview,
    FeedbackResponse,
    Order,
    RequirementMeasurement,
)
from qualityloop.records.history_admin import ReadScopedAdmin, RecordHistoryAdmin


@admin.register(Customer)
class CustomerAdmin(RecordHistoryAdmin):
    list_display = ("external_id", "name", "segment", "serving_unit", "acquired_on", "status",
                    "churned_on")
    list_filter = ("status", "segment", "serving_unit")
    search_fields = ("external_id", "name")
    autocomplete_fields = ("serving_unit", "account_manager")
    show_full_result_count = False


@admin.register(CustomerRequirement)
class CustomerRequirementAdmin(RecordHistoryAdmin):
    list_display = ("external_id", "title", "kind", "customer", "segment", "characteristic",
                    "target", "direction")
    list_filter = ("kind", "segment", "direction")
    search_fields = ("external_id", "title", "characteristic")
    autocomplete_fields = ("customer",)


@admin.register(RequirementMeasurement)
class RequirementMeasurementAdmin(RecordHistoryAdmin):
    list_display = ("external_id", "requirement", "customer", "measured_on", "value", "outcome")
    list_filter = ("outcome",)
    search_fields = ("external_id", "requirement__title")
    autocomplete_fields = ("requirement", "customer")
    show_full_result_count = False


@admin.register(Order)
class OrderAdmin(ReadScopedAdmin):
    list_display = ("external_id", "customer", "ordered_on", "amount", "currency", "product")
    list_filter = ("currency",)
    search_fields = ("external_id",)
    autocomplete_fields = ("customer",)
    list_select_related = ("customer",)
    show_full_result_count = False


@admin.register(FeedbackResponse)
class FeedbackResponseAdmin(RecordHistoryAdmin):
    list_display = ("external_id", "customer", "responded_on", "channel", "nps", "csat", "ces")
    list_filter = ("channel",)
    search_fields = ("external_id", "comment")
    autocomplete_fields = ("customer",)
    list_select_related = ("customer",)
    show_full_result_count = False


@admin.register(Complaint)
class ComplaintAdmin(RecordHistoryAdmin):
    list_display = ("external_id", "customer", "received_on", "severity", "status", "resolved_on",
                    "outcome")
    list_filter = ("status", "severity", "outcome", "channel", "org_unit")
    search_fields = ("external_id", "category", "description")
    autocomplete_fields = ("customer", "org_unit", "handler")
    list_select_related = ("customer",)
    show_full_result_count = False


@admin.register(DesignProject)
class DesignProjectAdmin(RecordHistoryAdmin):
    list_display = ("external_id", "name", "org_unit", "current_stage", "status", "started_on")
    list_filter = ("status", "current_stage", "org_unit")
    search_fields = ("external_id", "name", "product")
    autocomplete_fields = ("org_unit", "lead")


@admin.register(DesignStageReview)
class DesignStageReviewAdmin(RecordHistoryAdmin):
    list_display = ("external_id", "project", "stage", "held_on", "defects_found", "outcome")
    list_filter = ("stage", "outcome")
    search_fields = ("external_id", "project__name")
    autocomplete_fields = ("project", "customer_participants")
