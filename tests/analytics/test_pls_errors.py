"""PLSPathModel: clear errors for bad specifications and data, the missing-value rules, Mode B
on simulated formative data, and the fitted-only guard."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qualityloop.analytics.exceptions import NotFittedError
from qualityloop.analytics.relate import PLSPathModel

BLOCKS = {"A": ["a1", "a2", "a3"], "B": ["b1", "b2", "b3"], "C": ["c1", "c2"]}
PATHS = [("A", "B"), ("B", "C"), ("A", "C")]


def simulated(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = 0.6 * a + 0.8 * rng.normal(size=n)
    c = 0.3 * a + 0.5 * b + 0.7 * rng.normal(size=n)
    columns = {}
    for name, latent, size in (("a", a, 3), ("b", b, 3), ("c", c, 2)):
        for i in range(1, size + 1):
            columns[f"{name}{i}"] = 3 + latent + rng.normal(0, 0.5, n)
    return pd.DataFrame(columns)


@pytest.mark.parametrize(("measurement", "structural", "message"), [
    ({**BLOCKS, "C": []}, PATHS, "construct 'C' has no indicators"),
    ({**BLOCKS, "C": ["c1", "c9"]}, PATHS,
     "construct 'C' names indicator 'c9', which is not a column of data"),
    (BLOCKS, PATHS + [("C", "A")], "cycle: (A -> B -> C -> A|A -> C -> A)"),
    (BLOCKS, PATHS + [("A", "D")], "names construct 'D', which has no indicators"),
    (BLOCKS, [("A", "B")], "construct 'C' is on no structural path"),
    (BLOCKS, [], "at least one path"),
])
def test_bad_specifications_name_the_construct(measurement, structural, message):
    with pytest.raises(ValueError, match=message):
        PLSPathModel(measurement, structural).fit(simulated())


def test_non_numeric_column_is_named():
    data = simulated().astype({"b2": object})
    data.loc[4, "b2"] = "high"
    with pytest.raises(ValueError, match="column 'b2' must be numeric; row 4 holds 'high'"):
        PLSPathModel(BLOCKS, PATHS).fit(data)


def test_constant_indicator_is_named():
    data = simulated().assign(a2=5.0)
    with pytest.raises(ValueError, match="indicator 'a2' of construct 'A' has the same value"):
        PLSPathModel(BLOCKS, PATHS).fit(data)


@pytest.mark.parametrize(("options", "message"), [
    ({"scheme": "weighted"}, "scheme must be one of path, centroid, factorial"),
    ({"missing": "drop"}, "missing must be one of mean, listwise"),
    ({"modes": {"A": "C"}}, "mode of construct 'A' must be 'A' or 'B'"),
    ({"modes": {"Z": "B"}}, "modes names construct 'Z'"),
    ({"max_iter": 0}, "max_iter must be a positive whole number"),
])
def test_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        PLSPathModel(BLOCKS, PATHS, **options).fit(simulated())


def test_missing_values_mean_replacement_and_listwise():
    data = simulated()
    data.loc[[3, 10, 11], "a1"] = np.nan
    data.loc[10, "c2"] = np.nan
    mean = PLSPathModel(BLOCKS, PATHS).fit(data)
    assert mean.missing_ == {"method": "mean", "rows": 300, "rows_used": 300, "rows_dropped": 0,
                             "values_replaced": 4, "missing_values": {"a1": 3, "c2": 1}}
    filled = data.fillna(data.mean())
    by_hand = PLSPathModel(BLOCKS, PATHS).fit(filled)
    pd.testing.assert_frame_equal(mean.path_coefficients_, by_hand.path_coefficients_)
    listwise = PLSPathModel(BLOCKS, PATHS, missing="listwise").fit(data)
    assert listwise.missing_["rows_used"] == 297 and listwise.missing_["rows_dropped"] == 3
    assert listwise.n_obs_ == 297
    assert 3 not in listwise.construct_scores_.index
    dropped = PLSPathModel(BLOCKS, PATHS).fit(data.dropna())
    pd.testing.assert_frame_equal(listwise.path_coefficients_, dropped.path_coefficients_)


def test_recovers_simulated_paths_and_mode_b_differs_from_mode_a():
    data = simulated(n=3000, seed=1)
    model = PLSPathModel(BLOCKS, PATHS).fit(data)
    # indicator noise attenuates PLS paths a little; the planted values are 0.6, 0.5, 0.3
    assert model.path_coefficients_.loc["A", "B"] == pytest.approx(0.6, abs=0.06)
    assert model.path_coefficients_.loc["B", "C"] == pytest.approx(0.5, abs=0.08)
    formative = PLSPathModel(BLOCKS, PATHS, modes={"A": "B"}).fit(data)
    weights_b = formative.outer_weights_["A"].dropna()
    weights_a = model.outer_weights_["A"].dropna()
    assert not np.allclose(weights_a, weights_b, atol=1e-3)
    # Mode B weights are the regression of the inner proxy on the block: scores have unit variance
    assert formative.construct_scores_["A"].std(ddof=1) == pytest.approx(1.0)


def test_polars_input_and_refit_forgets():
    pl = pytest.importorskip("polars")
    data = simulated()
    model = PLSPathModel(BLOCKS, PATHS).fit(pl.from_pandas(data), bootstrap=20, seed=1)
    assert model.bootstrap_ is not None
    model.fit(data)
    assert model.bootstrap_ is None and model.bootstrap_draws_ is None


def test_not_fitted():
    with pytest.raises(NotFittedError):
        PLSPathModel(BLOCKS, PATHS).summary()


def test_unknown_summary_kind():
    model = PLSPathModel(BLOCKS, PATHS).fit(simulated())
    with pytest.raises(ValueError, match="unknown kinds"):
        model.summary(["paths"])


def test_collinear_mode_b_block_is_named():
    data = simulated().assign(a3=lambda d: d["a1"] + d["a2"])
    with pytest.raises(ValueError, match="Mode B construct 'A' are collinear"):
        PLSPathModel(BLOCKS, PATHS, modes={"A": "B"}).fit(data)
    PLSPathModel(BLOCKS, PATHS).fit(data)  # Mode A copes with it


def test_iteration_limit_warns_and_keeps_the_last_estimate():
    from qualityloop.analytics.exceptions import ConvergenceWarning

    with pytest.warns(ConvergenceWarning, match="did not converge in 1 iterations"):
        model = PLSPathModel(BLOCKS, PATHS, max_iter=1).fit(simulated())
    assert model.n_iter_ == 1
    assert np.isfinite(model.path_coefficients_.to_numpy()).all()
