"""Process capability: Cp, Cpk, Cpl, Cpu, Cpm, Pp, Ppk with confidence intervals and the
expected fraction out of specification.

Within-subgroup sigma (the C indices) is R-bar / d2 for subgroups (or s-bar / c4 with
``within="s"``) and MR-bar / d2(2) for individual values; overall sigma (the P indices) is the
sample standard deviation of all values. The center is the grand mean.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from qualityloop.analytics.spc.charts import individuals, subgroup_matrix, xbar_r, xbar_s

INDICES = ["Cp", "Cpl", "Cpu", "Cpk", "Cpm", "Pp", "Ppl", "Ppu", "Ppk"]


@dataclass(eq=False)
class Capability:
    """Result of :func:`capability`.

    Attributes
    ----------
    n : int
        Number of observations.
    center : float
        Grand mean.
    sigma_within, sigma_overall : float
        Short-term (within-subgroup) and long-term (overall) standard deviation.
    lsl, usl, target : float or None
        Specification limits and target (None when absent).
    confidence : float
        Confidence level of the intervals.
    indices : pandas.DataFrame
        Index Cp, Cpl, Cpu, Cpk, Cpm, Pp, Ppl, Ppu, Ppk; columns ``value``, ``lower``,
        ``upper`` (NaN where an index does not apply, e.g. Cp with one specification limit).
    ppm : pandas.DataFrame
        Parts per million out of specification: rows ``expected_within``,
        ``expected_overall`` (normal model) and ``observed``; columns ``below_lsl``,
        ``above_usl``, ``total``.
    data : numpy.ndarray
        The values, flattened.
    """

    n: int
    center: float
    sigma_within: float
    sigma_overall: float
    lsl: float | None
    usl: float | None
    target: float | None
    confidence: float
    indices: pd.DataFrame
    ppm: pd.DataFrame
    data: np.ndarray

    def __getitem__(self, name: str) -> float:
        """The value of one index, e.g. ``result["Cpk"]``."""
        value: Any = self.indices.loc[name, "value"]
        return float(value)

    def summary(self) -> pd.DataFrame:
        """The indices table with the sigma each one uses (``within`` or ``overall``)."""
        table = self.indices.copy()
        table.insert(0, "sigma", ["within"] * 5 + ["overall"] * 4)
        return table

    def plot(self, title: str | None = None) -> Any:
        """Histogram with the within and overall normal curves and the specification limits."""
        from qualityloop.analytics.spc.plotting import plot_capability

        return plot_capability(self, title=title)


def capability(
    data: Any, lsl: float | None = None, usl: float | None = None, target: float | None = None,
    subgroup_size: int | None = None, *, confidence: float = 0.95, within: str = "range",
) -> Capability:
    """Capability indices of a process against its specification limits.

    Parameters
    ----------
    data : array-like
        Individual values in time order (1-D), or subgroups (2-D, one row each).
    lsl, usl : float, optional
        Lower and upper specification limits; at least one. With one only, the two-sided
        indices (Cp, Cpm, Pp) are NaN and Cpk is the one-sided index.
    target : float, optional
        Target for Cpm; defaults to the midpoint of the limits (two-sided only).
    subgroup_size : int, optional
        Split 1-D data into consecutive subgroups of this size (the length must be a multiple).
    confidence : float, default 0.95
        Level of the two-sided confidence intervals.
    within : {"range", "s"}, default "range"
        Within-subgroup sigma from R-bar / d2 (as qcc and Montgomery) or s-bar / c4.

    Returns
    -------
    Capability

    Notes
    -----
    Intervals: Cp and Pp from the chi-square distribution of the variance,
    C * sqrt(chi2(a/2, n-1) / (n-1)) to C * sqrt(chi2(1-a/2, n-1) / (n-1)); Cpk, Cpl, Cpu and
    their P counterparts from Bissell's (1990) normal approximation,
    C (1 -/+ z(1-a/2) sqrt(1 / (9 n C^2) + 1 / (2 (n - 1)))); Cpm from Boyles' (1991)
    chi-square approximation with n (1 + d^2) / (1 + 2 d^2) degrees of freedom,
    d = (center - target) / sigma. n is the number of observations, as in qcc. (qcc uses the
    one-sided quantile z(1-a) for Cpl and Cpu; we use z(1-a/2) for every Bissell interval, so
    qcc's 95 % Cpl interval is our 90 % one.) The intervals assume normal, independent values
    from a process in control.

    Examples
    --------
    >>> result = capability([[9.9, 10.1, 10.0], [10.2, 9.8, 10.0], [10.0, 10.1, 9.9]],
    ...                     lsl=9.4, usl=10.6)
    >>> round(result["Cp"], 3), round(result["Cpk"], 3)
    (1.269, 1.269)
    >>> round(float(result.ppm.loc["expected_within", "total"]), 1)
    139.9
    """
    if lsl is None and usl is None:
        raise ValueError("give at least one specification limit (lsl or usl)")
    if lsl is not None and usl is not None and not lsl < usl:
        raise ValueError(f"lsl must be below usl; got lsl={lsl}, usl={usl}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1; got {confidence}")
    values, sigma_within = _values_and_within_sigma(data, subgroup_size, within)
    if target is None and lsl is not None and usl is not None:
        target = (lsl + usl) / 2
    n, center, sigma_overall = values.size, float(values.mean()), float(values.std(ddof=1))
    if not sigma_overall > 0 or not sigma_within > 0:
        raise ValueError("the data have no spread: capability is not defined")
    rows = {}
    for prefix, sigma in (("C", sigma_within), ("P", sigma_overall)):
        rows.update(_indices(prefix, center, sigma, lsl, usl, target, n, confidence))
    indices = pd.DataFrame.from_dict(rows, orient="index", columns=["value", "lower", "upper"])
    ppm = pd.DataFrame({
        "expected_within": _expected_ppm(center, sigma_within, lsl, usl),
        "expected_overall": _expected_ppm(center, sigma_overall, lsl, usl),
        "observed": _observed_ppm(values, lsl, usl),
    }).T
    return Capability(n=n, center=center, sigma_within=sigma_within,
                      sigma_overall=sigma_overall, lsl=lsl, usl=usl, target=target,
                      confidence=confidence, indices=indices.loc[INDICES], ppm=ppm, data=values)


def _values_and_within_sigma(
    data: Any, subgroup_size: int | None, within: str
) -> tuple[np.ndarray, float]:
    if within not in ("range", "s"):
        raise ValueError(f"within must be 'range' or 's'; got {within!r}")
    array = np.asarray(data.to_numpy() if isinstance(data, pd.DataFrame) else data, dtype=float)
    if subgroup_size is not None:
        if isinstance(subgroup_size, bool) or not isinstance(subgroup_size, int | np.integer) \
                or subgroup_size < 1:
            raise ValueError(f"subgroup_size must be a whole number of at least 1; got "
                             f"{subgroup_size!r}")
        flat = array.ravel()
        if flat.size % subgroup_size:
            raise ValueError(f"{flat.size} values do not split into subgroups of "
                             f"{subgroup_size}")
        array = flat.reshape(-1, subgroup_size)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim == 1:
        return array, individuals(array, rules=None).sigma
    matrix = subgroup_matrix(array)
    chart = xbar_r(matrix, rules=None) if within == "range" else xbar_s(matrix, rules=None)
    return matrix.ravel(), chart.sigma


def _indices(
    prefix: str, center: float, sigma: float, lsl: float | None, usl: float | None,
    target: float | None, n: int, confidence: float,
) -> dict[str, tuple[float, float, float]]:
    alpha = 1 - confidence
    z = float(stats.norm.ppf(1 - alpha / 2))
    upper = (usl - center) / (3 * sigma) if usl is not None else np.nan
    lower = (center - lsl) / (3 * sigma) if lsl is not None else np.nan
    both = lsl is not None and usl is not None
    potential = (usl - lsl) / (6 * sigma) if lsl is not None and usl is not None else np.nan
    k = float(np.nanmin([upper, lower]))
    rows = {
        f"{prefix}p": _chi_square_interval(potential, n - 1, alpha),
        f"{prefix}pl": _bissell_interval(lower, n, z),
        f"{prefix}pu": _bissell_interval(upper, n, z),
        f"{prefix}pk": _bissell_interval(k, n, z),
    }
    if prefix == "C":
        offset = (center - target) / sigma if both and target is not None else np.nan
        taguchi = potential / np.sqrt(1 + offset**2)
        freedom = n * (1 + offset**2) / (1 + 2 * offset**2)
        rows["Cpm"] = _chi_square_interval(taguchi, freedom, alpha)
    return rows


def _chi_square_interval(
    value: float, freedom: float, alpha: float
) -> tuple[float, float, float]:
    if np.isnan(value):
        return (np.nan, np.nan, np.nan)
    quantiles = stats.chi2.ppf([alpha / 2, 1 - alpha / 2], freedom)
    low, high = value * np.sqrt(quantiles / freedom)
    return (float(value), float(low), float(high))


def _bissell_interval(value: float, n: int, z: float) -> tuple[float, float, float]:
    if np.isnan(value):
        return (np.nan, np.nan, np.nan)
    half = z * np.sqrt(1 / (9 * n * value**2) + 1 / (2 * (n - 1)))
    # For a negative index (mean outside the limits) value * (1 - half) is the upper end.
    low, high = sorted((value * (1 - half), value * (1 + half)))
    return (float(value), float(low), float(high))


def _expected_ppm(center: float, sigma: float, lsl: float | None,
                  usl: float | None) -> Mapping[str, float]:
    below = stats.norm.cdf((lsl - center) / sigma) * 1e6 if lsl is not None else np.nan
    above = stats.norm.sf((usl - center) / sigma) * 1e6 if usl is not None else np.nan
    return {"below_lsl": float(below), "above_usl": float(above),
            "total": float(np.nansum([below, above]))}


def _observed_ppm(values: ArrayLike, lsl: float | None, usl: float | None) -> Mapping[str, float]:
    array = np.asarray(values)
    below = float((array < lsl).mean() * 1e6) if lsl is not None else np.nan
    above = float((array > usl).mean() * 1e6) if usl is not None else np.nan
    return {"below_lsl": below, "above_usl": above, "total": float(np.nansum([below, above]))}
