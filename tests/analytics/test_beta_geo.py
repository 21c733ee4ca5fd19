"""BG/NBD: published CDNOW estimates, parameter recovery, predictions against lifetimes,
weighted fits, input errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qualityloop.analytics.exceptions import NotFittedError
from qualityloop.analytics.retention import BetaGeo
from qualityloop.analytics.retention.models._base import numerical_gradient
from qualityloop.analytics.retention.models.beta_geo import bg_nbd_negative_log_likelihood

DATA = Path(__file__).resolve().parents[1] / "data" / "cdnow"
REFERENCE = Path(__file__).resolve().parents[1] / "reference"
PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}  # Fader, Hardie & Lee 2005


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return pd.read_csv(DATA / "cdnow_customers_summary.csv", index_col="ID")


@pytest.fixture(scope="module")
def fitted(cdnow: pd.DataFrame) -> BetaGeo:
    return BetaGeo().fit(cdnow)


def test_cdnow_estimates_equal_the_published_values_to_three_significant_digits(fitted):
    for name, value in PUBLISHED.items():
        assert float(f"{fitted.params_[name]:.3g}") == pytest.approx(float(f"{value:.3g}")), name
    assert fitted.log_likelihood_ == pytest.approx(-9582.4, abs=0.05)
    assert fitted.n_customers_ == 2357


def test_summary_has_standard_errors_and_intervals_around_the_estimate(fitted):
    table = fitted.summary()
    assert list(table.index) == ["r", "alpha", "a", "b"]
    assert list(table.columns) == ["estimate", "std_error", "lower", "upper"]
    assert (table["lower"] < table["estimate"]).all()
    assert (table["estimate"] < table["upper"]).all()
    # Standard errors lifetimes reports for CDNOW (0.0125, 0.378, 0.186, 0.706).
    assert table["std_error"].to_numpy() == pytest.approx([0.0126, 0.378, 0.186, 0.705], rel=0.02)
    wider = fitted.summary(level=0.99)
    assert (wider["upper"] > table["upper"]).all()


def test_analytic_gradient_matches_finite_differences(cdnow):
    x, t_x, T = (cdnow[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    weights = np.ones(len(x))
    theta = np.log([0.3, 4.0, 0.8, 2.5])
    _, analytic = bg_nbd_negative_log_likelihood(theta, x, t_x, T, weights)
    numeric = numerical_gradient(
        lambda t: bg_nbd_negative_log_likelihood(t, x, t_x, T, weights)[0], theta)
    assert analytic == pytest.approx(numeric, rel=1e-5)


def test_collapsed_weighted_fit_equals_the_unweighted_fit(cdnow, fitted):
    rounded = cdnow.round(0)
    counts = rounded.groupby(["frequency", "recency", "T"]).size().rename("n").reset_index()
    plain = BetaGeo().fit(rounded)
    weighted = BetaGeo().fit(counts, weights_col="n")
    assert len(counts) < len(rounded)
    for name in PUBLISHED:
        assert weighted.params_[name] == pytest.approx(plain.params_[name], rel=1e-6)
    assert weighted.log_likelihood_ == pytest.approx(plain.log_likelihood_, rel=1e-9)


def test_true_parameters_lie_in_the_99_percent_intervals_of_a_simulated_population():
    truth = {"r": 0.5, "alpha": 6.0, "a": 0.7, "b": 3.0}
    rng = np.random.default_rng(7)
    ages = rng.uniform(26, 52, 50_000).round(2)
    population = BetaGeo.simulate(truth, ages, seed=11)
    table = BetaGeo().fit(population).summary(level=0.99)
    for name, value in truth.items():
        assert table.loc[name, "lower"] < value < table.loc[name, "upper"], (name, table)


def test_simulated_frequencies_follow_the_model_mean():
    params = {"r": 0.5, "alpha": 6.0, "a": 0.7, "b": 3.0}
    population = BetaGeo.simulate(params, 40.0, size=200_000, seed=3)
    model = BetaGeo()
    model.params_ = params
    expected = float(model.expected_purchases_new_customer(40.0))
    assert population["frequency"].mean() == pytest.approx(expected, rel=0.02)
    assert (population["recency"] <= population["T"]).all()


def test_predictions_equal_lifetimes_at_the_published_parameters(cdnow):
    reference = pd.read_csv(REFERENCE / "lifetimes_cdnow_predictions.csv", index_col="ID")
    model = BetaGeo()
    model.params_ = dict(pd.read_csv(REFERENCE / "lifetimes_cdnow_params.csv")
                         .query("model == 'bgnbd'").set_index("name")["value"])
    rows = cdnow.loc[reference.index]
    assert model.probability_alive(rows).to_numpy() == pytest.approx(
        reference["bg_p_alive"].to_numpy(), rel=1e-9)
    assert model.expected_purchases(39, rows).to_numpy() == pytest.approx(
        reference["bg_expected_39"].to_numpy(), rel=1e-9)


def test_new_customer_expectation_grows_and_flattens(fitted):
    weeks = np.array([13.0, 26.0, 39.0, 52.0])
    values = fitted.expected_purchases_new_customer(weeks)
    assert np.all(np.diff(values) > 0)
    assert np.all(np.diff(values, 2) < 0)


def test_probability_alive_is_one_without_repeat_purchases_and_keeps_the_index(fitted, cdnow):
    alive = fitted.probability_alive(cdnow)
    assert alive.index.equals(cdnow.index)
    assert (alive[cdnow["frequency"] == 0] == 1).all()
    assert alive.between(0, 1).all()


def test_accepts_polars(cdnow, fitted):
    polars = pytest.importorskip("polars")
    model = BetaGeo().fit(polars.from_pandas(cdnow.reset_index()))
    assert model.params_["r"] == pytest.approx(fitted.params_["r"], rel=1e-8)


def test_not_fitted_and_fit_returns_self(cdnow):
    model = BetaGeo(penalizer=0.0)
    with pytest.raises(NotFittedError):
        model.probability_alive(cdnow)
    assert model.fit(cdnow.head(500)) is model


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns="T"), "no column 'T'"),
        (lambda f: f.assign(frequency=-1), "'frequency' must be at least 0"),
        (lambda f: f.assign(recency=f["T"] + 1), "'recency' must not exceed column 'T'"),
        (lambda f: f.assign(frequency=0, recency=5.0), "'recency' must be 0 when 'frequency'"),
        (lambda f: f.assign(frequency=1.5), "whole numbers"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(cdnow, change, message):
    with pytest.raises(ValueError, match=message):
        BetaGeo().fit(change(cdnow.head(20).copy()))


def test_penalizer_shrinks_the_parameters(cdnow, fitted):
    penalised = BetaGeo(penalizer=0.1).fit(cdnow)
    size = sum(v**2 for v in penalised.params_.values())
    assert size < sum(v**2 for v in fitted.params_.values())
