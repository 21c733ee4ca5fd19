"""Bootstrap and jackknife of a path model in batches, and the interval arithmetic (percentile
and BCa) on the draws."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
from scipy import special, stats

# Resamples per batch: a batch holds a few (resamples, p, p) float arrays, so the batch shrinks
# as the number of indicators p grows (2,500 for the 24 ECSI indicators, about 100 MiB).
CELLS_PER_BATCH = 2500 * 24 * 24

Statistic = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def resample_indices(rng: np.random.Generator, n_rows: int, n_boot: int) -> np.ndarray:
    """Row indices (n_boot, n_rows) of the bootstrap resamples, drawn with replacement."""
    return rng.integers(0, n_rows, (n_boot, n_rows))


def counts_from_indices(indices: np.ndarray, n_rows: int) -> np.ndarray:
    """How often each row appears in each resample, (B, n_rows) floats."""
    batch = len(indices)
    offsets = indices + n_rows * np.arange(batch)[:, None]
    return np.bincount(offsets.ravel(), minlength=batch * n_rows).reshape(batch, n_rows).astype(
        float
    )


def batch_size(n_rows: int, n_indicators: int) -> int:
    """Resamples per batch: a batch holds (resamples, p, p) arrays and (resamples, rows)
    counts, so it shrinks as either grows."""
    return max(16, CELLS_PER_BATCH // max(n_indicators**2, n_rows))


def draw(statistic: Statistic, indices: np.ndarray, n_rows: int, n_indicators: int,
         n_jobs: int = 1) -> tuple:
    """The statistic on every resample, in batches, optionally over ``n_jobs`` processes.

    ``statistic(counts)`` returns ``(values (B, m), ok (B,))``; returns the stacked values and
    flags in resample order.
    """
    size = batch_size(n_rows, n_indicators)
    if n_jobs > 1 and len(indices) >= 2 * n_jobs:
        share = -(-len(indices) // n_jobs)
        shares = [indices[i:i + share] for i in range(0, len(indices), share)]
        with ProcessPoolExecutor(n_jobs) as pool:
            parts = list(pool.map(_batches, [statistic] * len(shares), shares,
                                  [n_rows] * len(shares), [size] * len(shares)))
    else:
        parts = [_batches(statistic, indices, n_rows, size)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _batches(statistic: Statistic, indices: np.ndarray, n_rows: int, size: int) -> tuple:
    values, ok = [], []
    for start in range(0, len(indices), size):
        part = statistic(counts_from_indices(indices[start:start + size], n_rows))
        values.append(part[0])
        ok.append(part[1])
    return np.concatenate(values), np.concatenate(ok)


def percentile_interval(draws: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval per column (linear interpolation between order statistics)."""
    tail = (1 - level) / 2
    lower, upper = np.nanquantile(draws, [tail, 1 - tail], axis=0)
    return lower, upper


def bca_interval(
    draws: np.ndarray, estimate: np.ndarray, jackknife: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Bias-corrected and accelerated interval per column (Efron 1987).

    ``draws`` (B, m) are the bootstrap values, ``estimate`` (m,) the full-sample values and
    ``jackknife`` (n, m) the leave-one-out values, which give the acceleration. The bias
    correction counts ties with the estimate as half below (as scipy.stats.bootstrap does).
    """
    below = (draws < estimate).mean(axis=0) + 0.5 * (draws == estimate).mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z0 = special.ndtri(below)
        spread = jackknife.mean(axis=0) - jackknife
        acceleration = (spread**3).sum(axis=0) / (6 * ((spread**2).sum(axis=0)) ** 1.5)
        tail = (1 - level) / 2
        bounds = []
        for z_alpha in (special.ndtri(tail), special.ndtri(1 - tail)):
            shifted = z0 + z_alpha
            probability = special.ndtr(z0 + shifted / (1 - acceleration * shifted))
            bounds.append(_column_quantiles(draws, probability))
    return bounds[0], bounds[1]


def _column_quantiles(draws: np.ndarray, probability: np.ndarray) -> np.ndarray:
    out = np.full(draws.shape[1], np.nan)
    for j, p in enumerate(probability):
        column = draws[:, j]
        column = column[np.isfinite(column)]
        if np.isfinite(p) and column.size:
            out[j] = np.quantile(column, p)
    return out


def summarise(
    estimate: np.ndarray,
    draws: np.ndarray,
    jackknife: np.ndarray,
    index: pd.MultiIndex,
    level: float,
) -> pd.DataFrame:
    """The tidy bootstrap table: estimate, bootstrap mean, standard error, t, two-sided p (t with
    B - 1 degrees of freedom), percentile and BCa bounds."""
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.nanstd(draws, axis=0, ddof=1)
        t = estimate / se
    p = 2 * stats.t.sf(np.abs(t), df=len(draws) - 1)
    lower, upper = percentile_interval(draws, level)
    bca_lower, bca_upper = bca_interval(draws, estimate, jackknife, level)
    return pd.DataFrame({
        "estimate": estimate,
        "boot_mean": np.nanmean(draws, axis=0),
        "std_error": se,
        "t": t,
        "p": p,
        "ci_lower": lower,
        "ci_upper": upper,
        "bca_lower": bca_lower,
        "bca_upper": bca_upper,
    }, index=index)
