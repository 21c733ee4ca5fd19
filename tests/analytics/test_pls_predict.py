"""pls_predict (PLSpredict): leave-one-out errors equal a direct loop over refitted models and
the hat-matrix formula for the linear benchmark; k-fold results are seeded and sensible."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qualityloop.analytics.relate import PLSPathModel, pls_predict

from .test_pls_ecsi import MEASUREMENT, STRUCTURAL, ecsi_data
from .test_pls_errors import BLOCKS, PATHS, simulated


def test_leave_one_out_equals_refitting_by_hand():
    data = simulated(n=40, seed=4)
    model = PLSPathModel(BLOCKS, PATHS)
    table = pls_predict(model, data, folds=len(data), seed=0)
    targets = BLOCKS["B"] + BLOCKS["C"]
    errors = []
    for i in data.index:
        train = data.drop(index=i)
        fit = PLSPathModel(BLOCKS, PATHS).fit(train)
        z = (data.loc[i, BLOCKS["A"]] - train[BLOCKS["A"]].mean()) / train[BLOCKS["A"]].std()
        score_a = z @ fit.outer_weights_.loc[BLOCKS["A"], "A"]
        row = []
        for construct in ("B", "C"):
            predicted_score = score_a * fit.total_effects_.loc["A", construct]
            for column in BLOCKS[construct]:
                standardised = predicted_score * fit.outer_loadings_.loc[column, construct]
                row.append(data.loc[i, column]
                           - (train[column].mean() + train[column].std() * standardised))
        errors.append(row)
    rmse = np.sqrt((np.array(errors) ** 2).mean(axis=0))
    np.testing.assert_allclose(table["pls_rmse"].to_numpy(), rmse, rtol=1e-6)
    assert list(table.index.get_level_values("indicator")) == targets


def test_linear_benchmark_leave_one_out_is_the_press_statistic():
    data = simulated(n=80, seed=5)
    table = pls_predict(PLSPathModel(BLOCKS, PATHS), data, folds=len(data))
    x = np.column_stack([np.ones(len(data)), data[BLOCKS["A"]]])
    hat = x @ np.linalg.solve(x.T @ x, x.T)
    y = data["b1"].to_numpy()
    loo = (y - hat @ y) / (1 - np.diag(hat))
    assert table.loc[("B", "b1"), "lm_rmse"] == pytest.approx(np.sqrt((loo**2).mean()))
    assert table.loc[("B", "b1"), "lm_mae"] == pytest.approx(np.abs(loo).mean())
    n = len(y)
    naive = (y - y.mean()) * n / (n - 1)  # leave-one-out training mean
    assert table.loc[("B", "b1"), "lm_q2_predict"] == pytest.approx(
        1 - (loo**2).sum() / (naive**2).sum())


def test_ecsi_ten_fold_is_seeded_and_predictive():
    model = PLSPathModel(MEASUREMENT, STRUCTURAL)
    first = pls_predict(model, ecsi_data(), folds=10, repeats=2, seed=3)
    again = pls_predict(model, ecsi_data(), folds=10, repeats=2, seed=3)
    pd.testing.assert_frame_equal(first, again)
    assert len(first) == 19  # every indicator of the six endogenous constructs
    assert (first["q2_predict"] > 0).all()
    assert first.attrs["folds"] == 10 and first.attrs["repeats"] == 2
    assert not hasattr(model, "path_coefficients_")  # the user's model is left alone


@pytest.mark.parametrize(("options", "message"), [
    ({"folds": 1}, "folds must be a whole number from 2"),
    ({"folds": 251}, "folds must be a whole number from 2"),
    ({"repeats": 0}, "repeats must be a positive whole number"),
])
def test_bad_folds(options, message):
    with pytest.raises(ValueError, match=message):
        pls_predict(PLSPathModel(MEASUREMENT, STRUCTURAL), ecsi_data(), **options)
