"""The quality system: policy, objectives, training, problem solving, change, management review."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

from qualityloop.records.base import HistoricalRecord
from qualityloop.records.quality import choices

PERSON = "organisation.Person"
WHY_LINES = range(1, 6)
UNIT = "organisation.OrgUnit"


class QualityPolicy(HistoricalRecord):
    """Top management's quality policy (ISO 9001 5.2), versioned."""

    title = models.CharField(max_length=200)
    statement = models.TextField()
    version = models.CharField(max_length=20, default="1")
    status = models.CharField(
        max_length=10, choices=choices.DocumentStatus.choices, default=choices.DocumentStatus.DRAFT
    )
    approved_by = models.ForeignKey(
        PERSON, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_on = models.DateField(null=True, blank=True)
    effective_from = models.DateField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "quality policies"

    def clean(self) -> None:
        if self.status == choices.DocumentStatus.APPROVED and not (
            self.approved_by_id and self.approved_on
        ):
            raise ValidationError("An approved policy needs an approver and an approval date.")


class QualityStrategy(HistoricalRecord):
    """A strategy top management sets to carry out the policy over a period."""

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    policy = models.ForeignKey(
        QualityPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="strategies"
    )
    owner = models.ForeignKey(PERSON, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    period_start = models.DateField()
    period_end = models.DateField()

    class Meta:
        verbose_name_plural = "quality strategies"

    def clean(self) -> None:
        if self.period_start and self.period_end and self.period_end < self.period_start:
            raise ValidationError({"period_end": "The period ends before it starts."})


class QualityObjective(HistoricalRecord):
    """A measurable quality objective (ISO 9001 6.2), cascaded from a parent objective."""

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    strategy = models.ForeignKey(
        QualityStrategy, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="objectives",
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    org_unit = models.ForeignKey(UNIT, on_delete=models.PROTECT, related_name="objectives")
    owner = models.ForeignKey(PERSON, on_delete=models.PROTECT, related_name="objectives_owned")
    kpi = models.CharField(
        max_length=200, help_text="The indicator measured, e.g. field defect rate"
    )
    unit_of_measure = models.CharField(max_length=30, blank=True)
    baseline = models.FloatField(null=True, blank=True)
    target = models.FloatField()
    direction = models.CharField(max_length=10, choices=choices.ObjectiveDirection.choices)
    tolerance = models.FloatField(
        default=0.0, help_text="For 'maintain': allowed distance from the target."
    )
    start_on = models.DateField(null=True, blank=True)
    due_on = models.DateField()
    resources = models.TextField(blank=True, help_text="People, budget, equipment allocated")
    budget = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    state = models.CharField(
        max_length=10, choices=choices.ObjectiveState.choices, default=choices.ObjectiveState.ACTIVE
    )

    class Meta:
        ordering = ["due_on", "title"]

    def clean(self) -> None:
        node = self.parent
        while node is not None:
            if self.pk is not None and node.pk == self.pk:
                raise ValidationError({"parent": "An objective cannot be its own ancestor."})
            node = node.parent

    def is_met_by(self, value: float) -> bool:
        """Whether a measured value meets the target in the objective's direction."""
        if self.direction == choices.ObjectiveDirection.INCREASE:
            return value >= self.target
        if self.direction == choices.ObjectiveDirection.DECREASE:
            return value <= self.target
        return abs(value - self.target) <= self.tolerance


class ObjectiveMeasurement(HistoricalRecord):
    objective = models.ForeignKey(
        QualityObjective, on_delete=models.CASCADE, related_name="measurements"
    )
    measured_on = models.DateField()
    value = models.FloatField()
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["objective", "measured_on"]


class TrainingCourse(HistoricalRecord):
    title = models.CharField(max_length=200)
    course_type = models.CharField(max_length=30, choices=choices.CourseType.choices)
    description = models.TextField(blank=True)
    duration_hours = models.FloatField(default=1.0, validators=[MinValueValidator(0)])
    validity_months = models.PositiveIntegerField(
        null=True, blank=True, help_text="Re-training is due this many months after completion."
    )

    class Meta:
        ordering = ["title"]


class TrainingRecord(HistoricalRecord):
    """A person's completion of a course, with assessed competence (ISO 9001 7.2)."""

    person = models.ForeignKey(PERSON, on_delete=models.CASCADE, related_name="training_records")
    course = models.ForeignKey(TrainingCourse, on_delete=models.PROTECT, related_name="records")
    completed_on = models.DateField()
    score = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    passed = models.BooleanField(default=True)
    competence_level = models.PositiveSmallIntegerField(
        choices=choices.CompetenceLevel.choices, null=True, blank=True
    )
    assessed_by = models.ForeignKey(
        PERSON, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["-completed_on"]


class Nonconformance(HistoricalRecord):
    """A nonconformity (ISO 9001 10.2) found at some stage of the product lifecycle."""

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    org_unit = models.ForeignKey(UNIT, on_delete=models.PROTECT, related_name="nonconformances")
    detected_on = models.DateField()
    detected_by = models.ForeignKey(
        PERSON, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    stage = models.CharField(max_length=12, choices=choices.LifecycleStage.choices)
    source = models.CharField(max_length=20, choices=choices.NonconformanceSource.choices)
    severity = models.CharField(max_length=10, choices=choices.Severity.choices)
    cause_category = models.CharField(
        max_length=12, choices=choices.CauseCategory.choices, blank=True
    )
    containment = models.TextField(blank=True)
    # The 5 whys: each "why" asks about the "because" before it; the last "because" is the root
    # cause. Ten plain columns, so they import, export, show in the API and in history as text.
    why_1 = models.CharField("why 1", max_length=300, blank=True, default="")
    because_1 = models.CharField("because 1", max_length=300, blank=True, default="")
    why_2 = models.CharField("why 2", max_length=300, blank=True, default="")
    because_2 = models.CharField("because 2", max_length=300, blank=True, default="")
    why_3 = models.CharField("why 3", max_length=300, blank=True, default="")
    because_3 = models.CharField("because 3", max_length=300, blank=True, default="")
    why_4 = models.CharField("why 4", max_length=300, blank=True, default="")
    because_4 = models.CharField("because 4", max_length=300, blank=True, default="")
    why_5 = models.CharField("why 5", max_length=300, blank=True, default="")
    because_5 = models.CharField("because 5", max_length=300, blank=True, default="")
    root_cause = models.TextField(blank=True, help_text="Result of 5 whys or other cause analysis")
    quantity_affected = models.PositiveIntegerField(default=1)
    cost_of_poor_quality = models.DecimalField(
        max_digits=14, decimal_places=2, default=0, validators=[MinValueValidator(0)]
    )
    affected_customers = models.ManyToManyField(
        "customers.Customer", blank=True, related_name="nonconformances"
    )
    design_project = models.ForeignKey(
        "customers.DesignProject", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="nonconformances",
    )
    complaint = models.ForeignKey(
        "customers.Complaint", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="nonconformances",
    )
    status = models.CharField(
        max_length=12, choices=choices.NonconformanceStatus.choices,
        default=choices.NonconformanceStatus.OPEN,
    )
    closed_on = models.DateField(null=True, blank=True)
    # The closing signature: set only by the close step, after the signer re-entered a password
    # (not editable, so no form, import or API body can write it).
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, editable=False,
        on_delete=models.SET_NULL, related_name="+", verbose_name="closed and signed by",
    )
    signed_at = models.DateTimeField("signed at", null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-detected_on"]

    def clean(self) -> None:
        if self.status == choices.NonconformanceStatus.CLOSED and not self.closed_on:
            raise ValidationError({"closed_on": "A closed nonconformance needs a closing date."})
        if self.closed_on and self.detected_on and self.closed_on < self.detected_on:
            raise ValidationError({"closed_on": "Closed before it was detected."})
        if self.status == choices.NonconformanceStatus.CLOSED and self.pk is not None:
            self._check_closing()

    def whys(self) -> list[tuple[str, str]]:
        """The 5 whys filled in so far, as (why, because) pairs."""
        pairs = [(getattr(self, f"why_{i}"), getattr(self, f"because_{i}")) for i in WHY_LINES]
        return [(why, because) for why, because in pairs if why or because]

    def closing_blockers(self) -> list[str]:
        """Why the nonconformance may not close yet (empty when it may).

        Every action must have an effectiveness verdict (cancelled ones aside), and at least one
        must have been verified effective: an action found ineffective needs a follow-up that
        works.
        """
        actions = [a for a in self.actions.order_by("due_on", "pk")
                   if a.status != choices.ActionStatus.CANCELLED]
        if not actions:
            return ["No action has been recorded: add a corrective action and verify that it "
                    "is effective before closing."]
        verdicts = (choices.ActionStatus.EFFECTIVE, choices.ActionStatus.INEFFECTIVE)
        problems = [
            f"Action {a.external_id} ({a.description[:60]}) has no effectiveness verdict yet "
            f"(status: {a.get_status_display()}); record its effectiveness check first."
            for a in actions if a.status not in verdicts
        ]
        if not problems and not any(a.status == choices.ActionStatus.EFFECTIVE for a in actions):
            failed = ", ".join(a.external_id for a in actions)
            problems.append(f"No action was verified effective ({failed} found ineffective): "
                            "add a follow-up action and verify it.")
        return problems

    def _check_closing(self) -> None:
        """Closing an open nonconformance needs a fresh signature and every action verified.

        A record created already closed (an import of past work, say) is not checked: its
        actions may follow in the same import, and the work was signed off elsewhere.
        """
        stored = type(self)._default_manager.filter(pk=self.pk).values(
            "status", "signed_at").first()
        if stored is None or stored["status"] == choices.NonconformanceStatus.CLOSED:
            return
        problems = []
        if self.signed_at is None or self.signed_at == stored["signed_at"]:
            problems.append(
                "Closing a nonconformance needs a signature: use Close on its page (or POST "
                f"/api/nonconformances/{self.external_id}/close), which asks for your password.")
        problems.extend(self.closing_blockers())
        if problems:
            raise ValidationError({"status": problems})


class CorrectiveAction(HistoricalRecord):
    """A correction, corrective or preventive action, closed only after an effectiveness check."""

    nonconformance = models.ForeignKey(
        Nonconformance, null=True, blank=True, on_delete=models.CASCADE, related_name="actions"
    )
    kind = models.CharField(max_length=12, choices=choices.ActionKind.choices)
    description = models.TextField()
    root_cause = models.TextField(blank=True)
    owner = models.ForeignKey(PERSON, on_delete=models.PROTECT, related_name="actions_owned")
    due_on = models.DateField()
    completed_on = models.DateField(null=True, blank=True)
    status = models.CharField(
        max_length=12, choices=choices.ActionStatus.choices, default=choices.ActionStatus.PLANNED
    )
    effectiveness_criteria = models.TextField(blank=True)
    effectiveness_checked_on = models.DateField(null=True, blank=True)
    effectiveness_result = models.TextField(blank=True)
    verified_by = models.ForeignKey(
        PERSON, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # An action decided by a management review (ISO 9001 9.3.3) instead of raised by an NC.
    management_review = models.ForeignKey(
        "ManagementReview", null=True, blank=True, on_delete=models.CASCADE,
        related_name="actions",
    )

    class Meta:
        ordering = ["due_on"]

    def clean(self) -> None:
        verdicts = (choices.ActionStatus.EFFECTIVE, choices.ActionStatus.INEFFECTIVE)
        if self.status in verdicts and not self.effectiveness_checked_on:
            raise ValidationError(
                {"effectiveness_checked_on": "Effectiveness can only be judged after a check."}
            )


class ChangeRequest(HistoricalRecord):
    """A controlled change to the quality system, process or product (ISO 9001 6.3, 8.5.6)."""

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    reason = models.TextField()
    org_unit = models.ForeignKey(UNIT, on_delete=models.PROTECT, related_name="change_requests")
    requested_by = models.ForeignKey(PERSON, on_delete=models.PROTECT, related_name="+")
    requested_on = models.DateField()
    risk_level = models.CharField(max_length=6, choices=choices.RiskLevel.choices)
    risk_assessment = models.TextField(blank=True)
    status = models.CharField(
        max_length=12, choices=choices.ChangeStatus.choices, default=choices.ChangeStatus.DRAFT
    )
    approver = models.ForeignKey(
        PERSON, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_on = models.DateField(null=True, blank=True)
    decision_note = models.TextField(blank=True, help_text="Why it was approved or rejected")
    implemented_on = models.DateField(null=True, blank=True)
    implementation_note = models.TextField(blank=True, help_text="What was done, and where")
    verified_on = models.DateField(null=True, blank=True)
    verified_by = models.ForeignKey(
        PERSON, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    verification_note = models.TextField(blank=True)
    # The decision's signature: set only by the approve and reject steps, after the signer
    # re-entered a password (not editable, so no form, import or API body can write it).
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, editable=False,
        on_delete=models.SET_NULL, related_name="+", verbose_name="decided and signed by",
    )
    signed_at = models.DateTimeField("signed at", null=True, blank=True, editable=False)
    related_nonconformances = models.ManyToManyField(
        Nonconformance, blank=True, related_name="change_requests"
    )
    related_objectives = models.ManyToManyField(
        QualityObjective, blank=True, related_name="change_requests"
    )

    class Meta:
        ordering = ["-requested_on"]

    def clean(self) -> None:
        needs_approval = (
            choices.ChangeStatus.APPROVED, choices.ChangeStatus.IMPLEMENTED,
            choices.ChangeStatus.VERIFIED, choices.ChangeStatus.CLOSED,
        )
        if self.status in needs_approval and not (
            (self.approver_id or self.signed_by_id) and self.approved_on
        ):
            raise ValidationError("An approved change needs an approver and an approval date.")
        if self.status in (choices.ChangeStatus.APPROVED, choices.ChangeStatus.REJECTED):
            self._check_decision()

    def _check_decision(self) -> None:
        """Approving or rejecting a change needs a fresh signature (``services.change_control``).

        A record created already decided (an import of past changes) is not checked: it was
        signed off elsewhere.
        """
        stored = type(self)._default_manager.filter(pk=self.pk).values(
            "status", "signed_at").first() if self.pk is not None else None
        if stored is None or stored["status"] == self.status:
            return
        if self.signed_at is None or self.signed_at == stored["signed_at"]:
            raise ValidationError({"status": (
                "Approving or rejecting a change needs a signature: use Approve or Reject on its "
                f"page (or POST /api/change-requests/{self.external_id}/approve), which asks for "
                "your password.")})


class ManagementReview(HistoricalRecord):
    """A management review (ISO 9001 9.3) with its inputs and outputs."""

    title = models.CharField(max_length=200)
    held_on = models.DateField()
    chair = models.ForeignKey(PERSON, on_delete=models.PROTECT, related_name="+")
    attendees = models.ManyToManyField(
        "organisation.Person", blank=True, related_name="management_reviews"
    )
    status = models.CharField(
        max_length=8, choices=choices.ReviewStatus.choices, default=choices.ReviewStatus.PLANNED
    )
    period_start = models.DateField(null=True, blank=True,
                                    help_text="First day of the period the review pack covers")
    period_end = models.DateField(null=True, blank=True,
                                  help_text="Last day of the period the review pack covers")
    # Inputs (9.3.2)
    previous_actions = models.TextField(blank=True)
    external_internal_changes = models.TextField(blank=True)
    customer_satisfaction = models.TextField(blank=True)
    objectives_performance = models.TextField(blank=True)
    nonconformities_and_actions = models.TextField(blank=True)
    audit_results = models.TextField(blank=True)
    supplier_performance = models.TextField(blank=True)
    risks_and_opportunities = models.TextField(blank=True)
    # Outputs (9.3.3)
    improvement_opportunities = models.TextField(blank=True)
    system_changes = models.TextField(blank=True)
    resource_needs = models.TextField(blank=True)
    decisions = models.TextField(blank=True)

    class Meta:
        ordering = ["-held_on"]

    def clean(self) -> None:
        if self.period_start and self.period_end and self.period_end < self.period_start:
            raise ValidationError({"period_end": "The period ends before it starts."})


class ProcessMeasurement(HistoricalRecord):
    """One measured value of a process characteristic, the raw data of x-bar/R and I-MR charts.

    Values measured together share a ``subgroup`` (the sample id); subgroups of one value are
    charted as individuals. Specification limits, when given, are those in force for the value.
    """

    characteristic = models.CharField(max_length=100, help_text="e.g. Shaft diameter")
    org_unit = models.ForeignKey(UNIT, on_delete=models.PROTECT, related_name="measurements")
    subgroup = models.CharField(max_length=64, help_text="Sample id: values measured together")
    measured_at = models.DateTimeField()
    value = models.FloatField()
    unit_of_measure = models.CharField(max_length=30, blank=True)
    lsl = models.FloatField("lower specification limit", null=True, blank=True)
    usl = models.FloatField("upper specification limit", null=True, blank=True)

    class Meta:
        ordering = ["characteristic", "measured_at", "pk"]
        indexes = [models.Index(fields=["org_unit", "characteristic", "measured_at"])]

    def clean(self) -> None:
        if self.lsl is not None and self.usl is not None and not self.lsl < self.usl:
            raise ValidationError({"usl": "The upper specification limit must be above the "
                                          "lower one."})


class SignatureFailures(models.Model):
    """A user's wrong signature passwords in a row (``services.signatures``): the count behind
    the signature lockout, shared by every server process. A good signature deletes it."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                primary_key=True, related_name="+")
    failures = models.PositiveIntegerField(default=0)
    last_failure_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "signature failures"

    def __str__(self) -> str:
        return f"{self.failures} wrong signature password(s), the last at {self.last_failure_at}"


class SignatureRefusal(models.Model):
    """A refused electronic signature, kept for the audit log (21 CFR Part 11, 11.300(d)):
    a wrong password, the lockout it started, or an attempt while locked.

    Written once by ``services.signatures`` and never changed; its history row is what the audit
    log lists (user, time, ``external_id`` of the record being signed, the reason).
    """

    external_id = models.CharField(max_length=64, blank=True, db_index=True,
                                   help_text="The record that was being signed")
    at = models.DateTimeField(db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                             related_name="+")
    username = models.CharField(max_length=150, help_text="Kept if the user is deleted")
    step = models.CharField(max_length=20, help_text="closing, approving, rejecting")
    reason = models.CharField(max_length=20, choices=choices.SignatureRefusalReason.choices)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.get_reason_display()}: {self.username}, {self.step} {self.external_id}"
