"""PLSpredict (Shmueli et al. 2016, 2019): out-of-sample predictive power of a PLS path model
by k-fold cross-validation, against a linear-model benchmark."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from qualityloop.analytics.relate import _algorithm as alg
from qualityloop.analytics.relate import _spec as spec
from qualityloop.analytics.relate.pls import PLSPathModel

COLUMNS = ["q2_predict", "pls_rmse", "pls_mae", "lm_q2_predict", "lm_rmse", "lm_mae"]


def pls_predict(
    model: PLSPathModel,
    data: Any,
    folds: int = 10,
    repeats: int = 1,
    seed: int | None = None,
) -> pd.DataFrame:
    """Cross-validated prediction errors of the endogenous indicators (PLSpredict).

    Each fold's model is estimated on the other folds; the held-out rows' exogenous indicators
    give their exogenous construct scores (with the training weights, means and standard
    deviations), the total effects carry these to the endogenous constructs, and the loadings
    to their indicators, which are returned to the original scale ("earliest antecedents", as
    SmartPLS). The linear-model (LM) benchmark regresses each endogenous indicator on all
    exogenous indicators, on the same folds.

    Parameters
    ----------
    model : PLSPathModel
        The model specification (it need not be fitted; its settings are used).
    data : pandas or polars DataFrame, or Ibis table
        The data; missing values are handled by the model's ``missing`` rule first.
    folds : int, default 10
        Number of folds (2 to the number of rows; the number of rows gives leave-one-out).
    repeats : int, default 1
        Repetitions with fresh random folds; errors are pooled over all of them.
    seed : int, optional
        Seed of the fold assignment.

    Returns
    -------
    pandas.DataFrame
        Index (construct, indicator) of the endogenous indicators; columns ``q2_predict``
        (1 - SSE / sum of squares around the training mean), ``pls_rmse``, ``pls_mae`` and the
        same three for the LM benchmark. A PLS RMSE below the LM RMSE for most indicators
        means high predictive power.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> quality, noise = rng.normal(size=(2, 200))
    >>> loyalty = 0.6 * quality + 0.8 * noise
    >>> data = pd.DataFrame({f"q{i}": quality + rng.normal(0, .5, 200) for i in range(3)}
    ...                     | {f"l{i}": loyalty + rng.normal(0, .5, 200) for i in range(3)})
    >>> model = PLSPathModel({"Quality": ["q0", "q1", "q2"], "Loyalty": ["l0", "l1", "l2"]},
    ...                      [("Quality", "Loyalty")])
    >>> table = pls_predict(model, data, folds=10, seed=1)
    >>> bool((table["q2_predict"] > 0).all())
    True
    """
    model = PLSPathModel(model.measurement, model.structural, model.modes, model.scheme,
                         model.missing, model.max_iter, model.tol)  # a copy: the user's is kept
    model._prepare()
    values, _ = spec.indicator_frame(data, model._blocks, model._indicators, model.missing)
    raw = values.to_numpy(dtype=float)
    n_rows = len(raw)
    _check_folds(folds, repeats, n_rows)
    layout = model._layout
    exogenous = [j for j in range(layout.n_constructs) if not layout.adjacency[:, j].any()]
    inputs = np.unique(np.concatenate([layout.blocks[j] for j in exogenous]))
    targets = [(j, i) for j in layout.endogenous() for i in layout.blocks[j]]
    rng = np.random.default_rng(seed)
    errors: dict[str, list[np.ndarray]] = {"pls": [], "lm": [], "naive": []}
    for _ in range(repeats):
        assignment = rng.permutation(np.arange(n_rows) % folds)
        for fold in range(folds):
            test = assignment == fold
            train_raw, test_raw = raw[~test], raw[test]
            truth = test_raw[:, [i for _, i in targets]]
            pls = _predict_pls(model, train_raw, test_raw, exogenous, targets)
            lm = _predict_lm(train_raw, test_raw, inputs, [i for _, i in targets])
            naive = train_raw[:, [i for _, i in targets]].mean(axis=0)
            errors["pls"].append(truth - pls)
            errors["lm"].append(truth - lm)
            errors["naive"].append(truth - naive)
    stacked = {k: np.concatenate(v) for k, v in errors.items()}
    index = pd.MultiIndex.from_tuples(
        [(model._constructs[j], model._indicators[i]) for j, i in targets],
        names=["construct", "indicator"],
    )
    table = pd.DataFrame(_metrics(stacked), index=index)[COLUMNS]
    table.attrs.update(folds=folds, repeats=repeats, seed=seed, rows=n_rows,
                       approach="earliest antecedents")
    return table


def _check_folds(folds: int, repeats: int, n_rows: int) -> None:
    if not isinstance(folds, int | np.integer) or not 2 <= folds <= n_rows:
        raise ValueError(f"folds must be a whole number from 2 to the number of rows "
                         f"({n_rows}); got {folds!r}")
    if not isinstance(repeats, int | np.integer) or repeats < 1:
        raise ValueError(f"repeats must be a positive whole number; got {repeats!r}")


def _predict_pls(model: PLSPathModel, train: np.ndarray, test: np.ndarray,
                 exogenous: list[int], targets: list[tuple[int, int]]) -> np.ndarray:
    """Predictions of the target indicators of the test rows from a model fitted on train."""
    mean, sd = train.mean(axis=0), train.std(axis=0, ddof=1)
    if not (sd > 0).all():
        column = model._indicators[int(np.flatnonzero(~(sd > 0))[0])]
        raise ValueError(f"indicator {column!r} is constant in a training fold; use fewer folds")
    z_train = (train - mean) / sd
    corr = (z_train.T @ z_train / (len(train) - 1))[None]
    fit = alg.fit_batch(corr, model._layout, model.scheme, np.ones(1), model.max_iter, model.tol)
    weights = fit.weights[0]
    paths, _ = alg.path_coefficients(fit.score_corr, model._layout)
    total = alg.total_effects(paths)[0]
    loadings = alg.loadings(corr, fit.weights)[0]
    exogenous_scores = ((test - mean) / sd) @ weights[:, exogenous]
    construct_pred = exogenous_scores @ total[exogenous, :]
    columns = [i for _, i in targets]
    standardised = np.column_stack([construct_pred[:, j] * loadings[i, j] for j, i in targets])
    return mean[columns] + sd[columns] * standardised


def _predict_lm(train: np.ndarray, test: np.ndarray, inputs: np.ndarray,
                outputs: list[int]) -> np.ndarray:
    """OLS of each output column on all input columns (with intercept), fitted on train."""
    design = np.column_stack([np.ones(len(train)), train[:, inputs]])
    coefs, *_ = np.linalg.lstsq(design, train[:, outputs], rcond=None)
    return np.column_stack([np.ones(len(test)), test[:, inputs]]) @ coefs


def _metrics(errors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    naive_sse = (errors["naive"] ** 2).sum(axis=0)
    out = {}
    for name, prefix in (("pls", "pls_"), ("lm", "lm_")):
        e = errors[name]
        q2 = 1 - (e**2).sum(axis=0) / naive_sse
        out["q2_predict" if name == "pls" else "lm_q2_predict"] = q2
        out[prefix + "rmse"] = np.sqrt((e**2).mean(axis=0))
        out[prefix + "mae"] = np.abs(e).mean(axis=0)
    return out
