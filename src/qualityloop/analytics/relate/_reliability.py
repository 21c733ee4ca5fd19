"""A private minimal stand-in for qualityloop.analytics.assessment.reliability (same interface),
used only while that module is not importable."""

from __future__ import annotations

import numpy as np
import pandas as pd


def cronbach_alpha(items: pd.DataFrame) -> float:
    """Cronbach's alpha of the items (listwise on the block)."""
    values = items.dropna().to_numpy(dtype=float)
    k = values.shape[1]
    total = values.sum(axis=1).var(ddof=1)
    return float(k / (k - 1) * (1 - values.var(axis=0, ddof=1).sum() / total))


def composite_reliability(loadings) -> float:
    """rho_C from standardised loadings."""
    lam = np.asarray(loadings, dtype=float)
    return float(lam.sum() ** 2 / (lam.sum() ** 2 + (1 - lam**2).sum()))


def ave(loadings) -> float:
    """Average variance extracted: the mean squared standardised loading."""
    return float(np.mean(np.asarray(loadings, dtype=float) ** 2))


def rho_a(items: pd.DataFrame, weights=None) -> float:
    """Dijkstra-Henseler rho_A from the items' correlation matrix and the block's weights."""
    corr = items.corr().to_numpy()
    if weights is None:
        weights = np.linalg.eigh(corr)[1][:, -1]
    w = np.asarray(weights, dtype=float)
    w = w / np.sqrt(w @ corr @ w)
    off = corr - np.diag(np.diag(corr))
    outer = np.outer(w, w)
    off_outer = outer - np.diag(np.diag(outer))
    return float((w @ w) ** 2 * (w @ off @ w) / (w @ off_outer @ w))


def htmt(data: pd.DataFrame, blocks: dict) -> pd.DataFrame:
    """Heterotrait-monotrait ratios (absolute correlations), NaN on the diagonal."""
    corr = data.corr().abs()
    names = list(blocks)
    out = pd.DataFrame(np.nan, index=names, columns=names)

    def mono(block):
        sub = corr.loc[block, block].to_numpy()
        return sub[np.triu_indices(len(block), 1)].mean() if len(block) > 1 else np.nan

    for i, a in enumerate(names):
        for b in names[i + 1:]:
            hetero = corr.loc[blocks[a], blocks[b]].to_numpy().mean()
            out.loc[a, b] = out.loc[b, a] = hetero / np.sqrt(mono(blocks[a]) * mono(blocks[b]))
    return out
