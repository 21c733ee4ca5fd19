"""Reliability statistics against direct formulas written here and against seminr's published
results on the ECSI mobi data, plus the missing-answer rule and the bad-input errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qualityloop.analytics.assessment import (
    IndefiniteMatrixWarning,
    assess_reliability,
    ave,
    composite_reliability,
    cronbach_alpha,
    fornell_larcker,
    fornell_larcker_holds,
    htmt,
    htmt_bootstrap,
    item_loadings,
    load_instrument,
    pairwise_correlation,
    rho_a,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "ecsi"
SEMINR = json.loads((DATA / "seminr_reference.json").read_text())
BLOCKS = {
    "IMAG": [f"IMAG{i}" for i in range(1, 6)],
    "CUEX": [f"CUEX{i}" for i in range(1, 4)],
    "PERQ": [f"PERQ{i}" for i in range(1, 8)],
    "PERV": [f"PERV{i}" for i in range(1, 3)],
    "CUSA": [f"CUSA{i}" for i in range(1, 4)],
    "CUSL": [f"CUSL{i}" for i in range(1, 4)],
}


@pytest.fixture(scope="module")
def mobi() -> pd.DataFrame:
    return pd.read_csv(DATA / "ecsi_mobi.csv")


# independent implementations, written from the formulas ----------------------------------------


def direct_alpha(block: pd.DataFrame) -> float:
    """k/(k-1) * (1 - sum of item variances / variance of the total score)."""
    k = block.shape[1]
    item_variances = block.var(ddof=1).sum()
    total_variance = block.sum(axis=1).var(ddof=1)
    return k / (k - 1) * (1 - item_variances / total_variance)


def direct_mode_a_loadings(block: pd.DataFrame) -> np.ndarray:
    """Single-block PLS Mode A by iteration: composite from standardised items, new weights =
    covariances of items with the composite, until the weights settle; loadings = correlations
    of the items with the composite."""
    z = ((block - block.mean()) / block.std(ddof=1)).to_numpy()
    weights = np.ones(z.shape[1])
    for _ in range(1000):
        composite = z @ weights
        composite = composite / composite.std(ddof=1)
        new = z.T @ composite / (len(z) - 1)
        new = new / np.linalg.norm(new)
        if np.allclose(new, weights / np.linalg.norm(weights), atol=1e-12):
            break
        weights = new
    composite = z @ weights
    return np.array([np.corrcoef(z[:, i], composite)[0, 1] for i in range(z.shape[1])])


def direct_rho_a(block: pd.DataFrame, weights: np.ndarray) -> float:
    """Dijkstra & Henseler (2015), eq. for rho_A with weights scaled to a unit-variance
    composite, written with sums over item pairs."""
    s = block.corr().to_numpy()
    w = weights / np.sqrt(weights @ s @ weights)
    k = len(w)
    off_s = sum(w[i] * w[j] * s[i, j] for i in range(k) for j in range(k) if i != j)
    off_ww = sum((w[i] * w[j]) ** 2 for i in range(k) for j in range(k) if i != j)
    return (w @ w) ** 2 * off_s / off_ww


def direct_htmt(data: pd.DataFrame, a: list[str], b: list[str]) -> float:
    """Mean heterotrait correlation over the geometric mean of the monotrait averages."""
    def r(x, y):
        return abs(np.corrcoef(data[x], data[y])[0, 1])
    hetero = np.mean([r(x, y) for x in a for y in b])
    mono_a = np.mean([r(a[i], a[j]) for i in range(len(a)) for j in range(i + 1, len(a))])
    mono_b = np.mean([r(b[i], b[j]) for i in range(len(b)) for j in range(i + 1, len(b))])
    return hetero / np.sqrt(mono_a * mono_b)


# against the direct formulas --------------------------------------------------------------------


@pytest.mark.parametrize("block", list(BLOCKS))
def test_alpha_equals_the_formula(mobi, block):
    items = mobi[BLOCKS[block]]
    assert round(cronbach_alpha(items), 3) == round(direct_alpha(items), 3)
    assert cronbach_alpha(items) == pytest.approx(direct_alpha(items), abs=1e-10)


@pytest.mark.parametrize("block", list(BLOCKS))
def test_loadings_equal_single_block_mode_a_iteration(mobi, block):
    items = mobi[BLOCKS[block]]
    expected = direct_mode_a_loadings(items)
    assert item_loadings(items).round(3).tolist() == np.round(expected, 3).tolist()
    assert composite_reliability(item_loadings(items)) == pytest.approx(
        expected.sum() ** 2 / (expected.sum() ** 2 + (1 - expected**2).sum()), abs=1e-6)
    assert ave(item_loadings(items)) == pytest.approx((expected**2).mean(), abs=1e-6)


@pytest.mark.parametrize("block", ["IMAG", "CUEX", "PERQ", "CUSA", "CUSL"])
def test_rho_a_equals_the_formula(mobi, block):
    items = mobi[BLOCKS[block]]
    weights = np.ones(items.shape[1])
    assert rho_a(items, weights=weights) == pytest.approx(direct_rho_a(items, weights), abs=1e-10)
    mode_a = direct_mode_a_loadings(items)   # Mode A weights are proportional to R^-1 loadings
    mode_a_weights = np.linalg.solve(items.corr().to_numpy(), mode_a)
    assert round(rho_a(items), 3) == round(direct_rho_a(items, mode_a_weights), 3)


def test_htmt_equals_the_formula(mobi):
    table = htmt(mobi, BLOCKS)
    for a in BLOCKS:
        assert np.isnan(table.loc[a, a])
        for b in BLOCKS:
            if a != b:
                expected = direct_htmt(mobi, BLOCKS[a], BLOCKS[b])
                assert table.loc[a, b] == pytest.approx(expected, abs=1e-10)


# against seminr's published results --------------------------------------------------------------


SEMINR_BLOCKS = SEMINR["blocks"]


@pytest.mark.parametrize("construct", list(SEMINR_BLOCKS))
def test_standardised_alpha_equals_seminr(mobi, construct):
    items = mobi[SEMINR_BLOCKS[construct]]
    published = SEMINR["reliability"][construct]["alpha"]
    assert round(cronbach_alpha(items, standardized=True), 3) == round(published, 3)


@pytest.mark.parametrize("construct", list(SEMINR_BLOCKS))
def test_rho_c_and_ave_from_seminr_loadings_equal_seminr(construct):
    loadings = [SEMINR["outer_loadings"][i] for i in SEMINR_BLOCKS[construct]]
    published = SEMINR["reliability"][construct]
    assert round(composite_reliability(loadings), 3) == round(published["rhoC"], 3)
    assert round(ave(loadings), 3) == round(published["AVE"], 3)


@pytest.mark.parametrize("construct", list(SEMINR_BLOCKS))
def test_rho_a_with_seminr_weights_equals_seminr(mobi, construct):
    # seminr's Mode A outer weights are not published, but its loadings are, and for a
    # unit-variance composite the loadings are R w: so w = R^-1 loadings.
    items = mobi[SEMINR_BLOCKS[construct]]
    loadings = [SEMINR["outer_loadings"][i] for i in SEMINR_BLOCKS[construct]]
    weights = np.linalg.solve(items.corr().to_numpy(), loadings)
    published = SEMINR["reliability"][construct]["rhoA"]
    assert round(rho_a(items, weights=weights), 3) == round(published, 3)
    assert rho_a(items, weights=pd.Series(weights, index=items.columns)[::-1]) == pytest.approx(
        published, abs=1e-6)


def test_htmt_equals_seminr(mobi):
    table = htmt(mobi, SEMINR_BLOCKS)
    for pair, published in SEMINR["htmt"].items():
        a, b = pair.split("|")
        assert round(table.loc[a, b], 3) == round(published, 3)
        assert table.loc[b, a] == table.loc[a, b]


# bootstrap and Fornell-Larcker -------------------------------------------------------------------


def test_htmt_bootstrap_is_reproducible_and_brackets_the_estimate(mobi):
    first = htmt_bootstrap(mobi, SEMINR_BLOCKS, n_boot=300, seed=7)
    again = htmt_bootstrap(mobi, SEMINR_BLOCKS, n_boot=300, seed=7)
    pd.testing.assert_frame_equal(first, again)
    assert list(first.columns) == ["construct_a", "construct_b", "htmt", "lower", "upper",
                                   "resamples"]
    assert len(first) == 6
    assert (first["lower"] < first["htmt"]).all() and (first["htmt"] < first["upper"]).all()
    assert (first["resamples"] == 300).all()
    point = htmt(mobi, SEMINR_BLOCKS)
    assert first.loc[0, "htmt"] == point.loc["Image", "Expectation"]
    narrow = htmt_bootstrap(mobi, SEMINR_BLOCKS, n_boot=300, seed=7, level=0.5)
    assert ((narrow["upper"] - narrow["lower"]) < (first["upper"] - first["lower"])).all()


def test_htmt_bootstrap_percentiles_match_a_direct_resampling(mobi):
    blocks = {"Value": SEMINR_BLOCKS["Value"], "Satisfaction": SEMINR_BLOCKS["Satisfaction"]}
    table = htmt_bootstrap(mobi, blocks, n_boot=50, seed=3, level=0.9)
    rng = np.random.default_rng(3)
    values = []
    for _ in range(50):
        sample = mobi.iloc[rng.integers(0, len(mobi), len(mobi))].reset_index(drop=True)
        values.append(direct_htmt(sample, blocks["Value"], blocks["Satisfaction"]))
    assert table.loc[0, "lower"] == pytest.approx(np.percentile(values, 5), abs=1e-10)
    assert table.loc[0, "upper"] == pytest.approx(np.percentile(values, 95), abs=1e-10)


def test_fornell_larcker_table(mobi):
    scores = pd.DataFrame({c: mobi[items].mean(axis=1) for c, items in SEMINR_BLOCKS.items()})
    aves = {"Image": 0.48, "Value": 0.85, "Satisfaction": 0.69}
    table = fornell_larcker(scores, aves)
    assert list(table.index) == list(table.columns) == ["Image", "Value", "Satisfaction"]
    assert table.loc["Value", "Value"] == pytest.approx(np.sqrt(0.85))
    assert table.loc["Image", "Satisfaction"] == pytest.approx(
        np.corrcoef(scores["Image"], scores["Satisfaction"])[0, 1])
    holds = fornell_larcker_holds(table)
    assert holds["Value"]
    expected_image = np.sqrt(0.48) > abs(table.loc["Image", ["Value", "Satisfaction"]]).max()
    assert holds["Image"] == expected_image


# missing answers: the pairwise-complete rule ------------------------------------------------------


@pytest.fixture(scope="module")
def mobi_with_gaps(mobi) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    return mobi.mask(rng.random(mobi.shape) < 0.15)


def test_missing_answers_use_pairwise_complete_moments(mobi_with_gaps):
    items = mobi_with_gaps[BLOCKS["IMAG"]]
    covariance = items.cov()            # pandas: pairwise-complete
    k = items.shape[1]
    pairwise = k / (k - 1) * (1 - np.trace(covariance) / covariance.to_numpy().sum())
    listwise = direct_alpha(items.dropna())
    assert cronbach_alpha(items) == pytest.approx(pairwise, abs=1e-10)
    assert round(cronbach_alpha(items), 3) != round(listwise, 3)   # the rule is visible
    np.testing.assert_allclose(pairwise_correlation(items), items.corr().to_numpy(), atol=1e-12)
    table = htmt(mobi_with_gaps, BLOCKS)
    correlation = mobi_with_gaps.corr().abs()
    hetero = correlation.loc[BLOCKS["IMAG"], BLOCKS["CUSA"]].to_numpy().mean()
    mono = [correlation.loc[b, b].to_numpy()[np.triu_indices(len(b), 1)].mean()
            for b in (BLOCKS["IMAG"], BLOCKS["CUSA"])]
    assert table.loc["IMAG", "CUSA"] == pytest.approx(hetero / np.sqrt(mono[0] * mono[1]))


def _items_whose_pairs_do_not_fit_together() -> pd.DataFrame:
    """Three groups of respondents, each answering two of three items: x1 and x2 rise together,
    x2 and x3 rise together, x1 and x3 fall together: no data set has these correlations."""
    rng = np.random.default_rng(1)
    a, b, c = (rng.normal(size=30) for _ in range(3))
    gap = np.full(30, np.nan)
    return pd.DataFrame({"x1": np.r_[a, gap, c],
                         "x2": np.r_[a + 0.1 * rng.normal(size=30), b, gap],
                         "x3": np.r_[gap, b + 0.1 * rng.normal(size=30), -c]})


def test_an_indefinite_pairwise_matrix_is_smoothed_with_a_warning():
    items = _items_whose_pairs_do_not_fit_together()
    assert np.linalg.eigvalsh(items.corr().to_numpy()).min() < -0.5  # pandas leaves it so
    with pytest.warns(IndefiniteMatrixWarning, match="not positive semidefinite"):
        correlation = pairwise_correlation(items)
    assert np.linalg.eigvalsh(correlation).min() >= -1e-9
    np.testing.assert_allclose(np.diag(correlation), 1.0)
    with pytest.warns(IndefiniteMatrixWarning):
        loadings = item_loadings(items)
    assert (loadings.abs() <= 1.0).all()


def _three_item_yaml() -> str:
    return """
id: gaps
name: Gaps
version: "1"
scale: {min: 1, max: 7}
constructs:
  - id: quality
    name: Quality
    items:
      - {id: Q-x1, text: One}
      - {id: Q-x2, text: Two}
      - {id: Q-x3, text: Three}
"""


def test_assess_reliability_reports_the_smoothing_per_construct():
    items = _items_whose_pairs_do_not_fit_together()
    instrument = load_instrument(_three_item_yaml())
    answers = (items.rank(pct=True) * 6 + 1).round().rename(columns=lambda c: f"Q-{c}")
    result = assess_reliability(answers, instrument)
    assert any("smoothed" in note and "Quality" in note for note in result.warnings)
    assert result.constructs["alpha"].iloc[0] <= 1.0


def test_complete_answers_are_never_smoothed(mobi):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", IndefiniteMatrixWarning)
        np.testing.assert_allclose(pairwise_correlation(mobi), mobi.corr().to_numpy(), atol=1e-12)


def test_too_few_shared_answers_is_an_error_not_nan():
    items = pd.DataFrame({"a": [1, 2, 3, 4, np.nan, np.nan],
                          "b": [np.nan, np.nan, np.nan, 2, 3, 1],
                          "c": [1, 3, 2, 4, 5, 4]})
    with pytest.raises(ValueError, match="items 'a' and 'b' have answers from only 1 "
                                         "respondents together; at least 3 are needed"):
        cronbach_alpha(items)


# single items, constant items and bad input ------------------------------------------------------


def test_single_item_block_follows_seminr_convention(mobi):
    assert cronbach_alpha(mobi[["CUSCO"]]) == 1.0
    assert rho_a(mobi[["CUSCO"]]) == 1.0
    assert item_loadings(mobi[["CUSCO"]]).tolist() == [1.0]


def test_constant_item_is_named():
    items = pd.DataFrame({"a": [1, 2, 3, 4], "b": [4, 4, 4, 4], "c": [2, 2, 3, 5]})
    with pytest.raises(ValueError, match="item 'b' has the same answer from every respondent"):
        rho_a(items)
    with pytest.raises(ValueError, match="item 'b' has the same answer"):
        item_loadings(items)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: composite_reliability([]), "expected at least one loading"),
    (lambda: ave([0.7, np.nan]), "loadings must be finite"),
    (lambda: rho_a(pd.DataFrame({"a": [1, 2, 3], "b": [2, 1, 3]}), weights=[1]),
     "expected 2 weights"),
    (lambda: htmt(pd.DataFrame({"a": [1, 2, 3]}), {"A": ["a"]}), "at least two constructs"),
    (lambda: htmt(pd.DataFrame({"a": [1, 2, 3]}), {"A": ["a"], "B": ["z"]}), "no column 'z'"),
    (lambda: cronbach_alpha(pd.DataFrame({"a": [1, "x", 3], "b": [1, 2, 3]})),
     "column 'a' must be numeric; row 1 holds 'x'"),
    (lambda: fornell_larcker(pd.DataFrame({"A": [1, 2]}), {"A": 0.5, "B": 0.5}),
     "scores has no column 'B'"),
])
def test_bad_input_is_explained(call, message):
    with pytest.raises(ValueError, match=message):
        call()
