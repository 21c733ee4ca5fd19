"""The Kaplan-Meier estimator of a survival function (time to churn), with Greenwood variance,
confidence bands, median survival with its Brookmeyer-Crowley interval, frequency weights, groups
and left truncation."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from qualityloop.analytics.exceptions import check_is_fitted
from qualityloop.analytics.validation import numeric_column, require_columns, to_pandas

CI_METHODS = ("log-log", "linear")
TABLE_COLUMNS = ["survival", "lower", "upper", "std_error", "at_risk", "events", "censored"]


class KaplanMeier:
    """Kaplan-Meier estimate of the survival function, for time to churn.

    Parameters
    ----------
    alpha : float, default 0.05
        One minus the confidence level of the bands (0.05 gives 95% bands), as in lifelines.
    ci : {"log-log", "linear"}, default "log-log"
        How the confidence band is built from Greenwood's variance. ``"log-log"`` (the
        exponential Greenwood formula, lifelines' default) transforms to log(-log S) and stays
        inside [0, 1]; ``"linear"`` is S +/- z * SE(S), clipped to [0, 1].

    Attributes
    ----------
    survival_function_ : pandas.DataFrame
        Indexed by ``time`` (every distinct duration, plus the origin 0): columns ``survival``,
        ``lower``, ``upper``, ``std_error`` (Greenwood), ``at_risk``, ``events``, ``censored``.
        With ``group_col`` the index is (group, time).
    event_table_ : pandas.DataFrame
        Indexed by ``time`` (distinct durations): ``at_risk``, ``events``, ``censored``,
        ``removed`` and, with ``entry_col``, ``entered``. With ``group_col``: (group, time).
    median_survival_time_ : float or pandas.Series
        First time the survival estimate is at or below 0.5 (``inf`` if never). A Series by
        group when fitted with ``group_col``.
    median_confidence_interval_ : tuple of float or pandas.DataFrame
        Brookmeyer-Crowley interval of the median: the first times the lower and the upper band
        reach 0.5. A DataFrame (``lower``, ``upper``) by group with ``group_col``.
    groups_ : dict or None
        With ``group_col``: one fitted :class:`KaplanMeier` per group, keyed by group value.

    See Also
    --------
    lifelines.KaplanMeierFitter : the estimator users know; same estimates and bands.

    Notes
    -----
    At a time with both events and censorings, the censored subjects count as at risk (events
    come first). Weights are frequency weights: weight k equals k copies of the row, in the
    estimate and in the variance. With ``entry_col`` (left truncation) a subject is at risk at
    time t when ``entry < t <= duration`` (the counting-process convention of R's survival).

    Examples
    --------
    >>> import pandas as pd
    >>> data = pd.DataFrame({"duration": [1, 2, 2, 3, 4], "event": [1, 1, 0, 1, 0]})
    >>> km = KaplanMeier().fit(data)
    >>> km.survival_function_["survival"].round(3).tolist()
    [1.0, 0.8, 0.6, 0.3, 0.3]
    >>> km.median_survival_time_
    3.0
    >>> km.survival_at([0.5, 2.5]).round(3).tolist()
    [1.0, 0.6]
    """

    def __init__(self, alpha: float = 0.05, ci: str = "log-log") -> None:
        self.alpha = alpha
        self.ci = ci

    # fitting -----------------------------------------------------------------------------------

    def fit(
        self,
        data: Any,
        duration_col: str = "duration",
        event_col: str | None = "event",
        weights_col: str | None = None,
        group_col: str | None = None,
        entry_col: str | None = None,
    ) -> KaplanMeier:
        """Estimate the survival function from a table of subjects.

        Parameters
        ----------
        data : pandas or polars DataFrame, or Ibis table
            One row per subject (or per group of identical subjects, with ``weights_col``).
        duration_col : str
            Time from the origin (e.g. first purchase) to churn or to censoring; >= 0.
        event_col : str or None
            1/True when churn was observed, 0/False when censored. None: every row is an event.
        weights_col : str, optional
            Frequency weights (>= 0); a weight of k counts the row k times.
        group_col : str, optional
            Fit one curve per value of this column.
        entry_col : str, optional
            Time the subject came under observation (left truncation); must be below duration.

        Returns
        -------
        KaplanMeier
            self, fitted.
        """
        self._check_params()
        frame = to_pandas(data)
        wanted = [c for c in (duration_col, event_col, weights_col, group_col, entry_col) if c]
        require_columns(frame, wanted)
        self._forget()
        if group_col is None:
            arrays = _subject_arrays(frame, duration_col, event_col, weights_col, entry_col)
            self._fit_one(*arrays)
            return self
        groups = frame[group_col]
        if groups.isna().any():
            row = frame.index[groups.isna().to_numpy()][0]
            raise ValueError(f"column {group_col!r} has a missing value at row {row!r}")
        arrays = _subject_arrays(frame, duration_col, event_col, weights_col, entry_col)
        self._fit_groups(groups.to_numpy(), group_col, arrays)
        return self

    def fit_arrays(
        self,
        durations: Any,
        events: Any = None,
        weights: Any = None,
        entry: Any = None,
    ) -> KaplanMeier:
        """Estimate from arrays instead of a table (same checks as :meth:`fit`).

        Parameters
        ----------
        durations : array-like
            Times to churn or censoring.
        events : array-like, optional
            1/True for churn observed, 0/False for censored; default all events.
        weights : array-like, optional
            Frequency weights.
        entry : array-like, optional
            Entry times (left truncation).

        Returns
        -------
        KaplanMeier
            self, fitted.
        """
        columns = {"duration": durations, "event": events, "weight": weights, "entry": entry}
        given = {k: np.asarray(v).ravel() for k, v in columns.items() if v is not None}
        return self.fit(
            pd.DataFrame(given),
            duration_col="duration",
            event_col="event" if events is not None else None,
            weights_col="weight" if weights is not None else None,
            entry_col="entry" if entry is not None else None,
        )

    def _check_params(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be between 0 and 1 (exclusive), got {self.alpha!r}")
        if self.ci not in CI_METHODS:
            raise ValueError(f"ci must be one of {', '.join(CI_METHODS)}; got {self.ci!r}")

    def _forget(self) -> None:
        self.survival_function_: pd.DataFrame | None = None
        self.event_table_: pd.DataFrame | None = None
        self.median_survival_time_: Any = None
        self.median_confidence_interval_: Any = None
        self.groups_: dict[Hashable, KaplanMeier] | None = None
        self._group_col: str | None = None

    def _fit_one(
        self,
        durations: np.ndarray,
        events: np.ndarray,
        weights: np.ndarray,
        entry: np.ndarray | None,
    ) -> None:
        if durations.size == 0:
            raise ValueError("data has no rows to fit")
        if weights.sum() <= 0:
            raise ValueError("the weights sum to zero; there is nothing to fit")
        event_table = _event_table(durations, events, weights, entry)
        table = _with_origin(event_table, durations, weights, entry)
        survival, variance = _product_limit(table)
        z = float(norm.ppf(1 - self.alpha / 2))
        lower, upper = _bands(survival, variance, z, self.ci)
        table = table.assign(
            survival=survival, lower=lower, upper=upper, std_error=survival * np.sqrt(variance)
        )
        self.event_table_ = event_table
        self.survival_function_ = table[TABLE_COLUMNS]
        self.median_survival_time_ = _first_time_at_or_below(table["survival"], 0.5)
        self.median_confidence_interval_ = (
            _first_time_at_or_below(table["lower"], 0.5),
            _first_time_at_or_below(table["upper"], 0.5),
        )

    def _fit_groups(
        self,
        labels: np.ndarray,
        group_col: str,
        arrays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None],
    ) -> None:
        groups: dict[Hashable, KaplanMeier] = {}
        for value in pd.unique(labels):
            mask = labels == value
            member = KaplanMeier(alpha=self.alpha, ci=self.ci)
            member._forget()
            durations, events, weights, entry = arrays
            member._fit_one(
                durations[mask], events[mask], weights[mask], None if entry is None else entry[mask]
            )
            groups[value] = member
        self.groups_ = groups
        self._group_col = group_col
        keys = list(groups)
        self.survival_function_ = pd.concat(
            [g.survival_function_ for g in groups.values()], keys=keys, names=[group_col, "time"]
        )
        self.event_table_ = pd.concat(
            [g.event_table_ for g in groups.values()], keys=keys, names=[group_col, "time"]
        )
        index = pd.Index(keys, name=group_col)
        self.median_survival_time_ = pd.Series(
            [g.median_survival_time_ for g in groups.values()], index=index, name="median"
        )
        self.median_confidence_interval_ = pd.DataFrame(
            [g.median_confidence_interval_ for g in groups.values()],
            index=index,
            columns=["lower", "upper"],
        )

    # using the fit -----------------------------------------------------------------------------

    def survival_at(self, times: Any) -> pd.Series | pd.DataFrame:
        """The estimated survival at the given times (right-continuous step function).

        Parameters
        ----------
        times : float or array-like
            Times at which to read the curve; before the first time the survival is 1.

        Returns
        -------
        pandas.Series or pandas.DataFrame
            Indexed by the times; with groups, one column per group.
        """
        check_is_fitted(self, "survival_function_")
        points = np.atleast_1d(np.asarray(times, dtype=float))
        if self.groups_ is not None:
            return pd.DataFrame(
                {k: g.survival_at(points) for k, g in self.groups_.items()},
                index=pd.Index(points, name="time"),
            )
        table = self.survival_function_
        assert table is not None
        return pd.Series(
            _step(table.index.to_numpy(dtype=float), table["survival"].to_numpy(), points),
            index=pd.Index(points, name="time"),
            name="survival",
        )

    def summary(self) -> pd.DataFrame:
        """One row per curve: subjects, events, censored, median and its confidence interval.

        Returns
        -------
        pandas.DataFrame
            Indexed by group (``"all"`` without groups); columns ``subjects``, ``events``,
            ``censored``, ``median``, ``median_lower``, ``median_upper``.
        """
        check_is_fitted(self, "survival_function_")
        if self.groups_ is not None:
            rows = pd.concat([g.summary() for g in self.groups_.values()])
            rows.index = pd.Index(list(self.groups_), name=self._group_col)
            return rows
        events = self.event_table_
        assert events is not None
        lower, upper = self.median_confidence_interval_
        return pd.DataFrame(
            {
                "subjects": [events["removed"].sum()],
                "events": [events["events"].sum()],
                "censored": [events["censored"].sum()],
                "median": [self.median_survival_time_],
                "median_lower": [lower],
                "median_upper": [upper],
            },
            index=pd.Index(["all"], name="group"),
        )

    def plot(self, title: str = "Survival (Kaplan-Meier)") -> Any:
        """An Altair chart of the survival curve(s) as steps with their confidence bands.

        Returns
        -------
        altair.LayerChart
        """
        check_is_fitted(self, "survival_function_")
        assert self.survival_function_ is not None
        return survival_chart(self.survival_function_, self._group_col, self.alpha, title)


# the arithmetic --------------------------------------------------------------------------------


def _subject_arrays(
    frame: pd.DataFrame,
    duration_col: str,
    event_col: str | None,
    weights_col: str | None,
    entry_col: str | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    durations = numeric_column(frame, duration_col, minimum=0) + 0.0  # -0.0 becomes 0.0
    events = (
        _event_column(frame, event_col) if event_col else np.ones(len(frame), dtype=float)
    )
    weights = (
        numeric_column(frame, weights_col, minimum=0)
        if weights_col
        else np.ones(len(frame), dtype=float)
    )
    entry = None
    if entry_col:
        entry = numeric_column(frame, entry_col, minimum=0)
        late = entry >= durations
        if late.any():
            row = frame.index[late][0]
            raise ValueError(
                f"column {entry_col!r} must be below {duration_col!r}; row {row!r} enters at "
                f"{_plain(entry[late][0])!r} and leaves at {_plain(durations[late][0])!r}"
            )
    kept = weights > 0
    if len(frame) and not kept.any():
        raise ValueError(f"every weight in {weights_col!r} is 0; there is nothing to fit")
    return durations[kept], events[kept], weights[kept], None if entry is None else entry[kept]


def _event_column(frame: pd.DataFrame, column: str) -> np.ndarray:
    """The event indicator as 0.0/1.0; anything but 0/1/True/False is an error naming the row."""
    values = numeric_column(frame, column)
    wrong = (values != 0) & (values != 1)
    if wrong.any():
        row = frame.index[wrong][0]
        raise ValueError(
            f"column {column!r} must hold 0/1 or True/False; row {row!r} holds "
            f"{_plain(frame[column][row])!r} (1 = churn observed, 0 = censored)"
        )
    return values


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value, so messages read 2 rather than np.int64(2)."""
    return value.item() if isinstance(value, np.generic) else value


def _event_table(
    durations: np.ndarray, events: np.ndarray, weights: np.ndarray, entry: np.ndarray | None
) -> pd.DataFrame:
    times, position = _distinct_sorted(durations)
    removed = np.bincount(position, weights=weights, minlength=times.size)
    observed = np.bincount(position, weights=weights * events, minlength=times.size)
    # Everyone leaving at t or later is at risk at t: events precede censorings at a tie.
    at_risk = np.cumsum(removed[::-1])[::-1]
    columns = {"at_risk": at_risk, "events": observed, "censored": removed - observed,
               "removed": removed}
    if entry is not None:
        at_risk -= _weight_at_or_after(entry, weights, times)
        entry_times, entry_position = np.unique(entry, return_inverse=True)
        entered = np.bincount(entry_position, weights=weights, minlength=entry_times.size)
        columns["entered"] = _sum_into(entry_times, entered, times)
    return pd.DataFrame(columns, index=pd.Index(times, name="time"))


def _distinct_sorted(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct values and each value's position among them, like
    ``np.unique(return_inverse=True)`` but hashing first: durations in days repeat a lot, and
    sorting only the distinct values is several times faster than sorting all rows."""
    codes, uniques = pd.factorize(values)
    if uniques.size > values.size // 4:  # mostly distinct: one sort of everything is cheaper
        times, position = np.unique(values, return_inverse=True)
        return times, position.ravel()
    order = np.argsort(uniques, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return np.asarray(uniques)[order], rank[codes]


def _weight_at_or_after(values: np.ndarray, weights: np.ndarray, points: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    behind = np.concatenate([[0.0], np.cumsum(weights[order])])
    return behind[-1] - behind[np.searchsorted(sorted_values, points, side="left")]


def _sum_into(source_times: np.ndarray, amounts: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Amounts at source times added up into the interval (previous time, time] of ``times``."""
    cumulative = np.concatenate([[0.0], np.cumsum(amounts)])
    upto = cumulative[np.searchsorted(source_times, times, side="right")]
    return np.diff(np.concatenate([[0.0], upto]))


def _with_origin(
    event_table: pd.DataFrame,
    durations: np.ndarray,
    weights: np.ndarray,
    entry: np.ndarray | None,
) -> pd.DataFrame:
    table = event_table[["at_risk", "events", "censored"]]
    if table.index[0] == 0:
        return table
    present = weights.sum() if entry is None else weights[entry <= 0].sum()
    origin = pd.DataFrame(
        {"at_risk": [present], "events": [0.0], "censored": [0.0]},
        index=pd.Index([0.0], name="time"),
    )
    return pd.concat([origin, table])


def _product_limit(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Survival S(t) = prod (1 - d/n) and Greenwood's sum of d / (n (n - d)), so that
    Var S = S^2 * sum."""
    n = table["at_risk"].to_numpy(dtype=float)
    d = table["events"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(d > 0, 1 - d / n, 1.0)
        # Where everyone at risk fails S drops to 0; that step adds no variance (as lifelines).
        term = np.where((d > 0) & (n > d), d / (n * (n - d)), 0.0)
    return np.cumprod(factor), np.cumsum(term)


def _bands(
    survival: np.ndarray, variance: np.ndarray, z: float, method: str
) -> tuple[np.ndarray, np.ndarray]:
    if method == "linear":
        half = z * survival * np.sqrt(variance)
        return np.clip(survival - half, 0, 1), np.clip(survival + half, 0, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_s = np.log(survival)
        spread = z * np.sqrt(variance) / log_s
        lower = np.exp(-np.exp(np.log(-log_s) - spread))
        upper = np.exp(-np.exp(np.log(-log_s) + spread))
    # S = 1 (nothing happened yet): the band is the point 1; S = 0: the point 0.
    lower = np.where(survival >= 1, 1.0, np.where(survival <= 0, 0.0, lower))
    upper = np.where(survival >= 1, 1.0, np.where(survival <= 0, 0.0, upper))
    return lower, upper


def _first_time_at_or_below(curve: pd.Series, level: float) -> float:
    reached = curve.to_numpy() <= level
    if not reached.any():
        return float("inf")
    return float(curve.index[int(np.argmax(reached))])


def _step(times: np.ndarray, values: np.ndarray, points: np.ndarray) -> np.ndarray:
    position = np.searchsorted(times, points, side="right") - 1
    return np.where(position >= 0, values[np.clip(position, 0, None)], 1.0)


# presentation ----------------------------------------------------------------------------------


def survival_chart(
    survival_function: pd.DataFrame, group_col: str | None, alpha: float, title: str
) -> Any:
    """Altair steps with a shaded confidence band, one colour per group."""
    import altair as alt

    data = survival_function.reset_index()
    data["time"] = data["time"].astype(float)
    level = f"{100 * (1 - alpha):g}%"
    base = alt.Chart(data).encode(x=alt.X("time:Q", title="time"))
    if group_col:
        base = base.encode(color=alt.Color(f"{group_col}:N"))
    band = base.mark_area(opacity=0.2, interpolate="step-after").encode(
        y=alt.Y("lower:Q", title="survival", scale=alt.Scale(domain=[0, 1])),
        y2="upper:Q",
        tooltip=["time", alt.Tooltip("lower:Q", title=f"lower {level}"),
                 alt.Tooltip("upper:Q", title=f"upper {level}")],
    )
    line = base.mark_line(interpolate="step-after").encode(
        y="survival:Q", tooltip=["time", "survival", "at_risk", "events", "censored"]
    )
    return (band + line).properties(title=title)
