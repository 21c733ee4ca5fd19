"""Calibration / holdout validation of the customer-base models."""

from __future__ import annotations

import datetime as dt
from typing import Any

import ibis
import pandas as pd

from qualityloop.analytics import engine
from qualityloop.analytics.retention.rfm import rfm_summary

DateLike = str | dt.date | dt.datetime | pd.Timestamp


def calibration_holdout_split(
    transactions: Any,
    customer_id: str = "customer_id",
    datetime: str = "date",
    calibration_end: DateLike | None = None,
    observation_end: DateLike | None = None,
    freq: str = "D",
    monetary: str | None = None,
) -> pd.DataFrame:
    """Summaries of a calibration period and the holdout period that follows it.

    Parameters
    ----------
    transactions : pandas.DataFrame, polars.DataFrame or ibis.Table
        One row per transaction.
    customer_id, datetime : str
        Column names.
    calibration_end : date-like
        Last moment of the calibration period (transactions at or before it calibrate).
    observation_end : date-like, optional
        Last moment of the holdout period; defaults to the last transaction.
    freq : str
        Period length, as in :func:`rfm_summary`.
    monetary : str, optional
        Spend column; adds ``monetary_value_cal`` and ``monetary_value_holdout``.

    Returns
    -------
    pandas.DataFrame
        One row per customer whose first purchase lies in the calibration period:
        ``frequency_cal``, ``recency_cal``, ``T_cal`` (:func:`rfm_summary` of the calibration
        transactions with ``observation_end=calibration_end``), ``frequency_holdout`` (distinct
        periods with a purchase in the holdout), ``duration_holdout`` (holdout length in periods)
        and, with ``monetary``, the calibration monetary value and the mean holdout transaction
        value. These are the columns and meanings of lifetimes' ``calibration_and_holdout_data``.
    """
    if calibration_end is None:
        raise ValueError("calibration_end is required: the last moment of the calibration period")
    table = engine.to_table(transactions)
    when = table[datetime].cast("timestamp")
    cal_end = _timestamp(calibration_end, "calibration_end")
    end = (_timestamp(observation_end, "observation_end") if observation_end is not None
           else pd.Timestamp(engine.execute(table.aggregate(last=when.max()))["last"].iloc[0]))
    if end <= cal_end:
        raise ValueError(f"observation_end ({end}) must come after calibration_end ({cal_end})")
    calibration = rfm_summary(table.filter(when <= ibis.literal(cal_end.to_pydatetime())),
                              customer_id, datetime, monetary, freq, observation_end=cal_end)
    calibration.columns = [f"{c}_cal" for c in calibration.columns]
    holdout = _holdout_counts(table, customer_id, datetime, monetary, freq, cal_end, end)
    combined = calibration.join(holdout, how="left").fillna(0.0)
    code = engine.normalise_freq(freq)
    combined["duration_holdout"] = float((end.to_period(code) - cal_end.to_period(code)).n)
    return combined


def _holdout_counts(table: Any, customer_id: str, datetime: str, monetary: str | None, freq: str,
                    cal_end: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    per_customer = _holdout_expr(table, customer_id, datetime, monetary, freq, cal_end, end)
    frame = engine.execute(per_customer).set_index("cid")
    frame.index.name = customer_id
    return frame[["frequency_holdout"] + (["monetary_value_holdout"] if monetary else [])]


def _holdout_expr(table: Any, customer_id: str, datetime: str, monetary: str | None, freq: str,
                  cal_end: pd.Timestamp, end: pd.Timestamp) -> Any:
    """Per customer: distinct holdout periods with a purchase, mean holdout transaction value."""
    when = table[datetime].cast("timestamp")
    rows = table.filter((when > ibis.literal(cal_end.to_pydatetime()))
                        & (when <= ibis.literal(end.to_pydatetime())))
    rows = rows.select(cid=rows[customer_id], start=engine.period_start(rows[datetime], freq),
                       amount=rows[monetary].cast("float64") if monetary else ibis.literal(0.0))
    # Distinct periods by grouping, not nunique: exact on every backend (see engine).
    periods = rows.group_by(["cid", "start"]).aggregate(
        spend=rows.amount.sum(), purchases=rows.amount.count())
    return periods.group_by("cid").aggregate(
        frequency_holdout=periods.count().cast("float64"),
        monetary_value_holdout=periods.spend.sum() / periods.purchases.sum(),
    )


def predicted_vs_actual(model: Any, split: pd.DataFrame, max_frequency: int = 7) -> pd.DataFrame:
    """Mean holdout purchases, actual and predicted, by calibration frequency.

    Customers with ``frequency_cal`` of ``max_frequency`` or more are pooled in the last row (the
    layout of Fader, Hardie & Lee's conditional-expectations figure).

    Returns
    -------
    pandas.DataFrame
        Index ``frequency_cal`` (0 .. max_frequency), columns ``customers``, ``actual``,
        ``predicted``.
    """
    columns = {"frequency_col": "frequency_cal", "recency_col": "recency_cal", "T_col": "T_cal"}
    durations = split["duration_holdout"].unique()
    if len(durations) != 1:
        raise ValueError("split must come from one calibration_holdout_split call")
    predicted = model.expected_purchases(float(durations[0]), split, **columns)
    group = split["frequency_cal"].clip(upper=max_frequency).astype(int).rename("frequency_cal")
    table = pd.DataFrame({"actual": split["frequency_holdout"], "predicted": predicted})
    result = table.groupby(group).agg(customers=("actual", "size"), actual=("actual", "mean"),
                                      predicted=("predicted", "mean"))
    return result


def _timestamp(value: DateLike, name: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} {value!r} is not a date: {error}") from None
