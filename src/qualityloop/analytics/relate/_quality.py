"""Measurement and structural quality of a fitted path model: reliability, HTMT, f², VIF."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from qualityloop.analytics.assessment import reliability as rel
from qualityloop.analytics.relate._algorithm import Layout

RELIABILITY_COLUMNS = ["alpha", "rho_a", "rho_c", "ave"]


def reliability_table(
    standardised: pd.DataFrame,
    blocks: dict[str, list[str]],
    loadings: pd.DataFrame,
    weights: pd.DataFrame,
) -> pd.DataFrame:
    """Cronbach's alpha, rho_A, rho_C and AVE per construct, from the standardised indicators
    and the model's loadings and weights (alpha of standardised items, as seminr; 1.0 for a
    single indicator)."""
    rows = {}
    for construct, block in blocks.items():
        items = standardised[block]
        block_loadings = loadings.loc[block, construct].to_numpy()
        rows[construct] = {
            "alpha": _undefined_as_nan(rel.cronbach_alpha, items, standardized=True),
            "rho_a": _undefined_as_nan(rel.rho_a, items, weights.loc[block, construct].to_numpy()),
            "rho_c": rel.composite_reliability(block_loadings),
            "ave": rel.ave(block_loadings),
        }
    return pd.DataFrame.from_dict(rows, orient="index")[RELIABILITY_COLUMNS]


def _undefined_as_nan(statistic: Any, *args: Any, **kwargs: Any) -> float:
    """A statistic the block does not define (its items cancel out, or are uncorrelated) is NaN
    in the model's table: the fit itself stands."""
    try:
        return statistic(*args, **kwargs)
    except ValueError:
        return np.nan


def htmt_table(values: pd.DataFrame, blocks: dict[str, list[str]]) -> pd.DataFrame:
    """Heterotrait-monotrait ratios, construct x construct (the assessment module's htmt)."""
    return rel.htmt(values, blocks)


def f_squared(score_corr: np.ndarray, layout: Layout) -> np.ndarray:
    """Cohen's f² of each path i -> j: (R²_with - R²_without_i) / (1 - R²_with), with the
    construct scores held fixed (as SmartPLS and seminr)."""
    k = layout.n_constructs
    f2 = np.full((k, k), np.nan)
    for j in layout.endogenous():
        before = layout.predecessors(j)
        full = _r_squared(score_corr, before, j)
        for i in before:
            rest = before[before != i]
            reduced = _r_squared(score_corr, rest, j) if rest.size else 0.0
            with np.errstate(divide="ignore", invalid="ignore"):  # R² = 1: inf, or 0/0 NaN
                f2[i, j] = np.float64(full - reduced) / (1 - full)
    return f2


def _r_squared(score_corr: np.ndarray, predictors: np.ndarray, target: int) -> float:
    coefs = np.linalg.solve(score_corr[np.ix_(predictors, predictors)],
                            score_corr[predictors, target])
    return float(coefs @ score_corr[predictors, target])


def _vif(corr: np.ndarray) -> np.ndarray:
    """Variance inflation factors: the diagonal of the inverse correlation matrix."""
    if len(corr) == 1:
        return np.ones(1)
    try:
        return np.diag(np.linalg.inv(corr))
    except np.linalg.LinAlgError:  # perfectly collinear: the variance is inflated without bound
        return np.full(len(corr), np.inf)


def inner_vif(score_corr: np.ndarray, layout: Layout) -> np.ndarray:
    """VIF of each predictor construct in the regression of its target (rows from, cols to)."""
    k = layout.n_constructs
    vif = np.full((k, k), np.nan)
    for j in layout.endogenous():
        before = layout.predecessors(j)
        vif[before, j] = _vif(score_corr[np.ix_(before, before)])
    return vif


def outer_vif(corr: np.ndarray, layout: Layout) -> np.ndarray:
    """VIF of each indicator among the indicators of its block (indicators x constructs)."""
    vif = np.full((layout.n_indicators, layout.n_constructs), np.nan)
    for j, block in enumerate(layout.blocks):
        vif[block, j] = _vif(corr[np.ix_(block, block)])
    return vif
