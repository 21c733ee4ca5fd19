"""Customers and everything they tell us: requirements, orders, feedback, complaints, and their
part in design and development."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from qualityloop.records.base import HistoricalRecord, Record
from qualityloop.records.customers import choices


class Customer(HistoricalRecord):
    name = models.CharField(max_length=200)
    segment = models.CharField(max_length=20, choices=choices.Segment.choices)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166 alpha-2 code")
    acquired_on = models.DateField()
    serving_unit = models.ForeignKey(
        "organisation.OrgUnit", on_delete=models.PROTECT, related_name="customers"
    )
    account_manager = models.ForeignKey(
        "organisation.Person", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="accounts",
    )
    status = models.CharField(
        max_length=10, choices=choices.CustomerStatus.choices, default=choices.CustomerStatus.ACTIVE
    )
    churned_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        # The list's sort (name, then id) and the page cache's data stamp (web/page_cache.py).
        indexes = [models.Index(fields=["name", "id"]), models.Index(fields=["updated_at"])]

    def clean(self) -> None:
        if self.churned_on and self.acquired_on and self.churned_on < self.acquired_on:
            raise ValidationError({"churned_on": "Churn date is before the acquisition date."})
        if self.status == choices.CustomerStatus.CHURNED and not self.churned_on:
            raise ValidationError({"churned_on": "A churned customer needs a churn date."})


class CustomerRequirement(HistoricalRecord):
    """What a customer (or a whole segment) requires or expects, with a measurable target."""

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    kind = models.CharField(
        max_length=12, choices=choices.RequirementKind.choices,
        default=choices.RequirementKind.REQUIREMENT,
    )
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="requirements"
    )
    segment = models.CharField(max_length=20, choices=choices.Segment.choices, blank=True)
    characteristic = models.CharField(
        max_length=100, help_text="What is measured, e.g. on-time delivery or first-pass yield"
    )
    unit_of_measure = models.CharField(max_length=30, blank=True)
    target = models.FloatField()
    surpass_threshold = models.FloatField(
        null=True, blank=True,
        help_text="Performance at or beyond this value counts as surpassing the requirement.",
    )
    direction = models.CharField(
        max_length=6, choices=choices.Direction.choices, default=choices.Direction.HIGHER_IS_BETTER
    )

    def clean(self) -> None:
        if bool(self.customer_id) == bool(self.segment):
            raise ValidationError("A requirement belongs to exactly one customer or one segment.")

    def judge(self, value: float) -> str:
        """Classify a measured value as surpassed, met or missed against this requirement."""
        better = (lambda a, b: a >= b) if self.direction == "higher" else (lambda a, b: a <= b)
        if self.surpass_threshold is not None and better(value, self.surpass_threshold):
            return choices.Outcome.SURPASSED
        return choices.Outcome.MET if better(value, self.target) else choices.Outcome.MISSED


class RequirementMeasurement(HistoricalRecord):
    """Delivered performance against a requirement in one period."""

    requirement = models.ForeignKey(
        CustomerRequirement, on_delete=models.CASCADE, related_name="measurements"
    )
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.CASCADE,
        related_name="requirement_measurements",
    )
    measured_on = models.DateField()
    value = models.FloatField()
    outcome = models.CharField(max_length=10, choices=choices.Outcome.choices, editable=False)

    class Meta:
        ordering = ["-measured_on"]
        indexes = [models.Index(fields=["measured_on", "id"])]  # the list's sort

    def save(self, *args, **kwargs):
        self.outcome = self.requirement.judge(self.value)
        super().save(*args, **kwargs)


class Order(Record):
    """A purchase: the transaction stream behind retention analytics (kept without history)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="orders")
    ordered_on = models.DateField(db_index=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2,
                                 validators=[MinValueValidator(0)])
    currency = models.CharField(max_length=3, default="EUR")
    product = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-ordered_on"]
        indexes = [models.Index(fields=["customer", "ordered_on"])]


class FeedbackResponse(HistoricalRecord):
    """One customer's answer to a feedback survey: NPS 0-10, CSAT 1-5, CES 1-7."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="feedback")
    responded_on = models.DateField()
    channel = models.CharField(
        max_length=10, choices=choices.Channel.choices, default=choices.Channel.SURVEY
    )
    nps = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(10)],
        help_text="Likelihood to recommend, 0-10",
    )
    csat = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)],
        help_text="Satisfaction, 1-5",
    )
    ces = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(7)],
        help_text="Customer effort, 1-7 (lower is easier)",
    )
    comment = models.TextField(blank=True)

    class Meta:
        ordering = ["-responded_on"]
        # The list's sort and the page cache's data stamp (web/page_cache.py).
        indexes = [models.Index(fields=["responded_on", "id"]), models.Index(fields=["updated_at"])]
        constraints = [
            models.CheckConstraint(condition=models.Q(nps__lte=10), name="feedback_nps_0_10"),
            models.CheckConstraint(
                condition=models.Q(csat__gte=1, csat__lte=5), name="feedback_csat_1_5"
            ),
            models.CheckConstraint(
                condition=models.Q(ces__gte=1, ces__lte=7), name="feedback_ces_1_7"
            ),
        ]

    def clean(self) -> None:
        if self.nps is None and self.csat is None and self.ces is None:
            raise ValidationError("A feedback response needs at least one of NPS, CSAT or CES.")


def _step_user(label: str) -> models.ForeignKey:
    return models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, editable=False,
                             on_delete=models.SET_NULL, related_name="+", verbose_name=label)


class Complaint(HistoricalRecord):
    """A complaint handled through the ISO 10002 lifecycle."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="complaints")
    received_on = models.DateField()
    channel = models.CharField(
        max_length=10, choices=choices.Channel.choices, default=choices.Channel.EMAIL
    )
    category = models.CharField(max_length=100, blank=True)
    description = models.TextField()
    requested_remedy = models.TextField(blank=True)
    severity = models.CharField(
        max_length=10, choices=choices.Severity.choices, default=choices.Severity.MINOR
    )
    org_unit = models.ForeignKey(
        "organisation.OrgUnit", null=True, blank=True, on_delete=models.PROTECT,
        related_name="complaints",
    )
    handler = models.ForeignKey(
        "organisation.Person", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="complaints_handled",
    )
    status = models.CharField(
        max_length=15, choices=choices.ComplaintStatus.choices,
        default=choices.ComplaintStatus.RECEIVED,
    )
    acknowledged_on = models.DateField(null=True, blank=True)
    assessed_on = models.DateField(null=True, blank=True)
    investigated_on = models.DateField(null=True, blank=True)
    investigation = models.TextField(blank=True, help_text="What the investigation found")
    responded_on = models.DateField(null=True, blank=True)
    response = models.TextField(blank=True, help_text="The decision and remedy told the customer")
    resolved_on = models.DateField(null=True, blank=True)
    closed_on = models.DateField(null=True, blank=True)
    outcome = models.CharField(
        max_length=15, choices=choices.ComplaintOutcome.choices, blank=True
    )
    satisfaction_with_handling = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)],
        help_text="The customer's satisfaction with how the complaint was handled, 1-5",
    )
    # Who took each lifecycle step: set only by services/complaints.py (not editable, so no
    # form, import or API body can claim a step for someone else).
    acknowledged_by = _step_user("acknowledged by")
    assessed_by = _step_user("assessed by")
    investigated_by = _step_user("investigated by")
    responded_by = _step_user("responded by")
    closed_by = _step_user("closed by")

    class Meta:
        ordering = ["-received_on"]
        # The service-level queries of the dashboard (services/complaints.py past_sla): not yet
        # acknowledged, and not yet resolved, by receipt day.
        indexes = [models.Index(fields=["status", "received_on"]),
                   models.Index(fields=["resolved_on", "closed_on", "received_on"]),
                   models.Index(fields=["received_on", "id"])]  # the list's sort

    def clean(self) -> None:
        errors = {}
        for field in ("acknowledged_on", "assessed_on", "investigated_on", "responded_on",
                      "resolved_on", "closed_on"):
            value = getattr(self, field)
            if value and self.received_on and value < self.received_on:
                errors[field] = "Date is before the complaint was received."
        if errors:
            raise ValidationError(errors)


class DesignProject(HistoricalRecord):
    """A design and development project (ISO 9001 8.3) that customers may take part in."""

    name = models.CharField(max_length=200)
    product = models.CharField(max_length=200, blank=True)
    org_unit = models.ForeignKey(
        "organisation.OrgUnit", on_delete=models.PROTECT, related_name="design_projects"
    )
    lead = models.ForeignKey(
        "organisation.Person", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="design_projects_led",
    )
    started_on = models.DateField()
    target_launch_on = models.DateField(null=True, blank=True)
    current_stage = models.CharField(
        max_length=12, choices=choices.DesignStage.choices, default=choices.DesignStage.CONCEPT
    )
    status = models.CharField(
        max_length=10, choices=choices.ProjectStatus.choices, default=choices.ProjectStatus.ACTIVE
    )

    class Meta:
        ordering = ["-started_on"]


class DesignStageReview(HistoricalRecord):
    """The review closing one stage of a design project: who from the customer took part, and the
    defects it found (defects that escaped later show up as nonconformances)."""

    project = models.ForeignKey(DesignProject, on_delete=models.CASCADE, related_name="reviews")
    stage = models.CharField(max_length=12, choices=choices.DesignStage.choices)
    held_on = models.DateField()
    customer_participants = models.ManyToManyField(
        Customer, blank=True, related_name="design_reviews"
    )
    defects_found = models.PositiveIntegerField(default=0)
    outcome = models.CharField(
        max_length=12, choices=choices.ReviewOutcome.choices, default=choices.ReviewOutcome.PASSED
    )
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["project", "held_on"]
