from django.db import models

from qualityloop.records.choices import Severity  # noqa: F401  (re-exported)


class Segment(models.TextChoices):
    ENTERPRISE = "enterprise", "Enterprise"
    MID_MARKET = "mid_market", "Mid-market"
    SMALL_BUSINESS = "small_business", "Small business"
    PUBLIC_SECTOR = "public_sector", "Public sector"


class CustomerStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    CHURNED = "churned", "Churned"


class Direction(models.TextChoices):
    HIGHER_IS_BETTER = "higher", "Higher is better"
    LOWER_IS_BETTER = "lower", "Lower is better"


class RequirementKind(models.TextChoices):
    REQUIREMENT = "requirement", "Stated requirement"
    EXPECTATION = "expectation", "Expectation"


class Outcome(models.TextChoices):
    SURPASSED = "surpassed", "Surpassed"
    MET = "met", "Met"
    MISSED = "missed", "Missed"


class Channel(models.TextChoices):
    EMAIL = "email", "E-mail"
    PHONE = "phone", "Phone"
    WEB = "web", "Web"
    IN_PERSON = "in_person", "In person"
    SURVEY = "survey", "Survey"



class ComplaintStatus(models.TextChoices):
    """The ISO 10002 complaint lifecycle."""

    RECEIVED = "received", "Received"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    ASSESSED = "assessed", "Assessed"
    INVESTIGATED = "investigated", "Investigated"
    RESPONDED = "responded", "Responded"
    CLOSED = "closed", "Closed"


class ComplaintOutcome(models.TextChoices):
    UPHELD = "upheld", "Upheld"
    PARTLY_UPHELD = "partly_upheld", "Partly upheld"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"


class DesignStage(models.TextChoices):
    CONCEPT = "concept", "Concept"
    DESIGN = "design", "Design"
    PROTOTYPE = "prototype", "Prototype / validation"
    PILOT = "pilot", "Pilot"
    PRODUCTION = "production", "Full production"


class ProjectStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    ON_HOLD = "on_hold", "On hold"
    LAUNCHED = "launched", "Launched"
    CANCELLED = "cancelled", "Cancelled"


class ReviewOutcome(models.TextChoices):
    PASSED = "passed", "Passed"
    CONDITIONAL = "conditional", "Passed with conditions"
    FAILED = "failed", "Failed"
