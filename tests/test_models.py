"""The record models: valid records save, invalid ones are refused with a reason."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from qualityloop.records.accounts.models import ApiToken
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
from qualityloop.records.organisation.models import OrgUnit, Person
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
from qualityloop.services.record_kinds import KINDS

pytestmark = pytest.mark.django_db

DAY = dt.date(2024, 3, 1)
_ids = itertools.count(1)


def _xid(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


# --- builders: one valid, unsaved record per model; related records are saved as needed -------


def unit(parent: OrgUnit | None = None, **fields) -> OrgUnit:
    return OrgUnit(external_id=_xid("U"), name="Plant", parent=parent, **fields)


def saved(record):
    record.full_clean()
    record.save()
    return record


def person(**fields) -> Person:
    return Person(external_id=_xid("P"), name="Ada Quality", **fields)


def policy(**fields) -> QualityPolicy:
    return QualityPolicy(external_id=_xid("POL"), title="Policy", statement="Right first time",
                         **fields)


def strategy(**fields) -> QualityStrategy:
    values = {"period_start": DAY, "period_end": DAY + dt.timedelta(days=365)} | fields
    return QualityStrategy(external_id=_xid("STR"), title="Zero defects", **values)


def objective(parent: QualityObjective | None = None, **fields) -> QualityObjective:
    values = {
        "org_unit": saved(unit()), "owner": saved(person()), "kpi": "field defect rate",
        "target": 10.0, "direction": "increase", "due_on": DAY,
    } | fields
    return QualityObjective(external_id=_xid("OBJ"), title="Fewer defects", parent=parent,
                            **values)


def objective_measurement() -> ObjectiveMeasurement:
    return ObjectiveMeasurement(external_id=_xid("OM"), objective=saved(objective()),
                                measured_on=DAY, value=3.5)


def course() -> TrainingCourse:
    return TrainingCourse(external_id=_xid("TC"), title="Spotting problems",
                          course_type="problem_recognition")


def training_record(**fields) -> TrainingRecord:
    return TrainingRecord(external_id=_xid("TR"), person=saved(person()), course=saved(course()),
                          completed_on=DAY, **fields)


def customer(**fields) -> Customer:
    values = {"segment": "enterprise", "acquired_on": DAY, "serving_unit": saved(unit())} | fields
    return Customer(external_id=_xid("C"), name="Acme", **values)


def requirement(**fields) -> CustomerRequirement:
    values = {"segment": "enterprise", "characteristic": "on-time delivery", "target": 95.0}
    return CustomerRequirement(external_id=_xid("REQ"), title="Deliver on time",
                               **(values | fields))


def requirement_measurement(req: CustomerRequirement | None = None, value: float = 97.0):
    return RequirementMeasurement(external_id=_xid("RM"), requirement=req or saved(requirement()),
                                  measured_on=DAY, value=value)


def order(**fields) -> Order:
    values = {"customer": saved(customer()), "ordered_on": DAY, "amount": Decimal("120.50")}
    return Order(external_id=_xid("O"), **(values | fields))


def feedback(**fields) -> FeedbackResponse:
    values = {"customer": saved(customer()), "responded_on": DAY, "nps": 9} | fields
    return FeedbackResponse(external_id=_xid("F"), **values)


def complaint(**fields) -> Complaint:
    values = {"customer": saved(customer()), "received_on": DAY, "description": "Late"} | fields
    return Complaint(external_id=_xid("CMP"), **values)


def design_project() -> DesignProject:
    return DesignProject(external_id=_xid("DP"), name="Pump v2", org_unit=saved(unit()),
                         started_on=DAY)


def design_review() -> DesignStageReview:
    return DesignStageReview(external_id=_xid("DR"), project=saved(design_project()),
                             stage="prototype", held_on=DAY, defects_found=3)


def nonconformance(**fields) -> Nonconformance:
    values = {
        "org_unit": saved(unit()), "detected_on": DAY, "stage": "field",
        "source": "customer_complaint", "severity": "major",
    } | fields
    return Nonconformance(external_id=_xid("NC"), title="Seal leaks", **values)


def action(**fields) -> CorrectiveAction:
    values = {"kind": "corrective", "description": "New seal supplier",
              "owner": saved(person()), "due_on": DAY} | fields
    return CorrectiveAction(external_id=_xid("CA"), **values)


def change_request(**fields) -> ChangeRequest:
    values = {
        "reason": "Leaks", "org_unit": saved(unit()), "requested_by": saved(person()),
        "requested_on": DAY, "risk_level": "medium",
    } | fields
    return ChangeRequest(external_id=_xid("CR"), title="Change seal", **values)


def management_review() -> ManagementReview:
    return ManagementReview(external_id=_xid("MR"), title="Q1 review", held_on=DAY,
                            chair=saved(person()))


def process_measurement() -> ProcessMeasurement:
    return ProcessMeasurement(
        external_id=_xid("PM"), characteristic="Bore", org_unit=saved(unit()), subgroup="S-1",
        measured_at=dt.datetime(2024, 3, 1, 8, tzinfo=dt.UTC), value=12.01, lsl=11.9, usl=12.1)


BUILDERS = {
    OrgUnit: unit, Person: person, QualityPolicy: policy, QualityStrategy: strategy,
    QualityObjective: objective, ObjectiveMeasurement: objective_measurement,
    TrainingCourse: course, TrainingRecord: training_record, Customer: customer,
    CustomerRequirement: requirement, RequirementMeasurement: requirement_measurement,
    Order: order, FeedbackResponse: feedback, Complaint: complaint,
    DesignProject: design_project, DesignStageReview: design_review,
    Nonconformance: nonconformance, CorrectiveAction: action, ChangeRequest: change_request,
    ManagementReview: management_review, ProcessMeasurement: process_measurement,
}


def assert_refused(record, field: str | None = None) -> ValidationError:
    """full_clean must refuse ``record``; with ``field``, the complaint must name that field."""
    with pytest.raises(ValidationError) as refused:
        record.full_clean()
    if field is not None:
        assert field in refused.value.message_dict, refused.value.message_dict
    return refused.value


# --- every kind -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_every_record_kind_saves_with_valid_data(kind):
    assert kind.model in BUILDERS, f"no valid-record builder for {kind.model.__name__}"
    record = BUILDERS[kind.model]()
    record.full_clean()
    record.save()
    stored = kind.model.objects.get(external_id=record.external_id)
    assert stored.pk == record.pk
    assert record.external_id in str(stored)


def test_external_id_is_unique():
    first = saved(person())
    duplicate = person()
    duplicate.external_id = first.external_id
    assert_refused(duplicate, "external_id")


# --- customers ----------------------------------------------------------------------------------


def test_churned_customer_needs_a_churn_date():
    assert_refused(customer(status="churned"), "churned_on")
    saved(customer(status="churned", churned_on=DAY + dt.timedelta(days=30)))


def test_customer_cannot_churn_before_it_was_acquired():
    assert_refused(customer(churned_on=DAY - dt.timedelta(days=1)), "churned_on")


def test_customer_segment_must_be_a_known_one():
    assert_refused(customer(segment="galactic"), "segment")


@pytest.mark.parametrize(
    ("scores", "field"),
    [({"nps": 11}, "nps"), ({"nps": -1}, "nps"), ({"csat": 0}, "csat"), ({"csat": 6}, "csat"),
     ({"ces": 0}, "ces"), ({"ces": 8}, "ces")],
)
def test_feedback_scores_out_of_range_are_refused(scores, field):
    assert_refused(feedback(**({"nps": None} | scores)), field)


@pytest.mark.parametrize("scores", [{"nps": 0}, {"nps": 10}, {"csat": 1}, {"csat": 5},
                                    {"ces": 1}, {"ces": 7}])
def test_feedback_scores_at_the_ends_of_their_scales_are_accepted(scores):
    saved(feedback(**({"nps": None} | scores)))


def test_feedback_needs_at_least_one_score():
    error = assert_refused(feedback(nps=None, comment="no scores"))
    assert "at least one" in " ".join(error.messages)


@pytest.mark.parametrize(("field", "value"), [("nps", 11), ("csat", 0), ("ces", 8)])
def test_database_refuses_out_of_range_feedback_even_without_full_clean(field, value):
    record = feedback(**{"nps": None, field: value})
    with pytest.raises(IntegrityError), transaction.atomic():
        record.save()
    assert not FeedbackResponse.objects.filter(external_id=record.external_id).exists()


@pytest.mark.parametrize("field", ["acknowledged_on", "resolved_on", "closed_on"])
def test_complaint_dates_cannot_precede_its_receipt(field):
    assert_refused(complaint(**{field: DAY - dt.timedelta(days=2)}), field)
    saved(complaint(**{field: DAY + dt.timedelta(days=2)}))


def test_complaint_satisfaction_with_handling_is_one_to_five():
    assert_refused(complaint(satisfaction_with_handling=6), "satisfaction_with_handling")


def test_requirement_belongs_to_exactly_one_customer_or_segment():
    acme = saved(customer())
    assert_refused(requirement(customer=acme, segment="enterprise"))
    assert_refused(requirement(customer=None, segment=""))
    saved(requirement(customer=acme, segment=""))
    saved(requirement(customer=None, segment="public_sector"))


def test_order_amount_cannot_be_negative():
    assert_refused(order(amount=Decimal("-1.00")), "amount")


# --- requirement measurements -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("direction", "target", "surpass", "value", "outcome"),
    [
        ("higher", 95.0, 99.0, 99.5, "surpassed"),
        ("higher", 95.0, 99.0, 99.0, "surpassed"),
        ("higher", 95.0, 99.0, 95.0, "met"),
        ("higher", 95.0, 99.0, 94.9, "missed"),
        ("higher", 95.0, None, 100.0, "met"),
        ("lower", 2.0, 1.0, 0.5, "surpassed"),
        ("lower", 2.0, 1.0, 2.0, "met"),
        ("lower", 2.0, 1.0, 2.1, "missed"),
        ("lower", 2.0, None, 0.0, "met"),
    ],
)
def test_requirement_measurement_outcome_is_computed(direction, target, surpass, value, outcome):
    req = saved(requirement(direction=direction, target=target, surpass_threshold=surpass))
    measurement = saved(requirement_measurement(req, value=value))
    measurement.refresh_from_db()
    assert measurement.outcome == outcome


def test_requirement_measurement_outcome_follows_a_corrected_value():
    req = saved(requirement(target=95.0))
    measurement = saved(requirement_measurement(req, value=90.0))
    assert measurement.outcome == "missed"
    measurement.value = 96.0
    measurement.save()
    measurement.refresh_from_db()
    assert measurement.outcome == "met"


# --- objectives and the organisation tree -------------------------------------------------------


@pytest.mark.parametrize(
    ("direction", "tolerance", "value", "met"),
    [
        ("increase", 0.0, 10.0, True), ("increase", 0.0, 12.0, True),
        ("increase", 0.0, 9.9, False),
        ("decrease", 0.0, 10.0, True), ("decrease", 0.0, 3.0, True),
        ("decrease", 0.0, 10.1, False),
        ("maintain", 0.5, 10.4, True), ("maintain", 0.5, 9.5, True),
        ("maintain", 0.5, 10.6, False), ("maintain", 0.5, 9.4, False),
        ("maintain", 0.0, 10.0, True),
    ],
)
def test_objective_is_met_by_a_value_in_its_direction(direction, tolerance, value, met):
    goal = objective(direction=direction, target=10.0, tolerance=tolerance)
    assert goal.is_met_by(value) is met


def test_objective_direction_must_be_known():
    assert_refused(objective(direction="sideways"), "direction")


def test_objectives_cascade_but_cannot_form_a_cycle():
    top = saved(objective())
    middle = saved(objective(parent=top))
    bottom = saved(objective(parent=middle))
    top.parent = bottom
    assert_refused(top, "parent")
    top.parent = top
    assert_refused(top, "parent")


def test_org_unit_cannot_be_its_own_ancestor():
    company = saved(unit(kind="company"))
    site = saved(unit(parent=company, kind="site"))
    company.parent = site
    assert_refused(company, "parent")
    company.parent = company
    assert_refused(company, "parent")


def test_org_unit_ancestors_and_descendants():
    company = saved(unit(kind="company"))
    division = saved(unit(parent=company, kind="division"))
    north = saved(unit(parent=division, kind="site"))
    south = saved(unit(parent=division, kind="site"))
    team = saved(unit(parent=north, kind="team"))
    other = saved(unit(kind="company"))

    assert team.ancestors() == [north, division, company]
    assert company.ancestors() == []
    assert set(company.descendants()) == {division, north, south, team}
    assert set(division.descendants()) == {north, south, team}
    assert team.descendants() == []
    assert other not in company.descendants()


def test_strategy_period_cannot_end_before_it_starts():
    assert_refused(strategy(period_end=DAY - dt.timedelta(days=1)), "period_end")


def test_approved_policy_needs_an_approver_and_date():
    assert_refused(policy(status="approved"))
    saved(policy(status="approved", approved_by=saved(person()), approved_on=DAY))


# --- training, problems, change -----------------------------------------------------------------


def test_training_score_is_a_percentage():
    assert_refused(training_record(score=101), "score")
    assert_refused(training_record(score=-1), "score")
    saved(training_record(score=100, competence_level=3))


def test_training_competence_level_must_be_on_the_scale():
    assert_refused(training_record(competence_level=9), "competence_level")


def test_closed_nonconformance_needs_a_closing_date_after_detection():
    assert_refused(nonconformance(status="closed"), "closed_on")
    assert_refused(nonconformance(closed_on=DAY - dt.timedelta(days=1)), "closed_on")
    saved(nonconformance(status="closed", closed_on=DAY + dt.timedelta(days=10)))


def test_nonconformance_stage_and_cause_must_be_known():
    assert_refused(nonconformance(stage="warehouse"), "stage")
    assert_refused(nonconformance(cause_category="luck"), "cause_category")


def test_nonconformance_links_affected_customers():
    nc = saved(nonconformance())
    acme, beta = saved(customer()), saved(customer())
    nc.affected_customers.set([acme, beta])
    assert set(acme.nonconformances.all()) == {nc}
    assert nc.affected_customers.count() == 2


@pytest.mark.parametrize("verdict", ["effective", "ineffective"])
def test_action_effectiveness_can_only_be_judged_after_a_check(verdict):
    assert_refused(action(status=verdict), "effectiveness_checked_on")
    saved(action(status=verdict, effectiveness_checked_on=DAY))


@pytest.mark.parametrize("status", ["approved", "implemented", "verified", "closed"])
def test_change_past_approval_needs_an_approver_and_date(status):
    assert_refused(change_request(status=status))
    assert_refused(change_request(status=status, approver=saved(person())))
    saved(change_request(status=status, approver=saved(person()), approved_on=DAY))


def test_change_before_approval_needs_no_approver():
    saved(change_request(status="submitted"))


# --- accounts -----------------------------------------------------------------------------------


def test_api_token_is_stored_hashed_and_authenticates_its_user():
    user = get_user_model().objects.create_user("ada")
    token, plain = ApiToken.issue(user)
    assert plain not in token.key_hash
    assert plain.startswith(token.prefix)
    assert ApiToken.authenticate(plain) == user
    assert ApiToken.authenticate(plain + "x") is None
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_revoked_token_or_inactive_user_no_longer_authenticates():
    user = get_user_model().objects.create_user("bob")
    token, plain = ApiToken.issue(user)
    user.is_active = False
    user.save()
    assert ApiToken.authenticate(plain) is None
    user.is_active = True
    user.save()
    token.revoked_at = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    token.save()
    assert ApiToken.authenticate(plain) is None
