"""The BG/NBD model of repeat buying (Fader, Hardie & Lee 2005, "Counting your customers the
easy way")."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import betaln, digamma, gammaln, hyp2f1

from qualityloop.analytics.validation import to_pandas

from ._base import CustomerBaseModel, collapse, customer_arrays, weighted_sum


class BetaGeo(CustomerBaseModel):
    """Beta-geometric / negative binomial distribution (BG/NBD) model.

    While active, a customer buys at Poisson rate ``lambda ~ Gamma(r, alpha)``; after each repeat
    purchase the customer drops out with probability ``p ~ Beta(a, b)``.

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on the parameters, per customer (as lifetimes' ``penalizer_coef``).

    Attributes
    ----------
    params_ : dict
        Maximum-likelihood estimates ``r``, ``alpha``, ``a``, ``b``.
    log_likelihood_ : float
        Log-likelihood at the estimate (without the penalty).
    variance_matrix_ : pandas.DataFrame
        Covariance matrix of the estimates (inverse Hessian, delta method).
    optimizer_result_ : scipy.optimize.OptimizeResult
        What the optimiser returned (on log-parameters, per-customer scale).
    n_customers_ : float
        Number (total weight) of customers fitted.

    Examples
    --------
    >>> import pandas as pd
    >>> summary = pd.DataFrame({"frequency": [0, 2, 1, 5, 0, 3], "recency": [0, 30, 5, 35, 0, 12],
    ...                         "T": [40, 38, 39, 40, 36, 38]})
    >>> model = BetaGeo(penalizer=0.01).fit(summary)
    >>> sorted(model.params_)
    ['a', 'alpha', 'b', 'r']
    >>> bool(model.probability_alive(summary).between(0, 1).all())
    True
    """

    _param_names = ("r", "alpha", "a", "b")

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer

    def fit(
        self,
        summary: Any,
        frequency_col: str = "frequency",
        recency_col: str = "recency",
        T_col: str = "T",
        weights_col: str | None = None,
    ) -> BetaGeo:
        """Fit the model by maximum likelihood on an RFM summary (one row per customer).

        Parameters
        ----------
        summary : pandas or polars DataFrame or Ibis table
            Repeat purchases (``frequency``), time of the last purchase (``recency``) and age
            (``T``) per customer, recency and T measured from the first purchase.
        frequency_col, recency_col, T_col : str
            Column names.
        weights_col : str, optional
            Column holding how many customers each row stands for.

        Returns
        -------
        BetaGeo
            self, fitted.
        """
        x, t_x, T, weights = customer_arrays(summary, frequency_col, recency_col, T_col,
                                             weights_col)
        (x, t_x, T), weights = collapse([x, t_x, T], weights)
        self._fit((x, t_x, T), weights, initial=_initial_guess(x, T))
        return self

    def _negative_log_likelihood(self, theta: np.ndarray, data: tuple[np.ndarray, ...],
                                 weights: np.ndarray) -> tuple[float, np.ndarray]:
        x, t_x, T = data
        return bg_nbd_negative_log_likelihood(theta, x, t_x, T, weights)

    def probability_alive(self, summary: Any, frequency_col: str = "frequency",
                          recency_col: str = "recency", T_col: str = "T") -> pd.Series:
        """P(customer still active | x, t_x, T), one value per row of ``summary``.

        ``1 / (1 + [x > 0] · a / (b + x - 1) · ((alpha + T) / (alpha + t_x))^(r + x))``
        """
        r, alpha, a, b = self._param_array()
        frame = to_pandas(summary)
        x, t_x, T, _ = customer_arrays(frame, frequency_col, recency_col, T_col)
        return pd.Series(_p_alive(r, alpha, a, b, x, t_x, T), index=frame.index,
                         name="probability_alive")

    def expected_purchases(self, t: float, summary: Any, frequency_col: str = "frequency",
                           recency_col: str = "recency", T_col: str = "T") -> pd.Series:
        """Expected number of purchases in the next ``t`` periods given each customer's history.

        Equation (10) of Fader, Hardie & Lee (2005)::

            (a + b + x - 1) / (a - 1)
            · [1 - ((alpha + T) / (alpha + T + t))^(r + x) · 2F1(r + x, b + x; a + b + x - 1;
                                                                   t / (alpha + T + t))]
            · P(alive)
        """
        r, alpha, a, b = self._param_array()
        frame = to_pandas(summary)
        x, t_x, T, _ = customer_arrays(frame, frequency_col, recency_col, T_col)
        return pd.Series(_conditional_expected(r, alpha, a, b, x, t_x, T, float(t)),
                         index=frame.index, name="expected_purchases")

    def expected_purchases_new_customer(self, t: float | np.ndarray) -> np.ndarray:
        """Expected repeat purchases in ``(0, t]`` of a customer who just made a first purchase:
        ``(a + b - 1) / (a - 1) · [1 - (alpha / (alpha + t))^r · 2F1(r, b; a + b - 1;
        t / (alpha + t))]``."""
        r, alpha, a, b = self._param_array()
        t = np.asarray(t, dtype=float)
        hyp = hyp2f1(r, b, a + b - 1, t / (alpha + t))
        return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp)

    @staticmethod
    def simulate(params: dict[str, float], T: np.ndarray | float, size: int | None = None,
                 seed: int | None = None) -> pd.DataFrame:
        """Draw customers from the BG/NBD model: returns ``frequency``, ``recency``, ``T``.

        Each customer gets ``lambda ~ Gamma(r, scale=1/alpha)``, ``p ~ Beta(a, b)``; the number
        of repeat purchases before dropping out is geometric(p) on 1, 2, ...; the purchases seen
        by ``T`` are the Poisson events up to that count, and the last one's time is the matching
        order statistic of uniforms on ``(0, T)``.
        """
        rng = np.random.default_rng(seed)
        ages = np.broadcast_to(np.asarray(T, dtype=float),
                               (size,) if size is not None else np.shape(T)).copy()
        n = ages.size
        rate = rng.gamma(params["r"], 1 / params["alpha"], n)
        dropout = rng.beta(params["a"], params["b"], n)
        purchases_by_T = rng.poisson(rate * ages)
        purchases_while_alive = rng.geometric(dropout)
        x = np.minimum(purchases_by_T, purchases_while_alive)
        t_x = np.zeros(n)
        bought = x > 0
        t_x[bought] = ages[bought] * rng.beta(x[bought], purchases_by_T[bought] - x[bought] + 1)
        return pd.DataFrame({"frequency": x, "recency": t_x, "T": ages})


def bg_nbd_negative_log_likelihood(theta: np.ndarray, x: np.ndarray, t_x: np.ndarray,
                                   T: np.ndarray, weights: np.ndarray) -> tuple[float, np.ndarray]:
    """Weighted BG/NBD negative log-likelihood and its analytic gradient on log-parameters.

    ``log L = A1 + log(exp(A2) + [x > 0] exp(A3))`` with
    ``A1 = lnΓ(r + x) - lnΓ(r) + r ln alpha``,
    ``A2 = ln B(a, b + x) - ln B(a, b) - (r + x) ln(alpha + T)``,
    ``A3 = ln B(a + 1, b + x - 1) - ln B(a, b) - (r + x) ln(alpha + t_x)``.
    """
    r, alpha, a, b = np.exp(theta)
    # x is a whole number: functions of x alone are computed once per distinct count.
    counts = x.astype(np.intp)
    k = np.arange(counts.max() + 1, dtype=float)
    k_prev = np.maximum(k - 1, 0.0)  # b + x - 1 only matters where x > 0
    repeat = counts > 0
    log_beta_ab = betaln(a, b)
    psi_ab = digamma(a + b)
    A1 = (gammaln(r + k) - gammaln(r))[counts] + r * np.log(alpha)
    log_alpha_T, log_alpha_tx = np.log(alpha + T), np.log(alpha + t_x)
    A2 = (betaln(a, b + k) - log_beta_ab)[counts] - (r + x) * log_alpha_T
    A3 = np.where(repeat, (betaln(a + 1, b + k_prev) - log_beta_ab)[counts]
                  - (r + x) * log_alpha_tx, -np.inf)
    top = np.maximum(A2, A3)
    e2, e3 = np.exp(A2 - top), np.exp(A3 - top)
    log_lik = A1 + top + np.log(e2 + e3)
    share2, share3 = e2 / (e2 + e3), e3 / (e2 + e3)

    psi_abx = digamma(a + b + k)
    d_r = (digamma(r + k) - digamma(r))[counts] + np.log(alpha) - share2 * log_alpha_T \
        - share3 * log_alpha_tx
    d_alpha = r / alpha - (r + x) * (share2 / (alpha + T) + share3 / (alpha + t_x))
    d_a = share2 * (psi_ab - psi_abx)[counts] + share3 * (
        digamma(a + 1) - digamma(a) + psi_ab - psi_abx)[counts]
    d_b = share2 * (digamma(b + k) - psi_abx - digamma(b) + psi_ab)[counts] + share3 * (
        digamma(b + k_prev) - psi_abx - digamma(b) + psi_ab)[counts]
    gradient = np.array([weighted_sum(d, weights) for d in (d_r, d_alpha, d_a, d_b)])
    return -weighted_sum(log_lik, weights), -gradient * np.exp(theta)


def _p_alive(r: float, alpha: float, a: float, b: float, x: np.ndarray, t_x: np.ndarray,
             T: np.ndarray) -> np.ndarray:
    repeat = x > 0
    x_safe = np.where(repeat, x, 1.0)
    log_ratio = np.log(a / (b + x_safe - 1)) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    odds = np.where(repeat, np.exp(log_ratio), 0.0)
    return 1 / (1 + odds)


def _conditional_expected(r: float, alpha: float, a: float, b: float, x: np.ndarray,
                          t_x: np.ndarray, T: np.ndarray, t: float) -> np.ndarray:
    hyp = hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
    bracket = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp
    return (a + b + x - 1) / (a - 1) * bracket * _p_alive(r, alpha, a, b, x, t_x, T)


def _initial_guess(x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """log(r, alpha, a, b) = log(1, mean T, 1, 1): a scale-aware start for alpha."""
    return np.log(np.array([1.0, max(float(np.mean(T)), 1e-3), 1.0, 1.0]))

