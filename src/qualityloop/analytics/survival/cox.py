"""The Cox proportional hazards model: Efron or Breslow ties, strata, time-varying covariates in
start/stop (counting-process) form, robust sandwich standard errors, Harrell's concordance, the
Breslow baseline and the scaled-Schoenfeld test of proportional hazards.

The fit is vectorised: rows are sorted once by (stratum, exit time); each Newton step computes
the risk-set sums with cumulative sums and reads them at the event times, so the cost of a step is
a few passes over the rows whatever the number of distinct times.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from qualityloop.analytics.exceptions import (
    ConvergenceError,
    check_is_fitted,
)
from qualityloop.analytics.validation import numeric_column, require_columns, to_pandas

TIES = ("efron", "breslow")
# A coefficient this large per standard deviation of its covariate (a hazard ratio of e^15 per
# SD) only arises when the likelihood has no maximum: the covariate separates events.
SEPARATION_LIMIT = 15.0


@dataclass
class _Design:
    """The rows sorted by (stratum, exit time), with the index arrays every Newton step reuses."""

    X: np.ndarray  # (n, p) centred covariates
    weights: np.ndarray
    events: np.ndarray  # bool
    exit_key: np.ndarray  # int64: stratum * n_times + rank of the exit time
    entry_key: np.ndarray  # int64: same for the entry time (stratum * n_times - 1 without one)
    entry_order: np.ndarray | None  # sort order of entry_key, None when no row has a lower bound
    dead: np.ndarray  # positions of the event rows
    group_of_dead: np.ndarray  # event-time group of each event row
    group_starts: np.ndarray  # first position in `dead` of each group
    group_key: np.ndarray  # exit_key of each group
    tie_fraction: np.ndarray  # Efron's l / d for each event row (0 for Breslow)
    mean_weight: np.ndarray  # mean weight of the events of each group
    group_counts: np.ndarray  # number of events in each group
    efron_ties: bool  # some tie fraction is not 0 (Efron and tied event times)
    exit_position: np.ndarray  # first sorted row whose exit_key >= each group's key
    entry_position: np.ndarray | None  # same in entry order
    groups_until_exit: np.ndarray  # number of groups with key <= each row's exit key
    groups_until_entry: np.ndarray  # number of groups with key <= each row's entry key
    dead_x_sum: np.ndarray  # weighted sum of the event rows' covariates (score's first term)
    segment_bounds: np.ndarray  # per group: first event row, first row after its events
    empty_segments: np.ndarray  # segments with no rows (reduceat would repeat a row)
    buffer: np.ndarray  # (n + 1, p + 1) work space: w * phi and w * phi * x, a zero last row


@dataclass
class _Step:
    """Log-likelihood and derivatives at one beta, with the pieces residuals are built from."""

    loglik: float
    gradient: np.ndarray
    information: np.ndarray
    phi: np.ndarray  # exp(eta - shift), per sorted row
    risk_sums: np.ndarray  # per event group: risk-set sums of w * phi and w * phi * x
    tie_sums: np.ndarray  # per event group: the same over its tied events
    per_group_a: np.ndarray  # sum over the group's event rows of mean_weight / denom
    per_group_b: np.ndarray  # same times the tie fraction
    cumulative_a: np.ndarray  # groups' a cumulated, with a leading 0


class CoxPH:
    """Cox proportional hazards regression for time to churn (or any time to event).

    Parameters
    ----------
    ties : {"efron", "breslow"}, default "efron"
        How tied event times enter the partial likelihood. Efron's approximation is the default
        of R's ``coxph`` and of lifelines.
    robust : bool, default False
        Report sandwich (Lin-Wei) standard errors, summed within clusters of ``cluster_col``
        when given and per row otherwise. Start/stop data need ``cluster_col`` (the subject).
    penalizer : float, default 0.0
        L2 penalty ``0.5 * penalizer * n * sum((beta * sd)**2)``, on coefficients per standard
        deviation of their covariate, as lifelines' ``CoxPHFitter(penalizer=...)``.
    alpha : float, default 0.05
        One minus the confidence level of the intervals in :meth:`summary`.
    tol : float, default 1e-9
        Newton-Raphson stops when half the Newton decrement is below ``tol``.
    max_iter : int, default 50
        Newton-Raphson iterations before giving up with :class:`ConvergenceError`.

    Attributes
    ----------
    params_ : pandas.Series
        Coefficients (log hazard ratios), indexed by covariate.
    standard_errors_ : pandas.Series
        Model-based, or sandwich with ``robust=True`` or ``cluster_col``.
    variance_matrix_ : pandas.DataFrame
        Inverse of the observed information (model-based, also when robust).
    robust_variance_matrix_ : pandas.DataFrame or None
        The sandwich variance when robust.
    hazard_ratios_ : pandas.Series
        ``exp(params_)``.
    log_likelihood_ : float
        Partial log-likelihood at the estimate (without the penalty).
    concordance_index_ : float
        Harrell's C of the fitted partial hazards (computed on first use, then cached).
    baseline_hazard_, baseline_cumulative_hazard_ : pandas.DataFrame
        Breslow estimates at every distinct exit time, for covariates at their means; one column
        per stratum with ``strata``.
    n_events_ : int
        Rows with an observed event.
    n_iter_ : int
        Newton-Raphson iterations used.

    See Also
    --------
    lifelines.CoxPHFitter, lifelines.CoxTimeVaryingFitter : the same estimates.
    KaplanMeier : survival without covariates.

    Notes
    -----
    Start/stop rows are at risk on ``(start, stop]``: a row whose start equals an event time is
    not at risk at that time (R's ``Surv(start, stop, event)``). Weights are case weights; with
    Efron ties the tied events share their mean weight, as in R and lifelines.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=500)
    >>> data = pd.DataFrame({"x": x, "time": rng.exponential(np.exp(-0.7 * x)), "event": 1})
    >>> model = CoxPH().fit(data, duration_col="time", event_col="event")
    >>> round(float(model.params_["x"]), 2)  # simulated with 0.7
    0.67
    >>> model.summary().columns[:3].tolist()
    ['coef', 'exp(coef)', 'se(coef)']
    """

    def __init__(
        self,
        ties: str = "efron",
        robust: bool = False,
        penalizer: float = 0.0,
        alpha: float = 0.05,
        tol: float = 1e-9,
        max_iter: int = 50,
    ) -> None:
        self.ties = ties
        self.robust = robust
        self.penalizer = penalizer
        self.alpha = alpha
        self.tol = tol
        self.max_iter = max_iter

    # fitting -----------------------------------------------------------------------------------

    def fit(
        self,
        data: Any,
        duration_col: str | None = None,
        event_col: str | None = None,
        start_col: str | None = None,
        stop_col: str | None = None,
        covariates: Sequence[str] | None = None,
        strata: str | Sequence[str] | None = None,
        cluster_col: str | None = None,
        weights_col: str | None = None,
    ) -> CoxPH:
        """Estimate the coefficients by maximising the partial likelihood.

        Parameters
        ----------
        data : pandas or polars DataFrame, or Ibis table
            One row per subject (``duration_col``) or per interval of a subject
            (``start_col`` and ``stop_col``).
        duration_col : str, optional
            Time from the origin to the event or censoring (>= 0). Give this, or
            ``start_col`` and ``stop_col``.
        event_col : str, optional
            1 when the event was observed at the end of the row, 0 when censored. None: every
            row ends in an event.
        start_col, stop_col : str, optional
            Counting-process form: the row is at risk on (start, stop] with the covariates it
            holds; late entry is a first row starting after 0.
        covariates : sequence of str, optional
            Default: every other numeric column (so name a numeric subject id as
            ``cluster_col``, or list the covariates).
        strata : str or sequence of str, optional
            Columns whose combinations get separate baseline hazards.
        cluster_col : str, optional
            Subject or cluster id: sandwich standard errors sum the score within it.
        weights_col : str, optional
            Case weights (> 0).

        Returns
        -------
        CoxPH
            self, fitted.
        """
        self._check_params()
        frame = to_pandas(data)
        spec = _Columns.of(frame, duration_col, event_col, start_col, stop_col, covariates,
                           strata, cluster_col, weights_col)
        if self.robust and spec.start is not None and cluster_col is None:
            raise ValueError("robust standard errors on start/stop data need cluster_col naming "
                             "the subject, so that a subject's rows are summed together")
        self._forget()
        prepared = _prepare(frame, spec, self.ties)
        self._spec, self._prepared = spec, prepared
        design = prepared.design
        beta, step, n_iter = self._newton(design, prepared.scale, spec.covariates)
        design.buffer = np.empty((0, 0))  # work space of the fit only; free it
        self._store(beta, step, n_iter, prepared)
        return self

    def _check_params(self) -> None:
        if self.ties not in TIES:
            raise ValueError(f"ties must be one of {', '.join(TIES)}; got {self.ties!r}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be between 0 and 1 (exclusive), got {self.alpha!r}")
        if self.penalizer < 0:
            raise ValueError(f"penalizer must be >= 0, got {self.penalizer!r}")
        if self.max_iter < 1 or self.tol <= 0:
            raise ValueError("max_iter must be >= 1 and tol > 0")

    def _forget(self) -> None:
        for name in ("params_", "standard_errors_", "variance_matrix_", "robust_variance_matrix_",
                     "hazard_ratios_", "log_likelihood_", "baseline_hazard_",
                     "baseline_cumulative_hazard_", "n_events_", "n_iter_"):
            setattr(self, name, None)
        self._concordance: float | None = None

    def _newton(
        self, design: _Design, scale: np.ndarray, names: list[str]
    ) -> tuple[np.ndarray, _Step, int]:
        penalty = self.penalizer * len(design.weights) * scale**2
        beta = np.zeros(design.X.shape[1])
        step = _evaluate(design, beta)
        objective = step.loglik - 0.5 * np.sum(penalty * beta**2)
        settled = False
        for iteration in range(1, self.max_iter + 1):
            gradient = step.gradient - penalty * beta
            information = step.information + np.diag(penalty)
            direction = _solve(information, gradient, names)
            small = 0.5 * gradient @ direction < self.tol
            if small and (settled or not _moving(direction, beta, self.tol).any()):
                # A tiny Newton decrement with a negligible step is a maximum. A coefficient
                # that still moves by about one unit per step while the decrement is tiny is
                # running off to infinity on a flat likelihood: one more step tells them apart.
                _check_separation(beta, scale, names, moving=direction, tol=self.tol)
                return beta, step, iteration - 1
            settled = small
            size = 1.0
            while True:
                candidate = beta + size * direction
                trial = _evaluate(design, candidate)
                trial_objective = trial.loglik - 0.5 * np.sum(penalty * candidate**2)
                # rounding in a sum over a million rows reaches ~1e-10 of the total; a step
                # that loses less than that is not a step back
                slack = 1e-10 * max(1.0, abs(objective))
                if np.isfinite(trial_objective) and trial_objective >= objective - slack:
                    break
                size /= 2
                if size < 1e-10:
                    _check_separation(candidate, scale, names)
                    raise ConvergenceError(_stuck_message(direction, names, iteration))
            beta, step, objective = candidate, trial, trial_objective
            _check_separation(beta, scale, names, limit=4 * SEPARATION_LIMIT)
        _check_separation(beta, scale, names)
        raise ConvergenceError(
            f"Newton-Raphson did not converge in {self.max_iter} iterations; the last step moved "
            f"{names[int(np.argmax(np.abs(direction * scale)))]!r} most. Try a larger max_iter, "
            "a penalizer > 0, or check that covariate for separation or collinearity"
        )

    def _store(self, beta: np.ndarray, step: _Step, n_iter: int, prepared: _Prepared) -> None:
        names = prepared.names
        index = pd.Index(names, name="covariate")
        penalty = self.penalizer * len(prepared.design.weights) * prepared.scale**2
        information = step.information + np.diag(penalty)
        variance = np.linalg.inv(information)
        self.params_ = pd.Series(beta, index=index, name="coef")
        self.variance_matrix_ = pd.DataFrame(variance, index=index, columns=index)
        if self.robust or self._spec.cluster is not None:
            sandwich = _sandwich(prepared, step, variance)
            self.robust_variance_matrix_ = pd.DataFrame(sandwich, index=index, columns=index)
            se = np.sqrt(np.diag(sandwich))
        else:
            se = np.sqrt(np.diag(variance))
        self.standard_errors_ = pd.Series(se, index=index, name="se(coef)")
        self.hazard_ratios_ = pd.Series(np.exp(beta), index=index, name="exp(coef)")
        self.log_likelihood_ = float(step.loglik)
        self.n_events_ = int(prepared.design.events.sum())
        self.n_iter_ = n_iter
        self._step = step
        self.baseline_hazard_ = _baseline_hazard(prepared, beta)
        self.baseline_cumulative_hazard_ = self.baseline_hazard_.cumsum()

    # results -----------------------------------------------------------------------------------

    @property
    def concordance_index_(self) -> float:
        """Harrell's C of the fitted partial hazards, as lifelines computes it (ties count 1/2;
        with strata, pairs within a stratum only). Start/stop rows count as subjects leaving
        at their stop time (lifelines' time-varying fitter has no concordance to follow)."""
        check_is_fitted(self, "params_")
        if self._concordance is None:
            design = self._prepared.design
            hazard = design.X @ self.params_.to_numpy()
            self._concordance = concordance_index(
                self._prepared.exit_time, hazard, design.events, strata=self._prepared.stratum
            )
        return self._concordance

    def summary(self) -> pd.DataFrame:
        """Coefficients with hazard ratios, standard errors, intervals and Wald tests.

        Returns
        -------
        pandas.DataFrame
            Indexed by covariate: ``coef``, ``exp(coef)``, ``se(coef)``, ``coef lower 95%``,
            ``coef upper 95%``, ``exp(coef) lower 95%``, ``exp(coef) upper 95%``, ``z``, ``p``,
            ``-log2(p)`` (the level follows ``alpha``), as lifelines' ``summary``.
        """
        check_is_fitted(self, "params_")
        level = f"{100 * (1 - self.alpha):g}%"
        z_crit = float(stats.norm.ppf(1 - self.alpha / 2))
        coef, se = self.params_, self.standard_errors_
        z = coef / se
        p = pd.Series(stats.chi2.sf(z**2, 1), index=coef.index)
        with np.errstate(divide="ignore"):
            surprise = -np.log2(p)
        return pd.DataFrame({
            "coef": coef,
            "exp(coef)": np.exp(coef),
            "se(coef)": se,
            f"coef lower {level}": coef - z_crit * se,
            f"coef upper {level}": coef + z_crit * se,
            f"exp(coef) lower {level}": np.exp(coef - z_crit * se),
            f"exp(coef) upper {level}": np.exp(coef + z_crit * se),
            "z": z,
            "p": p,
            "-log2(p)": surprise,
        })

    def predict_partial_hazard(self, X: Any) -> pd.Series:
        """``exp((x - mean) . beta)`` per row, with covariates centred on the fitted means as
        lifelines does (the baseline belongs to the mean subject).

        Parameters
        ----------
        X : DataFrame
            Holds the fitted covariates.

        Returns
        -------
        pandas.Series
            Indexed like ``X``.
        """
        check_is_fitted(self, "params_")
        frame = to_pandas(X)
        names = list(self.params_.index)
        require_columns(frame, names, "X")
        values = np.column_stack([numeric_column(frame, c) for c in names])
        eta = (values - self._prepared.means) @ self.params_.to_numpy()
        return pd.Series(np.exp(eta), index=frame.index, name="partial_hazard")

    def predict_survival_function(self, X: Any, times: Any = None) -> pd.DataFrame:
        """Survival curves ``exp(-H0(t) * partial hazard)`` for the rows of ``X``.

        Parameters
        ----------
        X : DataFrame
            Holds the fitted covariates (and the strata columns with ``strata``).
        times : array-like, optional
            Where to read the curves; default every distinct exit time of the fit.

        Returns
        -------
        pandas.DataFrame
            Indexed by time, one column per row of ``X`` (labelled by its index).
        """
        check_is_fitted(self, "params_")
        frame = to_pandas(X)
        hazard = self.predict_partial_hazard(frame).to_numpy()
        baseline = self.baseline_cumulative_hazard_
        grid = baseline.index.to_numpy() if times is None else np.atleast_1d(
            np.asarray(times, dtype=float))
        positions = np.searchsorted(baseline.index.to_numpy(), grid, side="right") - 1
        columns = _stratum_columns(self, frame)
        cumulative = baseline.to_numpy()[np.clip(positions, 0, None)][:, columns]
        cumulative[positions < 0] = 0.0
        return pd.DataFrame(np.exp(-cumulative * hazard), index=pd.Index(grid, name="time"),
                            columns=frame.index)

    def check_proportional_hazards(self, alpha: float | None = None) -> pd.DataFrame:
        """Grambsch-Therneau test of proportional hazards per covariate, on scaled Schoenfeld
        residuals against the rank of the event times (lifelines' ``proportional_hazard_test``
        with ``time_transform="rank"``).

        Parameters
        ----------
        alpha : float, optional
            Level below which a covariate is flagged; default the model's ``alpha``.

        Returns
        -------
        pandas.DataFrame
            Indexed by covariate: ``statistic`` (chi-squared, 1 df), ``p``, ``-log2(p)`` and
            ``violated`` (p < alpha): the covariate's effect changes over time.
        """
        check_is_fitted(self, "params_")
        level = self.alpha if alpha is None else alpha
        design, step = self._prepared.design, self._step
        means = _dead_means(design, step)[1]
        residuals = design.X[design.dead] - _tied_means(design, means)[design.group_of_dead]
        n_dead = len(design.dead)
        scaled = n_dead * residuals @ self.variance_matrix_.to_numpy()
        ranks = np.arange(1, n_dead + 1, dtype=float)
        centred = ranks - ranks.mean()
        se2 = self.standard_errors_.to_numpy() ** 2
        statistic = (centred @ scaled) ** 2 / (n_dead * se2 * np.sum(centred**2))
        p = stats.chi2.sf(statistic, 1)
        with np.errstate(divide="ignore"):
            surprise = -np.log2(p)
        return pd.DataFrame({"statistic": statistic, "p": p, "-log2(p)": surprise,
                             "violated": p < level}, index=self.params_.index)


# input ------------------------------------------------------------------------------------------


@dataclass
class _Columns:
    """Which column plays which part, checked against the frame."""

    exit: str
    start: str | None
    event: str | None
    covariates: list[str]
    strata: list[str]
    cluster: str | None
    weights: str | None

    @classmethod
    def of(cls, frame: pd.DataFrame, duration_col: str | None, event_col: str | None,
           start_col: str | None, stop_col: str | None, covariates: Sequence[str] | None,
           strata: str | Sequence[str] | None, cluster_col: str | None,
           weights_col: str | None) -> _Columns:
        if (start_col is None) != (stop_col is None):
            raise ValueError("give both start_col and stop_col (counting-process form), or "
                             "duration_col alone")
        if (duration_col is None) == (stop_col is None):
            raise ValueError("give duration_col (one row per subject) or start_col and stop_col "
                             "(rows of (start, stop] intervals), not both and not neither")
        strata_list = [strata] if isinstance(strata, str) else list(strata or [])
        roles = [c for c in (duration_col, stop_col, start_col, event_col, cluster_col,
                             weights_col) if c] + strata_list
        require_columns(frame, roles)
        if covariates is None:
            covariates = [c for c in frame.columns
                          if c not in roles and pd.api.types.is_numeric_dtype(frame[c])]
        covariates = list(covariates)
        if not covariates:
            raise ValueError("there are no covariates to fit; name them with covariates=[...]")
        require_columns(frame, covariates)
        clash = [c for c in covariates if c in roles]
        if clash:
            raise ValueError(f"column {clash[0]!r} cannot be both a covariate and a time, event, "
                             "strata, cluster or weights column")
        exit_col = duration_col if duration_col is not None else stop_col
        assert exit_col is not None  # checked above: a duration or a stop column is given
        return cls(exit_col, start_col, event_col, covariates, strata_list, cluster_col,
                   weights_col)


@dataclass
class _Prepared:
    design: _Design
    names: list[str]
    means: np.ndarray  # covariate means the design is centred on
    scale: np.ndarray  # covariate standard deviations
    exit_time: np.ndarray  # sorted exit times
    entry_time: np.ndarray | None
    stratum: np.ndarray  # sorted stratum codes
    stratum_labels: list[Any]
    cluster: np.ndarray | None  # sorted cluster codes
    order: np.ndarray  # sorted position -> original position


def _prepare(frame: pd.DataFrame, spec: _Columns, ties: str) -> _Prepared:
    if len(frame) == 0:
        raise ValueError("data has no rows to fit")
    exit_time = numeric_column(frame, spec.exit, minimum=None if spec.start else 0)
    entry_time = None
    if spec.start is not None:
        entry_time = numeric_column(frame, spec.start)
        _first_row_where(frame, exit_time <= entry_time,
                         f"column {spec.exit!r} must be greater than column {spec.start!r}")
    events = _event_column(frame, spec.event)
    weights = np.ones(len(frame))
    if spec.weights is not None:
        weights = numeric_column(frame, spec.weights)
        _first_row_where(frame, weights <= 0, f"column {spec.weights!r} must be above 0")
    columns = [numeric_column(frame, c) for c in spec.covariates]
    _check_not_constant(frame, columns, spec.covariates)
    if not events.any():
        raise ValueError(f"column {spec.event!r} has no events (all rows are censored)")
    stratum, labels = _codes(frame, spec.strata)
    cluster = None if spec.cluster is None else _codes(frame, [spec.cluster])[0]
    both = exit_time if entry_time is None else np.r_[exit_time, entry_time]
    ranks, times = _ranks(both)
    exit_rank = ranks[: len(exit_time)]
    n_times = len(times) + 1
    exit_key = stratum * n_times + exit_rank
    # events first among rows leaving at the same time, so each group's events are adjacent
    order = np.lexsort((~events, exit_key))
    X, means, scale = _sorted_centred(columns, order)
    _check_not_collinear(X, scale, spec.covariates)
    if len(labels) > 1:
        _check_varies_within_strata(X, stratum[order], spec.covariates, spec.strata)
    exit_key = exit_key[order]
    entry_key = stratum[order] * n_times - 1
    if entry_time is not None:
        entry_key = entry_key + 1 + ranks[len(exit_time):][order]
    design = _design(X, weights[order], events[order], exit_key, entry_key,
                     lower_bounds=entry_time is not None or len(labels) > 1, ties=ties)
    return _Prepared(
        design, list(spec.covariates), means, scale, exit_time[order],
        None if entry_time is None else entry_time[order], stratum[order], labels,
        None if cluster is None else cluster[order], order,
    )


def _design(X: np.ndarray, weights: np.ndarray, events: np.ndarray, exit_key: np.ndarray,
            entry_key: np.ndarray, lower_bounds: bool, ties: str) -> _Design:
    dead = np.flatnonzero(events)
    dead_keys = exit_key[dead]  # sorted
    group_starts = np.flatnonzero(np.r_[True, dead_keys[1:] != dead_keys[:-1]])
    group_key = dead_keys[group_starts]
    counts = np.diff(np.r_[group_starts, len(dead)])
    group_of_dead = np.repeat(np.arange(len(group_key)), counts)
    position_in_group = np.arange(len(dead)) - group_starts[group_of_dead]
    if ties == "efron":
        tie_fraction = position_in_group / counts[group_of_dead]
    else:
        tie_fraction = np.zeros(len(dead))
    mean_weight = np.add.reduceat(weights[dead], group_starts) / counts
    entry_order = np.argsort(entry_key, kind="stable") if lower_bounds else None
    exit_position = np.searchsorted(exit_key, group_key, side="left")
    bounds = np.column_stack([exit_position, exit_position + counts]).ravel()
    entry_position = (np.searchsorted(entry_key[entry_order], group_key, side="left")
                      if lower_bounds else None)
    return _Design(
        X=X, weights=weights, events=events, exit_key=exit_key, entry_key=entry_key,
        entry_order=entry_order, dead=dead, group_of_dead=group_of_dead,
        group_starts=group_starts, group_key=group_key, tie_fraction=tie_fraction,
        mean_weight=mean_weight, group_counts=counts, efron_ties=bool(tie_fraction.any()),
        exit_position=exit_position,
        entry_position=entry_position,
        groups_until_exit=np.searchsorted(group_key, exit_key, side="right"),
        groups_until_entry=np.searchsorted(group_key, entry_key, side="right"),
        dead_x_sum=np.einsum("i,ij->j", weights[dead], X[dead]),
        segment_bounds=bounds, empty_segments=np.r_[bounds[1:] == bounds[:-1], False],
        buffer=np.zeros((X.shape[0] + 1, X.shape[1] + 1)),
    )


def _event_column(frame: pd.DataFrame, column: str | None) -> np.ndarray:
    if column is None:
        return np.ones(len(frame), dtype=bool)
    values = numeric_column(frame, column)
    _first_row_where(frame, (values != 0) & (values != 1),
                     f"column {column!r} must hold 1 (event) or 0 (censored)")
    return values == 1


def _check_not_constant(frame: pd.DataFrame, columns: list[np.ndarray], names: list[str]) -> None:
    for column, name in zip(columns, names, strict=True):
        if column.min() == column.max():
            raise ValueError(f"covariate {name!r} is constant (every row holds {column[0]:g}, "
                             f"from row {frame.index[0]!r} on); it has no effect to estimate, "
                             "drop it")


def _check_not_collinear(X: np.ndarray, scale: np.ndarray, names: list[str]) -> None:
    correlation = (X.T @ X) / len(X) / np.outer(scale, scale)
    values, vectors = np.linalg.eigh(correlation)
    if values[0] < 1e-10:
        involved = [names[j] for j in np.flatnonzero(np.abs(vectors[:, 0]) > 0.05)]
        raise ValueError(f"covariates {', '.join(repr(n) for n in involved)} are collinear (one "
                         "is a linear combination of the others); drop one of them")


def _check_varies_within_strata(X: np.ndarray, stratum: np.ndarray, names: list[str],
                                strata: list[str]) -> None:
    starts = np.flatnonzero(np.r_[True, stratum[1:] != stratum[:-1]])  # rows are stratum-major
    spread = np.maximum.reduceat(X, starts, axis=0) - np.minimum.reduceat(X, starts, axis=0)
    for j in np.flatnonzero((spread == 0).all(axis=0)):
        raise ValueError(f"covariate {names[j]!r} does not vary within any stratum of "
                         f"{', '.join(map(repr, strata))}; its effect is absorbed by the "
                         "separate baselines, drop it or the stratification")


def _sorted_centred(
    columns: list[np.ndarray], order: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The covariate matrix in sorted row order, centred; with the means and SDs (ddof=1)."""
    X = np.empty((len(order), len(columns)))
    means = np.array([c.mean() for c in columns])
    scale = np.array([c.std(ddof=1) for c in columns])
    for j, column in enumerate(columns):
        np.subtract(column[order], means[j], out=X[:, j])
    return X, means, scale


def _codes(frame: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, list[Any]]:
    if not columns:
        return np.zeros(len(frame), dtype=np.int64), [None]
    for column in columns:
        missing = frame[column].isna().to_numpy()
        _first_row_where(frame, missing, f"column {column!r} has a missing value")
    if len(columns) == 1:
        codes, labels = pd.factorize(frame[columns[0]], sort=True)
        return codes.astype(np.int64), list(labels)
    grouped = frame.groupby(columns, sort=True)
    codes = grouped.ngroup().to_numpy().astype(np.int64)
    return codes, list(grouped.groups.keys())


def _first_row_where(frame: pd.DataFrame, bad: np.ndarray, message: str) -> None:
    if bad.any():
        row = frame.index[np.asarray(bad)][0]
        raise ValueError(f"{message}; row {row!r} breaks this")


# the partial likelihood -------------------------------------------------------------------------


def _group_sums(design: _Design, buffer: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per event group, sums of the buffer's columns over its risk set (exit >= t, entry < t)
    and over its tied events: one pass over the rows, then a cumulative sum over groups."""
    parts = np.add.reduceat(buffer, design.segment_bounds, axis=0)
    parts[design.empty_segments] = 0.0
    tie_sums = parts[0::2]
    risk_sums = np.cumsum((tie_sums + parts[1::2])[::-1], axis=0)[::-1]
    if design.entry_order is not None:
        assert design.entry_position is not None  # both are set together for start/stop data
        entry_prefix = np.cumsum(buffer[:-1][design.entry_order], axis=0)
        risk_sums -= entry_prefix[-1] - _prefix_before(entry_prefix, design.entry_position)
    return risk_sums, tie_sums


def _prefix_before(prefix: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Sum of the rows before each position, from an inclusive cumulative sum."""
    taken = prefix[np.maximum(positions - 1, 0)]
    taken[positions == 0] = 0.0
    return taken


def _evaluate(design: _Design, beta: np.ndarray) -> _Step:
    X, dead, group = design.X, design.dead, design.group_of_dead
    eta = X @ beta
    shift = eta.max()
    phi = np.exp(eta - shift)
    if design.buffer.shape != (len(X) + 1, X.shape[1] + 1):  # freed after a fit
        design.buffer = np.zeros((len(X) + 1, X.shape[1] + 1))
    buffer = design.buffer
    risk_weight = np.multiply(design.weights, phi, out=buffer[:-1, 0])
    np.multiply(X, risk_weight[:, None], out=buffer[:-1, 1:])
    risk_sums, tie_sums = _group_sums(design, buffer)
    # Efron's l-th denominator of a group with d tied events: R - (l / d) * (tied sum). All
    # per-event sums reduce to a few scalars per group, so no (events x p) arrays are built.
    fraction = design.tie_fraction
    denom = risk_sums[group, 0] - fraction * tie_sums[group, 0]
    inverse = 1.0 / denom
    n_groups = len(design.group_key)

    def per_group(values: np.ndarray) -> np.ndarray:
        return np.bincount(group, values, minlength=n_groups)

    share = design.mean_weight
    a = share * per_group(inverse)  # sum_l w / den_l
    b = share * per_group(fraction * inverse) if design.efron_ties else np.zeros(n_groups)
    with np.errstate(divide="ignore"):
        log_denominators = per_group(np.log(denom)) + design.group_counts * shift
    # einsum, not `@`/np.dot: a threaded BLAS dot on vectors can cost milliseconds to wake its
    # threads on a busy machine, more than the arithmetic itself
    loglik = float(np.einsum("i,i->", design.weights[dead], eta[dead])
                   - np.einsum("i,i->", share, log_denominators))
    rx, tx = risk_sums[:, 1:], tie_sums[:, 1:]
    gradient = design.dead_x_sum - np.einsum("g,gj->j", a, rx) + np.einsum("g,gj->j", b, tx)
    cumulative_a = np.r_[0.0, np.cumsum(a)]
    in_risk = cumulative_a[design.groups_until_exit]
    if design.entry_order is not None:
        in_risk -= cumulative_a[design.groups_until_entry]
    # sum_l w m_l m_l' with m_l = (rx - f_l tx) / den_l, expanded in rx and tx
    squared = inverse * inverse
    outer = (rx * (share * per_group(squared))[:, None]).T @ rx
    if design.efron_ties:
        in_risk[dead] -= b[group]
        cross = (rx * (share * per_group(fraction * squared))[:, None]).T @ tx
        c2 = share * per_group(fraction * fraction * squared)
        outer += (tx * c2[:, None]).T @ tx - cross - cross.T
    # the buffer is rewritten by the next evaluation, so scale it in place (saves n x p)
    weighted = np.multiply(buffer[:-1, 1:], in_risk[:, None], out=buffer[:-1, 1:])
    information = X.T @ weighted - outer
    return _Step(loglik, gradient, information, phi, risk_sums, tie_sums, a, b, cumulative_a)


def _dead_means(design: _Design, step: _Step) -> tuple[np.ndarray, np.ndarray]:
    """Per event row: Efron's denominator and the weighted covariate mean of its risk set."""
    group, fraction = design.group_of_dead, design.tie_fraction[:, None]
    sums = step.risk_sums[group] - fraction * step.tie_sums[group]
    return sums[:, 0], sums[:, 1:] / sums[:, :1]


def _solve(information: np.ndarray, gradient: np.ndarray, names: list[str]) -> np.ndarray:
    if not np.all(np.isfinite(information)) or np.linalg.cond(information) > 1e13:
        raise ConvergenceError(_collinear_message(information, names))
    return np.linalg.solve(information, gradient)


def _collinear_message(information: np.ndarray, names: list[str]) -> str:
    _, _, vt = np.linalg.svd(np.nan_to_num(information))
    involved = [names[j] for j in np.flatnonzero(np.abs(vt[-1]) > 0.1)]
    return ("the information matrix is singular: covariates "
            f"{', '.join(repr(n) for n in involved)} are collinear (or a covariate does not vary "
            "within the risk sets); drop one of them")


def _check_separation(beta: np.ndarray, scale: np.ndarray, names: list[str],
                      limit: float = SEPARATION_LIMIT, moving: np.ndarray | None = None,
                      tol: float = 0.0) -> None:
    size = np.abs(beta * scale)
    running = (np.zeros(len(beta), dtype=bool) if moving is None
               else _moving(moving, beta, tol))
    if np.any(size > limit) or running.any():
        name = names[int(np.argmax(np.where(running, np.inf, size)))]
        raise ConvergenceError(
            f"covariate {name!r} separates events from non-events (its coefficient grows without "
            f"bound, {beta[names.index(name)]:.3g} and rising); the partial likelihood has no "
            "maximum. Drop or coarsen it, or use a penalizer > 0"
        )


def _moving(direction: np.ndarray, beta: np.ndarray, tol: float) -> np.ndarray:
    """Coefficients whose Newton step is not negligible next to their size."""
    return np.abs(direction) > np.sqrt(tol) * np.maximum(np.abs(beta), 1.0)


def _stuck_message(direction: np.ndarray, names: list[str], iteration: int) -> str:
    name = names[int(np.argmax(np.abs(direction)))]
    return (f"Newton-Raphson could not increase the partial likelihood at iteration {iteration} "
            f"(step halving failed; the step was largest for {name!r}); check that covariate "
            "for separation or extreme values, or use a penalizer > 0")


# after the fit ---------------------------------------------------------------------------------


def _score_residuals(design: _Design, step: _Step) -> np.ndarray:
    """Per-row score residuals (R's ``residuals(fit, "score")``, Efron-aware), unweighted."""
    X, dead, group = design.X, design.dead, design.group_of_dead
    denom, means = _dead_means(design, step)
    per_dead_a = design.mean_weight[group] / denom
    weighted_means_a = np.add.reduceat(means * per_dead_a[:, None], design.group_starts, axis=0)
    weighted_means_b = np.add.reduceat(
        means * (per_dead_a * design.tie_fraction)[:, None], design.group_starts, axis=0)
    cumulative_m = np.vstack([np.zeros(X.shape[1]), np.cumsum(weighted_means_a, axis=0)])
    a = step.cumulative_a[design.groups_until_exit] - step.cumulative_a[design.groups_until_entry]
    am = cumulative_m[design.groups_until_exit] - cumulative_m[design.groups_until_entry]
    dead_group = group
    a[dead] -= step.per_group_b[dead_group]
    am[dead] -= weighted_means_b[dead_group]
    residuals = -step.phi[:, None] * (X * a[:, None] - am)
    residuals[dead] += X[dead] - _tied_means(design, means)[dead_group]
    return residuals


def _tied_means(design: _Design, means: np.ndarray) -> np.ndarray:
    """Per event group, the mean over its tied events of their (Efron) risk-set means."""
    return np.add.reduceat(means, design.group_starts, axis=0) / design.group_counts[:, None]


def _sandwich(prepared: _Prepared, step: _Step, variance: np.ndarray) -> np.ndarray:
    design = prepared.design
    dfbeta = (_score_residuals(design, step) * design.weights[:, None]) @ variance
    if prepared.cluster is not None:
        n_clusters = int(prepared.cluster.max()) + 1
        dfbeta = np.column_stack([np.bincount(prepared.cluster, dfbeta[:, j],
                                              minlength=n_clusters)
                                  for j in range(dfbeta.shape[1])])
    return dfbeta.T @ dfbeta


def _baseline_hazard(prepared: _Prepared, beta: np.ndarray) -> pd.DataFrame:
    """Breslow's estimate: weighted events at t over the risk set's sum of partial hazards
    (covariates centred on their means), at every distinct exit time, per stratum."""
    design = prepared.design
    risk = design.weights * np.exp(design.X @ beta)
    exit_index, times = _ranks(prepared.exit_time)
    n_times = len(times)
    entry_index = (None if prepared.entry_time is None
                   else np.searchsorted(times, prepared.entry_time, side="right"))
    table = np.zeros((n_times, len(prepared.stratum_labels)))
    for s in range(len(prepared.stratum_labels)):
        rows = prepared.stratum == s
        events = np.bincount(exit_index[rows], (design.weights * design.events)[rows],
                             minlength=n_times)
        at_risk = _reverse_cumsum(np.bincount(exit_index[rows], risk[rows], minlength=n_times))
        if entry_index is not None:
            # rows entering at or after t_k are not at risk at t_k
            entered = np.bincount(entry_index[rows], risk[rows], minlength=n_times + 1)
            at_risk = at_risk - _reverse_cumsum(entered)[1:]
        with np.errstate(invalid="ignore", divide="ignore"):
            table[:, s] = np.where(events > 0, events / at_risk, 0.0)
    columns = (["baseline hazard"] if prepared.stratum_labels == [None]
               else pd.Index(prepared.stratum_labels))
    return pd.DataFrame(table, index=pd.Index(times, name="time"), columns=columns)


def _reverse_cumsum(values: np.ndarray) -> np.ndarray:
    return np.cumsum(values[::-1])[::-1]


def _stratum_columns(model: CoxPH, frame: pd.DataFrame) -> np.ndarray:
    strata = model._spec.strata
    if not strata:
        return np.zeros(len(frame), dtype=np.int64)
    require_columns(frame, strata, "X")
    labels = model._prepared.stratum_labels
    keys = (frame[strata[0]].tolist() if len(strata) == 1
            else list(frame[strata].itertuples(index=False, name=None)))
    lookup = {label: i for i, label in enumerate(labels)}
    unknown = [k for k in keys if k not in lookup]
    if unknown:
        raise ValueError(f"stratum {unknown[0]!r} was not in the fitted data")
    return np.array([lookup[k] for k in keys], dtype=np.int64)


# concordance ------------------------------------------------------------------------------------


def concordance_index(times: Any, hazard: Any, events: Any, strata: Any = None) -> float:
    """Harrell's C: the share of comparable pairs whose higher hazard failed first.

    A pair is comparable when the earlier time is an event, or when an event and a censoring
    share a time (the event counts as first); tied hazards count one half. With ``strata`` only
    pairs within a stratum count (pooled over strata). Same pairs and ties as lifelines'
    ``concordance_index(times, -hazard, events)`` and ``CoxPHFitter.concordance_index_``.

    Parameters
    ----------
    times, hazard, events : array-like
        Exit times, predicted (partial) hazards or risk scores, 1/0 event flags.
    strata : array-like of int, optional
        Stratum code per row.

    Returns
    -------
    float

    Notes
    -----
    O(n log n) without a loop over rows: a pair (i, j) with key_i < key_j differs first at one
    bit of the key; for each bit the pairs are counted with one sort and binary searches.

    Examples
    --------
    >>> concordance_index([1, 2, 3], [3.0, 2.0, 1.0], [1, 1, 1])
    1.0
    """
    times = np.asarray(times, dtype=float)
    events = np.asarray(events).astype(bool)
    stratum = (np.zeros(len(times), dtype=np.int64) if strata is None
               else np.asarray(strata).astype(np.int64))
    time_rank = _dense_rank(times)
    # events sort before censorings at the same time; stratum is the major key
    key = _dense_rank(stratum * (2 * time_rank.max() + 2) + 2 * time_rank + (~events))
    hazard_rank = _dense_rank(np.asarray(hazard, dtype=float))
    n_values = int(hazard_rank.max()) + 1
    value = stratum * n_values + hazard_rank
    ceiling = (stratum + 1) * n_values  # values of other strata never count
    event_keys = np.sort(key[events])
    start_key = _stratum_first_keys(key, stratum)
    pairs = int((np.searchsorted(event_keys, key, side="left")
                 - np.searchsorted(event_keys, start_key, side="left")).sum())
    if pairs == 0:
        raise ValueError("there are no comparable pairs (no event before another time)")
    span = int(stratum.max() + 1) * n_values
    correct = tied = 0
    for bit in range(int(key.max()).bit_length()):
        high = key >> (bit + 1)
        upper = ((key >> bit) & 1).astype(bool)
        lower = ~upper & events
        left = np.sort(high[lower] * span + value[lower])
        target = high[upper] * span + value[upper]
        above = np.searchsorted(left, target, side="right")
        at_or_below = np.searchsorted(left, target, side="left")
        end = np.searchsorted(left, high[upper] * span + ceiling[upper], side="left")
        correct += int((end - above).sum())
        tied += int((above - at_or_below).sum())
    return (correct + 0.5 * tied) / pairs


def _dense_rank(values: np.ndarray) -> np.ndarray:
    return _ranks(values)[0]


def _ranks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense ranks (0 for the smallest) and the sorted distinct values. pandas' hash-based
    factorize is several times faster than np.unique on a million times with few distinct."""
    codes, distinct = pd.factorize(values, sort=True)
    return codes.astype(np.int64, copy=False), np.asarray(distinct)


def _stratum_first_keys(key: np.ndarray, stratum: np.ndarray) -> np.ndarray:
    """For each row, the smallest key of its stratum (keys are stratum-major)."""
    first = np.full(int(stratum.max()) + 1, np.iinfo(np.int64).max)
    np.minimum.at(first, stratum, key)
    return first[stratum]
