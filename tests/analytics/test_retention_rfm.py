"""rfm_summary: row-for-row equality with lifetimes on CDNOW, an independent pandas
computation on a hand-made log with edge cases, input types and validation."""

from __future__ import annotations

from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pytest

from qualityloop.analytics.retention import rfm_summary

TESTS = Path(__file__).resolve().parent.parent
CDNOW = TESTS / "data" / "cdnow" / "CDNOW_master.txt"
REFERENCE = TESTS / "reference"


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    frame = pd.read_csv(CDNOW, sep=r"\s+")
    frame["date"] = pd.to_datetime(frame["date"].astype(str), format="%Y%m%d")
    return frame


@pytest.mark.parametrize("freq", ["D", "W"])
@pytest.mark.parametrize("end_label, end", [("19970930", "1997-09-30"), ("last", None)])
def test_equals_lifetimes_on_cdnow(cdnow, freq, end_label, end):
    ours = rfm_summary(cdnow, monetary="dollar_value", freq=freq, observation_end=end)
    reference = pd.read_csv(REFERENCE / f"cdnow_rfm_{freq}_{end_label}.csv.gz",
                            index_col="customer_id")
    assert len(reference) == 23_570
    assert list(ours.columns) == ["frequency", "recency", "T", "monetary_value"]
    assert ours.index.name == "customer_id"
    np.testing.assert_array_equal(ours.index.to_numpy(), reference.index.to_numpy())
    for column in ["frequency", "recency", "T"]:
        np.testing.assert_array_equal(ours[column].to_numpy(), reference[column].to_numpy(),
                                      err_msg=column)
    np.testing.assert_allclose(ours["monetary_value"].to_numpy(),
                               reference["monetary_value"].to_numpy(), rtol=0, atol=1e-9)


def test_cdnow_calibration_summary_is_plausible(cdnow):
    weekly = rfm_summary(cdnow, freq="W", observation_end="1997-09-30")
    assert weekly["T"].between(26, 39).all()  # first purchases in Q1 1997
    assert (weekly["recency"] <= weekly["T"]).all()
    assert (weekly.loc[weekly["frequency"] == 0, "recency"] == 0).all()


# A small log with edge cases, and an independent computation in plain pandas.
EDGE_LOG = pd.DataFrame(
    [
        ("a", "2023-12-30 09:00", 10.0),  # Saturday: week of 2023-12-25
        ("a", "2023-12-30 18:00", 5.0),   # same day, same week
        ("a", "2024-01-01 10:00", 7.0),   # Monday: new week, new year
        ("a", "2024-01-07 23:00", 3.0),   # Sunday: same week as 2024-01-01
        ("a", "2024-01-20 12:00", 4.0),
        ("b", "2024-01-03 08:00", 8.0),   # single purchase
        ("c", "2024-01-02 00:00", 2.0),
        ("c", "2024-01-02 23:59", 6.0),   # same day only: frequency 0 at D
        ("c", "2024-02-05 00:00", 9.0),   # after the end: dropped
        ("d", "2024-02-10 00:00", 1.0),   # only after the end: not in the summary
        ("e", "2023-12-31 12:00", 3.0),   # Sunday before the new-year Monday
        ("e", "2024-01-31 12:00", 5.0),   # the end day itself, later in the day
    ],
    columns=["customer_id", "date", "spend"],
).assign(date=lambda f: pd.to_datetime(f["date"]))
EDGE_END = pd.Timestamp("2024-01-31")


def pandas_summary(log: pd.DataFrame, freq: str, end: pd.Timestamp) -> pd.DataFrame:
    """Straightforward per-customer loop: the definitions written out, independently."""
    unit = {"D": pd.Timedelta(days=1), "W": pd.Timedelta(days=7)}[freq]
    log = log.assign(period=log["date"].dt.to_period(freq).dt.start_time)
    end_period = end.to_period(freq).start_time
    log = log[log["period"] <= end_period]
    rows = {}
    for customer, purchases in log.groupby("customer_id"):
        per_period = purchases.groupby("period")["spend"].sum().sort_index()
        first, last = per_period.index[0], per_period.index[-1]
        repeats = per_period.iloc[1:]
        rows[customer] = {
            "frequency": float(len(per_period) - 1),
            "recency": (last - first) / unit,
            "T": (end_period - first) / unit,
            "monetary_value": float(repeats.mean()) if len(repeats) else 0.0,
        }
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "customer_id"
    return frame


@pytest.mark.parametrize("freq", ["D", "W"])
def test_edge_log_matches_plain_pandas(freq):
    ours = rfm_summary(EDGE_LOG, monetary="spend", freq=freq, observation_end=EDGE_END)
    pd.testing.assert_frame_equal(ours, pandas_summary(EDGE_LOG, freq, EDGE_END))


def test_edge_log_values_worked_by_hand():
    daily = rfm_summary(EDGE_LOG, monetary="spend", freq="D", observation_end=EDGE_END)
    assert list(daily.index) == ["a", "b", "c", "e"]  # d bought only after the end
    # a: days 12-30 (10+5), 01-01 (7), 01-07 (3), 01-20 (4) -> 3 repeats
    assert daily.loc["a"].tolist() == [3.0, 21.0, 32.0, pytest.approx((7 + 3 + 4) / 3)]
    assert daily.loc["b"].tolist() == [0.0, 0.0, 28.0, 0.0]
    assert daily.loc["c"].tolist() == [0.0, 0.0, 29.0, 0.0]  # the February purchase is dropped
    assert daily.loc["e"].tolist() == [1.0, 31.0, 31.0, 5.0]
    weekly = rfm_summary(EDGE_LOG, monetary="spend", freq="W", observation_end=EDGE_END)
    # a: weeks of 2023-12-25 (10+5), 2024-01-01 (7+3), 2024-01-15 (4); end week 2024-01-29
    assert weekly.loc["a"].tolist() == [2.0, 3.0, 5.0, 7.0]
    # e: Sunday 2023-12-31 belongs to the week of 2023-12-25
    assert weekly.loc["e"].tolist() == [1.0, 5.0, 5.0, 5.0]


def test_monthly_periods_are_calendar_months():
    monthly = rfm_summary(EDGE_LOG, freq="M", observation_end=EDGE_END)
    assert monthly.loc["a"].tolist() == [1.0, 1.0, 1.0]  # December and January
    assert monthly.loc["b"].tolist() == [0.0, 0.0, 0.0]
    assert list(monthly.columns) == ["frequency", "recency", "T"]


def test_end_defaults_to_last_transaction():
    default = rfm_summary(EDGE_LOG, monetary="spend")
    explicit = rfm_summary(EDGE_LOG, monetary="spend", observation_end="2024-02-10")
    pd.testing.assert_frame_equal(default, explicit)
    assert default.loc["c", "frequency"] == 1.0  # February purchase now inside


def test_polars_and_ibis_inputs_give_the_same_summary():
    pl = pytest.importorskip("polars")
    expected = rfm_summary(EDGE_LOG, monetary="spend", freq="W", observation_end=EDGE_END)
    from_polars = rfm_summary(pl.from_pandas(EDGE_LOG), monetary="spend", freq="W",
                              observation_end=EDGE_END)
    pd.testing.assert_frame_equal(from_polars, expected)
    con = ibis.duckdb.connect()
    # create_table from a memtable (never from a DataFrame; see STACK.md)
    table = con.create_table("log", obj=ibis.memtable(EDGE_LOG))
    from_ibis = rfm_summary(table, monetary="spend", freq="W", observation_end=EDGE_END)
    pd.testing.assert_frame_equal(from_ibis, expected)


def test_date_column_of_dates_works():
    log = EDGE_LOG.assign(date=EDGE_LOG["date"].dt.date)
    ours = rfm_summary(log, freq="D", observation_end=EDGE_END)
    pd.testing.assert_frame_equal(
        ours, rfm_summary(EDGE_LOG, freq="D", observation_end=EDGE_END))


def test_empty_log_gives_empty_summary():
    empty = EDGE_LOG.iloc[:0]
    assert rfm_summary(empty, monetary="spend").empty


@pytest.mark.parametrize(
    "change, kwargs, message",
    [
        (lambda f: f.drop(columns="date"), {}, "has no column 'date'"),
        (lambda f: f, {"customer_id": "client"}, "has no column 'client'"),
        (lambda f: f.assign(date=f["date"].astype(str)), {}, "'date' .* must hold dates"),
        (lambda f: f.assign(spend=f["spend"].astype(str)), {"monetary": "spend"},
         "'spend' .* must hold numbers"),
        (lambda f: f.assign(spend=f["spend"].where(f.index != 3)), {"monetary": "spend"},
         "'spend' .* 1 missing"),
        (lambda f: f.assign(date=f["date"].where(f.index != 0)), {}, "'date' .* 1 missing"),
        (lambda f: f, {"freq": "fortnight"}, "freq 'fortnight' is not supported"),
        (lambda f: f, {"observation_end": "not a date"}, "observation_end"),
    ],
)
def test_bad_input_gives_a_clear_error(change, kwargs, message):
    with pytest.raises(ValueError, match=message):
        rfm_summary(change(EDGE_LOG.copy()), **kwargs)


def test_unsupported_input_type():
    with pytest.raises(TypeError, match="pandas or polars DataFrame or an Ibis table"):
        rfm_summary([1, 2, 3])
