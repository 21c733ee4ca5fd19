"""Discounted customer lifetime value from a transaction model and a spend model."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import pandas as pd

from qualityloop.analytics.validation import to_pandas

# Length of each unit in days; a month is 30 days, as in lifetimes for daily data.
_DAYS = {"H": 1 / 24, "D": 1.0, "W": 7.0, "M": 30.0}


class TransactionModel(Protocol):
    def expected_purchases(self, t: float, summary: Any, frequency_col: str = ...,
                           recency_col: str = ..., T_col: str = ...) -> pd.Series: ...


class SpendModel(Protocol):
    def expected_spend(self, summary: Any, frequency_col: str = ...,
                       monetary_value_col: str = ...) -> pd.Series: ...


def periods_per_unit(freq: str, time_unit: str) -> float:
    """How many model periods (``freq``) make one ``time_unit``; a month is 30 days."""
    for name, unit in (("freq", freq), ("time_unit", time_unit)):
        if unit not in _DAYS:
            raise ValueError(f"{name} must be one of {', '.join(_DAYS)}, got {unit!r}")
    return _DAYS[time_unit] / _DAYS[freq]


def customer_lifetime_value(
    transaction_model: TransactionModel,
    spend_model: SpendModel,
    summary: Any,
    horizon: int = 12,
    discount_rate: float = 0.01,
    freq: str = "D",
    time_unit: str = "M",
    *,
    frequency_col: str = "frequency",
    recency_col: str = "recency",
    T_col: str = "T",
    monetary_value_col: str = "monetary_value",
) -> pd.Series:
    """Discounted expected value of each customer over the next ``horizon`` time units.

    Parameters
    ----------
    transaction_model : BetaGeo or ParetoNBD
        Fitted model with ``expected_purchases(t, summary)``.
    spend_model : GammaGamma
        Fitted model with ``expected_spend(summary)``.
    summary : DataFrame or Ibis table
        Customers: frequency, recency, T (in ``freq`` periods) and monetary_value.
    horizon : int, default 12
        Number of ``time_unit`` periods to sum over.
    discount_rate : float, default 0.01
        Discount rate per ``time_unit`` (0.01 a month is about 12.7% a year).
    freq : {"H", "D", "W", "M"}
        The period the models were fitted in (the unit of recency and T).
    time_unit : {"H", "D", "W", "M"}
        The unit of ``horizon`` and ``discount_rate``.

    Returns
    -------
    pandas.Series
        ``clv`` per customer, indexed like ``summary``.

    Notes
    -----
    With ``k = periods_per_unit(freq, time_unit)`` (a month is 30 days), ``E(t)`` the expected
    purchases in the next ``t`` model periods and ``m`` the expected spend per purchase::

        CLV = sum_{i=1..horizon} m · (E(i·k) - E((i-1)·k)) / (1 + discount_rate)^i

    Purchases of each future unit are discounted at the end of that unit. This is the formula of
    lifetimes' ``customer_lifetime_value`` (which fixes ``time_unit`` to months; lifetimes takes
    4.345 weeks a month where this takes 30 / 7).
    """
    if horizon < 1 or int(horizon) != horizon:
        raise ValueError(f"horizon must be a whole number of at least 1, got {horizon!r}")
    if discount_rate <= -1:
        raise ValueError(f"discount_rate must be above -1, got {discount_rate!r}")
    step = periods_per_unit(freq, time_unit)
    frame = to_pandas(summary)
    columns = {"frequency_col": frequency_col, "recency_col": recency_col, "T_col": T_col}
    spend = spend_model.expected_spend(frame, frequency_col=frequency_col,
                                       monetary_value_col=monetary_value_col).to_numpy()
    value = np.zeros(len(frame))
    previous = np.zeros(len(frame))
    for i in range(1, int(horizon) + 1):
        cumulative = transaction_model.expected_purchases(i * step, frame, **columns).to_numpy()
        value += spend * (cumulative - previous) / (1 + discount_rate) ** i
        previous = cumulative
    return pd.Series(value, index=frame.index, name="clv")
