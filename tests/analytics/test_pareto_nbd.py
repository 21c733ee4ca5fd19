"""Pareto/NBD: published CDNOW estimates, predictions against lifetimes, recovery, weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qualityloop.analytics.retention import ParetoNBD
from qualityloop.analytics.retention.models.pareto_nbd import pareto_nbd_log_likelihood

HERE = Path(__file__).resolve().parents[1]
PUBLISHED = {"r": 0.553, "alpha": 10.58, "s": 0.606, "beta": 11.67}  # Fader, Hardie & Lee 2005


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return pd.read_csv(HERE / "data" / "cdnow" / "cdnow_customers_summary.csv", index_col="ID")


@pytest.fixture(scope="module")
def fitted(cdnow) -> ParetoNBD:
    return ParetoNBD().fit(cdnow)


def test_cdnow_estimates_are_within_half_a_percent_of_the_published_values(fitted):
    for name, value in PUBLISHED.items():
        assert fitted.params_[name] == pytest.approx(value, rel=0.005), name
    assert fitted.log_likelihood_ == pytest.approx(-9595.0, abs=0.05)


def test_both_hypergeometric_cases_agree_at_alpha_equal_beta(cdnow):
    x, t_x, T = (cdnow[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    below = pareto_nbd_log_likelihood(np.array([0.5, 10.0 - 1e-9, 0.6, 10.0]), x, t_x, T)
    above = pareto_nbd_log_likelihood(np.array([0.5, 10.0 + 1e-9, 0.6, 10.0]), x, t_x, T)
    assert below == pytest.approx(above, rel=1e-7)


def test_predictions_equal_lifetimes_at_the_published_parameters(cdnow):
    reference = pd.read_csv(HERE / "reference" / "lifetimes_cdnow_predictions.csv", index_col="ID")
    model = ParetoNBD()
    model.params_ = PUBLISHED
    rows = cdnow.loc[reference.index]
    assert model.probability_alive(rows).to_numpy() == pytest.approx(
        reference["pareto_p_alive"].to_numpy(), rel=1e-7)
    assert model.expected_purchases(39, rows).to_numpy() == pytest.approx(
        reference["pareto_expected_39"].to_numpy(), rel=1e-7)


def test_true_parameters_lie_in_the_99_percent_intervals_of_a_simulated_population():
    truth = {"r": 0.6, "alpha": 8.0, "s": 0.8, "beta": 12.0}
    ages = np.random.default_rng(5).uniform(26, 52, 20_000).round(1)
    table = ParetoNBD().fit(ParetoNBD.simulate(truth, ages, seed=9)).summary(level=0.99)
    for name, value in truth.items():
        assert table.loc[name, "lower"] < value < table.loc[name, "upper"], (name, table)


def test_weighted_fit_equals_the_unweighted_fit(cdnow):
    rounded = cdnow.round(0)
    counts = rounded.groupby(["frequency", "recency", "T"]).size().rename("n").reset_index()
    plain, weighted = ParetoNBD().fit(rounded), ParetoNBD().fit(counts, weights_col="n")
    for name in PUBLISHED:
        assert weighted.params_[name] == pytest.approx(plain.params_[name], rel=1e-5)


def test_the_hessian_kept_from_the_newton_step_matches_one_taken_at_the_estimate(cdnow, fitted):
    from qualityloop.analytics.retention.models._base import CustomerBaseModel
    from qualityloop.analytics.retention.models.pareto_nbd import _distinct_pairs

    theta = np.log(fitted._param_array())
    fresh = ParetoNBD()  # the base-class Hessian: a full central-difference stencil at theta
    x, t_x, T = (cdnow[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    weights = np.ones(len(x))
    recomputed = CustomerBaseModel._hessian(
        fresh, theta, (x, t_x, T, *_distinct_pairs(x, t_x, T)), weights) / len(x)
    assert fitted.hessian_ / len(x) == pytest.approx(recomputed, rel=1e-3, abs=1e-6)
