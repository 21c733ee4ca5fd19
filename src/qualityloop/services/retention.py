"""Retention analytics on the app's own customers and orders.

The analytics library (:mod:`qualityloop.analytics.retention` and ``.survival``) does the maths
on plain DataFrames; this module only turns the database into those frames (one SQL query each,
never the ORM row by row: the demo holds millions of orders) and names the use cases the CLI and
the web pages share.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, cast

import pandas as pd
from django.db import connection

from qualityloop.analytics.retention import (
    BetaGeo,
    CohortTable,
    GammaGamma,
    churn_rate,
    cohort_retention,
    customer_lifetime_value,
    repeat_purchase_rate,
    rfm_summary,
)
from qualityloop.analytics.retention.cohorts import Kind
from qualityloop.analytics.survival import KaplanMeier
from qualityloop.records.customers.models import Customer, Order
from qualityloop.records.organisation.models import OrgUnit

TRANSACTION_COLUMNS = ["customer_id", "date", "amount", "segment", "serving_unit"]
CUSTOMER_COLUMNS = ["customer_id", "segment", "serving_unit", "acquired_on", "status",
                    "churned_on", "duration", "event"]


class NoOrdersError(ValueError):
    """There are no orders (in the chosen unit and period) to analyse."""


# frames ----------------------------------------------------------------------------------------

def _unit_filter(unit: OrgUnit | None, column: str) -> tuple[str, list[Any]]:
    """SQL condition restricting ``column`` (a serving-unit key) to ``unit`` and units below."""
    if unit is None:
        return "", []
    keys = [unit.pk, *(u.pk for u in unit.descendants())]
    return f" AND {column} IN ({', '.join(['%s'] * len(keys))})", keys


def _customer_lookup(unit: OrgUnit | None) -> pd.DataFrame:
    """Customers (indexed by primary key) with external ids of themselves and their unit."""
    customer, org_unit = Customer._meta.db_table, OrgUnit._meta.db_table
    condition, params = _unit_filter(unit, "c.serving_unit_id")
    sql = (f"SELECT c.id, c.external_id, c.segment, u.external_id, c.acquired_on, c.status, "
           f"c.churned_on FROM {customer} c JOIN {org_unit} u ON u.id = c.serving_unit_id "
           f"WHERE 1 = 1{condition}")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    columns = ["pk", "customer_id", "segment", "serving_unit", "acquired_on", "status",
               "churned_on"]
    return pd.DataFrame.from_records(rows, columns=columns).set_index("pk")


def transactions_frame(unit: OrgUnit | None = None,
                       as_of: dt.date | None = None) -> pd.DataFrame:
    """All orders as a transaction log, one row per order.

    Parameters
    ----------
    unit : OrgUnit, optional
        Keep the orders of customers served by this unit or a unit below it.
    as_of : date, optional
        Leave out orders placed after this day.

    Returns
    -------
    pandas.DataFrame
        Columns ``customer_id`` (the customer's external id), ``date`` (datetime64), ``amount``
        (float), ``segment`` and ``serving_unit`` (the unit's external id).
    """
    customers = _customer_lookup(unit)
    condition, params = _unit_filter(unit, "c.serving_unit_id")
    if as_of is not None:
        condition += " AND o.ordered_on <= %s"
        params.append(as_of)
    # Only the customer key travels per order; customer attributes are joined in numpy.
    sql = (f"SELECT o.customer_id, o.ordered_on, CAST(o.amount AS DOUBLE PRECISION) "
           f"FROM {Order._meta.db_table} o JOIN {Customer._meta.db_table} c "
           f"ON c.id = o.customer_id WHERE 1 = 1{condition}")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows:
        return _empty_transactions()
    orders = pd.DataFrame.from_records(rows, columns=["key", "date", "amount"])
    position = customers.index.get_indexer(pd.Index(orders["key"]))
    return pd.DataFrame({
        "customer_id": customers["customer_id"].to_numpy()[position],
        # SQLite hands dates back as ISO text, PostgreSQL as date objects; both parse at once.
        "date": pd.to_datetime(orders["date"]),
        "amount": orders["amount"].to_numpy(dtype=float),
        "segment": customers["segment"].to_numpy()[position],
        "serving_unit": customers["serving_unit"].to_numpy()[position],
    })


def _empty_transactions() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": pd.Series(dtype=object), "date": pd.Series(dtype="datetime64[ns]"),
        "amount": pd.Series(dtype=float), "segment": pd.Series(dtype=object),
        "serving_unit": pd.Series(dtype=object),
    })


def customers_frame(unit: OrgUnit | None = None, as_of: dt.date | None = None) -> pd.DataFrame:
    """Customers as survival subjects: time from acquisition to churn (or to ``as_of``).

    Parameters
    ----------
    unit : OrgUnit, optional
        Keep customers served by this unit or a unit below it.
    as_of : date, optional
        End of the observation (default: today). Customers acquired after it are left out;
        a churn after it counts as not (yet) churned.

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``segment``, ``serving_unit``, ``acquired_on``, ``status``,
        ``churned_on`` (dates as datetime64), ``duration`` (days, float) and ``event``
        (1 if churned by ``as_of``, else 0).
    """
    end = pd.Timestamp(as_of or dt.date.today())
    frame = _customer_lookup(unit).reset_index(drop=True)
    for column in ("acquired_on", "churned_on"):
        frame[column] = pd.to_datetime(frame[column].astype("string"), format="%Y-%m-%d")
    frame = frame[frame["acquired_on"] <= end].reset_index(drop=True)
    churned = frame["churned_on"].notna() & (frame["churned_on"] <= end)
    stop = frame["churned_on"].where(churned, end)
    frame["duration"] = (stop - frame["acquired_on"]).dt.days.astype(float)
    frame["event"] = churned.astype(int)
    return frame[CUSTOMER_COLUMNS]


_PERIOD_LENGTH = {"h": pd.DateOffset(hours=1), "D": pd.DateOffset(days=1),
                  "W": pd.DateOffset(weeks=1), "M": pd.DateOffset(months=1),
                  "Q": pd.DateOffset(months=3), "Y": pd.DateOffset(years=1)}


def _still_running(start: pd.Timestamp, period: str) -> bool:
    """Whether the period starting at ``start`` has not ended yet (today lies inside it)."""
    return bool(pd.Timestamp.now() < start + _PERIOD_LENGTH[period])


# use cases -------------------------------------------------------------------------------------

@dataclass
class FittedModels:
    """BG/NBD and Gamma-Gamma fitted on one RFM summary (with ``monetary_value``)."""

    beta_geo: BetaGeo
    gamma_gamma: GammaGamma
    summary: pd.DataFrame
    freq: str


@dataclass
class RetentionOverview:
    """The retention use cases on the app's data, optionally for one unit (and units below).

    An overview keeps the transaction logs it has read (reading 3.4M orders takes seconds), so
    several use cases on one overview read the database once; make a new overview to see new
    orders.
    """

    unit: OrgUnit | None = None
    _logs: dict[tuple[Any, Any], pd.DataFrame] = field(default_factory=dict, repr=False)

    def transactions(self, as_of: dt.date | None = None,
                     unit: OrgUnit | None = None) -> pd.DataFrame:
        """The transaction log; :class:`NoOrdersError` when there is none."""
        unit = unit or self.unit
        key = (unit.pk if unit is not None else None, as_of)
        if key not in self._logs:
            self._logs[key] = transactions_frame(unit, as_of)
        log = self._logs[key]
        if log.empty:
            where = f" for unit {unit.external_id}" if unit is not None else ""
            raise NoOrdersError(f"no orders in the database{where}; import orders or run "
                                "`qualityloop demo` first")
        return log

    def rfm(self, freq: str = "W", as_of: dt.date | None = None,
            unit: OrgUnit | None = None) -> pd.DataFrame:
        """RFM summary per customer (frequency, recency, T in ``freq`` periods, monetary_value)."""
        return rfm_summary(self.transactions(as_of, unit), monetary="amount", freq=freq,
                           observation_end=as_of)

    def cohorts(self, period: str = "M", kind: str = "first_time",
                cumulative: bool = False, unit: OrgUnit | None = None) -> CohortTable:
        """Cohort retention table (see :func:`cohort_retention`)."""
        return cohort_retention(self.transactions(unit=unit), period=period,
                                kind=cast(Kind, kind), cumulative=cumulative, monetary="amount")

    def headline(self, period: str = "M", unit: OrgUnit | None = None) -> dict[str, Any]:
        """Customers, repeat purchase rate and the latest complete period's churn rate."""
        log = self.transactions(unit=unit)
        churn = churn_rate(log, period=period).dropna(subset=["churn_rate"])
        # A period still running would count everyone who has not bought *yet* as churned.
        if len(churn) and _still_running(churn.index[-1], period):
            churn = churn.iloc[:-1]
        latest = churn.iloc[-1] if len(churn) else None
        return {
            "customers": int(log["customer_id"].nunique()),
            "orders": len(log),
            "revenue": float(log["amount"].sum()),
            "repeat_purchase_rate": repeat_purchase_rate(log),
            "churn_period": None if latest is None else churn.index[-1].date().isoformat(),
            "churn_rate": None if latest is None else float(latest["churn_rate"]),
        }

    def fit_models(self, freq: str = "W", as_of: dt.date | None = None,
                   unit: OrgUnit | None = None, penalizer: float = 0.0) -> FittedModels:
        """Fit BG/NBD (purchases and drop-out) and Gamma-Gamma (spend) on the RFM summary."""
        summary = self.rfm(freq, as_of, unit)
        beta_geo = BetaGeo(penalizer=penalizer).fit(summary)
        gamma_gamma = GammaGamma(penalizer=penalizer).fit(summary)
        return FittedModels(beta_geo, gamma_gamma, summary, freq)

    def clv(self, horizon: int = 12, discount_rate: float = 0.01, freq: str = "W",
            as_of: dt.date | None = None, unit: OrgUnit | None = None,
            models: FittedModels | None = None) -> pd.DataFrame:
        """Per customer: probability alive, expected purchases and spend, and CLV (months).

        ``expected_purchases`` covers the next ``horizon`` months (30 days each);
        ``expected_spend`` is the expected value of one purchase. Sorted by CLV, highest first.
        """
        fitted = models or self.fit_models(freq, as_of, unit)
        summary = fitted.summary
        months = horizon * 30 / {"H": 1 / 24, "D": 1, "W": 7, "M": 30}[fitted.freq]
        frame = pd.DataFrame({
            "probability_alive": fitted.beta_geo.probability_alive(summary),
            "expected_purchases": fitted.beta_geo.expected_purchases(months, summary),
            "expected_spend": fitted.gamma_gamma.expected_spend(summary),
            "clv": customer_lifetime_value(fitted.beta_geo, fitted.gamma_gamma, summary,
                                           horizon=horizon, discount_rate=discount_rate,
                                           freq=fitted.freq, time_unit="M"),
        }, index=summary.index)
        return frame.sort_values("clv", ascending=False)

    def survival_by_segment(self, as_of: dt.date | None = None,
                            unit: OrgUnit | None = None) -> KaplanMeier:
        """Kaplan-Meier time to churn (days since acquisition), one curve per segment."""
        customers = customers_frame(unit or self.unit, as_of)
        if customers.empty:
            raise NoOrdersError("no customers in the database; import customers or run "
                                "`qualityloop demo` first")
        return KaplanMeier().fit(customers, group_col="segment")
