"""cohort_retention, churn_rate and repeat_purchase_rate on a log worked out by hand."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from qualityloop.analytics.retention import (
    CohortTable,
    churn_rate,
    cohort_retention,
    repeat_purchase_rate,
)

NAN = np.nan
# c1: Jan, Jan, Mar; c2: Jan, Feb; c3: Feb, Apr; c4: Feb; c5: Apr. Last period: April.
LOG = pd.DataFrame(
    [
        ("c1", "2024-01-05", 10.0, "x"), ("c1", "2024-01-20", 5.0, "x"),
        ("c1", "2024-03-03", 7.0, "x"), ("c2", "2024-01-10", 3.0, "x"),
        ("c2", "2024-02-02", 4.0, "x"), ("c3", "2024-02-14", 6.0, "y"),
        ("c3", "2024-04-01", 8.0, "y"), ("c4", "2024-02-20", 2.0, "y"),
        ("c5", "2024-04-30 23:00", 9.0, "y"),
    ],
    columns=["customer_id", "date", "spend", "segment"],
).assign(date=lambda f: pd.to_datetime(f["date"], format="ISO8601"))
JAN, FEB, MAR, APR = pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"])


def frame(rows: dict) -> pd.DataFrame:
    expected = pd.DataFrame.from_dict(rows, orient="index", dtype=float)
    expected.columns = pd.RangeIndex(len(expected.columns), name="offset")
    expected.index = pd.DatetimeIndex(expected.index, name="cohort")
    return expected


def assert_frame(actual: pd.DataFrame, rows: dict) -> None:
    pd.testing.assert_frame_equal(actual, frame(rows), check_index_type=False,
                                  check_column_type=False)


def test_first_time_counts_rates_sizes():
    table = cohort_retention(LOG, period="M")
    assert isinstance(table, CohortTable)
    assert_frame(table.counts, {JAN: [2, 1, 1, 0], FEB: [2, 0, 1, NAN], APR: [1, NAN, NAN, NAN]})
    assert_frame(table.rates, {JAN: [1, .5, .5, 0], FEB: [1, 0, .5, NAN],
                               APR: [1, NAN, NAN, NAN]})
    assert table.sizes.tolist() == [2, 2, 1]
    assert table.revenue is None


def test_first_time_mean_curve():
    curve = cohort_retention(LOG, period="M").mean_curve
    np.testing.assert_allclose(curve["weighted"], [1, 1 / 4, 2 / 4, 0])
    np.testing.assert_allclose(curve["simple"], [1, (.5 + 0) / 2, (.5 + .5) / 2, 0])
    assert curve["cohorts"].tolist() == [3, 2, 2, 1]
    assert curve["customers"].tolist() == [5, 4, 4, 2]


def test_first_time_cumulative():
    table = cohort_retention(LOG, period="M", cumulative=True)
    assert_frame(table.counts, {JAN: [2, 2, 1, 0], FEB: [2, 1, 1, NAN], APR: [1, NAN, NAN, NAN]})


def test_recurring_every_purchase_period_starts_a_membership():
    table = cohort_retention(LOG, period="M", kind="recurring")
    assert_frame(table.counts, {JAN: [2, 1, 1, 0], FEB: [3, 0, 1, NAN], MAR: [1, 0, NAN, NAN],
                                APR: [2, NAN, NAN, NAN]})
    cumulative = cohort_retention(LOG, period="M", kind="recurring", cumulative=True)
    assert_frame(cumulative.counts, {JAN: [2, 2, 1, 0], FEB: [3, 1, 1, NAN],
                                     MAR: [1, 0, NAN, NAN], APR: [2, NAN, NAN, NAN]})


@pytest.mark.parametrize("kind", ["first_time", "recurring"])
@pytest.mark.parametrize("period", ["D", "W", "M"])
def test_cumulative_never_below_plain_and_offset_zero_is_one(kind, period):
    plain = cohort_retention(LOG, period=period, kind=kind)
    cumulative = cohort_retention(LOG, period=period, kind=kind, cumulative=True)
    observed = plain.counts.notna()
    assert (cumulative.counts.notna() == observed).all().all()
    assert ((cumulative.counts >= plain.counts) | ~observed).all().all()
    assert (plain.rates[0] == 1).all() and (cumulative.rates[0] == 1).all()


def test_breakdown_splits_by_segment():
    table = cohort_retention(LOG, period="M", breakdown="segment")
    assert table.counts.index.names == ["segment", "cohort"]
    assert table.counts.loc["x"].values.tolist()[0] == [2, 1, 1, 0]
    y = table.counts.loc["y"]
    np.testing.assert_array_equal(y.to_numpy(), [[2, 0, 1, NAN], [1, NAN, NAN, NAN]])
    assert table.sizes.loc["y"].tolist() == [2, 1]
    np.testing.assert_allclose(table.mean_curve.loc["y", "weighted"], [1, 0, .5, NAN])


def test_monetary_fills_revenue_per_cohort_and_offset():
    table = cohort_retention(LOG, period="M", monetary="spend")
    assert_frame(table.revenue, {JAN: [18, 4, 7, 0], FEB: [8, 0, 8, NAN],
                                 APR: [9, NAN, NAN, NAN]})


def test_polars_and_ibis_inputs_match_pandas():
    pl = pytest.importorskip("polars")
    expected = cohort_retention(LOG, period="W", kind="recurring", breakdown="segment",
                                monetary="spend")
    con = ibis.duckdb.connect()
    inputs = [pl.from_pandas(LOG), con.create_table("log", obj=ibis.memtable(LOG))]
    for data in inputs:
        got = cohort_retention(data, period="W", kind="recurring", breakdown="segment",
                               monetary="spend")
        for name in ["counts", "rates", "sizes", "mean_curve", "revenue"]:
            pd.testing.assert_frame_equal(
                pd.DataFrame(getattr(got, name)), pd.DataFrame(getattr(expected, name)))


def test_churn_rate_by_hand():
    churn = churn_rate(LOG, period="M")
    assert list(churn.index) == [FEB, MAR, APR]
    assert churn["active_before"].tolist() == [2, 3, 1]
    assert churn["retained"].tolist() == [1, 0, 0]
    assert churn["churned"].tolist() == [1, 3, 1]
    np.testing.assert_allclose(churn["churn_rate"], [.5, 1, 1])


def test_repeat_purchase_rate_by_hand():
    assert repeat_purchase_rate(LOG) == pytest.approx(3 / 5)  # c1, c2, c3 of five
    assert repeat_purchase_rate(LOG, freq="M") == pytest.approx(3 / 5)
    same_day = pd.DataFrame({"customer_id": [1, 1], "date": pd.to_datetime(["2024-01-01"] * 2)})
    assert repeat_purchase_rate(same_day) == 0.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kind": "returning"}, "kind must be"),
        ({"breakdown": "region"}, "has no column 'region'"),
        ({"period": "fortnight"}, "not supported"),
        ({"datetime": "segment"}, "must hold dates"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cohort_retention(LOG, **kwargs)
