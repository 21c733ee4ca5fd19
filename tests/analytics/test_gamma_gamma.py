"""Gamma-Gamma: published CDNOW estimates, predictions against lifetimes, input errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qualityloop.analytics.retention import GammaGamma
from qualityloop.analytics.retention.models._base import numerical_gradient
from qualityloop.analytics.retention.models.gamma_gamma import gamma_gamma_negative_log_likelihood

HERE = Path(__file__).resolve().parents[1]
PUBLISHED = {"p": 6.25, "q": 3.74, "v": 15.44}  # Fader, Hardie & Lee 2005, "RFM and CLV"


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    frame = pd.read_csv(HERE / "data" / "cdnow" / "cdnow_customers_summary_with_transactions.csv",
                        index_col="ID")
    return frame.rename(columns={"x": "frequency", "t_x": "recency", "zbar": "monetary_value"})


@pytest.fixture(scope="module")
def fitted(cdnow) -> GammaGamma:
    return GammaGamma().fit(cdnow)


def test_cdnow_estimates_equal_the_published_values(fitted):
    for name, value in PUBLISHED.items():
        assert float(f"{fitted.params_[name]:.3g}") == pytest.approx(float(f"{value:.3g}")), name
        assert fitted.params_[name] == pytest.approx(value, rel=0.002), name
    assert fitted.n_customers_ == 946  # only the customers with repeat purchases


def test_summary_intervals_cover_the_estimate(fitted):
    table = fitted.summary()
    assert list(table.index) == ["p", "q", "v"]
    assert ((table["lower"] < table["estimate"]) & (table["estimate"] < table["upper"])).all()
    assert (table["std_error"] > 0).all()


def test_analytic_gradient_matches_finite_differences(cdnow):
    repeat = cdnow[cdnow["frequency"] > 0]
    x, m = repeat["frequency"].to_numpy(float), repeat["monetary_value"].to_numpy(float)
    weights = np.ones(len(x))
    theta = np.log([5.0, 3.0, 12.0])
    _, analytic = gamma_gamma_negative_log_likelihood(theta, x, m, weights)
    numeric = numerical_gradient(
        lambda t: gamma_gamma_negative_log_likelihood(t, x, m, weights)[0], theta)
    assert analytic == pytest.approx(numeric, rel=1e-5)


def test_expected_spend_equals_lifetimes_at_the_published_parameters(cdnow):
    reference = pd.read_csv(HERE / "reference" / "lifetimes_cdnow_predictions.csv", index_col="ID")
    model = GammaGamma()
    model.params_ = PUBLISHED
    spend = model.expected_spend(cdnow.loc[reference.index])
    assert spend.to_numpy() == pytest.approx(reference["gg_expected_spend"].to_numpy(), rel=1e-9)


def test_customers_without_repeat_purchases_get_the_population_mean(fitted, cdnow):
    p, q, v = (fitted.params_[k] for k in ("p", "q", "v"))
    spend = fitted.expected_spend(cdnow)
    assert spend[cdnow["frequency"] == 0].to_numpy() == pytest.approx(p * v / (q - 1))


def test_weighted_fit_equals_the_unweighted_fit(cdnow):
    rows = cdnow[cdnow["frequency"] > 0].round({"monetary_value": 0})
    counts = rows.groupby(["frequency", "monetary_value"]).size().rename("n").reset_index()
    plain, weighted = GammaGamma().fit(rows), GammaGamma().fit(counts, weights_col="n")
    for name in PUBLISHED:
        assert weighted.params_[name] == pytest.approx(plain.params_[name], rel=1e-6)


def test_refuses_data_without_repeat_buyers_or_with_non_positive_spend():
    with pytest.raises(ValueError, match="repeat purchases"):
        GammaGamma().fit(pd.DataFrame({"frequency": [0, 0], "monetary_value": [0.0, 0.0]}))
    with pytest.raises(ValueError, match="must be above 0"):
        GammaGamma().fit(pd.DataFrame({"frequency": [1, 2], "monetary_value": [0.0, 3.0]}))
    with pytest.raises(ValueError, match="no column 'monetary_value'"):
        GammaGamma().fit(pd.DataFrame({"frequency": [1, 2]}))
