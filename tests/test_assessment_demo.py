"""The demo's two survey rounds: complete, anonymous, answered from each unit's TQM level."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.core.management import call_command
from scipy.stats import spearmanr

from qualityloop.analytics.assessment import builtin_instrument
from qualityloop.records.assessment.models import SurveyInvitation, SurveyResponse, SurveyRound
from qualityloop.records.organisation.models import OrgUnit
from qualityloop.records.quality.models import QualityPolicy
from qualityloop.services import assessment
from qualityloop.services.demo import generate_demo, organisation
from qualityloop.services.demo.causal_model import simulate

AS_OF = dt.date(2026, 11, 25)
SEED = 7
N_CUSTOMERS = 300

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """One demo for the module (outside the per-test transactions); removed afterwards so the
    tests that follow find the database as empty as usual."""
    with django_db_blocker.unblock():
        generate_demo(n_customers=N_CUSTOMERS, seed=SEED, as_of=AS_OF)
        yield
        # Every table emptied (all demo users too), as pytest-django does after transactional
        # tests; deleting only some tables breaks on the links between them.
        call_command("flush", interactive=False, verbosity=0)


def _operating_units() -> list[OrgUnit]:
    names = [name for name, _kind, _division in organisation.OPERATING_UNITS]
    by_name = {u.name: u for u in OrgUnit.objects.filter(name__in=names)}
    return [by_name[name] for name in names]


def test_two_closed_anonymous_rounds_a_year_apart_around_policy_v2(demo):
    first, second = SurveyRound.objects.order_by("opened_on")
    assert (first.external_id, second.external_id) == ("SR-001", "SR-002")
    assert first.status == second.status == "closed"
    assert first.anonymous and second.anonymous
    assert (second.opened_on - first.opened_on).days in (365, 366)
    policy_v2 = QualityPolicy.objects.get(version="2").effective_from
    assert first.opened_on.date() < policy_v2 < second.opened_on.date()
    assert set(second.units.all()) == set(_operating_units())
    assert first.history.count() == 1
    assert not SurveyInvitation.objects.filter(person__isnull=False).exists()
    assert not SurveyResponse.objects.filter(invitation__isnull=False).exists()


def test_every_unit_answered_60_to_85_percent_with_a_few_missing_answers(demo):
    for survey in SurveyRound.objects.all():
        progress = assessment.round_progress(survey)
        for unit in progress.units:
            assert 0.60 <= unit.rate <= 0.85, (survey.external_id, unit)
        used = SurveyInvitation.objects.filter(round=survey, used_at__isnull=False).count()
        assert used == progress.answered
    frame = assessment.responses_frame(SurveyRound.objects.all())
    items = builtin_instrument().item_ids
    share_missing = frame[items].isna().to_numpy().mean()
    assert 0.005 < share_missing < 0.05
    answers = frame[items].to_numpy()
    assert set(np.unique(answers[~np.isnan(answers)])) == set(range(1, 8))


def test_unit_scores_rank_like_the_latent_tqm_level(demo):
    q = dict(zip([u.external_id for u in _operating_units()],
                 simulate(N_CUSTOMERS, SEED).units.tqm, strict=True))
    for survey in SurveyRound.objects.all():
        scores = assessment.round_scores(survey)
        unit_means = scores.groupby("unit")["mean"].mean()
        rho = spearmanr(unit_means.to_numpy(), [q[u] for u in unit_means.index]).statistic
        assert rho > 0.8, (survey.external_id, rho)


def test_reverse_keyed_items_are_answered_consistently_and_reliably(demo):
    survey = SurveyRound.objects.get(external_id="SR-002")
    frame = assessment.responses_frame(survey)
    spec = builtin_instrument()
    for item_id in spec.reverse_item_ids:
        construct = spec.construct_of(item_id)
        others = [i.id for i in construct.items if not i.reverse]
        assert frame[item_id].corr(frame[others].mean(axis=1)) < -0.4, item_id
    result = assessment.round_reliability(survey)
    assert result.constructs["alpha_ok"].all() and result.constructs["ave_ok"].all()
    assert (result.htmt_pairs["htmt"] < 0.9).all()


def test_policy_v2_constructs_rise_in_the_second_round(demo):
    first, second = SurveyRound.objects.order_by("opened_on")
    overall = assessment.round_scores([first, second], by=("round",))
    means = overall.pivot(index="construct", columns="round", values="mean")
    change = means["SR-002"] - means["SR-001"]
    assert change[["leadership", "customer_focus", "training"]].mean() > change.drop(
        ["leadership", "customer_focus", "training"]).mean()
    assert np.isfinite(change).all()
