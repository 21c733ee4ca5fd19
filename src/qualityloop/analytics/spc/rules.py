"""Run rules for control charts: Western Electric 1-4 and Nelson 1-8.

Every rule is a function ``rule(statistic, center, sigma)`` of the plotted values, the center
line and the standard deviation *of the plotted statistic* (so for an x-bar chart that is
sigma / sqrt(n)); ``center`` and ``sigma`` may be scalars or arrays with one value per point
(attribute charts with varying sample sizes). It returns a boolean array with True at each point
that completes the pattern. A pattern that goes on (a run of 12 points above the center line for
the "9 in a row" rule) signals at every point from the one that completes it onwards.

Zones are measured in sigmas of the plotted statistic: zone A lies between 2 and 3 sigma, B
between 1 and 2, C within 1. A point exactly on the center line belongs to neither side, so it
ends a run on one side.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

Rule = Callable[[ArrayLike, ArrayLike, ArrayLike], NDArray[np.bool_]]


def standardise(statistic: ArrayLike, center: ArrayLike, sigma: ArrayLike) -> NDArray[np.float64]:
    """Distance of each point from the center line in sigmas of the plotted statistic."""
    values = np.asarray(statistic, dtype=float)
    scale = np.broadcast_to(np.asarray(sigma, dtype=float), values.shape)
    if np.any(scale <= 0):
        raise ValueError("sigma of the plotted statistic must be positive")
    return (values - np.asarray(center, dtype=float)) / scale


def run_length(condition: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Length of the run of True values ending at each position (0 where False)."""
    condition = np.asarray(condition, dtype=bool)
    positions = np.arange(condition.size)
    last_false = np.maximum.accumulate(np.where(condition, -1, positions))
    return np.where(condition, positions - last_false, 0)


def trailing_count(condition: NDArray[np.bool_], window: int) -> NDArray[np.int64]:
    """How many of the last ``window`` points (fewer at the start) satisfy ``condition``."""
    cumulative = np.concatenate([[0], np.cumsum(np.asarray(condition, dtype=int))])
    ends = np.arange(1, condition.size + 1)
    return cumulative[ends] - cumulative[np.maximum(ends - window, 0)]


def _k_of_m_beyond(z: NDArray[np.float64], k: int, m: int, limit: float) -> NDArray[np.bool_]:
    """k of the last m points beyond ``limit`` sigma on one side, the current point among them."""
    above, below = z > limit, z < -limit
    return (above & (trailing_count(above, m) >= k)) | (below & (trailing_count(below, m) >= k))


def _same_side(z: NDArray[np.float64], length: int) -> NDArray[np.bool_]:
    return (run_length(z > 0) >= length) | (run_length(z < 0) >= length)


def beyond_3_sigma(
    statistic: ArrayLike, center: ArrayLike, sigma: ArrayLike
) -> NDArray[np.bool_]:
    """One point beyond 3 sigma (Western Electric 1, Nelson 1).

    Examples
    --------
    >>> beyond_3_sigma([0, 3.5, -1, -3.2], 0, 1).tolist()
    [False, True, False, True]
    """
    return np.abs(standardise(statistic, center, sigma)) > 3


def two_of_three_beyond_2_sigma(
    statistic: ArrayLike, center: ArrayLike, sigma: ArrayLike
) -> NDArray[np.bool_]:
    """Two of three points in a row beyond 2 sigma on the same side (WE 2, Nelson 5).

    Examples
    --------
    >>> two_of_three_beyond_2_sigma([0, 2.5, 0.5, 2.2, 0], 0, 1).tolist()
    [False, False, False, True, False]
    """
    return _k_of_m_beyond(standardise(statistic, center, sigma), 2, 3, 2.0)


def four_of_five_beyond_1_sigma(
    statistic: ArrayLike, center: ArrayLike, sigma: ArrayLike
) -> NDArray[np.bool_]:
    """Four of five points in a row beyond 1 sigma on the same side (WE 3, Nelson 6).

    Examples
    --------
    >>> four_of_five_beyond_1_sigma([1.5, 1.2, 0.3, 1.1, 1.4], 0, 1).tolist()
    [False, False, False, False, True]
    """
    return _k_of_m_beyond(standardise(statistic, center, sigma), 4, 5, 1.0)


def eight_on_one_side(
    statistic: ArrayLike, center: ArrayLike, sigma: ArrayLike
) -> NDArray[np.bool_]:
    """Eight points in a row on the same side of the center line (Western Electric 4).

    Examples
    --------
    >>> int(eight_on_one_side([0.1] * 8, 0, 1).sum())
    1
    """
    return _same_side(standardise(statistic, center, sigma), 8)


def nine_on_one_side(
    statistic: ArrayLike, center: ArrayLike, sigma: ArrayLike
) -> NDArray[np.bool_]:
    """Nine points in a row on the same side of the center line (Nelson 2).

    Examples
    --------
    >>> nine_on_one_side([-0.2] * 9, 0, 1).tolist()[-2:]
    [False, True]
    """
    return _same_side(standardise(statistic, center, sigma), 9)


def six_trending(statistic: ArrayLike, center: ArrayLike, sigma: ArrayLike) -> NDArray[np.bool_]:
    """Six points in a row steadily increasing or decreasing (Nelson 3).

    Examples
    --------
    >>> six_trending([0, 0.1, 0.2, 0.3, 0.4, 0.5], 0, 1).tolist()[-1]
    True
    """
    z = standardise(statistic, center, sigma)
    steps = np.diff(z, prepend=np.nan)
    return (run_length(steps > 0) >= 5) | (run_length(steps < 0) >= 5)


def fourteen_alternating(
    statistic: ArrayLike, center: ArrayLike, sigma: ArrayLike
) -> NDArray[np.bool_]:
    """Fourteen points in a row alternating up and down (Nelson 4).

    Examples
    --------
    >>> int(fourteen_alternating([0.5, -0.5] * 7, 0, 1).sum())
    1
    """
    z = standardise(statistic, center, sigma)
    steps = np.diff(z, prepend=np.nan)
    turns = steps * np.roll(steps, 1) < 0  # this step goes the other way than the one before
    turns[:2] = False
    return run_length(turns) >= 12


def fifteen_within_1_sigma(
    statistic: ArrayLike, center: ArrayLike, sigma: ArrayLike
) -> NDArray[np.bool_]:
    """Fifteen points in a row within 1 sigma of the center line, either side (Nelson 7).

    Examples
    --------
    >>> int(fifteen_within_1_sigma([0.5, -0.5] * 8, 0, 1).sum())
    2
    """
    return run_length(np.abs(standardise(statistic, center, sigma)) < 1) >= 15


def eight_beyond_1_sigma(
    statistic: ArrayLike, center: ArrayLike, sigma: ArrayLike
) -> NDArray[np.bool_]:
    """Eight points in a row beyond 1 sigma, on either side, none within 1 sigma (Nelson 8).

    Examples
    --------
    >>> int(eight_beyond_1_sigma([1.5, -1.5] * 4, 0, 1).sum())
    1
    """
    return run_length(np.abs(standardise(statistic, center, sigma)) > 1) >= 8


#: Each rule set: (rule number, function, description).
RULE_SETS: dict[str, list[tuple[int, Rule, str]]] = {
    "western_electric": [
        (1, beyond_3_sigma, "1 point beyond 3 sigma"),
        (2, two_of_three_beyond_2_sigma, "2 of 3 points beyond 2 sigma on one side"),
        (3, four_of_five_beyond_1_sigma, "4 of 5 points beyond 1 sigma on one side"),
        (4, eight_on_one_side, "8 points in a row on one side of the center line"),
    ],
    "nelson": [
        (1, beyond_3_sigma, "1 point beyond 3 sigma"),
        (2, nine_on_one_side, "9 points in a row on one side of the center line"),
        (3, six_trending, "6 points in a row steadily increasing or decreasing"),
        (4, fourteen_alternating, "14 points in a row alternating up and down"),
        (5, two_of_three_beyond_2_sigma, "2 of 3 points beyond 2 sigma on one side"),
        (6, four_of_five_beyond_1_sigma, "4 of 5 points beyond 1 sigma on one side"),
        (7, fifteen_within_1_sigma, "15 points in a row within 1 sigma"),
        (8, eight_beyond_1_sigma, "8 points in a row beyond 1 sigma, either side"),
    ],
}

VIOLATION_COLUMNS = ["subgroup", "rule", "description"]


def check_rules(
    statistic: ArrayLike, center: ArrayLike, sigma: ArrayLike,
    rules: str | None = "western_electric",
) -> pd.DataFrame:
    """Every signal of a rule set, one row per (subgroup, rule).

    Parameters
    ----------
    statistic, center, sigma : array-like
        Plotted values, center line and standard deviation of the plotted statistic.
    rules : {"western_electric", "nelson"} or None
        The rule set; None gives an empty table.

    Returns
    -------
    pandas.DataFrame
        Columns ``subgroup`` (0-based), ``rule`` (its number in the rule set) and
        ``description``, sorted by subgroup then rule.

    Examples
    --------
    >>> check_rules([0, 0.5, 3.4, 0.2], 0, 1, "nelson").to_dict("records")
    [{'subgroup': 2, 'rule': 1, 'description': '1 point beyond 3 sigma'}]
    """
    if rules is None:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in
                             zip(VIOLATION_COLUMNS, ["int64", "int64", "object"], strict=True)})
    if rules not in RULE_SETS:
        raise ValueError(f"rules must be one of {', '.join(map(repr, RULE_SETS))} or None; "
                         f"got {rules!r}")
    rows = [
        (int(index), number, description)
        for number, rule, description in RULE_SETS[rules]
        for index in np.flatnonzero(rule(statistic, center, sigma))
    ]
    table = pd.DataFrame(rows, columns=VIOLATION_COLUMNS)
    table = table.astype({"subgroup": "int64", "rule": "int64"})
    return table.sort_values(["subgroup", "rule"], kind="stable").reset_index(drop=True)
