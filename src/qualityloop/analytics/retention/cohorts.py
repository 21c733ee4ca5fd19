"""Cohort retention tables, churn rate and repeat-purchase rate, as product-analytics tools show
them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from qualityloop.analytics import engine
from qualityloop.analytics.validation import require_table_columns

Kind = Literal["first_time", "recurring"]


@dataclass(frozen=True)
class CohortTable:
    """Retention by cohort and period offset.

    Attributes
    ----------
    counts : pandas.DataFrame
        Customers of each cohort (rows, labelled by the cohort's period start; with a breakdown
        the index is (breakdown value, cohort)) counted at each offset (columns 0, 1, ...).
        Cells the data cannot see yet (cohort + offset after the last period) are NaN.
    rates : pandas.DataFrame
        ``counts`` divided by the cohort size; offset 0 is 1.
    sizes : pandas.Series
        Customers in each cohort.
    mean_curve : pandas.DataFrame
        Per offset (and breakdown value): ``weighted`` (summed counts over summed sizes of the
        cohorts observed at that offset), ``simple`` (plain mean of their rates), ``cohorts``
        and ``customers`` (how many cohorts and customers stand behind the figure).
    revenue : pandas.DataFrame or None
        With ``monetary``: spend of each cohort's customers in period cohort + offset.
    kind, period, cumulative :
        The arguments the table was made with.
    """

    counts: pd.DataFrame
    rates: pd.DataFrame
    sizes: pd.Series
    mean_curve: pd.DataFrame
    revenue: pd.DataFrame | None
    kind: str
    period: str
    cumulative: bool


def cohort_retention(
    transactions: Any,
    customer_id: str = "customer_id",
    datetime: str = "date",
    period: str = "M",
    kind: Kind = "first_time",
    cumulative: bool = False,
    breakdown: str | None = None,
    monetary: str | None = None,
) -> CohortTable:
    """Cohort retention table: who comes back, by cohort and period offset.

    Transactions are reduced to the distinct periods (at ``period``) in which each customer
    bought. Then:

    - ``kind="first_time"``: a customer belongs to one cohort, the period of their first
      purchase, and counts at offset k if they bought in period cohort + k;
    - ``kind="recurring"``: every period with a purchase starts a cohort membership (a customer
      who bought in January and March is in the January and the March cohorts), and a
      membership counts at offset k if the customer bought in period cohort + k. This is
      Mixpanel's "recurring" retention and Amplitude's retention with "any purchase" as the
      starting event;
    - ``cumulative=True`` ("on or after"): count at offset k if the customer bought in any
      period at or after cohort + k. Cumulative counts are never below the plain ones.

    The last period in the data closes the observation: cells after it are NaN, and the mean
    curve at an offset uses only the cohorts observed that far.

    Parameters
    ----------
    transactions : pandas.DataFrame, polars.DataFrame or ibis.Table
        One row per transaction.
    customer_id, datetime : str
        Columns naming the customer and the date or timestamp of the purchase.
    period : {"D", "W", "h", "M", "Q", "Y"}
        Cohort and offset period. Weeks start on Monday.
    kind : {"first_time", "recurring"}
        How customers enter cohorts (see above).
    cumulative : bool
        Count "on or after" offset k instead of "in" offset k.
    breakdown : str, optional
        Column to split by (e.g. a segment). A membership takes the value of the customer's
        purchases in the cohort period (the smallest if they differ).
    monetary : str, optional
        Column with the amount spent; fills ``revenue``.

    Returns
    -------
    CohortTable

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({
    ...     "customer_id": [1, 1, 2, 3, 3],
    ...     "date": pd.to_datetime(["2024-01-05", "2024-02-10", "2024-01-20",
    ...                             "2024-02-01", "2024-03-03"]),
    ... })
    >>> table = cohort_retention(log, period="M")
    >>> table.counts
    offset        0    1    2
    cohort
    2024-01-01  2.0  1.0  0.0
    2024-02-01  1.0  1.0  NaN
    """
    if kind not in ("first_time", "recurring"):
        raise ValueError(f"kind must be 'first_time' or 'recurring', not {kind!r}")
    table = _checked_table(transactions, customer_id, datetime, monetary, period, breakdown)
    periods = _purchase_periods(table, customer_id, datetime, period, breakdown, monetary)
    size = engine.period_size(period)
    # From the transactions, not from ``periods``: a plain scan instead of a second grouping.
    last = engine.period_number(engine.period_start(table[datetime], period), period).max()
    last_number = engine.execute(table.aggregate(last=last))["last"].iloc[0]
    if pd.isna(last_number):
        raise ValueError(f"transactions has no row with both {customer_id!r} and {datetime!r}; "
                         "there are no cohorts to count")
    cells = engine.execute(_cells_expr(periods, kind, cumulative, size))
    return _assemble(cells, kind, period, cumulative, breakdown, monetary, last_number, size)


def _checked_table(
    transactions: Any, customer_id: str, datetime: str, monetary: str | None, period: str,
    breakdown: str | None,
) -> ir.Table:
    engine.normalise_freq(period)
    table = engine.to_table(transactions)
    kinds: dict[str, str | None] = {customer_id: None, datetime: "temporal"}
    if monetary is not None:
        kinds[monetary] = "numeric"
    if breakdown is not None:
        kinds[breakdown] = None
    require_table_columns(table, kinds)
    return table.filter(table[customer_id].notnull() & table[datetime].notnull())


def _purchase_periods(
    table: ir.Table, customer_id: str, datetime: str, period: str, breakdown: str | None,
    monetary: str | None,
) -> ir.Table:
    """One row per customer and purchase period: start, number, breakdown value, spend."""
    start = engine.period_start(table[datetime], period)
    rows = table.select(
        cid=table[customer_id], start=start,
        segment=table[breakdown] if breakdown else ibis.literal(""),
        amount=table[monetary].cast("float64") if monetary else ibis.literal(0.0),
    )
    grouped = rows.group_by(["cid", "start"]).aggregate(
        segment=rows.segment.min(), amount=rows.amount.sum())
    return grouped.mutate(number=engine.period_number(grouped.start, period))


def _cells_expr(periods: ir.Table, kind: str, cumulative: bool, size: int) -> ir.Table:
    """Counts (and spend) per cohort, segment and offset."""
    if kind == "first_time":
        # One cohort per customer, their first period: a grouping and an equality join (every
        # period of a customer is at or after their first), cheaper than a window function and
        # an inequality join.
        starts = periods.group_by(scid=periods.cid).aggregate(
            cohort=periods.start.argmin(periods.number), cohort_number=periods.number.min(),
            cohort_segment=periods.segment.argmin(periods.number))
        joined = starts.join(periods, starts.scid == periods.cid)
    else:
        starts = periods.select(scid=periods.cid, cohort=periods.start,
                                cohort_number=periods.number, cohort_segment=periods.segment)
        joined = starts.join(periods, (starts.scid == periods.cid)
                             & (periods.number >= starts.cohort_number))
    joined = joined.mutate(offset=((joined.number - joined.cohort_number) / size).cast("int64"))
    keys = ["cohort_segment", "cohort", "offset"]
    if not cumulative:
        return joined.group_by(keys).aggregate(count=joined.count(), revenue=joined.amount.sum())
    # "On or after k": a membership counts at every offset up to the last one it reached.
    reach = joined.group_by(["scid", "cohort_segment", "cohort"]).aggregate(
        offset=joined.offset.max())
    spend = joined.group_by(keys).aggregate(revenue=joined.amount.sum())
    reached = reach.group_by(keys).aggregate(reached=reach.count())
    return spend.left_join(reached, keys).select(
        *keys, count=ibis.coalesce(reached.reached, 0), revenue=spend.revenue)


def _assemble(
    cells: pd.DataFrame, kind: str, period: str, cumulative: bool, breakdown: str | None,
    monetary: str | None, last_number: Any, size: int,
) -> CohortTable:
    cells = cells.assign(cohort=pd.to_datetime(cells["cohort"]))
    index = ["cohort_segment", "cohort"]
    counts = cells.pivot_table(index=index, columns="offset", values="count", aggfunc="sum")
    revenue = cells.pivot_table(index=index, columns="offset", values="revenue", aggfunc="sum")
    counts, revenue = _label(counts, breakdown), _label(revenue, breakdown)
    reach = _reach(counts.index.get_level_values("cohort"), period, last_number, size)
    offsets = pd.RangeIndex(int(reach.max()) + 1 if len(reach) else 0, name="offset")
    counts = counts.reindex(columns=offsets).fillna(0.0)
    if cumulative:  # a membership that reached offset k also counts at every earlier offset
        counts = counts.iloc[:, ::-1].cumsum(axis=1).iloc[:, ::-1]
    revenue = revenue.reindex(columns=offsets).fillna(0.0)
    observable = np.asarray(offsets)[None, :] <= reach[:, None]
    counts = counts.where(observable).astype(float)
    revenue = revenue.where(observable).astype(float)
    sizes = (counts[0] if len(offsets) else pd.Series(dtype=float)).astype(int).rename("size")
    rates = counts.div(sizes, axis=0)
    return CohortTable(
        counts=counts, rates=rates, sizes=sizes, mean_curve=_mean_curve(counts, rates, breakdown),
        revenue=revenue if monetary else None, kind=kind, period=period, cumulative=cumulative,
    )


def _label(frame: pd.DataFrame, breakdown: str | None) -> pd.DataFrame:
    """Name the breakdown level after its column, or drop it when there is no breakdown."""
    if breakdown is None:
        return frame.droplevel("cohort_segment")
    return frame.rename_axis(index={"cohort_segment": breakdown})


def _reach(cohorts: pd.Index, period: str, last_number: Any, size: int) -> np.ndarray:
    """The last offset each cohort can be observed at (the last period in the data)."""
    numbers = _numbers(pd.DatetimeIndex(cohorts), period)
    return (float(last_number) - numbers) // size


def _numbers(starts: pd.DatetimeIndex, period: str) -> np.ndarray:
    """The pandas twin of engine.period_number, for the (few) cohort labels."""
    if engine.normalise_freq(period) in ("M", "Q", "Y"):
        return np.asarray(starts.year * 12 + starts.month - 1, dtype=float)
    return np.asarray((starts - pd.Timestamp(0)) // pd.Timedelta(seconds=1), dtype=float)


def _mean_curve(counts: pd.DataFrame, rates: pd.DataFrame, breakdown: str | None) -> pd.DataFrame:
    if breakdown is None:
        return _one_mean_curve(counts, rates)
    parts = {value: _one_mean_curve(pd.DataFrame(counts.xs(value, level=breakdown)),
                                    pd.DataFrame(rates.xs(value, level=breakdown)))
             for value in counts.index.get_level_values(breakdown).unique()}
    return pd.concat(parts, names=[breakdown])


def _one_mean_curve(counts: pd.DataFrame, rates: pd.DataFrame) -> pd.DataFrame:
    observed = counts.notna()
    sizes = counts[0] if len(counts.columns) else pd.Series(dtype=float)
    customers = observed.mul(sizes, axis=0).sum()
    return pd.DataFrame({
        "weighted": counts.sum() / customers.replace(0, np.nan),
        "simple": rates.mean(),
        "cohorts": observed.sum().astype(int),
        "customers": customers,
    })


def churn_rate(
    transactions: Any, customer_id: str = "customer_id", datetime: str = "date",
    period: str = "M",
) -> pd.DataFrame:
    """Period-over-period churn.

    For each period p after the first: ``active_before`` customers bought in p - 1, of whom
    ``retained`` bought again in p and ``churned`` did not; ``churn_rate`` is churned over
    active_before (NaN when nobody was active before). Customers new in p do not enter the
    rate. Periods without any purchase are included (their churn rate is 1 when someone was
    active the period before).

    Returns
    -------
    pandas.DataFrame
        Indexed by period start: ``active_before``, ``retained``, ``churned``, ``churn_rate``.
    """
    table = _checked_table(transactions, customer_id, datetime, None, period, None)
    periods = _purchase_periods(table, customer_id, datetime, period, None, None)
    size = engine.period_size(period)
    following = periods.select(fcid=periods.cid, fnumber=periods.number)
    joined = periods.left_join(following, (periods.cid == following.fcid)
                               & (following.fnumber == periods.number + size))
    per_period = engine.execute(joined.group_by(["start", "number"]).aggregate(
        active_before=joined.count(), retained=joined.fcid.count()))
    return _churn_frame(per_period, period, size)


def _churn_frame(per_period: pd.DataFrame, period: str, size: int) -> pd.DataFrame:
    columns = ["active_before", "retained", "churned", "churn_rate"]
    if per_period.empty:
        return pd.DataFrame(columns=columns, index=pd.DatetimeIndex([], name="period"))
    per_period = per_period.assign(start=pd.to_datetime(per_period["start"]))
    per_period = per_period.set_index("start").sort_index()
    all_starts = pd.date_range(per_period.index.min(), per_period.index.max(),
                               freq=_pandas_freq(period))
    # Counts belong to the period after the one the customers were active in.
    shifted = per_period[["active_before", "retained"]].reindex(all_starts).fillna(0)
    shifted = shifted.shift(1).iloc[1:]
    shifted["churned"] = shifted["active_before"] - shifted["retained"]
    shifted["churn_rate"] = shifted["churned"] / shifted["active_before"].replace(0, np.nan)
    shifted.index.name = "period"
    return shifted[columns].astype({"active_before": int, "retained": int, "churned": int})


def _pandas_freq(period: str) -> str:
    return {"D": "D", "W": "W-MON", "h": "h", "M": "MS", "Q": "QS", "Y": "YS"}[
        engine.normalise_freq(period)]


def repeat_purchase_rate(
    transactions: Any, customer_id: str = "customer_id", datetime: str = "date",
    freq: str = "D",
) -> float:
    """Share of customers who bought in at least two distinct periods (days by default).

    Several purchases within one period count once, as in :func:`rfm_summary`. NaN for an
    empty log.
    """
    table = _checked_table(transactions, customer_id, datetime, None, freq, None)
    periods = _purchase_periods(table, customer_id, datetime, freq, None, None)
    per_customer = periods.group_by("cid").aggregate(periods=periods.count())
    result = engine.execute(per_customer.aggregate(
        customers=per_customer.count(),
        repeaters=(per_customer.periods >= 2).sum()))
    customers = int(result["customers"].iloc[0])
    return float(result["repeaters"].iloc[0] or 0) / customers if customers else float("nan")
