"""Control chart constants for subgroup sizes 2 to 25, computed rather than copied from a table.

``d2`` and ``d3`` are the mean and the standard deviation of the range of ``n`` independent
standard normal values, found by numerical integration of the range distribution; ``c4`` is the
mean of the sample standard deviation of ``n`` standard normal values over sigma, from gamma
functions. Every other factor is a formula in these three (Montgomery, *Introduction to
Statistical Quality Control*, Appendix VI and chapter 6):

==========  ==========================================  ===================================
factor      formula                                     use
==========  ==========================================  ===================================
A2          3 / (d2 sqrt(n))                            x-bar limits from R-bar
A3          3 / (c4 sqrt(n))                            x-bar limits from s-bar
B3, B4      1 -/+ 3 sqrt(1 - c4^2) / c4 (B3 >= 0)       s chart limits from s-bar
D3, D4      1 -/+ 3 d3 / d2 (D3 >= 0)                   R chart limits from R-bar
E2          3 / d2                                      individuals limits from MR-bar
==========  ==========================================  ===================================
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
from scipy import integrate, special, stats

MIN_SIZE = 2
MAX_SIZE = 25
FACTORS = ("d2", "d3", "c4", "A2", "A3", "B3", "B4", "D3", "D4", "E2")

# Grid for E[R^2]: x is the smaller end of an interval, w its width. The integrand is below 1e-20
# outside |x| <= 10 and w <= 14 for every n up to 25.
_X = np.linspace(-10.0, 10.0, 1001)
_W = np.linspace(0.0, 14.0, 701)


def check_size(n: int) -> int:
    """Return ``n`` as an int, or raise ValueError if it is not a whole number from 2 to 25."""
    if isinstance(n, bool) or not float(n).is_integer() or not MIN_SIZE <= n <= MAX_SIZE:
        raise ValueError(
            f"subgroup size must be a whole number from {MIN_SIZE} to {MAX_SIZE} "
            f"(the tabulated control chart constants); got {n!r}"
        )
    return int(n)


@cache
def d2(n: int) -> float:
    """Mean of the range of ``n`` standard normal values (the relative range R/sigma).

    E[R] = integral over x of 1 - Phi(x)^n - (1 - Phi(x))^n.

    Examples
    --------
    >>> round(d2(5), 3)
    2.326
    """
    n = check_size(n)

    def survival_of_range_ends(x: float) -> float:
        return float(1.0 - stats.norm.cdf(x) ** n - stats.norm.sf(x) ** n)

    value, _ = integrate.quad(survival_of_range_ends, -np.inf, np.inf)
    return float(value)


@cache
def d3(n: int) -> float:
    """Standard deviation of the range of ``n`` standard normal values.

    E[R^2] = 2 * double integral over x < y of P(min < x, max > y)
    = 2 * integral of 1 - Phi(y)^n - (1 - Phi(x))^n + (Phi(y) - Phi(x))^n, written with
    y = x + w and integrated by Simpson's rule on a fine grid.

    Examples
    --------
    >>> round(d3(5), 3)
    0.864
    """
    n = check_size(n)
    lower = stats.norm.cdf(_X)[None, :]
    upper = stats.norm.cdf(_X[None, :] + _W[:, None])
    both_outside = 1.0 - upper**n - stats.norm.sf(_X)[None, :] ** n + (upper - lower) ** n
    second_moment = 2.0 * integrate.simpson(integrate.simpson(both_outside, x=_X, axis=1), x=_W)
    return float(np.sqrt(second_moment - d2(n) ** 2))


@cache
def c4(n: int) -> float:
    """Mean of the sample standard deviation of ``n`` standard normal values.

    c4 = sqrt(2 / (n - 1)) * Gamma(n / 2) / Gamma((n - 1) / 2).

    Examples
    --------
    >>> round(c4(5), 4)
    0.94
    """
    n = check_size(n)
    log_ratio = special.gammaln(n / 2.0) - special.gammaln((n - 1) / 2.0)
    return float(np.sqrt(2.0 / (n - 1)) * np.exp(log_ratio))


def factors(n: int) -> dict[str, float]:
    """All control chart factors for subgroup size ``n`` (see the module docstring).

    Examples
    --------
    >>> {k: round(v, 3) for k, v in factors(5).items() if k in ("A2", "D4")}
    {'A2': 0.577, 'D4': 2.114}
    """
    n = check_size(n)
    mean_range, sd_range, mean_sd = d2(n), d3(n), c4(n)
    s_spread = 3.0 * np.sqrt(1.0 - mean_sd**2) / mean_sd
    values = {
        "d2": mean_range,
        "d3": sd_range,
        "c4": mean_sd,
        "A2": 3.0 / (mean_range * np.sqrt(n)),
        "A3": 3.0 / (mean_sd * np.sqrt(n)),
        "B3": max(0.0, 1.0 - s_spread),
        "B4": 1.0 + s_spread,
        "D3": max(0.0, 1.0 - 3.0 * sd_range / mean_range),
        "D4": 1.0 + 3.0 * sd_range / mean_range,
        "E2": 3.0 / mean_range,
    }
    return {name: float(value) for name, value in values.items()}


def constants_table(sizes: range = range(MIN_SIZE, MAX_SIZE + 1)) -> pd.DataFrame:
    """The factors for every subgroup size, one row per ``n`` (like Montgomery's Appendix VI).

    Examples
    --------
    >>> table = constants_table()
    >>> table.shape
    (24, 10)
    >>> round(float(table.loc[2, "E2"]), 3)
    2.659
    """
    rows = {n: factors(n) for n in sizes}
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(FACTORS)).rename_axis("n")
