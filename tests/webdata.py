"""A small organisation with one or more records of every kind, for the web and admin tests.

Dates are relative to today, so the dashboard's "last 12 months" figures are known in advance:
the expected values are listed in ``EXPECTED`` and worked out by hand in the comments.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from qualityloop.records.customers import models as cm
from qualityloop.records.organisation.models import OrgUnit, Person
from qualityloop.records.quality import models as qm


def days_ago(n: int) -> dt.date:
    return timezone.localdate() - dt.timedelta(days=n)


def build_organisation() -> dict:
    """Create the organisation; returns the records tests refer to by name."""
    company = OrgUnit.objects.create(external_id="U-CO", name="Acme Fittings", kind="company")
    plant = OrgUnit.objects.create(external_id="U-PL", name="Plant North", parent=company)
    sales = OrgUnit.objects.create(external_id="U-SA", name="Sales West", parent=company)
    ann = Person.objects.create(external_id="P-ANN", name="Ann Quality", org_unit=plant)
    bob = Person.objects.create(external_id="P-BOB", name="Bob Sales", org_unit=sales)

    # Customers: active on as_of = C1, C4, C5 (3); churned in the last 12 months = C2 (1);
    # active 365 days ago = C1, C2, C5 (3), of which C1 and C5 are still active -> 2/3 retained.
    c1 = _customer("C-1", "Alpha Ltd", plant, days_ago(1000))
    c2 = _customer("C-2", "Beta GmbH", plant, days_ago(1000), churned=days_ago(100))
    _customer("C-3", "Gamma SA", sales, days_ago(800), churned=days_ago(500))
    _customer("C-4", "Delta Inc", sales, days_ago(30))
    c5 = _customer("C-5", "Epsilon BV", sales, days_ago(700))

    # Revenue in the last 12 months: 100.50 + 250 + 49.50 = 400; the 600-day-old order is outside.
    for n, (customer, age, amount) in enumerate(
        [(c1, 10, "100.50"), (c1, 400, "999"), (c2, 200, "250"), (c5, 364, "49.50"),
         (c5, 600, "1000")]
    ):
        cm.Order.objects.create(external_id=f"O-{n}", customer=customer, ordered_on=days_ago(age),
                                amount=Decimal(amount))

    # NPS in the last 12 months: scores 10, 9, 5, 8 -> (2 promoters - 1 detractor) / 4 = +25.
    for n, (customer, age, score) in enumerate(
        [(c1, 5, 10), (c2, 150, 9), (c5, 20, 5), (c5, 40, 8), (c1, 500, 0)]
    ):
        cm.FeedbackResponse.objects.create(external_id=f"F-{n}", customer=customer,
                                           responded_on=days_ago(age), nps=score, csat=4)

    # Complaints: K-1 open; K-2 resolved after 4 days, K-3 after 10 -> median 7 days.
    k1 = cm.Complaint.objects.create(external_id="K-1", customer=c1, received_on=days_ago(3),
                                     description="Late delivery", org_unit=sales)
    cm.Complaint.objects.create(external_id="K-2", customer=c2, received_on=days_ago(50),
                                resolved_on=days_ago(46), description="Scratched housing",
                                status="closed", closed_on=days_ago(45))
    cm.Complaint.objects.create(external_id="K-3", customer=c5, received_on=days_ago(30),
                                resolved_on=days_ago(20), description="Wrong invoice",
                                status="responded")

    requirement = cm.CustomerRequirement.objects.create(
        external_id="R-1", title="On-time delivery", customer=c1,
        characteristic="on-time delivery", target=95, surpass_threshold=99)
    cm.RequirementMeasurement.objects.create(external_id="RM-1", requirement=requirement,
                                             customer=c1, measured_on=days_ago(30), value=97)

    # Design: 3 reviews, 2 with customers (2/3); 4 + 1 + 0 = 5 defects caught in design.
    project = cm.DesignProject.objects.create(external_id="D-1", name="Valve X2", org_unit=plant,
                                              started_on=days_ago(400), lead=ann)
    for n, (stage, defects, participants) in enumerate(
        [("concept", 4, [c1]), ("design", 1, [c1, c5]), ("prototype", 0, [])]
    ):
        review = cm.DesignStageReview.objects.create(
            external_id=f"DR-{n}", project=project, stage=stage, held_on=days_ago(300 - 50 * n),
            defects_found=defects)
        review.customer_participants.set(participants)

    # Nonconformances: N-1 and N-2 open, N-3 closed, N-4 cancelled -> 2 open; 2 field defects.
    nc1 = _nc("N-1", "Leaking seal", plant, 20, "field", "major")
    nc1.affected_customers.set([c1, c2])
    _nc("N-2", "Burr on flange", plant, 60, "production", "minor")
    _nc("N-3", "Wrong label", sales, 90, "field", "minor", status="closed", closed_on=days_ago(80))
    _nc("N-4", "Duplicate entry", sales, 10, "delivery", "minor", status="cancelled")

    # Actions: A-1 overdue (in progress, due 5 days ago); A-2 due later; A-3 done -> 1 overdue.
    qm.CorrectiveAction.objects.create(external_id="A-1", nonconformance=nc1, kind="corrective",
                                       description="Replace seal supplier", owner=ann,
                                       due_on=days_ago(5), status="in_progress")
    qm.CorrectiveAction.objects.create(external_id="A-2", nonconformance=nc1, kind="preventive",
                                       description="Add leak test", owner=ann,
                                       due_on=days_ago(-30))
    qm.CorrectiveAction.objects.create(external_id="A-3", kind="correction", owner=bob,
                                       description="Relabel stock", due_on=days_ago(70),
                                       status="done", completed_on=days_ago(75))

    policy = qm.QualityPolicy.objects.create(external_id="QP-1", title="Quality first",
                                             statement="We meet and surpass what customers need.")
    strategy = qm.QualityStrategy.objects.create(
        external_id="QS-1", title="Zero field defects", policy=policy, owner=ann,
        period_start=days_ago(365), period_end=days_ago(-365))
    # Objectives: O-1 met (on track), O-2 missing but not due (at risk), O-3 missing and past
    # due (missed), O-4 achieved (on track), O-5 cancelled (not counted) -> 2 / 1 / 1.
    _objective("O-1", "On-time delivery", plant, ann, "increase", 90, 95, due=-100,
               strategy=strategy)
    _objective("O-2", "Scrap rate", plant, ann, "decrease", 5, 8, due=-100)
    _objective("O-3", "First pass yield", sales, bob, "increase", 90, 50, due=10)
    _objective("O-4", "Audit findings closed", sales, bob, "increase", 100, None, due=50,
               state="achieved")
    _objective("O-5", "Old goal", sales, bob, "increase", 1, None, due=50, state="cancelled")

    course = qm.TrainingCourse.objects.create(external_id="TC-1", title="Spotting problems",
                                              course_type="problem_recognition")
    qm.TrainingRecord.objects.create(external_id="TR-1", person=bob, course=course,
                                     completed_on=days_ago(40), score=88, competence_level=3)
    change = qm.ChangeRequest.objects.create(
        external_id="CR-1", title="New seal material", reason="Leaks in the field", org_unit=plant,
        requested_by=ann, requested_on=days_ago(15), risk_level="medium")
    change.related_nonconformances.set([nc1])
    review = qm.ManagementReview.objects.create(external_id="MR-1", title="Q3 review",
                                                held_on=days_ago(60), chair=ann)
    review.attendees.set([ann, bob])
    qm.ProcessMeasurement.objects.create(
        external_id="PM-1", characteristic="Bore diameter", org_unit=plant, subgroup="S-1",
        measured_at=timezone.now(), value=12.004, unit_of_measure="mm", lsl=11.98, usl=12.02)
    return {"company": company, "plant": plant, "sales": sales, "ann": ann, "c1": c1, "nc1": nc1,
            "complaint": k1}


def _customer(external_id, name, unit, acquired, churned=None):
    return cm.Customer.objects.create(
        external_id=external_id, name=name, segment="enterprise", acquired_on=acquired,
        serving_unit=unit, status="churned" if churned else "active", churned_on=churned)


def _nc(external_id, title, unit, age, stage, severity, **extra):
    return qm.Nonconformance.objects.create(
        external_id=external_id, title=title, org_unit=unit, detected_on=days_ago(age),
        stage=stage, source="inspection", severity=severity, **extra)


def _objective(external_id, title, unit, owner, direction, target, value, due, state="active",
               strategy=None):
    objective = qm.QualityObjective.objects.create(
        external_id=external_id, title=title, org_unit=unit, owner=owner, kpi=title,
        direction=direction, target=target, due_on=days_ago(due), state=state, strategy=strategy)
    if value is not None:
        qm.ObjectiveMeasurement.objects.create(external_id=f"{external_id}-M1", objective=objective,
                                               measured_on=days_ago(7), value=value)
    return objective


# The figures the dashboard must show for the whole organisation (worked out above).
EXPECTED = {
    "active_customers": 3,
    "churned_customers": 1,
    "retention_rate": 2 / 3,
    "revenue": 400.0,
    "nps": 25.0,
    "open_nonconformances": 2,
    "overdue_actions": 1,
    "objectives_on_track": 2,
    "objectives_at_risk": 1,
    "objectives_missed": 1,
    "open_complaints": 1,
    "median_days_to_resolution": 7.0,
    "design_customer_participation": 2 / 3,
    "field_defects": 2,
    "defects_caught_in_design": 5,
}
