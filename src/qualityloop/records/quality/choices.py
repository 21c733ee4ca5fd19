from django.db import models

from qualityloop.records.choices import Severity  # noqa: F401  (re-exported)


class DocumentStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    APPROVED = "approved", "Approved"
    RETIRED = "retired", "Retired"


class ObjectiveDirection(models.TextChoices):
    INCREASE = "increase", "Increase (higher is better)"
    DECREASE = "decrease", "Decrease (lower is better)"
    MAINTAIN = "maintain", "Maintain at target"


class ObjectiveState(models.TextChoices):
    ACTIVE = "active", "Active"
    ACHIEVED = "achieved", "Achieved"
    MISSED = "missed", "Missed"
    CANCELLED = "cancelled", "Cancelled"


class CourseType(models.TextChoices):
    PROBLEM_RECOGNITION = "problem_recognition", "Problem recognition"
    PROBLEM_SOLVING = "problem_solving", "Problem solving (8D, 5 whys)"
    QUALITY_TOOLS = "quality_tools", "Quality tools and SPC"
    PROCESS = "process", "Process and work instructions"
    QMS_AWARENESS = "qms_awareness", "QMS awareness"
    SAFETY = "safety", "Safety"


class CompetenceLevel(models.IntegerChoices):
    AWARE = 1, "1 - Aware"
    TRAINED = 2, "2 - Trained, supervised"
    COMPETENT = 3, "3 - Competent"
    EXPERT = 4, "4 - Expert, can train others"


class LifecycleStage(models.TextChoices):
    DESIGN = "design", "Design"
    PROTOTYPE = "prototype", "Prototype"
    PRODUCTION = "production", "Production"
    DELIVERY = "delivery", "Delivery"
    FIELD = "field", "Field (at the customer)"



class CauseCategory(models.TextChoices):
    """The 6M categories of the cause-and-effect (Ishikawa) diagram."""

    MAN = "man", "Man (people)"
    MACHINE = "machine", "Machine"
    METHOD = "method", "Method"
    MATERIAL = "material", "Material"
    MEASUREMENT = "measurement", "Measurement"
    MOTHER_NATURE = "environment", "Mother nature (environment)"


class NonconformanceSource(models.TextChoices):
    INSPECTION = "inspection", "Inspection"
    PROCESS_MONITORING = "process_monitoring", "Process monitoring"
    INTERNAL_AUDIT = "internal_audit", "Internal audit"
    DESIGN_REVIEW = "design_review", "Design review"
    SUPPLIER = "supplier", "Supplier"
    CUSTOMER_COMPLAINT = "customer_complaint", "Customer complaint"


class NonconformanceStatus(models.TextChoices):
    OPEN = "open", "Open"
    CONTAINED = "contained", "Contained"
    ROOT_CAUSE = "root_cause", "Root cause found"
    ACTION = "action", "Actions under way"
    VERIFICATION = "verification", "Verifying effectiveness"
    CLOSED = "closed", "Closed"
    CANCELLED = "cancelled", "Cancelled"


class ActionKind(models.TextChoices):
    CORRECTION = "correction", "Correction"
    CORRECTIVE = "corrective", "Corrective action"
    PREVENTIVE = "preventive", "Preventive action"


class ActionStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done, awaiting effectiveness check"
    EFFECTIVE = "effective", "Verified effective"
    INEFFECTIVE = "ineffective", "Found ineffective"
    CANCELLED = "cancelled", "Cancelled"


class RiskLevel(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class ChangeStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    IMPLEMENTED = "implemented", "Implemented"
    VERIFIED = "verified", "Verified"
    CLOSED = "closed", "Closed"


class ReviewStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    HELD = "held", "Held"
    CLOSED = "closed", "Closed (actions assigned)"


class SignatureRefusalReason(models.TextChoices):
    """Why an electronic signature was refused (services/signatures.py), as the audit log says."""

    WRONG = "wrong-password", "signature refused: wrong password"
    LOCKED = "locked", "signature locked"
    """The wrong password that reached the limit: signing is locked from then on."""
    WHILE_LOCKED = "while-locked", "signature refused: locked"
    """An attempt while locked; the password was not checked."""
