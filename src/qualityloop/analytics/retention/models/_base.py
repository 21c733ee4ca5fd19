"""Fit plumbing shared by the customer-base models: input checks, collapsing identical customers
into weighted rows, the optimiser on log-parameters, Hessian-based standard errors, summary()."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import optimize, stats

from qualityloop.analytics.exceptions import (
    ConvergenceError,
    ConvergenceWarning,
    check_is_fitted,
)
from qualityloop.analytics.validation import numeric_column, require_columns, to_pandas

Objective = Callable[[np.ndarray], tuple[float, np.ndarray]]


def customer_arrays(
    data: Any,
    frequency_col: str,
    recency_col: str,
    T_col: str,
    weights_col: str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Checked ``(frequency, recency, T, weights)`` arrays from an RFM summary table.

    Raises ValueError naming the column and the first offending row when a column is missing,
    not numeric, negative, when recency exceeds T, when a frequency is not a whole number, or when
    a customer without repeat purchases has a recency above zero.
    """
    frame = to_pandas(data)
    columns = [frequency_col, recency_col, T_col] + ([weights_col] if weights_col else [])
    require_columns(frame, columns, "the customer summary")
    if len(frame) == 0:
        raise ValueError("the customer summary has no rows")
    x = numeric_column(frame, frequency_col, minimum=0)
    t_x = numeric_column(frame, recency_col, minimum=0)
    T = numeric_column(frame, T_col, minimum=0)
    _first_row_where(frame, x != np.round(x),
                     f"column {frequency_col!r} must hold whole numbers (repeat purchases)")
    _first_row_where(frame, t_x > T, f"column {recency_col!r} must not exceed column {T_col!r}")
    _first_row_where(frame, (x == 0) & (t_x > 0),
                     f"column {recency_col!r} must be 0 when {frequency_col!r} is 0")
    weights = customer_weights(frame, weights_col)
    return x, t_x, T, weights


def customer_weights(frame: pd.DataFrame, weights_col: str | None) -> np.ndarray:
    """The weights column checked (non-negative, not all zero), or ones."""
    if weights_col is None:
        return np.ones(len(frame))
    weights = numeric_column(frame, weights_col, minimum=0)
    if weights.sum() <= 0:
        raise ValueError(f"column {weights_col!r} sums to zero; at least one row needs weight")
    return weights


def _first_row_where(frame: pd.DataFrame, bad: np.ndarray, message: str) -> None:
    if bad.any():
        row = frame.index[bad][0]
        raise ValueError(f"{message}; row {row!r} breaks this")


def collapse(columns: list[np.ndarray], weights: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Rows with identical values in every column become one row whose weight is the sum.

    The log-likelihood is a weighted sum over rows, so this changes nothing but the cost: a
    million customers usually have a few tens of thousands of distinct (x, t_x, T).
    """
    frame = pd.DataFrame({f"c{i}": c for i, c in enumerate(columns)})
    frame["w"] = weights
    grouped = frame[frame["w"] > 0].groupby(list(frame.columns[:-1]), sort=False)["w"].sum()
    keys = grouped.index.to_frame(index=False)
    return [keys[f"c{i}"].to_numpy(dtype=float) for i in range(len(columns))], grouped.to_numpy()


def weighted_sum(values: np.ndarray, weights: np.ndarray) -> float:
    """``values @ weights`` without BLAS: einsum stays fast where a threaded BLAS dot product
    on two cores is slow (measured 250x slower here)."""
    return float(np.einsum("i,i->", values, weights))


def numerical_gradient(function: Callable[[np.ndarray], float], point: np.ndarray,
                       step: float = 1e-6) -> np.ndarray:
    """Central-difference gradient (for checking analytic ones)."""
    gradient = np.empty_like(point)
    for i in range(point.size):
        shift = np.zeros_like(point)
        shift[i] = step
        gradient[i] = (function(point + shift) - function(point - shift)) / (2 * step)
    return gradient


def forward_gradient(function: Callable[[np.ndarray], float], point: np.ndarray, value: float,
                     step: float = 1e-7) -> np.ndarray:
    """Forward-difference gradient given the value at ``point``: one evaluation per parameter.

    Its error (about ``step`` relative, in log-parameters) moves the optimum far less than the
    sampling error; central differences would double the cost of every optimiser step.
    """
    eye = np.eye(point.size) * step
    return np.array([(function(point + eye[i]) - value) / step for i in range(point.size)])


def hessian_from_gradient(gradient: Callable[[np.ndarray], np.ndarray], point: np.ndarray,
                          step: float = 1e-5) -> np.ndarray:
    """Symmetrised central-difference Jacobian of ``gradient`` at ``point``."""
    size = point.size
    hessian = np.empty((size, size))
    for i in range(size):
        shift = np.zeros(size)
        shift[i] = step
        hessian[:, i] = (gradient(point + shift) - gradient(point - shift)) / (2 * step)
    return (hessian + hessian.T) / 2


def hessian_from_values(function: Callable[[np.ndarray], float], point: np.ndarray,
                        step: float = 1e-4) -> np.ndarray:
    """Central second differences of ``function`` (no analytic gradient to differentiate)."""
    return hessian_and_gradient_from_values(function, point, step)[0]


def hessian_and_gradient_from_values(function: Callable[[np.ndarray], float], point: np.ndarray,
                                     step: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """Central second differences of ``function`` and the central-difference gradient that the
    same evaluations give (``f(x ± h e_i)``), for ``2 n^2 + 1`` evaluations in all."""
    size = point.size
    eye = np.eye(size) * step
    centre = function(point)
    hessian = np.empty((size, size))
    gradient = np.empty(size)
    for i in range(size):
        up, down = function(point + eye[i]), function(point - eye[i])
        hessian[i, i] = (up - 2 * centre + down) / step**2
        gradient[i] = (up - down) / (2 * step)
        for j in range(i):
            hessian[i, j] = hessian[j, i] = (
                function(point + eye[i] + eye[j]) - function(point + eye[i] - eye[j])
                - function(point - eye[i] + eye[j]) + function(point - eye[i] - eye[j])
            ) / (4 * step**2)
    return hessian, gradient


class CustomerBaseModel:
    """Shared fitting machinery. Subclasses set ``_param_names`` and implement
    ``_negative_log_likelihood(log_params, data, weights)`` returning ``(value, gradient)`` of the
    *total* weighted negative log-likelihood with the gradient taken on the log-parameters."""

    _param_names: tuple[str, ...] = ()
    _analytic_gradient = True
    # L-BFGS-B options; a model that polishes with a Newton step may stop earlier.
    _optimizer_options: ClassVar[dict[str, float]] = {"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-9}
    # "BFGS" (unbounded, pure numpy) avoids L-BFGS-B's BLAS calls, which on a busy two-core
    # machine spend milliseconds per step in OpenBLAS threads.
    _optimizer_method = "L-BFGS-B"
    penalizer: float
    params_: dict[str, float]

    def _fit(self, data: tuple[np.ndarray, ...], weights: np.ndarray,
             initial: np.ndarray | None = None) -> None:
        """Maximise the (penalised) likelihood on log-parameters and store the results."""
        if self.penalizer < 0:
            raise ValueError(f"penalizer must be at least 0, got {self.penalizer!r}")
        total = float(weights.sum())
        start = np.zeros(len(self._param_names)) if initial is None else initial

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            value, gradient = self._penalised(theta, data, weights)
            return value / total, gradient / total  # per customer keeps the scale tame

        with np.errstate(all="ignore"):
            bounded = self._optimizer_method == "L-BFGS-B"
            result = optimize.minimize(
                objective, start, jac=True, method=self._optimizer_method,
                bounds=[(-30.0, 30.0)] * len(start) if bounded else None,
                options=dict(self._optimizer_options),
            )
        if not np.all(np.isfinite(result.x)) or not np.isfinite(result.fun):
            raise ConvergenceError(
                f"{type(self).__name__}: the likelihood could not be maximised ({result.message}); "
                "check the data or try a small penalizer such as 0.001"
            )
        self.optimizer_result_ = result
        theta = result.x if self._analytic_gradient else self._newton_polish(result.x, data,
                                                                               weights)
        self._store(theta, data, weights)
        self._warn_if_doubtful(result)

    def _penalised(self, theta: np.ndarray, data: tuple[np.ndarray, ...],
                   weights: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = self._negative_log_likelihood(theta, data, weights)
        if self.penalizer:
            # Penalty on the parameters themselves (as lifetimes), scaled by the customer count.
            params = np.exp(theta)
            scale = self.penalizer * weights.sum()
            value += scale * float(np.sum(params**2))
            gradient = gradient + scale * 2 * params**2
        return value, gradient

    def _negative_log_likelihood(self, theta: np.ndarray, data: tuple[np.ndarray, ...],
                                 weights: np.ndarray) -> tuple[float, np.ndarray]:
        raise NotImplementedError

    def _store(self, theta: np.ndarray, data: tuple[np.ndarray, ...],
               weights: np.ndarray) -> None:
        params = np.exp(theta)
        self.params_ = dict(zip(self._param_names, map(float, params), strict=True))
        value = self._negative_log_likelihood_value(theta, data, weights)
        self.log_likelihood_ = -float(value)
        self.n_customers_ = float(weights.sum())
        with np.errstate(all="ignore"):
            hessian = self._hessian(theta, data, weights)
        self.hessian_ = hessian
        try:
            covariance_log = np.linalg.inv(hessian)
        except np.linalg.LinAlgError:
            covariance_log = np.full_like(hessian, np.nan)
        # Delta method: d exp(theta) = exp(theta) d theta.
        self.variance_matrix_ = pd.DataFrame(
            covariance_log * np.outer(params, params),
            index=list(self._param_names), columns=list(self._param_names),
        )
        self._log_standard_errors = np.sqrt(np.clip(np.diag(covariance_log), 0, None))
        if np.any(np.diag(covariance_log) <= 0) or not np.all(np.isfinite(covariance_log)):
            warnings.warn(
                f"{type(self).__name__}: the Hessian at the estimate is not positive definite, "
                "so standard errors are unreliable; the likelihood may be flat (too little data) "
                "or the estimate on a boundary. Try a small penalizer.",
                ConvergenceWarning, stacklevel=4,
            )

    def _hessian(self, theta: np.ndarray, data: tuple[np.ndarray, ...],
                 weights: np.ndarray) -> np.ndarray:
        """Hessian of the penalised negative log-likelihood on log-parameters."""
        if self._analytic_gradient:
            return hessian_from_gradient(lambda t: self._penalised(t, data, weights)[1], theta)
        return hessian_from_values(lambda t: self._penalised_value(t, data, weights), theta)

    def _newton_polish(self, theta: np.ndarray, data: tuple[np.ndarray, ...],
                       weights: np.ndarray) -> np.ndarray:
        """One Newton step with central differences after an optimiser run on forward-difference
        gradients, whose small bias would otherwise leave the estimate ~1e-5 off the optimum."""
        def value(t: np.ndarray) -> float:
            return self._penalised_value(t, data, weights)

        with np.errstate(all="ignore"):
            hessian = hessian_from_values(value, theta)
            gradient = numerical_gradient(value, theta, step=1e-5)
            try:
                step = np.linalg.solve(hessian, gradient)
            except np.linalg.LinAlgError:
                return theta
            polished = theta - step
            if np.all(np.isfinite(polished)) and np.max(np.abs(step)) < 0.1 \
                    and value(polished) <= value(theta):
                return polished
        return theta

    def _penalised_value(self, theta: np.ndarray, data: tuple[np.ndarray, ...],
                         weights: np.ndarray) -> float:
        """The penalised objective alone (no gradient: cheaper without an analytic one)."""
        value = self._negative_log_likelihood_value(theta, data, weights)
        if self.penalizer:
            value += self.penalizer * float(weights.sum()) * float(np.sum(np.exp(theta) ** 2))
        return value

    def _negative_log_likelihood_value(self, theta: np.ndarray, data: tuple[np.ndarray, ...],
                                       weights: np.ndarray) -> float:
        return self._negative_log_likelihood(theta, data, weights)[0]

    def _warn_if_doubtful(self, result: optimize.OptimizeResult) -> None:
        # With tolerances near machine precision the line search may stop "abnormally" at the
        # optimum; only a gradient still visibly away from zero makes the estimate doubtful.
        gradient_left = float(np.max(np.abs(result.jac)))
        if not result.success and gradient_left > 1e-5:
            warnings.warn(
                f"{type(self).__name__}: the optimiser stopped after {result.nit} iterations "
                f"without meeting its tolerance ({result.message}; largest gradient "
                f"{gradient_left:.2g}); the estimates may be off. "
                "Try a small penalizer or check the data.",
                ConvergenceWarning, stacklevel=4,
            )
        elif np.any(np.abs(result.x) >= 29.9):
            warnings.warn(
                f"{type(self).__name__}: a parameter ran to its bound "
                f"({self.params_}); the model may not suit this data.",
                ConvergenceWarning, stacklevel=4,
            )

    def _param_array(self) -> np.ndarray:
        check_is_fitted(self, "params_")
        return np.array([self.params_[name] for name in self._param_names])

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """Estimates with standard errors and confidence intervals, one row per parameter.

        Standard errors come from the inverse Hessian of the negative log-likelihood at the
        optimum, taken on the log-parameters and carried to the parameters by the delta method.
        The interval is symmetric on the log scale (``exp(log θ ± z·se_log)``), so it stays
        positive like the parameter.

        Returns
        -------
        pandas.DataFrame
            Index: parameter names. Columns: ``estimate``, ``std_error``, ``lower``, ``upper``.
        """
        params = self._param_array()
        if not 0 < level < 1:
            raise ValueError(f"level must lie between 0 and 1, got {level!r}")
        z = stats.norm.ppf(0.5 + level / 2)
        log_se = self._log_standard_errors
        return pd.DataFrame(
            {
                "estimate": params,
                "std_error": params * log_se,
                "lower": params * np.exp(-z * log_se),
                "upper": params * np.exp(z * log_se),
            },
            index=pd.Index(self._param_names, name="parameter"),
        )

    def __repr__(self) -> str:
        if getattr(self, "params_", None) is None:
            return f"{type(self).__name__}(penalizer={self.penalizer!r})"
        shown = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
        return f"<{type(self).__name__} fitted: {shown}>"
