"""The retention analytics give identical results on DuckDB and on PySpark (local mode).

The same Ibis expressions run on both: CDNOW's RFM summaries, cohort retention tables (counts,
rates, customer counts per cohort, revenue, mean curves), churn, repeat-purchase rate and the
calibration/holdout split. Counts must be equal, floats within 1e-9 (relative: sums of
hundreds of thousands of dollars differ in the last bits when the backends add in a different
order; absolute near zero). Distinct counts must be
exact: an approximate count (HyperLogLog) misses by hundreds on 200,000 distinct values.

One Spark session serves the whole test session (it takes 5-10 s to start). CI runs these
tests in their own step (``pytest -m spark``); they need PySpark and Java.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pytest

from qualityloop.analytics import engine
from qualityloop.analytics.retention import (
    calibration_holdout_split,
    churn_rate,
    cohort_retention,
    repeat_purchase_rate,
    rfm_summary,
)
from qualityloop.analytics.retention import cohorts as cohorts_module
from qualityloop.analytics.retention import rfm as rfm_module
from qualityloop.analytics.retention.models import holdout as holdout_module

pytest.importorskip("pyspark")
pytestmark = [
    pytest.mark.spark,
    # PySpark 4.0's pandas conversion passes copy=False to astype, deprecated in pandas 3.
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

CDNOW = Path(__file__).resolve().parents[1] / "data" / "cdnow" / "CDNOW_master.txt"
CDNOW_CUSTOMERS = 23_570
FLOAT_TOLERANCE = {"rtol": 1e-9, "atol": 1e-9}
DISTINCT_HOURS = 200_000


@pytest.fixture(autouse=True)
def embedded_default(monkeypatch):
    """DataFrames run on DuckDB unless a test chooses otherwise."""
    monkeypatch.delenv(engine.ENGINE_VARIABLE, raising=False)


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    frame = pd.read_csv(CDNOW, sep=r"\s+")
    frame["date"] = pd.to_datetime(frame["date"].astype(str), format="%Y%m%d")
    # A breakdown column with two values spread over the cohorts.
    frame["segment"] = np.where(frame["customer_id"] % 3 == 0, "gold", "standard")
    return frame


@pytest.fixture(scope="module")
def cdnow_on_spark(spark, cdnow) -> ibis.Table:
    return spark.create_table("cdnow", cdnow, overwrite=True)


@pytest.fixture(scope="module")
def cdnow_dates_on_spark(spark, cdnow) -> ibis.Table:
    """CDNOW with a DATE column rather than a TIMESTAMP one."""
    return spark.create_table("cdnow_dates", cdnow.assign(date=cdnow["date"].dt.date),
                              overwrite=True)


def assert_same_summary(on_spark: pd.DataFrame, on_duckdb: pd.DataFrame) -> None:
    assert list(on_spark.columns) == list(on_duckdb.columns)
    pd.testing.assert_index_equal(on_spark.index, on_duckdb.index)
    for column in on_duckdb.columns:
        if column == "monetary_value":
            np.testing.assert_allclose(on_spark[column], on_duckdb[column], **FLOAT_TOLERANCE)
        else:
            np.testing.assert_array_equal(on_spark[column], on_duckdb[column], err_msg=column)


@pytest.mark.parametrize("freq, observation_end", [
    ("D", None), ("W", "1997-09-30"), ("M", None), ("h", "1998-03-15 12:00"),
])
def test_rfm_summary_on_cdnow(cdnow, cdnow_on_spark, freq, observation_end):
    on_duckdb = rfm_summary(cdnow, monetary="dollar_value", freq=freq,
                            observation_end=observation_end)
    on_spark = rfm_summary(cdnow_on_spark, monetary="dollar_value", freq=freq,
                           observation_end=observation_end)
    assert len(on_duckdb) == CDNOW_CUSTOMERS
    assert_same_summary(on_spark, on_duckdb)


def test_rfm_summary_of_a_date_column(cdnow, cdnow_dates_on_spark):
    on_duckdb = rfm_summary(cdnow, monetary="dollar_value", freq="W")
    on_spark = rfm_summary(cdnow_dates_on_spark, monetary="dollar_value", freq="W")
    assert_same_summary(on_spark, on_duckdb)


def assert_same_cohorts(on_spark, on_duckdb) -> None:
    pd.testing.assert_frame_equal(on_spark.counts, on_duckdb.counts, check_exact=True)
    pd.testing.assert_series_equal(on_spark.sizes, on_duckdb.sizes)  # customers per cohort
    pd.testing.assert_frame_equal(on_spark.rates, on_duckdb.rates, **FLOAT_TOLERANCE)
    pd.testing.assert_frame_equal(on_spark.mean_curve, on_duckdb.mean_curve, **FLOAT_TOLERANCE)
    if on_duckdb.revenue is None:
        assert on_spark.revenue is None
    else:
        pd.testing.assert_frame_equal(on_spark.revenue, on_duckdb.revenue, **FLOAT_TOLERANCE)


@pytest.mark.parametrize("period, kind, cumulative, options", [
    ("M", "first_time", False, {"monetary": "dollar_value"}),
    ("W", "recurring", True, {}),
    ("Q", "first_time", True, {"breakdown": "segment"}),
    ("D", "recurring", False, {"monetary": "dollar_value"}),
])
def test_cohort_retention_on_cdnow(cdnow, cdnow_on_spark, period, kind, cumulative, options):
    arguments = {"period": period, "kind": kind, "cumulative": cumulative, **options}
    on_duckdb = cohort_retention(cdnow, **arguments)
    on_spark = cohort_retention(cdnow_on_spark, **arguments)
    if kind == "first_time":
        assert on_duckdb.sizes.sum() == CDNOW_CUSTOMERS
    assert_same_cohorts(on_spark, on_duckdb)


def test_monthly_cohorts_of_a_date_column(cdnow, cdnow_dates_on_spark):
    assert_same_cohorts(cohort_retention(cdnow_dates_on_spark, period="M"),
                        cohort_retention(cdnow, period="M"))


def test_churn_and_repeat_purchase_rate(cdnow, cdnow_on_spark):
    pd.testing.assert_frame_equal(churn_rate(cdnow_on_spark, period="M"),
                                  churn_rate(cdnow, period="M"), **FLOAT_TOLERANCE)
    assert repeat_purchase_rate(cdnow_on_spark) == pytest.approx(
        repeat_purchase_rate(cdnow), abs=1e-12)


def test_calibration_holdout_split(cdnow, cdnow_on_spark):
    arguments = {"calibration_end": "1997-09-30", "observation_end": "1998-06-30",
                 "freq": "W", "monetary": "dollar_value"}
    on_duckdb = calibration_holdout_split(cdnow, **arguments)
    on_spark = calibration_holdout_split(cdnow_on_spark, **arguments)
    pd.testing.assert_index_equal(on_spark.index, on_duckdb.index)
    pd.testing.assert_frame_equal(on_spark, on_duckdb, **FLOAT_TOLERANCE)


def test_dataframes_run_on_spark_when_the_engine_says_so(cdnow, monkeypatch):
    expected = rfm_summary(cdnow, monetary="dollar_value", freq="W")
    monkeypatch.setenv(engine.ENGINE_VARIABLE, "pyspark")
    assert engine.default_connection().name == "pyspark"
    assert_same_summary(rfm_summary(cdnow, monetary="dollar_value", freq="W"), expected)


# Exact distinct counts ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def many_hours() -> pd.DataFrame:
    """Customer "a" buys once in 1999, then in 200,000 distinct hours (every 7th one twice)."""
    hours = pd.date_range("2000-01-01 00:30", periods=DISTINCT_HOURS, freq="h")
    when = pd.DatetimeIndex(["1999-12-01"]).append(hours).append(hours[::7])
    return pd.DataFrame({"customer_id": "a", "date": when, "spend": 1.0})


@pytest.mark.parametrize("backend", ["duckdb", "pyspark"])
def test_distinct_periods_are_counted_exactly(many_hours, spark, backend):
    data = many_hours if backend == "duckdb" else spark.create_table(
        "many_hours", many_hours, overwrite=True)
    assert rfm_summary(data, freq="h").loc["a", "frequency"] == DISTINCT_HOURS
    split = calibration_holdout_split(data, calibration_end="1999-12-31", freq="h")
    assert split.loc["a", "frequency_holdout"] == DISTINCT_HOURS


def test_no_expression_compiles_to_an_approximate_distinct_count():
    """The aggregations compile without approximate functions, even where nunique would
    (ClickHouse's uniq)."""
    log = ibis.table({"customer_id": "string", "date": "timestamp", "spend": "float64"},
                     name="log")
    end = pd.Timestamp("2024-01-01")
    expressions = [
        rfm_module._summary_expr(log, "customer_id", "date", "spend", "D", end),
        holdout_module._holdout_expr(log, "customer_id", "date", "spend", "D", end,
                                     pd.Timestamp("2024-06-01")),
    ]
    periods = cohorts_module._purchase_periods(log, "customer_id", "date", "M", None, "spend")
    expressions += [cohorts_module._cells_expr(periods, kind, cumulative, 1)
                    for kind, cumulative in itertools.product(["first_time", "recurring"],
                                                              [False, True])]
    approximate = ["approx", "uniq(", "hll"]
    # The check can see an approximate count: Ibis compiles nunique to uniq on ClickHouse.
    nunique = ibis.to_sql(log.aggregate(n=log.customer_id.nunique()), dialect="clickhouse")
    assert "uniq(" in nunique.lower()
    for expression, dialect in itertools.product(expressions, ["pyspark", "clickhouse"]):
        sql = ibis.to_sql(expression, dialect=dialect).lower()
        assert not [name for name in approximate if name in sql], sql


def test_unknown_engine_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(engine.ENGINE_VARIABLE, "spark-sql")
    with pytest.raises(ValueError, match="QUALITYLOOP_ENGINE 'spark-sql' is not supported; "
                                         "use one of duckdb, pyspark"):
        engine.default_connection()


def test_timestamps_come_back_in_microseconds_on_both(spark):
    when = dt.datetime(2024, 3, 1, 12, 30)
    frame = pd.DataFrame({"customer_id": [1], "date": [when]})
    for data in (frame, spark.create_table("one_row", frame, overwrite=True)):
        result = engine.execute(engine.to_table(data).select("date"))
        assert str(result["date"].dtype) == "datetime64[us]"
        assert result["date"].iloc[0] == pd.Timestamp(when)
