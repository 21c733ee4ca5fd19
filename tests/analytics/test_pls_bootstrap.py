"""The bootstrap of PLSPathModel: the batched resampling equals refitting the model on each
resample one by one, BCa intervals equal scipy.stats.bootstrap on the same resamples, and the
summary table has every parameter."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from qualityloop.analytics.relate import PLSPathModel
from qualityloop.analytics.relate import _bootstrap as boot

from .test_pls_ecsi import MEASUREMENT, STRUCTURAL, ecsi_data


@pytest.fixture(scope="module")
def booted() -> PLSPathModel:
    return PLSPathModel(MEASUREMENT, STRUCTURAL).fit(ecsi_data(), bootstrap=300, seed=11)


def test_batched_bootstrap_equals_refitting_each_resample(booted):
    data = ecsi_data()
    indices = boot.resample_indices(np.random.default_rng(11), len(data), 300)
    for b in (0, 1, 150, 299):
        refit = PLSPathModel(MEASUREMENT, STRUCTURAL).fit(data.iloc[indices[b]])
        expected = refit.summary()["estimate"]
        got = booted.bootstrap_draws_.iloc[b]
        np.testing.assert_allclose(got.to_numpy(), expected.reindex(got.index).to_numpy(),
                                   atol=2e-6)


def test_table_covers_every_parameter_kind(booted):
    table = booted.bootstrap_
    kinds = set(table.index.get_level_values("kind"))
    assert kinds == {"path", "loading", "weight", "indirect", "total", "htmt", "r2"}
    assert len(table.loc["path"]) == 12
    assert len(table.loc["loading"]) == 24
    assert len(table.loc["htmt"]) == 21  # every pair of the 7 constructs
    assert table.loc[("htmt", "Satisfaction", "Complaints"), "estimate"] == pytest.approx(
        booted.htmt_.loc["Satisfaction", "Complaints"], abs=1e-9)  # single-indicator block
    assert table.loc[("htmt", "Image", "Quality"), "estimate"] == pytest.approx(
        booted.htmt_.loc["Image", "Quality"], abs=1e-9)
    assert table.loc[("indirect", "Image", "Loyalty"), "estimate"] == pytest.approx(
        booted.indirect_effects_.loc["Image", "Loyalty"])
    row = table.loc[("path", "Image", "Expectation")]
    draws = booted.bootstrap_draws_[("path", "Image", "Expectation")]
    assert row["std_error"] == pytest.approx(draws.std(ddof=1))
    assert row["t"] == pytest.approx(row["estimate"] / row["std_error"])
    assert row["p"] == pytest.approx(2 * stats.t.sf(abs(row["t"]), len(draws) - 1))
    assert row["ci_lower"] == pytest.approx(np.quantile(draws, 0.025))
    assert row["ci_lower"] < row["estimate"] < row["ci_upper"]
    assert row["bca_lower"] < row["estimate"] < row["bca_upper"]
    assert table.attrs["n_boot"] == 300 and table.attrs["failed"] == 0


def test_same_seed_same_draws_other_seed_other_draws(booted):
    again = PLSPathModel(MEASUREMENT, STRUCTURAL).fit(ecsi_data(), bootstrap=300, seed=11)
    pd.testing.assert_frame_equal(again.bootstrap_, booted.bootstrap_)
    other = PLSPathModel(MEASUREMENT, STRUCTURAL).fit(ecsi_data(), bootstrap=300, seed=12)
    assert not np.allclose(other.bootstrap_["std_error"], booted.bootstrap_["std_error"])


def test_processes_give_the_same_draws(booted):
    parallel = PLSPathModel(MEASUREMENT, STRUCTURAL).fit(ecsi_data(), bootstrap=300, seed=11,
                                                          n_jobs=2)
    pd.testing.assert_frame_equal(parallel.bootstrap_draws_, booted.bootstrap_draws_)


@pytest.mark.parametrize("statistic", [np.mean, np.std])
def test_bca_equals_scipy_on_the_same_resamples(statistic):
    """scipy draws its resamples as rng.integers(0, n, (B, n)), as we do, so with the same
    seed both see the same resamples and the intervals must agree to rounding."""
    x = np.random.default_rng(3).lognormal(size=60)  # skewed: BCa differs from percentile
    n_boot = 4000
    indices = boot.resample_indices(np.random.default_rng(5), len(x), n_boot)
    draws = statistic(x[indices], axis=1)[:, None]
    jackknife = np.array([statistic(np.delete(x, i)) for i in range(len(x))])[:, None]
    lower, upper = boot.bca_interval(draws, np.array([statistic(x)]), jackknife, 0.95)
    expected = stats.bootstrap((x,), statistic, n_resamples=n_boot, method="BCa",
                               confidence_level=0.95, rng=np.random.default_rng(5))
    assert lower[0] == pytest.approx(expected.confidence_interval.low, rel=1e-12)
    assert upper[0] == pytest.approx(expected.confidence_interval.high, rel=1e-12)
    percentile_lower, _ = boot.percentile_interval(draws, 0.95)
    assert abs(lower[0] - percentile_lower[0]) > 1e-4


def test_bootstrap_rejects_one_resample():
    with pytest.raises(ValueError, match="bootstrap must be 0 or at least 2"):
        PLSPathModel(MEASUREMENT, STRUCTURAL).fit(ecsi_data(), bootstrap=1)


def test_resamples_without_variance_are_dropped_with_a_warning():
    rng = np.random.default_rng(0)
    a = rng.normal(size=12)
    data = pd.DataFrame({"a1": a + rng.normal(0, .3, 12), "a2": a + rng.normal(0, .3, 12),
                         "b1": np.r_[1.0, np.zeros(11)], "b2": a + rng.normal(0, 1, 12)})
    model = PLSPathModel({"A": ["a1", "a2"], "B": ["b1", "b2"]}, [("A", "B")])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(data, bootstrap=200, seed=1)
    assert model.bootstrap_.attrs["failed"] > 0
    assert len(model.bootstrap_draws_) == 200 - model.bootstrap_.attrs["failed"]
    assert any("bootstrap resamples gave no estimate" in str(w.message) for w in caught)


def test_jackknife_is_the_model_refitted_without_each_row():
    from qualityloop.analytics.relate import _algorithm as alg

    data = ecsi_data()
    z = ((data - data.mean()) / data.std(ddof=1)).to_numpy()
    rows = np.array([0, 17, 249])
    fast = alg.leave_one_out_correlations(z, rows)
    for got, row in zip(fast, rows, strict=True):
        np.testing.assert_allclose(got, np.corrcoef(np.delete(z, row, axis=0), rowvar=False),
                                   atol=1e-12)
