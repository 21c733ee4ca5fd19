"""Shewhart, EWMA and CUSUM control charts, phase I and phase II.

Every chart function returns a :class:`ControlChart`. In phase I (no ``limits``) the center and
sigma are estimated from the data; ``exclude=`` drops subgroups with known assignable causes and
``exclude_out_of_control=True`` drops the subgroups beyond the limits and estimates again until
none is left beyond them (``max_iterations`` caps the rounds; the dropped subgroups are in
``chart.excluded``). In phase II, ``limits=`` takes an earlier chart (or a mapping with
``center`` and, for variables charts, ``sigma``) and applies its limits to new data.

Formulas follow Montgomery, *Introduction to Statistical Quality Control* (chapters 6, 7, 9) and
give the same numbers as R's qcc where both use the same estimator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from qualityloop.analytics.spc.constants import c4, check_size, d2, d3
from qualityloop.analytics.spc.rules import RULE_SETS, VIOLATION_COLUMNS, check_rules

Array = NDArray[np.float64]


@dataclass(eq=False)
class ControlChart:
    """A control chart: plotted statistic, center line and limits, one value per subgroup.

    Attributes
    ----------
    chart : str
        ``"xbar"``, ``"R"``, ``"s"``, ``"I"``, ``"MR"``, ``"p"``, ``"np"``, ``"c"``, ``"u"``,
        ``"ewma"`` or ``"cusum"``.
    statistic : numpy.ndarray
        The plotted values (subgroup means, ranges, fractions, counts, EWMA, C+ for CUSUM).
    center_line, lower_limit, upper_limit : numpy.ndarray
        One value per subgroup. Lower limits of charts of counts, fractions, ranges and standard
        deviations are clipped at 0.
    sigma : float
        The process standard deviation the limits come from: sigma-hat of one observation for
        variables charts, sqrt(p(1 - p)) per item for p and np charts, sqrt(c) for c charts,
        sqrt(u) per unit for u charts.
    statistic_sigma : numpy.ndarray
        Standard deviation of the plotted statistic at each subgroup (what the run rules use).
    center : float
        The process center: x-double-bar, p-bar, c-bar, u-bar or the EWMA/CUSUM target.
    sizes : numpy.ndarray
        Subgroup (sample) sizes.
    phase : {"I", "II"}
        "I" when the limits were estimated from this data, "II" when given.
    excluded : list of int
        Phase I subgroups left out of the estimate (given in ``exclude`` or dropped as beyond
        the limits), 0-based.
    rules : str or None
        The run-rule set used for :attr:`violations`.
    companion : ControlChart or None
        The dispersion chart that goes with an x-bar or individuals chart (R, s or MR).
    lower_statistic : numpy.ndarray or None
        CUSUM only: the lower sum C- (plotted below zero).
    parameters : dict
        Chart settings to carry into phase II with :meth:`limits` (``lam`` and ``L`` of an
        EWMA, ``k`` and ``h`` of a CUSUM; an np chart's ``center`` is its fraction p).

    Examples
    --------
    >>> chart = p_chart([12, 15, 8, 10, 4, 7, 16, 9, 14, 10], 50)
    >>> chart.summary().columns.tolist()[:4]
    ['subgroup', 'size', 'statistic', 'center_line']
    >>> later = p_chart([9, 6, 12], 50, limits=chart)
    >>> later.phase, round(later.center, 3)
    ('II', 0.21)
    """

    chart: str
    statistic: Array
    center_line: Array
    lower_limit: Array
    upper_limit: Array
    sigma: float
    statistic_sigma: Array
    center: float
    sizes: Array
    phase: str = "I"
    excluded: list[int] = field(default_factory=list)
    rules: str | None = "western_electric"
    companion: ControlChart | None = None
    lower_statistic: Array | None = None
    parameters: dict[str, float] = field(default_factory=dict)

    @property
    def out_of_control(self) -> NDArray[np.int64]:
        """0-based indices of the subgroups beyond the control limits."""
        if self.lower_statistic is not None:  # CUSUM: either sum beyond the decision interval
            beyond = (self.statistic > self.upper_limit) | (self.lower_statistic > self.upper_limit)
        else:
            beyond = (self.statistic > self.upper_limit) | (self.statistic < self.lower_limit)
        return np.flatnonzero(beyond & ~np.isnan(self.statistic))

    @cached_property
    def violations(self) -> pd.DataFrame:
        """Run-rule signals: one row per (subgroup, rule), columns subgroup, rule, description.

        EWMA and CUSUM points are not independent, so only their limits apply: a row with rule 1
        for each point beyond them.
        """
        if self.chart in ("ewma", "cusum"):
            text = "beyond the decision interval h" if self.chart == "cusum" else \
                "beyond the control limits"
            rows = [(int(i), 1, text) for i in self.out_of_control] if self.rules else []
            return pd.DataFrame(rows, columns=VIOLATION_COLUMNS).astype(
                {"subgroup": "int64", "rule": "int64"})
        valid = ~np.isnan(self.statistic)
        offset = int(np.argmax(valid))  # the MR chart has no value for the first point
        table = check_rules(self.statistic[offset:], self.center_line[offset:],
                            self.statistic_sigma[offset:], self.rules)
        table["subgroup"] += offset
        return table

    def limits(self) -> dict[str, float]:
        """The center and sigma to pass as ``limits=`` for phase II (with the chart's settings).

        Examples
        --------
        >>> chart = c_chart([21, 24, 16, 12, 15, 5, 28, 20])
        >>> round(chart.limits()["center"], 3)
        17.625
        """
        return {"center": self.center, "sigma": self.sigma, **self.parameters}

    def summary(self) -> pd.DataFrame:
        """One row per subgroup: size, statistic, center line, limits and what signalled.

        Columns ``subgroup``, ``size``, ``statistic``, ``center_line``, ``lower_limit``,
        ``upper_limit``, ``beyond_limits``, ``excluded``, ``rules`` (the rule numbers that
        signalled there, e.g. ``"2, 5"``) and, for CUSUM, ``lower_statistic``.
        """
        count = self.statistic.size
        beyond = np.zeros(count, dtype=bool)
        beyond[self.out_of_control] = True
        excluded = np.zeros(count, dtype=bool)
        excluded[self.excluded] = True
        signals = self.violations.groupby("subgroup")["rule"].agg(
            lambda numbers: ", ".join(str(n) for n in sorted(set(numbers))))
        table = pd.DataFrame({
            "subgroup": np.arange(count), "size": self.sizes, "statistic": self.statistic,
            "center_line": self.center_line, "lower_limit": self.lower_limit,
            "upper_limit": self.upper_limit, "beyond_limits": beyond, "excluded": excluded,
        })
        table["rules"] = [signals.get(index, "") for index in range(count)]
        if self.lower_statistic is not None:
            table.insert(3, "lower_statistic", self.lower_statistic)
        return table

    def as_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready description: settings, one record per subgroup, the signals and
        the companion chart (NaN and infinities become None).

        Examples
        --------
        >>> chart = c_chart([3, 5, 4, 12, 2, 4])
        >>> described = chart.as_dict()
        >>> described["chart"], described["phase"], len(described["points"])
        ('c', 'I', 6)
        """
        points = self.summary().astype(object)
        points = points.where(pd.notna(points), None)
        return _json_safe({
            "chart": self.chart, "phase": self.phase, "center": self.center,
            "sigma": self.sigma, "rules": self.rules, "excluded": list(self.excluded),
            "out_of_control": self.out_of_control.tolist(), "parameters": dict(self.parameters),
            "points": points.to_dict("records"),
            "violations": self.violations.to_dict("records"),
            "companion": self.companion.as_dict() if self.companion is not None else None,
        })

    def plot(self, title: str | None = None) -> Any:
        """An Altair chart of this chart (and its companion below it, if any).

        See :func:`qualityloop.analytics.spc.plotting.plot_control_chart`.
        """
        from qualityloop.analytics.spc.plotting import plot_control_chart

        return plot_control_chart(self, title=title)


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


# Input -------------------------------------------------------------------------------------------


def subgroups_from_long(frame: pd.DataFrame, value: str, subgroup: str) -> pd.DataFrame:
    """One row per subgroup (in order of first appearance) from one row per measurement.

    Shorter subgroups are padded with NaN, which the variables charts refuse with a message
    naming the subgroup.

    Examples
    --------
    >>> long = pd.DataFrame({"lot": ["a", "a", "b", "b"], "mm": [1.0, 1.2, 0.9, 1.1]})
    >>> subgroups_from_long(long, value="mm", subgroup="lot").to_numpy().tolist()
    [[1.0, 1.2], [0.9, 1.1]]
    """
    missing = [c for c in (value, subgroup) if c not in frame.columns]
    if missing:
        raise ValueError(f"data has no column {', '.join(map(repr, missing))}; its columns are: "
                         f"{', '.join(map(str, frame.columns))}")
    numbers = pd.to_numeric(frame[value], errors="coerce")
    if numbers.isna().any():
        row = frame.index[numbers.isna().to_numpy()][0]
        raise ValueError(f"column {value!r} must hold numbers; row {row!r} holds "
                         f"{frame.loc[row, value]!r}")
    keys = frame[subgroup]
    position = keys.groupby(keys, sort=False).cumcount()
    wide = pd.DataFrame({"key": keys.to_numpy(), "position": position.to_numpy(),
                         "value": numbers.to_numpy()})
    order = list(dict.fromkeys(keys))
    return wide.pivot(index="key", columns="position", values="value").loc[order]


def subgroup_matrix(data: Any, what: str = "data") -> Array:
    """Measurements as an (m subgroups x n) float array, rows being subgroups, all sizes equal.

    Accepts a 2-D array, a list of equal-length lists or a DataFrame (one row per subgroup).
    Raises ValueError for ragged or missing values (unequal subgroup sizes), fewer than 2
    subgroups, or a subgroup size outside 2..25.
    """
    rows = data.to_numpy() if isinstance(data, pd.DataFrame) else data
    if not isinstance(rows, np.ndarray):
        rows = list(rows)
        lengths = {len(np.atleast_1d(row)) for row in rows}
        if len(lengths) > 1:
            raise ValueError(_unequal_message(what, [len(np.atleast_1d(r)) for r in rows]))
    try:
        values = np.asarray(rows, dtype=float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{what} must hold numbers only ({error})") from None
    if values.ndim != 2:
        raise ValueError(f"{what} must be a table of subgroups (one row per subgroup, one column "
                         f"per measurement); for single measurements use individuals()")
    missing = np.isnan(values)
    if missing.any():
        raise ValueError(_unequal_message(what, list((~missing).sum(axis=1))))
    _require_subgroups(values.shape[0], what)
    check_size(values.shape[1])
    if np.isinf(values).any():
        raise ValueError(f"{what} has an infinite value in subgroup "
                         f"{int(np.argwhere(np.isinf(values))[0][0])}")
    return values


def _unequal_message(what: str, sizes: Sequence[int]) -> str:
    common = max(set(sizes), key=list(sizes).count)
    odd = next(i for i, size in enumerate(sizes) if size != common)
    return (f"{what}: subgroups of unequal size are not allowed for this chart; subgroup {odd} "
            f"(0-based) has {sizes[odd]} values, most have {common}")


def _require_subgroups(count: int, what: str) -> None:
    if count < 2:
        raise ValueError(f"{what} needs at least 2 subgroups to estimate limits; got {count}")


def _vector(values: ArrayLike, what: str, minimum: float | None = None) -> Array:
    array = np.atleast_1d(np.asarray(values, dtype=float))
    if array.ndim != 1:
        raise ValueError(f"{what} must be one value per subgroup")
    if not np.isfinite(array).all():
        raise ValueError(f"{what} has a missing or infinite value at position "
                         f"{int(np.flatnonzero(~np.isfinite(array))[0])}")
    if minimum is not None and (array < minimum).any():
        first = int(np.flatnonzero(array < minimum)[0])
        raise ValueError(f"{what} must be at least {minimum}; position {first} holds "
                         f"{array[first]}")
    return array


def _sizes(sizes: ArrayLike, count: int, what: str = "sizes") -> Array:
    array = _vector(sizes, what)
    if (array <= 0).any():
        first = int(np.flatnonzero(array <= 0)[0])
        raise ValueError(f"{what} must be positive; position {first} holds {array[first]}")
    if array.size == 1:
        return np.full(count, array[0])
    if array.size != count:
        raise ValueError(f"{what} must be one number or one per subgroup ({count}); "
                         f"got {array.size}")
    return array


FAMILIES = {"xbar": "variables", "R": "variables", "s": "variables", "I": "variables",
            "MR": "variables", "ewma": "variables", "cusum": "variables", "p": "fraction",
            "np": "fraction", "c": "count", "u": "rate"}


def _given(limits: Any, keys: Sequence[str], family: str) -> dict[str, float]:
    """Center (and sigma) from an earlier chart of the same family or a mapping, for phase II."""
    if isinstance(limits, ControlChart) and FAMILIES[limits.chart] != family:
        fitting = sorted(kind for kind, group in FAMILIES.items() if group == family)
        raise ValueError(f"limits come from a {limits.chart} chart; this chart takes limits "
                         f"from a {' or '.join(fitting)} chart (or a mapping)")
    source = limits.limits() if isinstance(limits, ControlChart) else dict(limits)
    missing = [key for key in keys if key not in source]
    if missing:
        raise ValueError(f"limits must give {', '.join(keys)}; missing {', '.join(missing)}")
    values = {key: float(source[key]) for key in keys}
    if "sigma" in values and not values["sigma"] > 0:
        raise ValueError(f"limits sigma must be positive; got {values['sigma']}")
    return values


# Phase I estimation --------------------------------------------------------------------------


def _phase_one(
    count: int,
    estimate: Callable[[NDArray[np.bool_]], dict[str, float]],
    beyond: Callable[[dict[str, float]], NDArray[np.bool_]],
    exclude: Sequence[int] | None,
    exclude_out_of_control: bool,
    max_iterations: int | None,
) -> tuple[dict[str, float], list[int]]:
    """Estimate from the kept subgroups; optionally drop those beyond the limits and repeat."""
    keep = np.ones(count, dtype=bool)
    for index in exclude or ():
        if not -count <= int(index) < count:
            raise ValueError(f"exclude: subgroup {index} does not exist (there are {count})")
        keep[int(index)] = False
    _require_subgroups(int(keep.sum()), "data left after exclusions")
    rounds = max_iterations if max_iterations is not None else count
    params = estimate(keep)
    while exclude_out_of_control and rounds > 0:
        dropped = beyond(params) & keep
        if not dropped.any():
            break
        keep &= ~dropped
        _require_subgroups(int(keep.sum()), "data left after dropping out-of-control subgroups")
        params = estimate(keep)
        rounds -= 1
    return params, [int(i) for i in np.flatnonzero(~keep)]


def _shewhart(
    chart: str, statistic: Array, center: float, statistic_sigma: Array, sigma: float,
    sizes: Array, *, nsigmas: float = 3.0, floor: float | None = None, **extra: Any,
) -> ControlChart:
    count = statistic.size
    spread = np.broadcast_to(np.asarray(statistic_sigma, dtype=float), (count,)).copy()
    lower = center - nsigmas * spread
    if floor is not None:
        lower = np.maximum(lower, floor)
    return ControlChart(
        chart=chart, statistic=statistic, center_line=np.full(count, float(center)),
        lower_limit=lower, upper_limit=center + nsigmas * spread, sigma=float(sigma),
        statistic_sigma=spread, center=float(center), sizes=sizes, **extra,
    )


def _beyond(statistic: Array, center: float, spread: Array) -> NDArray[np.bool_]:
    return np.abs(statistic - center) > spread


# x-bar and R / s ---------------------------------------------------------------------------------


def xbar_r(
    data: Any, *, limits: Any = None, exclude: Sequence[int] | None = None,
    exclude_out_of_control: bool = False, max_iterations: int | None = None,
    rules: str | None = "western_electric",
) -> ControlChart:
    """x-bar chart with its R chart, sigma estimated as R-bar / d2.

    Parameters
    ----------
    data : array-like or pandas.DataFrame
        One row per subgroup, one column per measurement; every subgroup of the same size
        n (2..25).
    limits : ControlChart or mapping, optional
        Phase II: an earlier chart, or ``{"center": ..., "sigma": ...}`` (sigma of one
        observation). The R chart then has center d2 * sigma and limits D3, D4 times that.
    exclude : sequence of int, optional
        Phase I subgroups (0-based) to leave out of the estimate (known assignable causes).
    exclude_out_of_control : bool, default False
        Phase I: drop subgroups beyond the x-bar or the R limits and estimate again, until
        none is beyond (or ``max_iterations`` rounds).
    max_iterations : int, optional
        Cap on the re-estimation rounds (1 = Montgomery's single revision).
    rules : {"western_electric", "nelson"} or None
        Run rules for :attr:`ControlChart.violations`.

    Returns
    -------
    ControlChart
        The x-bar chart; ``companion`` is the R chart.

    Examples
    --------
    >>> chart = xbar_r([[74.030, 74.002, 74.019, 73.992, 74.008],
    ...                 [73.995, 73.992, 74.001, 74.011, 74.004],
    ...                 [73.988, 74.024, 74.021, 74.005, 74.002]])
    >>> round(chart.center, 4), round(chart.companion.center, 4)
    (74.0063, 0.031)
    >>> chart.out_of_control.tolist()
    []
    """
    values = subgroup_matrix(data)
    means, ranges = values.mean(axis=1), np.ptp(values, axis=1)
    return _xbar_with(values, means, ranges, "R", limits, exclude, exclude_out_of_control,
                      max_iterations, rules)


def xbar_s(
    data: Any, *, limits: Any = None, exclude: Sequence[int] | None = None,
    exclude_out_of_control: bool = False, max_iterations: int | None = None,
    rules: str | None = "western_electric",
) -> ControlChart:
    """x-bar chart with its s chart, sigma estimated as s-bar / c4.

    Parameters are those of :func:`xbar_r`; the companion is the s chart (center c4 * sigma,
    limits B3, B4 times s-bar).

    Examples
    --------
    >>> chart = xbar_s([[1.0, 2.0, 3.0], [2.0, 3.0, 4.0], [1.5, 2.5, 3.5]])
    >>> round(chart.sigma, 4), round(chart.companion.center, 4)
    (1.1284, 1.0)
    """
    values = subgroup_matrix(data)
    means, deviations = values.mean(axis=1), values.std(axis=1, ddof=1)
    return _xbar_with(values, means, deviations, "s", limits, exclude, exclude_out_of_control,
                      max_iterations, rules)


def _dispersion_factors(kind: str, n: int) -> tuple[float, float]:
    """Mean and standard deviation of R or s over sigma for subgroups of size n."""
    if kind == "R":
        return d2(n), d3(n)
    return c4(n), float(np.sqrt(1.0 - c4(n) ** 2))


def _xbar_with(
    values: Array, means: Array, spreads: Array, kind: str, limits: Any,
    exclude: Sequence[int] | None, exclude_out_of_control: bool, max_iterations: int | None,
    rules: str | None,
) -> ControlChart:
    count, n = values.shape
    mean_factor, sd_factor = _dispersion_factors(kind, n)

    def charts(params: dict[str, float]) -> tuple[ControlChart, ControlChart]:
        sigma = params["sigma"]
        sizes = np.full(count, float(n))
        xbar = _shewhart("xbar", means, params["center"], np.full(count, sigma / np.sqrt(n)),
                         sigma, sizes, rules=rules)
        spread = _shewhart(kind, spreads, mean_factor * sigma, np.full(count, sd_factor * sigma),
                           sigma, sizes, floor=0.0, rules=rules)
        return xbar, spread

    def estimate(keep: NDArray[np.bool_]) -> dict[str, float]:
        return {"center": float(means[keep].mean()),
                "sigma": float(spreads[keep].mean() / mean_factor)}

    def beyond(params: dict[str, float]) -> NDArray[np.bool_]:
        xbar, spread = charts(params)
        flags = np.zeros(count, dtype=bool)
        flags[xbar.out_of_control] = True
        flags[spread.out_of_control] = True
        return flags

    return _with_companion(count, limits, estimate, beyond, charts,
                           (exclude, exclude_out_of_control, max_iterations))


def _with_companion(
    count: int, limits: Any, estimate: Callable[[NDArray[np.bool_]], dict[str, float]],
    beyond: Callable[[dict[str, float]], NDArray[np.bool_]],
    charts: Callable[[dict[str, float]], tuple[ControlChart, ControlChart]],
    phase_one: tuple[Sequence[int] | None, bool, int | None],
) -> ControlChart:
    """Estimate (or take) center and sigma, then build a chart and its dispersion companion."""
    params, excluded, phase = _estimate_or_take(count, limits, ["center", "sigma"], "variables",
                                                estimate, beyond, *phase_one)
    main, companion = charts(params)
    for chart in (main, companion):
        chart.phase, chart.excluded = phase, excluded
    main.companion = companion
    return main


def _estimate_or_take(
    count: int, limits: Any, keys: list[str], family: str,
    estimate: Callable[[NDArray[np.bool_]], dict[str, float]],
    beyond: Callable[[dict[str, float]], NDArray[np.bool_]],
    exclude: Sequence[int] | None, exclude_out_of_control: bool, max_iterations: int | None,
) -> tuple[dict[str, float], list[int], str]:
    if limits is not None:
        if exclude or exclude_out_of_control:
            raise ValueError("exclude and exclude_out_of_control are for phase I; with limits= "
                             "(phase II) the limits are fixed")
        return _given(limits, keys, family), [], "II"
    params, excluded = _phase_one(count, estimate, beyond, exclude, exclude_out_of_control,
                                  max_iterations)
    return params, excluded, "I"


# Individuals and moving range -------------------------------------------------------------------


def individuals(
    data: ArrayLike, *, limits: Any = None, exclude: Sequence[int] | None = None,
    exclude_out_of_control: bool = False, max_iterations: int | None = None,
    rules: str | None = "western_electric",
) -> ControlChart:
    """Individuals (I) chart with its moving-range (MR) chart; sigma = MR-bar / d2(2).

    Parameters
    ----------
    data : array-like
        One measurement per point, in time order.
    limits, exclude, exclude_out_of_control, max_iterations, rules
        As in :func:`xbar_r`. A moving range counts in MR-bar only when both of its points are
        kept; only the I chart decides which points are dropped.

    Returns
    -------
    ControlChart
        The I chart; ``companion`` is the MR chart (its first value is NaN).

    Examples
    --------
    >>> chart = individuals([10.0, 12.0, 11.0, 13.0, 12.0])
    >>> round(chart.sigma, 4), round(float(chart.upper_limit[0]), 3)
    (1.3293, 15.588)
    """
    values = _vector(data, "data")
    count = values.size
    _require_subgroups(count, "data")
    moving = np.concatenate([[np.nan], np.abs(np.diff(values))])
    mean_factor, sd_factor = d2(2), d3(2)
    ones = np.ones(count)

    def charts(params: dict[str, float]) -> tuple[ControlChart, ControlChart]:
        sigma = params["sigma"]
        single = _shewhart("I", values, params["center"], sigma * ones, sigma, ones, rules=rules)
        ranges = _shewhart("MR", moving, mean_factor * sigma, sd_factor * sigma * ones, sigma,
                           2 * ones, floor=0.0, rules=rules)
        return single, ranges

    def estimate(keep: NDArray[np.bool_]) -> dict[str, float]:
        pairs = keep & np.roll(keep, 1)
        pairs[0] = False
        if not pairs.any():
            raise ValueError("no two consecutive points are kept: no moving range to estimate "
                             "sigma from")
        return {"center": float(values[keep].mean()),
                "sigma": float(moving[pairs].mean() / mean_factor)}

    def beyond(params: dict[str, float]) -> NDArray[np.bool_]:
        return _beyond(values, params["center"], 3 * params["sigma"] * ones)

    return _with_companion(count, limits, estimate, beyond, charts,
                           (exclude, exclude_out_of_control, max_iterations))


# Attribute charts --------------------------------------------------------------------------------


def _attribute(
    chart: str, statistic: Array, sizes: Array, limits: Any, exclude: Sequence[int] | None,
    exclude_out_of_control: bool, max_iterations: int | None, rules: str | None,
    estimate: Callable[[NDArray[np.bool_]], dict[str, float]],
    spread: Callable[[float], tuple[Array, float]],
) -> ControlChart:
    """A chart of counts or fractions: ``spread(center)`` gives (sigma of each point, sigma)."""

    def beyond(params: dict[str, float]) -> NDArray[np.bool_]:
        center = params["center"]
        low = np.maximum(center - 3 * spread(center)[0], 0.0)
        return (statistic > center + 3 * spread(center)[0]) | (statistic < low)

    params, excluded, phase = _estimate_or_take(statistic.size, limits, ["center"],
                                                FAMILIES[chart], estimate,
                                                beyond, exclude, exclude_out_of_control,
                                                max_iterations)
    center = params["center"]
    if center < 0:
        raise ValueError(f"the center of a {chart} chart cannot be negative; got {center}")
    statistic_sigma, sigma = spread(center)
    return _shewhart(chart, statistic, center, statistic_sigma, sigma, sizes, floor=0.0,
                     phase=phase, excluded=excluded, rules=rules)


def p_chart(
    nonconforming: ArrayLike, sizes: ArrayLike, *, limits: Any = None,
    exclude: Sequence[int] | None = None, exclude_out_of_control: bool = False,
    max_iterations: int | None = None, rules: str | None = "western_electric",
) -> ControlChart:
    """Fraction nonconforming (p) chart; sample sizes may vary (limits per subgroup).

    p-bar = total nonconforming / total inspected; limits p-bar +/- 3 sqrt(p-bar (1 - p-bar) / n_i),
    the lower one clipped at 0.

    Parameters
    ----------
    nonconforming : array-like
        Nonconforming items in each sample.
    sizes : int or array-like
        Items inspected in each sample (one number for all).
    limits : ControlChart or mapping, optional
        Phase II: an earlier p chart or ``{"center": p}``.
    exclude, exclude_out_of_control, max_iterations, rules
        As in :func:`xbar_r`.

    Examples
    --------
    >>> chart = p_chart([12, 15, 8, 10, 4, 7, 16, 9], 50)
    >>> round(chart.center, 4), chart.upper_limit.round(4).tolist()[:2]
    (0.2025, [0.373, 0.373])
    """
    counts = _vector(nonconforming, "nonconforming", minimum=0)
    _require_subgroups(counts.size, "nonconforming")
    n = _sizes(sizes, counts.size)
    if (counts > n).any():
        raise ValueError(f"nonconforming exceeds the sample size at position "
                         f"{int(np.flatnonzero(counts > n)[0])}")

    def estimate(keep: NDArray[np.bool_]) -> dict[str, float]:
        return {"center": float(counts[keep].sum() / n[keep].sum())}

    def spread(p: float) -> tuple[Array, float]:
        per_item = float(np.sqrt(p * (1 - p)))
        return per_item / np.sqrt(n), per_item

    return _attribute("p", counts / n, n, limits, exclude, exclude_out_of_control,
                      max_iterations, rules, estimate, spread)


def np_chart(
    nonconforming: ArrayLike, size: int, *, limits: Any = None,
    exclude: Sequence[int] | None = None, exclude_out_of_control: bool = False,
    max_iterations: int | None = None, rules: str | None = "western_electric",
) -> ControlChart:
    """Number nonconforming (np) chart for samples of one constant size.

    Center n p-bar, limits n p-bar +/- 3 sqrt(n p-bar (1 - p-bar)). ``limits`` takes an earlier
    np or p chart, or ``{"center": p}`` (the fraction, not n p).

    Examples
    --------
    >>> chart = np_chart([12, 15, 8, 10, 4, 7, 16, 9], 50)
    >>> round(float(chart.center_line[0]), 3), round(float(chart.upper_limit[0]), 3)
    (10.125, 18.65)
    """
    counts = _vector(nonconforming, "nonconforming", minimum=0)
    _require_subgroups(counts.size, "nonconforming")
    sizes = np.atleast_1d(np.asarray(size, dtype=float))
    if sizes.size != 1 and np.unique(sizes).size != 1:
        raise ValueError("an np chart needs samples of one constant size; with varying sizes "
                         "use p_chart")
    n = float(sizes[0])
    fraction = p_chart(counts, n, limits=limits, exclude=exclude,
                       exclude_out_of_control=exclude_out_of_control,
                       max_iterations=max_iterations, rules=rules)
    return _shewhart("np", counts, n * fraction.center, n * fraction.statistic_sigma,
                     fraction.sigma, fraction.sizes, floor=0.0, phase=fraction.phase,
                     excluded=fraction.excluded, rules=rules,
                     parameters={"center": fraction.center})


def c_chart(
    counts: ArrayLike, *, limits: Any = None, exclude: Sequence[int] | None = None,
    exclude_out_of_control: bool = False, max_iterations: int | None = None,
    rules: str | None = "western_electric",
) -> ControlChart:
    """Nonconformities (c) chart: counts in inspection units of one constant size.

    Center c-bar, limits c-bar +/- 3 sqrt(c-bar), the lower one clipped at 0.

    Examples
    --------
    >>> chart = c_chart([21, 24, 16, 12, 15, 5, 28, 20, 31, 25])
    >>> round(chart.center, 2), round(float(chart.upper_limit[0]), 2)
    (19.7, 33.02)
    >>> chart.out_of_control.tolist()  # sample 6 (5 nonconformities) is below the LCL
    [5]
    """
    values = _vector(counts, "counts", minimum=0)
    _require_subgroups(values.size, "counts")
    ones = np.ones(values.size)

    def estimate(keep: NDArray[np.bool_]) -> dict[str, float]:
        return {"center": float(values[keep].mean())}

    def spread(c: float) -> tuple[Array, float]:
        return np.sqrt(c) * ones, float(np.sqrt(c))

    return _attribute("c", values, ones, limits, exclude, exclude_out_of_control,
                      max_iterations, rules, estimate, spread)


def u_chart(
    counts: ArrayLike, sizes: ArrayLike, *, limits: Any = None,
    exclude: Sequence[int] | None = None, exclude_out_of_control: bool = False,
    max_iterations: int | None = None, rules: str | None = "western_electric",
) -> ControlChart:
    """Nonconformities per unit (u) chart; sample sizes may vary (limits per subgroup).

    u-bar = total nonconformities / total units; limits u-bar +/- 3 sqrt(u-bar / n_i).

    Examples
    --------
    >>> chart = u_chart([10, 12, 8, 14], [5, 6, 4, 5])
    >>> round(chart.center, 3), chart.upper_limit.round(3).tolist()
    (2.2, [4.19, 4.017, 4.425, 4.19])
    """
    values = _vector(counts, "counts", minimum=0)
    _require_subgroups(values.size, "counts")
    n = _sizes(sizes, values.size)

    def estimate(keep: NDArray[np.bool_]) -> dict[str, float]:
        return {"center": float(values[keep].sum() / n[keep].sum())}

    def spread(u: float) -> tuple[Array, float]:
        return np.sqrt(u / n), float(np.sqrt(u))

    return _attribute("u", values / n, n, limits, exclude, exclude_out_of_control,
                      max_iterations, rules, estimate, spread)


# EWMA and CUSUM ----------------------------------------------------------------------------------


def _means_and_sigma(data: Any) -> tuple[Array, Array, float, float]:
    """Points to chart, their sizes, and the phase I center and sigma of one observation."""
    array = np.asarray(data.to_numpy() if isinstance(data, pd.DataFrame) else data, dtype=float)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim == 1:
        chart = individuals(array, rules=None)
        return array, np.ones(array.size), chart.center, chart.sigma
    chart = xbar_r(subgroup_matrix(array), rules=None)
    return chart.statistic, chart.sizes, chart.center, chart.sigma


def _target(data: Any, limits: Any) -> tuple[Array, Array, float, float, str]:
    points, sizes, center, sigma = _means_and_sigma(data)
    if limits is None:
        return points, sizes, center, sigma, "I"
    given = _given(limits, ["center", "sigma"], "variables")
    return points, sizes, given["center"], given["sigma"], "II"


def ewma(
    data: Any, *, lam: float = 0.2, L: float = 3.0, limits: Any = None,  # noqa: N803
    rules: str | None = "western_electric",
) -> ControlChart:
    """Exponentially weighted moving average chart with exact (time-varying) limits.

    z_i = lam * x_i + (1 - lam) * z_(i-1), z_0 = mu_0; limits
    mu_0 +/- L sigma_x sqrt(lam / (2 - lam) * (1 - (1 - lam)^(2i))) (Montgomery 9.2).

    Parameters
    ----------
    data : array-like
        Individual values (1-D) or subgroups (2-D, one row each: their means are smoothed and
        sigma_x = sigma / sqrt(n)).
    lam : float, default 0.2
        The weight of the newest point, 0 < lam <= 1.
    L : float, default 3.0
        Width of the limits in sigmas of the EWMA.
    limits : ControlChart or mapping, optional
        ``{"center": mu_0, "sigma": sigma}`` (sigma of one observation) or an earlier chart. In
        phase I both are estimated (MR-bar / d2 for individuals, R-bar / d2 for subgroups).
    rules : str or None
        Any non-None value lists the points beyond the limits in ``violations`` (run rules do
        not apply to the autocorrelated EWMA).

    Examples
    --------
    >>> chart = ewma([9.45, 7.99, 9.29, 11.66], lam=0.1, L=2.7,
    ...              limits={"center": 10, "sigma": 1})
    >>> round(float(chart.statistic[0]), 3), round(float(chart.upper_limit[0]), 2)
    (9.945, 10.27)
    """
    if not 0 < lam <= 1:
        raise ValueError(f"lam must be in (0, 1]; got {lam}")
    if not L > 0:
        raise ValueError(f"L must be positive; got {L}")
    points, sizes, center, sigma, phase = _target(data, limits)
    weights = (1 - lam) ** np.arange(1, points.size + 1)
    smoothed = np.empty(points.size)
    previous = center
    for index, value in enumerate(points):
        previous = lam * value + (1 - lam) * previous
        smoothed[index] = previous
    spread = sigma / np.sqrt(sizes) * np.sqrt(lam / (2 - lam) * (1 - weights**2))
    return _shewhart("ewma", smoothed, center, spread, sigma, sizes, nsigmas=L, phase=phase,
                     rules=rules, parameters={"lam": lam, "L": L})


def cusum(
    data: Any, *, k: float = 0.5, h: float = 5.0, limits: Any = None, head_start: float = 0.0,
    rules: str | None = "western_electric",
) -> ControlChart:
    """Tabular CUSUM: upper and lower cumulative sums against a decision interval.

    With K = k sigma_x and H = h sigma_x (Montgomery 9.1.2):
    C+_i = max(0, x_i - (mu_0 + K) + C+_(i-1)), C-_i = max(0, (mu_0 - K) - x_i + C-_(i-1)).
    A point is out of control when C+ or C- exceeds H.

    Parameters
    ----------
    data : array-like
        Individual values (1-D) or subgroups (2-D; their means, sigma_x = sigma / sqrt(n)).
    k : float, default 0.5
        Reference value in sigmas (half the shift to detect).
    h : float, default 5.0
        Decision interval in sigmas.
    limits : ControlChart or mapping, optional
        ``{"center": mu_0, "sigma": sigma}``; estimated from the data when not given.
    head_start : float, default 0
        Fast initial response: C+_0 = C-_0 = head_start * H (0 <= head_start < 1).
    rules : str or None
        Any non-None value lists the points beyond H in ``violations``.

    Returns
    -------
    ControlChart
        ``statistic`` is C+, ``lower_statistic`` is C-, ``upper_limit`` is H, ``lower_limit``
        is -H (C- is drawn below zero), ``center_line`` is 0.

    Examples
    --------
    >>> chart = cusum([9.45, 7.99, 9.29, 11.66, 12.16], limits={"center": 10, "sigma": 1})
    >>> chart.statistic.round(2).tolist()
    [0.0, 0.0, 0.0, 1.16, 2.82]
    """
    if not k >= 0 or not h > 0:
        raise ValueError(f"k must be >= 0 and h > 0; got k={k}, h={h}")
    if not 0 <= head_start < 1:
        raise ValueError(f"head_start must be in [0, 1); got {head_start}")
    points, sizes, center, sigma, phase = _target(data, limits)
    scale = sigma / np.sqrt(sizes)
    upper, lower = np.empty(points.size), np.empty(points.size)
    high = low = head_start * h * scale[0]
    for index, value in enumerate(points):
        high = max(0.0, value - (center + k * scale[index]) + high)
        low = max(0.0, (center - k * scale[index]) - value + low)
        upper[index], lower[index] = high, low
    decision = h * scale
    return ControlChart(
        chart="cusum", statistic=upper, center_line=np.zeros(points.size),
        lower_limit=-decision, upper_limit=decision, sigma=float(sigma), statistic_sigma=scale,
        center=float(center), sizes=sizes, phase=phase, rules=rules, lower_statistic=lower,
        parameters={"k": k, "h": h},
    )


__all__ = [
    "ControlChart", "RULE_SETS", "c_chart", "cusum", "ewma", "individuals", "np_chart",
    "p_chart", "subgroup_matrix", "subgroups_from_long", "u_chart", "xbar_r", "xbar_s",
]
