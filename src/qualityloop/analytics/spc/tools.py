"""The basic quality tools: Pareto analysis, cause-and-effect (fishbone) diagram, histogram and
scatter helpers, defects per million opportunities and the sigma level."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

#: The 6M categories of a cause-and-effect diagram, in their usual order.
SIX_M = ("Man", "Machine", "Method", "Material", "Measurement", "Mother Nature")


# Pareto -----------------------------------------------------------------------------------------


@dataclass(eq=False)
class Pareto:
    """Result of :func:`pareto`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per category, largest count first: ``category``, ``count``, ``percent``,
        ``cumulative_count``, ``cumulative_percent``, ``vital_few``.
    threshold : float
        The cumulative percent that separates the vital few (80 by default).
    """

    table: pd.DataFrame
    threshold: float

    @property
    def vital_few(self) -> list[Any]:
        """The categories that together make up the first ``threshold`` percent."""
        return self.table.loc[self.table["vital_few"], "category"].tolist()

    def summary(self) -> pd.DataFrame:
        """The Pareto table."""
        return self.table.copy()

    def plot(self, title: str | None = None) -> Any:
        """Bars by category (largest first) with the cumulative percent line."""
        from qualityloop.analytics.spc.plotting import plot_pareto

        return plot_pareto(self, title=title)


def pareto(
    categories: Iterable[Any] | pd.Series | Mapping[Any, float], counts: ArrayLike | None = None,
    *, threshold: float = 80.0,
) -> Pareto:
    """Pareto table: categories sorted by count, with cumulative percent and the vital few.

    Parameters
    ----------
    categories : iterable, mapping or pandas.Series
        Without ``counts``: one entry per occurrence (e.g. the cause of each nonconformance),
        or a mapping / Series from category to count. With ``counts``: the category labels.
    counts : array-like, optional
        Count of each category (same length as ``categories``).
    threshold : float, default 80
        Cumulative percent that defines the vital few: every category that starts below it
        (so the one that crosses it is included).

    Returns
    -------
    Pareto

    Examples
    --------
    >>> result = pareto(["price code", "schedule date", "supplier code", "contact num.",
    ...                  "part num."], [80, 27, 66, 94, 33])
    >>> result.table["cumulative_percent"].round(2).tolist()
    [31.33, 58.0, 80.0, 91.0, 100.0]
    >>> result.vital_few
    ['contact num.', 'price code', 'supplier code']
    """
    labels, values = _category_counts(categories, counts)
    if not 0 < threshold <= 100:
        raise ValueError(f"threshold must be a percent in (0, 100]; got {threshold}")
    frame = pd.DataFrame({"category": labels, "count": values})
    frame = frame.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)
    total = frame["count"].sum()
    if not total > 0:
        raise ValueError("the counts add up to zero: nothing to rank")
    frame["percent"] = 100 * frame["count"] / total
    frame["cumulative_count"] = frame["count"].cumsum()
    frame["cumulative_percent"] = 100 * frame["cumulative_count"] / total
    before = frame["cumulative_percent"] - frame["percent"]
    frame["vital_few"] = before < threshold - 1e-9
    return Pareto(table=frame, threshold=threshold)


def _is_count_series(data: Any) -> bool:
    """A numeric Series indexed by category labels (e.g. ``value_counts()``), not occurrences."""
    return (isinstance(data, pd.Series) and pd.api.types.is_numeric_dtype(data)
            and data.index.is_unique and not isinstance(data.index, pd.RangeIndex))


def _category_counts(categories: Any, counts: ArrayLike | None) -> tuple[list[Any], np.ndarray]:
    if counts is None:
        if _is_count_series(categories) or isinstance(categories, Mapping):
            pairs = list(categories.items())
        else:
            occurrences = [c for c in categories if not pd.isna(c)]
            pairs = list(Counter(occurrences).items())
        labels = [label for label, _ in pairs]
        values = np.array([value for _, value in pairs], dtype=float)
    else:
        labels = list(categories)
        values = np.asarray(counts, dtype=float)
        if values.shape != (len(labels),):
            raise ValueError(f"counts must have one value per category ({len(labels)}); "
                             f"got {values.size}")
    if not labels:
        raise ValueError("no categories to rank")
    if len(set(labels)) != len(labels):
        duplicate = next(label for label in labels if labels.count(label) > 1)
        raise ValueError(f"category {duplicate!r} appears twice; give each category once")
    if not np.isfinite(values).all() or (values < 0).any():
        raise ValueError("counts must be finite and not negative")
    return labels, values


# Cause and effect --------------------------------------------------------------------------------


@dataclass(eq=False)
class CauseAndEffect:
    """Result of :func:`cause_and_effect`: the effect and its causes by category.

    Attributes
    ----------
    effect : str
        The problem (the fish's head).
    causes : dict of str to list of str
        Category (bone) to its causes, in the given order.
    """

    effect: str
    causes: dict[str, list[str]]

    @property
    def table(self) -> pd.DataFrame:
        """One row per cause: ``category``, ``cause``."""
        rows = [(category, cause) for category, items in self.causes.items() for cause in items]
        return pd.DataFrame(rows, columns=["category", "cause"])

    def summary(self) -> pd.DataFrame:
        """Causes per category: ``category``, ``causes`` (count)."""
        return pd.DataFrame({"category": list(self.causes),
                             "causes": [len(items) for items in self.causes.values()]})

    def plot(self, title: str | None = None) -> Any:
        """The fishbone diagram as an Altair chart (spine, one slanted bone per category, the
        causes written along their bone, the effect at the head)."""
        from qualityloop.analytics.spc.plotting import plot_fishbone

        return plot_fishbone(self, title=title)


def cause_and_effect(effect: str, causes: Mapping[str, Sequence[str]]) -> CauseAndEffect:
    """A cause-and-effect (Ishikawa, fishbone) diagram from causes grouped by category.

    Parameters
    ----------
    effect : str
        The problem being analysed.
    causes : mapping of str to sequence of str
        Category (usually the 6M: Man, Machine, Method, Material, Measurement, Mother Nature;
        see :data:`SIX_M`) to its causes. Categories with no causes are kept (an empty bone
        shows nobody has looked there yet).

    Returns
    -------
    CauseAndEffect

    Examples
    --------
    >>> diagram = cause_and_effect("Late delivery", {"Method": ["no route plan"],
    ...                                              "Machine": ["van breakdowns", "old GPS"]})
    >>> diagram.summary().to_dict("records")
    [{'category': 'Method', 'causes': 1}, {'category': 'Machine', 'causes': 2}]
    """
    if not isinstance(effect, str) or not effect.strip():
        raise ValueError("the effect must be a non-empty text")
    if not isinstance(causes, Mapping) or not causes:
        raise ValueError("causes must map at least one category to its list of causes")
    cleaned: dict[str, list[str]] = {}
    for category, items in causes.items():
        if not isinstance(category, str) or not category.strip():
            raise ValueError(f"category names must be non-empty texts; got {category!r}")
        if isinstance(items, str):
            raise ValueError(f"the causes of {category!r} must be a list of texts, not one text")
        listed = list(items)
        bad = [item for item in listed if not isinstance(item, str) or not item.strip()]
        if bad:
            raise ValueError(f"the causes of {category!r} must be non-empty texts; got {bad[0]!r}")
        cleaned[category.strip()] = [item.strip() for item in listed]
    return CauseAndEffect(effect=effect.strip(), causes=cleaned)


# Histogram and scatter --------------------------------------------------------------------------


def histogram(
    values: ArrayLike, *, bins: int = 20, lsl: float | None = None, usl: float | None = None,
    title: str | None = None, x_title: str = "Value",
) -> Any:
    """An Altair histogram of one measurement, with optional specification limits.

    Examples
    --------
    >>> chart = histogram([1.0, 2.0, 2.5, 3.0], bins=5, usl=3.5)
    >>> len(chart.to_dict()["layer"])
    2
    """
    from qualityloop.analytics.spc.plotting import plot_histogram

    array = np.asarray(values, dtype=float).ravel()
    array = array[np.isfinite(array)]
    if array.size == 0:
        raise ValueError("no finite values to draw")
    return plot_histogram(array, bins=bins, lsl=lsl, usl=usl, title=title, x_title=x_title)


def scatter(
    x: ArrayLike, y: ArrayLike, *, fit_line: bool = True, x_title: str = "x",
    y_title: str = "y", title: str | None = None,
) -> Any:
    """An Altair scatter diagram of two paired measurements with the least-squares line and
    Pearson's r in the title.

    Examples
    --------
    >>> chart = scatter([1, 2, 3, 4], [2.1, 3.9, 6.2, 8.1])
    >>> chart.to_dict()["title"]
    'y against x (r = 0.999)'
    """
    from qualityloop.analytics.spc.plotting import plot_scatter

    first, second = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if first.shape != second.shape or first.ndim != 1:
        raise ValueError(f"x and y must be paired 1-D data of equal length; got {first.shape} "
                         f"and {second.shape}")
    keep = np.isfinite(first) & np.isfinite(second)
    if keep.sum() < 3:
        raise ValueError("a scatter diagram needs at least 3 complete pairs")
    r = float(np.corrcoef(first[keep], second[keep])[0, 1])
    heading = title or f"{y_title} against {x_title} (r = {r:.3f})"
    return plot_scatter(first[keep], second[keep], fit_line=fit_line, x_title=x_title,
                        y_title=y_title, title=heading)


# DPMO and sigma level ---------------------------------------------------------------------------


def dpmo(defects: float, units: float, opportunities: float = 1.0) -> float:
    """Defects per million opportunities: defects / (units * opportunities) * 1e6.

    Examples
    --------
    >>> dpmo(defects=34, units=1000, opportunities=10)
    3400.0
    """
    if defects < 0 or units <= 0 or opportunities <= 0:
        raise ValueError(f"need defects >= 0, units > 0 and opportunities > 0; got "
                         f"{defects}, {units}, {opportunities}")
    if defects > units * opportunities:
        raise ValueError(f"{defects} defects exceed the {units * opportunities} opportunities")
    return float(defects) / (float(units) * float(opportunities)) * 1e6


def sigma_level(dpmo_value: float, shift: float = 1.5) -> float:
    """The (short-term) sigma level of a process with the given DPMO.

    z = Phi^-1(1 - DPMO / 1e6) + shift, the Six Sigma convention that the long-term mean drifts
    by 1.5 sigma: 3.4 DPMO is 6 sigma, 66 807 DPMO is 3 sigma. Use ``shift=0`` for the plain
    normal quantile.

    Examples
    --------
    >>> round(sigma_level(3.4), 2)
    6.0
    >>> round(sigma_level(66807), 2)
    3.0
    """
    if not 0 < dpmo_value < 1e6:
        raise ValueError(f"DPMO must be between 0 and 1 000 000 (exclusive); got {dpmo_value}")
    return float(stats.norm.isf(dpmo_value / 1e6) + shift)
