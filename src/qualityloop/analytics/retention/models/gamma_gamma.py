"""The Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee 2005, "RFM and CLV:
Using iso-value curves for customer base analysis"; Fader & Hardie's note on the model)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import digamma, gammaln

from qualityloop.analytics.validation import numeric_column, require_columns, to_pandas

from ._base import CustomerBaseModel, collapse, customer_weights, weighted_sum


class GammaGamma(CustomerBaseModel):
    """Gamma-Gamma model of the average value of a customer's transactions.

    Each transaction's value is Gamma(p, nu) with ``nu ~ Gamma(q, v)`` across customers; a
    customer's observed mean over ``x`` repeat transactions is what the model sees. The model
    assumes spend is independent of purchase frequency.

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on the parameters, per customer.

    Attributes
    ----------
    params_ : dict
        Estimates ``p``, ``q``, ``v``.
    log_likelihood_ : float
        Log-likelihood at the estimate, over the customers with at least one repeat purchase.
    variance_matrix_ : pandas.DataFrame
        Covariance of the estimates.
    n_customers_ : float
        Number (total weight) of customers fitted (those with frequency > 0).

    Examples
    --------
    >>> import pandas as pd
    >>> summary = pd.DataFrame({"frequency": [1, 2, 3, 1, 4, 2, 0],
    ...                         "monetary_value": [20.0, 35.5, 18.0, 60.0, 25.0, 30.0, 0.0]})
    >>> model = GammaGamma(penalizer=0.01).fit(summary)
    >>> sorted(model.params_)
    ['p', 'q', 'v']
    >>> bool((model.expected_spend(summary) > 0).all())
    True
    """

    _param_names = ("p", "q", "v")

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer

    def fit(
        self,
        summary: Any,
        frequency_col: str = "frequency",
        monetary_value_col: str = "monetary_value",
        weights_col: str | None = None,
    ) -> GammaGamma:
        """Fit on the customers with at least one repeat purchase.

        Rows with frequency 0 are left out: their monetary value (the mean of the repeat
        purchases) is undefined and carries no information about ``p, q, v``.

        Parameters
        ----------
        summary : pandas or polars DataFrame or Ibis table
            ``frequency`` (repeat purchases) and ``monetary_value`` (their mean value).
        frequency_col, monetary_value_col, weights_col : str
            Column names.

        Returns
        -------
        GammaGamma
            self, fitted.
        """
        x, m, weights = _spend_arrays(summary, frequency_col, monetary_value_col, weights_col)
        repeat = x > 0
        if not (weights[repeat] > 0).any():
            raise ValueError(f"no customer has {frequency_col!r} above 0; the Gamma-Gamma "
                             "model needs customers with repeat purchases")
        bad = repeat & (m <= 0)
        if bad.any():
            raise ValueError(f"column {monetary_value_col!r} must be above 0 for customers with "
                             f"repeat purchases; {int(bad.sum())} rows are not")
        (x, m), weights = collapse([x[repeat], m[repeat]], weights[repeat])
        start = np.log(np.array([1.0, 1.0, max(float(np.average(m, weights=weights)), 1e-3)]))
        self._fit((x, m), weights, initial=start)
        return self

    def _negative_log_likelihood(self, theta: np.ndarray, data: tuple[np.ndarray, ...],
                                 weights: np.ndarray) -> tuple[float, np.ndarray]:
        x, m = data
        return gamma_gamma_negative_log_likelihood(theta, x, m, weights)

    def expected_spend(self, summary: Any, frequency_col: str = "frequency",
                       monetary_value_col: str = "monetary_value") -> pd.Series:
        """Conditional expected average value of a customer's transactions.

        ``E[M | x, m] = p (v + x m) / (p x + q - 1)``; for ``x = 0`` this is the population
        mean ``p v / (q - 1)`` (needs ``q > 1``).
        """
        p, q, v = self._param_array()
        frame = to_pandas(summary)
        x, m, _ = _spend_arrays(frame, frequency_col, monetary_value_col, None)
        m = np.where(x > 0, m, 0.0)
        return pd.Series(p * (v + x * m) / (p * x + q - 1), index=frame.index,
                         name="expected_spend")


def _spend_arrays(summary: Any, frequency_col: str, monetary_value_col: str,
                  weights_col: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    frame = to_pandas(summary)
    columns = [frequency_col, monetary_value_col] + ([weights_col] if weights_col else [])
    require_columns(frame, columns, "the customer summary")
    if len(frame) == 0:
        raise ValueError("the customer summary has no rows")
    x = numeric_column(frame, frequency_col, minimum=0)
    m = numeric_column(frame, monetary_value_col, minimum=0)
    return x, m, customer_weights(frame, weights_col)


def gamma_gamma_negative_log_likelihood(theta: np.ndarray, x: np.ndarray, m: np.ndarray,
                                        weights: np.ndarray) -> tuple[float, np.ndarray]:
    """Weighted Gamma-Gamma negative log-likelihood of the mean spends ``m`` over ``x``
    transactions, with its gradient on log-parameters::

        lnΓ(px + q) - lnΓ(px) - lnΓ(q) + q ln v + (px - 1) ln m + px ln x - (px + q) ln(v + xm)
    """
    p, q, v = np.exp(theta)
    px = p * x
    log_vxm = np.log(v + x * m)
    log_lik = (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v)
               + (px - 1) * np.log(m) + px * np.log(x) - (px + q) * log_vxm)
    psi = digamma(px + q)
    d_p = x * (psi - digamma(px) + np.log(m) + np.log(x) - log_vxm)
    d_q = psi - digamma(q) + np.log(v) - log_vxm
    d_v = q / v - (px + q) / (v + x * m)
    gradient = np.array([weighted_sum(d, weights) for d in (d_p, d_q, d_v)]) * np.exp(theta)
    return -weighted_sum(log_lik, weights), -gradient
