"""Reliability and validity of a measurement model: Cronbach's alpha, Dijkstra-Henseler's rho_A,
composite reliability (rho_C), average variance extracted (AVE), single-block loadings, the
heterotrait-monotrait ratio (HTMT) with bootstrap intervals and the Fornell-Larcker table.

The block functions take a DataFrame of one construct's indicator columns (rows = respondents).
Reverse-keyed items must be turned round first (:func:`~.scoring.reverse_keyed`);
:func:`assess_reliability` does that for a whole instrument.

Missing answers: every statistic works from **pairwise-complete** variances, covariances and
correlations: each pair of items uses the respondents who answered both (as R's
``cor(use = "pairwise.complete.obs")`` and psych's ``alpha``). A pair needs at least
:data:`MIN_PAIRS` such respondents, and an item must vary; otherwise a ValueError names the items,
so no statistic is ever a silent NaN. With complete data this is the ordinary estimate.
Pairwise-complete matrices need not be positive semidefinite (each entry comes from other
respondents); such a matrix would give loadings or alpha above 1, so it is smoothed to the
nearest one of the same eigenvectors (the idea of psych's ``cor.smooth``) with an
:class:`IndefiniteMatrixWarning`, which :func:`assess_reliability` reports per construct.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from qualityloop.analytics.assessment.instrument import Construct, Instrument
from qualityloop.analytics.assessment.scoring import (
    MissingReport,
    construct_scores,
    missing_report,
    reverse_keyed,
)
from qualityloop.analytics.validation import require_columns, to_pandas

MIN_PAIRS = 3
SMOOTHING_FLOOR = 1e-10
"""Eigenvalues of a pairwise-complete matrix below this are raised to it (:func:`smooth`)."""


class IndefiniteMatrixWarning(UserWarning):
    """A pairwise-complete correlation or covariance matrix had a negative eigenvalue and was
    smoothed (:func:`smooth`); statistics from it rest on respondents with gaps in their answers."""
THRESHOLDS = {
    "alpha": 0.70,
    "rho_a": 0.70,
    "rho_c": 0.70,
    "ave": 0.50,
    "loading": 0.708,
    "htmt_strict": 0.85,
    "htmt_liberal": 0.90,
}
HTMT_COLUMNS = ["construct_a", "construct_b", "htmt", "lower", "upper"]


# the block statistics ----------------------------------------------------------------------------


def cronbach_alpha(items: Any, standardized: bool = False) -> float:
    """Cronbach's alpha of one block of items.

    ``alpha = k / (k - 1) * (1 - sum of item variances / variance of the item sum)``, where the
    variance of the sum is the sum of the covariance matrix. ``standardized=True`` uses the
    correlation matrix instead (the standardised alpha that seminr reports). Missing answers:
    pairwise-complete covariances (as psych's ``alpha``), not listwise deletion.

    Parameters
    ----------
    items : pandas or polars DataFrame
        One column per item of the block, one row per respondent; reverse-keyed items already
        turned round.
    standardized : bool, default False
        Alpha of the standardised items.

    Returns
    -------
    float
        Alpha; 1.0 for a single item (taken as its own measure, seminr's convention).

    Raises
    ------
    ValueError
        Non-numeric columns, an item that does not vary, or a pair of items answered together
        by fewer than :data:`MIN_PAIRS` respondents (pairwise-complete rule, module notes).

    Examples
    --------
    >>> import pandas as pd
    >>> block = pd.DataFrame({"a": [1, 2, 3, 4, 5], "b": [2, 2, 3, 5, 5], "c": [1, 3, 3, 4, 4]})
    >>> round(cronbach_alpha(block), 3)
    0.954
    """
    frame = _block(items)
    if frame.shape[1] == 1:
        return 1.0
    matrix = pairwise_correlation(frame) if standardized else pairwise_covariance(frame)
    _refuse_flat_items(np.diag(matrix), list(frame.columns))
    if np.isclose(matrix.sum(), 0.0):
        raise ValueError("the sum of the items does not vary (the items cancel each other out); "
                         "turn reverse-keyed items round first")
    k = matrix.shape[0]
    return float(k / (k - 1) * (1 - np.trace(matrix) / matrix.sum()))


def composite_reliability(loadings: Any) -> float:
    """Composite reliability rho_C (Joereskog's rho, Dillon-Goldstein's rho) from standardised
    loadings: ``(sum l)^2 / ((sum l)^2 + sum(1 - l^2))``.

    Examples
    --------
    >>> round(composite_reliability([0.8, 0.7, 0.9]), 3)
    0.845
    """
    values = _loadings(loadings)
    squared_sum = values.sum() ** 2
    return float(squared_sum / (squared_sum + (1 - values**2).sum()))


def ave(loadings: Any) -> float:
    """Average variance extracted: the mean squared standardised loading.

    Examples
    --------
    >>> round(ave([0.8, 0.7, 0.9]), 3)
    0.647
    """
    values = _loadings(loadings)
    return float((values**2).mean())


def item_loadings(items: Any) -> pd.Series:
    """Loadings of a block's items on its own composite (single-block PLS Mode A).

    With one block alone, PLS Mode A iterates ``w <- R w`` (R the items' correlation matrix),
    which converges to the first principal component; the composite is scaled to unit
    variance and each loading is the item's correlation with it: ``sqrt(lambda_1) * v_1``.
    The sign is chosen so that the loadings sum to a positive number. Missing answers:
    pairwise-complete correlations.

    Returns
    -------
    pandas.Series
        Indexed by item column; 1.0 for a single item.

    Examples
    --------
    >>> import pandas as pd
    >>> block = pd.DataFrame({"a": [1, 2, 3, 4, 5], "b": [2, 2, 3, 5, 5], "c": [1, 3, 3, 4, 4]})
    >>> item_loadings(block).round(3).tolist()
    [0.987, 0.954, 0.94]
    """
    frame = _block(items)
    correlation = pairwise_correlation(frame)
    weights = _first_component(correlation)
    loadings = correlation @ weights / np.sqrt(weights @ correlation @ weights)
    return pd.Series(loadings, index=frame.columns, name="loading")


def rho_a(items: Any, weights: Any = None) -> float:
    """Dijkstra-Henseler's rho_A of one block.

    ``rho_A = (w'w)^2 * w'(S - diag S)w / w'(ww' - diag(ww'))w`` with S the items' correlation
    matrix and w the outer weights scaled so that the composite has unit variance
    (``w'Sw = 1``; any scaling passed in is undone). Missing answers: S is pairwise-complete.

    Parameters
    ----------
    items : pandas or polars DataFrame
        The block's indicator columns.
    weights : array-like or pandas.Series, optional
        The block's outer weights (a Series is aligned on the item names). Default: the
        single-block Mode A weights, the first principal component of S.

    Returns
    -------
    float
        rho_A; 1.0 for a single item (seminr's convention).

    Examples
    --------
    >>> import pandas as pd
    >>> block = pd.DataFrame({"a": [1, 2, 3, 4, 5], "b": [2, 2, 3, 5, 5], "c": [1, 3, 3, 4, 4]})
    >>> round(rho_a(block), 3)
    0.959
    >>> round(rho_a(block, weights=[1, 1, 1]), 3)   # unit weights (sum score)
    0.958
    """
    frame = _block(items)
    if frame.shape[1] == 1:
        return 1.0
    correlation = pairwise_correlation(frame)
    w = _first_component(correlation) if weights is None else _weights(weights, frame.columns)
    w = w / np.sqrt(w @ correlation @ w)
    outer = np.outer(w, w)
    numerator = w @ (correlation - np.diag(np.diag(correlation))) @ w
    denominator = w @ (outer - np.diag(np.diag(outer))) @ w
    if np.isclose(denominator, 0.0):  # uncorrelated items: the weights pick out one item
        raise ValueError("rho_A is not defined for this block: its items are uncorrelated, so "
                         "they measure no common construct")
    return float((w @ w) ** 2 * numerator / denominator)


# discriminant validity ---------------------------------------------------------------------------


def htmt(data: Any, blocks: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """Heterotrait-monotrait ratio of correlations (Henseler, Ringle & Sarstedt 2015).

    For constructs a and b: the mean correlation between an item of a and an item of b,
    divided by the geometric mean of the average correlation among a's items and among b's.
    Correlations are taken in absolute value (as semTools' ``htmt`` does by default), so a
    reverse-keyed item left unturned does not cancel others out. A single-item construct's
    average monotrait correlation is taken as 1. Missing answers: pairwise-complete
    correlations over all the items.

    Parameters
    ----------
    data : pandas or polars DataFrame
        Every item of every block as a column.
    blocks : mapping of str to list of str
        Construct -> its item columns.

    Returns
    -------
    pandas.DataFrame
        Construct x construct, symmetric, NaN on the diagonal.

    Examples
    --------
    >>> import pandas as pd
    >>> data = pd.DataFrame({"a1": [1, 2, 3, 4, 5], "a2": [1, 3, 3, 5, 4],
    ...                      "b1": [2, 1, 4, 3, 5], "b2": [1, 2, 5, 3, 4]})
    >>> htmt(data, {"A": ["a1", "a2"], "B": ["b1", "b2"]}).round(3)
           A      B
    A    NaN  0.744
    B  0.744    NaN
    """
    frame, names, positions = _blocks_frame(data, blocks)
    return _htmt_matrix(np.abs(pairwise_correlation(frame)), names, positions)


def htmt_bootstrap(
    data: Any,
    blocks: Mapping[str, Sequence[str]],
    n_boot: int = 1000,
    seed: int | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """HTMT with percentile bootstrap intervals, one row per pair of constructs.

    Respondents are resampled with replacement ``n_boot`` times and HTMT recomputed on each
    resample; the interval is the ``(1 - level) / 2`` and ``(1 + level) / 2`` percentiles.
    Resamples where a pair cannot be computed (an item constant in the resample) are left out
    of that pair's interval; ``resamples`` says how many were used. Missing answers: as
    :func:`htmt`, within each resample.

    Parameters
    ----------
    data, blocks
        As for :func:`htmt`.
    n_boot : int, default 1000
    seed : int, optional
        For reproducible intervals.
    level : float, default 0.95

    Returns
    -------
    pandas.DataFrame
        Columns ``construct_a``, ``construct_b`` (in block order, a before b), ``htmt`` (on the
        full data), ``lower``, ``upper`` and ``resamples``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> f = rng.normal(size=(200, 2))
    >>> data = pd.DataFrame({"a1": f[:, 0] + rng.normal(size=200), "a2": f[:, 0],
    ...                      "b1": f[:, 1] + rng.normal(size=200), "b2": f[:, 1]})
    >>> table = htmt_bootstrap(data, {"A": ["a1", "a2"], "B": ["b1", "b2"]}, n_boot=200, seed=2)
    >>> table.columns.tolist()
    ['construct_a', 'construct_b', 'htmt', 'lower', 'upper', 'resamples']
    >>> bool(table.loc[0, "lower"] < table.loc[0, "htmt"] < table.loc[0, "upper"])
    True
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level!r}")
    if int(n_boot) < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot!r}")
    frame, names, positions = _blocks_frame(data, blocks)
    point = _htmt_matrix(np.abs(pairwise_correlation(frame)), names, positions)
    values = frame.to_numpy(dtype=float)
    rng = np.random.default_rng(seed)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    draws = np.full((int(n_boot), len(pairs)), np.nan)
    for draw in range(int(n_boot)):
        sample = values[rng.integers(0, len(values), len(values))]
        correlation = np.abs(_pairwise_correlation_array(sample, check=False))
        draws[draw] = _htmt_values(correlation, positions)[np.triu_indices(len(names), k=1)]
    tail = (1 - level) / 2 * 100
    with np.errstate(all="ignore"):
        lower = np.nanpercentile(draws, tail, axis=0) if pairs else []
        upper = np.nanpercentile(draws, 100 - tail, axis=0) if pairs else []
    return pd.DataFrame({
        "construct_a": [a for a, _ in pairs],
        "construct_b": [b for _, b in pairs],
        "htmt": [point.loc[a, b] for a, b in pairs],
        "lower": lower,
        "upper": upper,
        "resamples": np.isfinite(draws).sum(axis=0).astype(int),
    })


def fornell_larcker(scores: Any, ave_by_construct: Mapping[str, float]) -> pd.DataFrame:
    """Fornell-Larcker table: sqrt(AVE) on the diagonal, construct-score correlations off it.

    The criterion holds for a construct when its sqrt(AVE) exceeds its correlation (in absolute
    value) with every other construct. Correlations are pairwise-complete.

    Parameters
    ----------
    scores : pandas or polars DataFrame
        One column per construct (construct scores of each respondent).
    ave_by_construct : mapping of str to float
        AVE per construct; its keys choose and order the constructs.

    Returns
    -------
    pandas.DataFrame
        Construct x construct.

    Examples
    --------
    >>> import pandas as pd
    >>> scores = pd.DataFrame({"A": [1, 2, 3, 4], "B": [2, 1, 4, 3]})
    >>> fornell_larcker(scores, {"A": 0.64, "B": 0.81})
         A    B
    A  0.8  0.6
    B  0.6  0.9
    """
    names = list(ave_by_construct)
    frame = to_pandas(scores)
    require_columns(frame, names, what="scores")
    table = pd.DataFrame(pairwise_correlation(_numeric(frame[names])), index=names, columns=names)
    for name in names:
        table.loc[name, name] = np.sqrt(float(ave_by_construct[name]))
    return table


def fornell_larcker_holds(table: pd.DataFrame) -> pd.Series:
    """Per construct of a :func:`fornell_larcker` table: is sqrt(AVE) above every absolute
    correlation with another construct?"""
    values = table.to_numpy(dtype=float)
    off = np.abs(values - np.diag(np.diag(values)))
    np.fill_diagonal(off, -np.inf)
    return pd.Series(np.diag(values) > off.max(axis=1), index=table.index, name="holds")


# pairwise-complete moments ----------------------------------------------------------------------


def pairwise_covariance(items: Any) -> np.ndarray:
    """Covariance matrix (n - 1 denominator) where each pair of columns uses the rows that have
    both; ValueError when a pair has fewer than :data:`MIN_PAIRS` such rows."""
    frame = _numeric(to_pandas(items))
    covariance = _pairwise_moments(frame.to_numpy(dtype=float), list(frame.columns))[0]
    scale = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    if not (scale > 0).all():
        return covariance
    return smooth(covariance / np.outer(scale, scale)) * np.outer(scale, scale)


def pairwise_correlation(items: Any) -> np.ndarray:
    """Pearson correlation matrix where each pair of columns uses the rows that have both (the
    means and variances of that pair, as pandas' ``DataFrame.corr``); ValueError naming an
    item that does not vary or a pair with fewer than :data:`MIN_PAIRS` shared rows."""
    frame = _numeric(to_pandas(items))
    return smooth(_pairwise_correlation_array(frame.to_numpy(dtype=float), list(frame.columns)))


def smooth(correlation: np.ndarray) -> np.ndarray:
    """``correlation`` unchanged when it is positive semidefinite; otherwise its eigenvalues below
    :data:`SMOOTHING_FLOOR` raised to it, rescaled to keep their sum, and the result turned back
    into a correlation matrix, with an :class:`IndefiniteMatrixWarning`."""
    values, vectors = np.linalg.eigh(correlation)
    if values.min() >= -SMOOTHING_FLOOR:
        return correlation
    raised = np.maximum(values, SMOOTHING_FLOOR)
    raised *= values.sum() / raised.sum()
    rebuilt = (vectors * raised) @ vectors.T
    scale = np.sqrt(np.diag(rebuilt))
    warnings.warn(
        f"the pairwise-complete matrix of {len(values)} items was not positive semidefinite "
        f"(smallest eigenvalue {values.min():.3g}); it was smoothed", IndefiniteMatrixWarning,
        stacklevel=2)
    smoothed = rebuilt / np.outer(scale, scale)
    np.fill_diagonal(smoothed, 1.0)
    return smoothed


def _pairwise_correlation_array(
    values: np.ndarray, names: list[str] | None = None, check: bool = True
) -> np.ndarray:
    names = names or [str(i) for i in range(values.shape[1])]
    covariance, variance_i, variance_j = _pairwise_moments(values, names, check=check)
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = covariance / np.sqrt(variance_i * variance_j)
    if check:
        _refuse_flat_items(np.diag(variance_i), names)
        if not np.isfinite(correlation).all():
            i, j = np.argwhere(~np.isfinite(correlation))[0]
            raise ValueError(f"items {names[i]!r} and {names[j]!r} do not vary among the "
                             "respondents who answered both")
    np.fill_diagonal(correlation, 1.0)
    return np.clip(correlation, -1.0, 1.0)


def _refuse_flat_items(variances: np.ndarray, names: list[str]) -> None:
    flat = np.where(np.isclose(variances, 0.0))[0]
    if len(flat):
        raise ValueError(f"item {names[flat[0]]!r} has the same answer from every "
                         "respondent, so it has no correlation with anything; leave it out")


def _pairwise_moments(
    values: np.ndarray, names: list[str], check: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairwise-complete covariance, and the variances of column i (and of column j) over the
    rows shared by i and j."""
    present = np.isfinite(values).astype(float)
    filled = np.where(present > 0, values, 0.0)
    count = _gram(present)
    if check and (count < MIN_PAIRS).any():
        i, j = np.argwhere(count < MIN_PAIRS)[0]
        what = f"item {names[i]!r} has" if i == j else f"items {names[i]!r} and {names[j]!r} have"
        raise ValueError(f"{what} answers from only {int(count[i, j])} respondents together; "
                         f"at least {MIN_PAIRS} are needed")
    sum_i = filled.T @ present               # sum of column i over rows where j is present
    square_i = (filled**2).T @ present
    cross = _gram(filled)
    with np.errstate(invalid="ignore", divide="ignore"):
        covariance = (cross - sum_i * sum_i.T / count) / (count - 1)
        variance_i = (square_i - sum_i**2 / count) / (count - 1)
    variance_i = np.maximum(variance_i, 0.0)
    return covariance, variance_i, variance_i.T


# helpers -----------------------------------------------------------------------------------------


def _gram(values: np.ndarray) -> np.ndarray:
    """``values.T @ values``. The copy keeps numpy off OpenBLAS' symmetric-product path, which
    with several threads on a busy machine was 100x slower than a plain product here."""
    return values.T @ values.copy()


def _block(items: Any) -> pd.DataFrame:
    frame = _numeric(to_pandas(items))
    if frame.shape[1] == 0:
        raise ValueError("the block has no item columns")
    return frame


def _numeric(frame: pd.DataFrame) -> pd.DataFrame:
    if all(pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t)
           for t in frame.dtypes):
        result = frame.astype(float)
    else:
        result = frame.apply(pd.to_numeric, errors="coerce").astype(float)
        bad = result.isna() & frame.notna()
        if bad.to_numpy().any():
            row, column = next((r, c) for c in frame.columns
                               for r in frame.index[bad[c].to_numpy()])
            raise ValueError(f"column {column!r} must be numeric; row {row!r} holds "
                             f"{frame.loc[row, column]!r}")
    if np.isinf(result.to_numpy()).any():
        column = result.columns[np.isinf(result.to_numpy()).any(axis=0)][0]
        raise ValueError(f"column {column!r} has an infinite value")
    return result


def _loadings(loadings: Any) -> np.ndarray:
    values = np.asarray(loadings, dtype=float).ravel()
    if values.size == 0:
        raise ValueError("expected at least one loading")
    if not np.isfinite(values).all():
        raise ValueError(f"loadings must be finite numbers, got {values.tolist()}")
    return values


def _weights(weights: Any, columns: pd.Index) -> np.ndarray:
    if isinstance(weights, pd.Series):
        missing = [c for c in columns if c not in weights.index]
        if missing:
            raise ValueError(f"weights have no entry for {', '.join(map(repr, missing))}")
        weights = weights.loc[list(columns)]
    w = np.asarray(weights, dtype=float).ravel()
    if w.size != len(columns):
        raise ValueError(f"expected {len(columns)} weights (one per item), got {w.size}")
    if not np.isfinite(w).all() or not w.any():
        raise ValueError(f"weights must be finite and not all zero, got {w.tolist()}")
    return w


def _first_component(correlation: np.ndarray) -> np.ndarray:
    """The dominant eigenvector of a correlation matrix, signed to sum positive."""
    _, vectors = np.linalg.eigh(correlation)
    vector = vectors[:, -1]
    return vector if vector.sum() >= 0 else -vector


def _blocks_frame(
    data: Any, blocks: Mapping[str, Sequence[str]]
) -> tuple[pd.DataFrame, list[str], list[list[int]]]:
    frame = to_pandas(data)
    names = list(blocks)
    if len(names) < 2:
        raise ValueError("HTMT needs at least two constructs")
    columns: list[str] = []
    positions: list[list[int]] = []
    for name in names:
        items = list(blocks[name])
        if not items:
            raise ValueError(f"construct {name!r} has no items")
        positions.append(list(range(len(columns), len(columns) + len(items))))
        columns.extend(items)
    if len(set(columns)) != len(columns):
        raise ValueError("an item belongs to more than one construct")
    require_columns(frame, columns)
    return _numeric(frame[columns]), names, positions


def _htmt_matrix(
    correlation: np.ndarray, names: list[str], positions: list[list[int]]
) -> pd.DataFrame:
    return pd.DataFrame(_htmt_values(correlation, positions), index=names, columns=names)


def _htmt_values(correlation: np.ndarray, positions: list[list[int]]) -> np.ndarray:
    monotrait = np.array([_mean_off_diagonal(correlation[np.ix_(p, p)]) for p in positions])
    size = len(positions)
    matrix = np.full((size, size), np.nan)
    for a in range(size):
        for b in range(a + 1, size):
            hetero = correlation[np.ix_(positions[a], positions[b])].mean()
            with np.errstate(invalid="ignore", divide="ignore"):
                matrix[a, b] = matrix[b, a] = hetero / np.sqrt(monotrait[a] * monotrait[b])
    return matrix


def _mean_off_diagonal(block: np.ndarray) -> float:
    if block.shape[0] == 1:
        return 1.0
    return float(block[np.triu_indices(block.shape[0], k=1)].mean())


# a whole instrument ------------------------------------------------------------------------------

MIN_RESPONDENTS = 30
HEAVY_MISSING = 0.20
WEAK_LOADING = 0.40
CONSTRUCT_COLUMNS = ["name", "items", "n", "alpha", "rho_a", "rho_c", "ave", "alpha_ok",
                     "rho_a_ok", "rho_c_ok", "ave_ok", "fornell_larcker_ok"]
LOADING_COLUMNS = ["construct", "reverse", "used", "loading", "loading_ok", "alpha_if_dropped",
                   "answered", "share_missing", "mean", "sd"]


@dataclass(frozen=True)
class ReliabilityAssessment:
    """Reliability and validity of an instrument's constructs on one set of responses.

    Made by :func:`assess_reliability`; every table is a pandas DataFrame, ready for a page or a
    report. Flag columns are nullable booleans: ``<NA>`` where the statistic could not be
    computed (the reason is in ``warnings``).

    Attributes
    ----------
    constructs : pandas.DataFrame
        Indexed by construct id: ``name``, ``items`` (items used), ``n`` (respondents with a
        construct score), ``alpha``, ``rho_a``, ``rho_c``, ``ave`` and the flags ``alpha_ok``,
        ``rho_a_ok``, ``rho_c_ok`` (>= 0.70), ``ave_ok`` (> 0.50) and ``fornell_larcker_ok``.
    loadings : pandas.DataFrame
        Indexed by item id: ``construct``, ``reverse``, ``used`` (False when left out),
        ``loading``, ``loading_ok`` (>= 0.708), ``alpha_if_dropped``, ``answered``,
        ``share_missing`` and the item's ``mean`` and ``sd`` after reverse keying.
    htmt : pandas.DataFrame
        Construct x construct HTMT matrix (NaN on the diagonal).
    htmt_pairs : pandas.DataFrame
        One row per pair: ``construct_a``, ``construct_b``, ``htmt``, ``lower``, ``upper``
        (bootstrap percentile interval; NaN when ``bootstrap=0``), ``strict_ok`` and
        ``liberal_ok``: the upper bound (or, without bootstrap, the HTMT itself) below 0.85
        and 0.90.
    fornell_larcker : pandas.DataFrame
        sqrt(AVE) on the diagonal, correlations of construct scores off it.
    warnings : list of str
        Plain-language notes: items left out and why, too few respondents, heavy missingness,
        items that load weakly or negatively.
    respondents : int
        Rows in the responses.
    bootstrap : int
        Bootstrap resamples used for the HTMT intervals.
    """

    constructs: pd.DataFrame
    loadings: pd.DataFrame
    htmt: pd.DataFrame
    htmt_pairs: pd.DataFrame
    fornell_larcker: pd.DataFrame
    warnings: list[str]
    respondents: int
    bootstrap: int

    def summary(self) -> pd.DataFrame:
        """The per-construct table (``constructs``)."""
        return self.constructs


def assess_reliability(
    responses: Any,
    instrument: Instrument,
    bootstrap: int = 0,
    seed: int | None = None,
    level: float = 0.95,
    min_answered: float = 0.5,
) -> ReliabilityAssessment:
    """Reliability, convergent and discriminant validity of every construct of an instrument.

    Reverse-keyed items are turned round before any statistic. An item that every respondent
    answered the same way (or that fewer than :data:`MIN_PAIRS` answered) is left out of its
    construct with a warning; the others are assessed without it. Missing answers follow the
    pairwise-complete rule of this module; construct scores (for ``n`` and Fornell-Larcker)
    follow :func:`~.scoring.construct_scores` with ``min_answered``.

    Per construct: Cronbach's alpha (raw), and rho_A, rho_C and AVE from the single-block
    Mode A weights and loadings (:func:`item_loadings`), flagged against :data:`THRESHOLDS`
    (alpha, rho_A, rho_C >= 0.70; AVE > 0.50; loadings >= 0.708; HTMT < 0.85 / 0.90). A
    construct with one usable item gets no statistics (they would be 1 by definition) and a
    warning.

    Parameters
    ----------
    responses : pandas or polars DataFrame
        Wide answers: one row per respondent, one column per item id.
    instrument : Instrument
    bootstrap : int, default 0
        Resamples for HTMT intervals (:func:`htmt_bootstrap`); 0 for none.
    seed : int, optional
        Seed of the bootstrap.
    level : float, default 0.95
        Confidence level of the HTMT intervals.
    min_answered : float, default 0.5
        Share of a construct's items a respondent must answer to get a score.

    Returns
    -------
    ReliabilityAssessment

    Raises
    ------
    ValueError, ResponseError
        Item columns missing or answers off the scale (see :func:`~.scoring.validate_responses`).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from qualityloop.analytics.assessment import builtin_instrument
    >>> instrument = builtin_instrument()
    >>> rng = np.random.default_rng(0)
    >>> level = rng.normal(size=200)
    >>> answers = pd.DataFrame({
    ...     item.id: np.clip(np.rint(4 + (-1 if item.reverse else 1) * 1.2 * level
    ...                              + rng.normal(size=200)), 1, 7)
    ...     for item in instrument.items})
    >>> result = assess_reliability(answers, instrument)
    >>> bool(result.constructs["alpha_ok"].all())
    True
    >>> result.warnings
    []
    """
    frame = reverse_keyed(responses, instrument)
    notes: list[str] = []
    respondents = len(frame)
    if respondents < MIN_PAIRS:
        notes.append(f"Only {respondents} respondent{'' if respondents == 1 else 's'}: at least "
                     f"{MIN_PAIRS} are needed before any reliability statistic can be computed.")
        usable: dict[str, list[str]] = {c.id: [] for c in instrument.constructs}
        stats = {c.id: _construct_statistics(frame, c, [], []) for c in instrument.constructs}
    else:
        if respondents < MIN_RESPONDENTS:
            notes.append(f"Only {respondents} respondents: reliability estimates from fewer "
                         f"than {MIN_RESPONDENTS} are unstable; read them as indicative.")
        usable = _usable_items(frame, instrument, notes)
        stats = {c.id: _construct_statistics(frame, c, usable[c.id], notes)
                 for c in instrument.constructs}
    scores = construct_scores(responses, instrument, min_answered=min_answered)
    loadings = _loading_table(frame, instrument, usable, stats, notes)
    htmt_matrix, pairs = _discriminant(frame, instrument, usable, bootstrap, seed, level, notes)
    fl_table, fl_holds = _fornell_larcker(scores, stats)
    constructs = _construct_table(instrument, usable, stats, scores, fl_holds)
    _missing_notes(missing_report(frame, instrument, min_answered), notes)
    return ReliabilityAssessment(
        constructs=constructs, loadings=loadings, htmt=htmt_matrix, htmt_pairs=pairs,
        fornell_larcker=fl_table, warnings=notes, respondents=respondents,
        bootstrap=int(bootstrap),
    )


def _usable_items(
    frame: pd.DataFrame, instrument: Instrument, notes: list[str]
) -> dict[str, list[str]]:
    """Per construct, the items that can enter a statistic; a note for each one left out."""
    usable: dict[str, list[str]] = {}
    for construct in instrument.constructs:
        kept = []
        for item_id in construct.item_ids:
            answers = frame[item_id].dropna()
            if len(answers) < MIN_PAIRS:
                notes.append(f"Item {item_id} ({construct.name}) has only {len(answers)} "
                             f"answers; it was left out of the construct's statistics.")
            elif answers.nunique() == 1:
                notes.append(f"Item {item_id} ({construct.name}) got the same answer "
                             f"({answers.iloc[0]:g}) from every respondent, so it says nothing "
                             "about differences between them; it was left out of the "
                             "construct's statistics.")
            else:
                kept.append(item_id)
        usable[construct.id] = kept
    return usable


def _construct_statistics(
    frame: pd.DataFrame, construct: Construct, items: list[str], notes: list[str]
) -> dict[str, Any]:
    empty: dict[str, Any] = {"alpha": np.nan, "rho_a": np.nan, "rho_c": np.nan, "ave": np.nan,
                             "loadings": pd.Series(dtype=float)}
    if len(items) == 0:
        notes.append(f"{construct.name} has no usable items: no statistics.")
        return empty
    if len(items) == 1:
        notes.append(f"{construct.name} has one usable item ({items[0]}): its reliability "
                     "cannot be estimated.")
        return empty
    block = frame[items]
    try:
        with _smoothing_noted(construct.name, notes):
            loadings = item_loadings(block)
            return {"alpha": cronbach_alpha(block), "rho_a": rho_a(block),
                    "rho_c": composite_reliability(loadings), "ave": ave(loadings),
                    "loadings": loadings}
    except ValueError as error:
        notes.append(f"{construct.name}: no statistics ({error}).")
        return empty


@contextmanager
def _smoothing_noted(construct_name: str, notes: list[str]) -> Iterator[None]:
    """Turn the smoothing warnings raised inside into one note for the construct."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", IndefiniteMatrixWarning)
        yield
    note = (f"{construct_name}: the item correlations from respondents with gaps did not fit "
            "together (not positive semidefinite) and were smoothed; read its statistics with "
            "care and look at the missing answers.")
    if any(issubclass(w.category, IndefiniteMatrixWarning) for w in caught) and note not in notes:
        notes.append(note)


def _loading_table(
    frame: pd.DataFrame,
    instrument: Instrument,
    usable: dict[str, list[str]],
    stats: dict[str, dict[str, Any]],
    notes: list[str],
) -> pd.DataFrame:
    rows = []
    for construct in instrument.constructs:
        kept = usable[construct.id]
        for item in construct.items:
            loading = stats[construct.id]["loadings"].get(item.id, np.nan)
            with _smoothing_noted(construct.name, notes):
                alpha_if_dropped = _alpha_without(frame, kept, item.id)
            rows.append({
                "item": item.id, "construct": construct.id, "reverse": item.reverse,
                "used": item.id in kept, "loading": loading,
                "loading_ok": _flag(loading, ">=", THRESHOLDS["loading"]),
                "alpha_if_dropped": alpha_if_dropped,
                "answered": int(frame[item.id].notna().sum()),
                "share_missing": float(frame[item.id].isna().mean()) if len(frame) else np.nan,
                "mean": frame[item.id].mean(), "sd": frame[item.id].std(),
            })
            _loading_note(item.id, construct.name, loading, notes)
    table = pd.DataFrame(rows, columns=["item"] + LOADING_COLUMNS).set_index("item")
    table["loading_ok"] = table["loading_ok"].astype("boolean")
    return table


def _loading_note(item_id: str, construct_name: str, loading: float, notes: list[str]) -> None:
    if not np.isfinite(loading):
        return
    if loading < 0:
        notes.append(f"Item {item_id} correlates negatively with the rest of {construct_name} "
                     f"(loading {loading:.2f}): check whether it should be reverse-keyed.")
    elif loading < WEAK_LOADING:
        notes.append(f"Item {item_id} loads weakly on {construct_name} ({loading:.2f} < "
                     f"{WEAK_LOADING}): consider rewording or dropping it.")


def _alpha_without(frame: pd.DataFrame, kept: list[str], item_id: str) -> float:
    """Alpha of the construct without this item; NaN when fewer than two items would remain or
    the item is not used."""
    rest = [i for i in kept if i != item_id]
    if item_id not in kept or len(rest) < 2:
        return np.nan
    try:
        return cronbach_alpha(frame[rest])
    except ValueError:
        return np.nan


def _discriminant(
    frame: pd.DataFrame,
    instrument: Instrument,
    usable: dict[str, list[str]],
    bootstrap: int,
    seed: int | None,
    level: float,
    notes: list[str],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    names = [c.id for c in instrument.constructs]
    matrix = pd.DataFrame(np.nan, index=names, columns=names)
    blocks = {c: usable[c] for c in names if usable[c]}
    pairs = pd.DataFrame(columns=HTMT_COLUMNS + ["strict_ok", "liberal_ok"])
    if len(blocks) < 2:
        return matrix, pairs
    try:
        if bootstrap:
            pairs = htmt_bootstrap(frame, blocks, n_boot=bootstrap, seed=seed, level=level)
        else:
            pairs = _htmt_pairs(htmt(frame, blocks))
    except ValueError as error:
        notes.append(f"HTMT could not be computed ({error}).")
        return matrix, pairs
    for a, b, value in zip(pairs["construct_a"], pairs["construct_b"], pairs["htmt"],
                           strict=True):
        matrix.loc[a, b] = matrix.loc[b, a] = value
    judged = pairs["upper"] if bootstrap else pairs["htmt"]
    pairs["strict_ok"] = _flags(judged, "<", THRESHOLDS["htmt_strict"])
    pairs["liberal_ok"] = _flags(judged, "<", THRESHOLDS["htmt_liberal"])
    return matrix, pairs[HTMT_COLUMNS + ["strict_ok", "liberal_ok"]]


def _htmt_pairs(matrix: pd.DataFrame) -> pd.DataFrame:
    names = list(matrix.index)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    return pd.DataFrame({"construct_a": [a for a, _ in pairs],
                         "construct_b": [b for _, b in pairs],
                         "htmt": [matrix.loc[a, b] for a, b in pairs],
                         "lower": np.nan, "upper": np.nan})


def _fornell_larcker(
    scores: pd.DataFrame, stats: dict[str, dict[str, Any]]
) -> tuple[pd.DataFrame, pd.Series]:
    assessed = {c: s["ave"] for c, s in stats.items() if np.isfinite(s["ave"])}
    if len(assessed) < 2:
        return pd.DataFrame(), pd.Series(dtype="boolean")
    try:
        table = fornell_larcker(scores, assessed)
    except ValueError:
        return pd.DataFrame(), pd.Series(dtype="boolean")
    return table, fornell_larcker_holds(table)


def _construct_table(
    instrument: Instrument,
    usable: dict[str, list[str]],
    stats: dict[str, dict[str, Any]],
    scores: pd.DataFrame,
    fl_holds: pd.Series,
) -> pd.DataFrame:
    rows = []
    for construct in instrument.constructs:
        found = stats[construct.id]
        rows.append({
            "construct": construct.id, "name": construct.name,
            "items": len(usable[construct.id]), "n": int(scores[construct.id].notna().sum()),
            "alpha": found["alpha"], "rho_a": found["rho_a"], "rho_c": found["rho_c"],
            "ave": found["ave"],
            "alpha_ok": _flag(found["alpha"], ">=", THRESHOLDS["alpha"]),
            "rho_a_ok": _flag(found["rho_a"], ">=", THRESHOLDS["rho_a"]),
            "rho_c_ok": _flag(found["rho_c"], ">=", THRESHOLDS["rho_c"]),
            "ave_ok": _flag(found["ave"], ">", THRESHOLDS["ave"]),
            "fornell_larcker_ok": fl_holds.get(construct.id, pd.NA),
        })
    table = pd.DataFrame(rows, columns=["construct"] + CONSTRUCT_COLUMNS).set_index("construct")
    for column in [c for c in CONSTRUCT_COLUMNS if c.endswith("_ok")]:
        table[column] = table[column].astype("boolean")
    return table


def _missing_notes(report: MissingReport, notes: list[str]) -> None:
    heavy_items = report.items[report.items["share_missing"] > HEAVY_MISSING]
    for item_id, row in heavy_items.iterrows():
        notes.append(f"Item {item_id} was left unanswered by {row['share_missing']:.0%} of "
                     "respondents: check its wording or whether it applies to everyone.")
    unscored = report.constructs[report.constructs["share_unscored"] > HEAVY_MISSING]
    for construct_id, row in unscored.iterrows():
        notes.append(f"{row['share_unscored']:.0%} of respondents answered too few items of "
                     f"{construct_id} to get a score.")


def _flag(value: float, relation: str, threshold: float) -> Any:
    if value is None or not np.isfinite(value):
        return pd.NA
    return bool(value >= threshold if relation == ">=" else
                value > threshold if relation == ">" else value < threshold)


def _flags(values: pd.Series, relation: str, threshold: float) -> pd.Series:
    return pd.Series([_flag(v, relation, threshold) for v in values], index=values.index,
                     dtype="boolean")
