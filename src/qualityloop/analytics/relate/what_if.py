"""What-if simulation on a fitted proportional hazards model: how many more subjects survive a
horizon, and how much more value they bring, if some exposures were cut, with the uncertainty
of the coefficients.

Pure numpy/pandas (no Django): the caller supplies each subject's baseline cumulative hazard over
the horizon, their current covariates and the model's coefficients and covariance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from qualityloop.analytics.validation import numeric_column, require_columns, to_pandas

TAIL = 1e-6  # probability left out of a Poisson increase's support
CHUNK = 4096  # subjects per block: keeps the (subjects x draws) arrays small


@dataclass(frozen=True)
class WhatIfSimulation:
    """Result of :func:`simulate_what_if`.

    Attributes
    ----------
    kept : pandas.DataFrame
        Extra subjects expected to survive the horizon, one row per draw (row 0: at the point
        estimate of the coefficients, then one per parameter draw), one column per group.
    value : pandas.DataFrame
        Extra value expected over the horizon, laid out like ``kept``.
    affected : pandas.Series
        Subjects per group whose changed covariates are not all 0 (only they can change).
    subjects : pandas.Series
        Subjects per group.
    alpha : float
        One minus the level of the intervals of :meth:`interval`.
    """

    kept: pd.DataFrame
    value: pd.DataFrame
    affected: pd.Series
    subjects: pd.Series
    alpha: float

    def interval(self, what: str = "kept", by_group: bool = False) -> pd.DataFrame:
        """Point estimate with the percentile interval over the parameter draws.

        Parameters
        ----------
        what : {"kept", "value"}
        by_group : bool, default False
            One row per group instead of the total.

        Returns
        -------
        pandas.DataFrame
            Columns ``estimate``, ``lower``, ``upper``; index the groups, or ``["total"]``.
        """
        table = {"kept": self.kept, "value": self.value}[what]
        if not by_group:
            table = table.sum(axis=1).to_frame("total")
        draws = table.iloc[1:]
        q = [self.alpha / 2, 1 - self.alpha / 2]
        if draws.empty:
            lower = upper = table.iloc[0]
        else:
            lower, upper = draws.quantile(q[0]), draws.quantile(q[1])
        return pd.DataFrame({"estimate": table.iloc[0], "lower": lower, "upper": upper})


def simulate_what_if(
    cumulative_hazard: Any,
    covariates: Any,
    params: pd.Series,
    covariance: Any,
    changes: Mapping[str, float],
    *,
    means: pd.Series | None = None,
    values: Any = None,
    groups: Any = None,
    draws: int = 500,
    seed: int | None = 0,
    alpha: float = 0.05,
) -> WhatIfSimulation:
    """Expected extra survivors and value over a horizon if exposures changed.

    Each subject's survival over the horizon is ``exp(-H0 * exp((x - means) . beta))`` with
    ``H0`` their baseline cumulative hazard over the horizon. A change cuts (or raises) an
    exposure and the survival is averaged over what the changed exposure could be; the
    difference to the survival at the current covariates, summed, is the number of extra
    subjects kept. The coefficients are drawn from a multivariate normal on their covariance
    (e.g. the robust one), which gives the interval.

    Parameters
    ----------
    cumulative_hazard : array-like of float, shape (n,)
        Baseline cumulative hazard from now to the end of the horizon, per subject (for
        covariates at ``means``).
    covariates : DataFrame, shape (n, p)
        Current covariates of the subjects; must hold every name in ``params``.
    params : pandas.Series
        Coefficients (log hazard ratios), indexed by covariate.
    covariance : array-like or DataFrame, shape (p, p)
        Covariance of the coefficients, in the order of ``params``.
    changes : mapping of covariate to float
        Relative change, e.g. ``{"field_defects": -0.3}`` for 30 % fewer. Non-negative integer
        covariates (counts, 0/1 flags) are *thinned*: each of a subject's counted events is
        removed with probability ``-change`` (a binomial number of them), so a flag is
        removed for that share of the exposed subjects; a rise (``change > 0``, counts only)
        adds a Poisson number with mean ``change * count``. Other covariates are scaled:
        ``x * (1 + change)``.
    means : pandas.Series, optional
        The centring of ``cumulative_hazard`` (default 0: an uncentred baseline).
    values : array-like of float, shape (n,), optional
        Each subject's expected value over the horizon at their current covariates (e.g. CLV);
        default 0. Value accrues while a subject stays.
    groups : array-like, shape (n,), optional
        Labels for per-group results (default one group ``"all"``).
    draws : int, default 500
        Parameter draws for the interval (0: point estimate only).
    seed : int, optional
        Seed of the draws.
    alpha : float, default 0.05
        One minus the interval level.

    Returns
    -------
    WhatIfSimulation

    Notes
    -----
    Value: with hazard constant within the horizon, the expected share of the horizon a subject
    stays is ``(1 - S) / (-log S)`` for survival ``S`` over it, and value accrues in proportion,
    so a subject's value under the change is ``values * share_new / share_now``.
    Thinning gives the exact expectation over the removed events (the sum over the binomial
    probabilities), not a simulation: a change of 0 gives exactly 0, and a larger cut keeps at
    least as many subjects whenever the coefficient is positive. The baseline hazard is taken as
    known: only the coefficients' uncertainty enters the interval.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"defects": [0, 1, 2, 3]})
    >>> beta = pd.Series({"defects": 0.47})
    >>> sim = simulate_what_if([0.2] * 4, X, beta, [[0.01]], {"defects": -0.3}, draws=200)
    >>> total = sim.interval("kept")
    >>> bool(0 < total.loc["total", "lower"] < total.loc["total", "estimate"])
    True
    >>> float(simulate_what_if([0.2] * 4, X, beta, [[0.01]], {"defects": 0.0},
    ...                        draws=0).interval("kept").loc["total", "estimate"])
    0.0
    """
    frame = to_pandas(covariates).reset_index(drop=True)
    names = list(params.index)
    require_columns(frame, names, "covariates")
    _check_changes(changes, names, frame)
    x = np.column_stack([numeric_column(frame, c) for c in names]) if names else np.zeros(
        (len(frame), 0))
    h0 = _vector(cumulative_hazard, len(frame), "cumulative_hazard")
    value = np.zeros(len(frame)) if values is None else _vector(values, len(frame), "values")
    labels = pd.Series(np.asarray(groups) if groups is not None else np.full(len(frame), "all"))
    codes, uniques = pd.factorize(labels, sort=True)
    centre = np.zeros(len(names)) if means is None else means.reindex(names).to_numpy(float)
    betas = _parameter_draws(params.to_numpy(float), np.asarray(covariance, float), draws, seed)
    changed = [names.index(c) for c in changes]
    affected = np.flatnonzero((x[:, changed] != 0).any(axis=1)) if changed else np.zeros(0, int)
    kept = np.zeros((len(betas), len(uniques)))
    gained = np.zeros((len(betas), len(uniques)))
    for block in np.array_split(affected, max(1, -(-len(affected) // CHUNK))):
        if len(block) == 0:
            continue
        states = _states(x[block], [(names.index(c), changes[c]) for c in changes])
        k, g = _block_effects(h0[block], x[block] - centre, value[block], betas, states)
        for j in range(len(uniques)):
            mine = codes[block] == j
            kept[:, j] += k[:, mine].sum(axis=1)
            gained[:, j] += g[:, mine].sum(axis=1)
    columns = pd.Index(uniques, name="group")
    return WhatIfSimulation(
        kept=pd.DataFrame(kept, columns=columns),
        value=pd.DataFrame(gained, columns=columns),
        affected=pd.Series(np.bincount(codes[affected], minlength=len(uniques)), index=columns),
        subjects=pd.Series(np.bincount(codes, minlength=len(uniques)), index=columns),
        alpha=alpha,
    )


def _vector(values: Any, n: int, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    if len(array) != n:
        raise ValueError(f"{name} has {len(array)} values for {n} subjects")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} has a missing or infinite value at position "
                         f"{int(np.flatnonzero(~np.isfinite(array))[0])}")
    return array


def _check_changes(changes: Mapping[str, float], names: list[str], frame: pd.DataFrame) -> None:
    for name, change in changes.items():
        if name not in names:
            raise ValueError(f"cannot change {name!r}: it is not a covariate of the model "
                             f"(covariates: {', '.join(names)})")
        if not np.isfinite(change) or change < -1:
            raise ValueError(f"change of {name!r} must be a number of at least -1 (-1 removes "
                             f"it entirely), got {change!r}")
        column = numeric_column(frame, name)
        if change > 0 and _is_flag(column):
            raise ValueError(f"{name!r} is a yes/no exposure: it can only be cut (a change "
                             f"between -1 and 0), got {change!r}")


def _is_flag(column: np.ndarray) -> bool:
    return bool(np.isin(column, (0.0, 1.0)).all())


def _parameter_draws(beta: np.ndarray, covariance: np.ndarray, draws: int,
                     seed: int | None) -> np.ndarray:
    """Row 0 the estimate, then ``draws`` rows from N(beta, covariance)."""
    if draws < 0:
        raise ValueError(f"draws must be >= 0, got {draws}")
    if covariance.shape != (len(beta), len(beta)):
        raise ValueError(f"covariance must be {len(beta)} x {len(beta)}, got "
                         f"{covariance.shape}")
    rng = np.random.default_rng(seed)
    sampled = rng.multivariate_normal(beta, covariance, size=draws, method="eigh")
    return np.vstack([beta, sampled.reshape(draws, len(beta))])


@dataclass(frozen=True)
class _Options:
    """For one covariate: the changes of its value (columns) and their probabilities."""

    column: int
    delta: np.ndarray  # (subjects, options)
    weight: np.ndarray  # (subjects, options)


def _states(x: np.ndarray, changes: list[tuple[int, float]]) -> list[_Options]:
    options = []
    for column, change in changes:
        values = x[:, column]
        if change == 0:
            delta, weight = np.zeros((len(x), 1)), np.ones((len(x), 1))
        elif np.all(values >= 0) and np.all(values == np.round(values)):
            delta, weight = _count_options(values, change)
        else:
            delta, weight = (values * change)[:, None], np.ones((len(x), 1))
        options.append(_Options(column, delta, weight))
    return options


def _count_options(values: np.ndarray, change: float) -> tuple[np.ndarray, np.ndarray]:
    """Thinning (change < 0): r removed ~ Binomial(x, -change); rise: r added ~ Poisson."""
    if change < 0:
        r = np.arange(int(values.max()) + 1)
        weight = stats.binom.pmf(r[None, :], values[:, None], -change)
        return -r[None, :] * np.ones((len(values), 1)), weight
    mean = change * values
    r = np.arange(int(stats.poisson.ppf(1 - TAIL, max(mean.max(), 1e-12))) + 1)
    weight = stats.poisson.pmf(r[None, :], mean[:, None])
    weight /= weight.sum(axis=1, keepdims=True)
    return r[None, :] * np.ones((len(values), 1)), weight


def _block_effects(h0: np.ndarray, centred: np.ndarray, value: np.ndarray, betas: np.ndarray,
                   states: list[_Options]) -> tuple[np.ndarray, np.ndarray]:
    """Per draw and subject: extra survival probability and extra value."""
    eta = betas @ centred.T  # (draws, subjects)
    lam_now = h0[None, :] * np.exp(eta)
    s_now, share_now = np.exp(-lam_now), _stay_share(lam_now)
    s_new = np.zeros_like(eta)
    share_new = np.zeros_like(eta)
    for combination in product(*(range(o.delta.shape[1]) for o in states)):
        weight = np.ones(len(h0))
        shift = np.zeros_like(eta)
        for option, k in zip(states, combination, strict=True):
            weight = weight * option.weight[:, k]
            shift += np.outer(betas[:, option.column], option.delta[:, k])
        if not weight.any():
            continue
        lam = lam_now * np.exp(shift)
        s_new += weight * np.exp(-lam)
        share_new += weight * _stay_share(lam)
    return s_new - s_now, value * (share_new / share_now - 1)


def _stay_share(cumulative: np.ndarray) -> np.ndarray:
    """Expected share of the horizon a subject stays at a constant hazard with this cumulative
    hazard over it: (1 - e^-L) / L, 1 at L = 0."""
    small = cumulative < 1e-8
    safe = np.where(small, 1.0, cumulative)
    return np.where(small, 1 - cumulative / 2, -np.expm1(-safe) / safe)
