"""The counting-process (start/stop) table is the same on DuckDB and on PySpark (local mode).

A synthetic set of subjects and changes holds every case the rules name: several changes on
one day (of one covariate and of several), ties broken by ``order`` and by value, changes
before the entry, on the event day and after the stop, subjects without changes, subjects lost
on their entry day and subjects never at risk. Counts, days and values must be equal, not
close: the arithmetic is on whole days and the sums are of whole steps.

One Spark session serves the whole test session. CI runs these tests in their own step
(``pytest -m spark``); they need PySpark and Java.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from qualityloop.analytics import engine
from qualityloop.analytics.exposures import counting_process

pytest.importorskip("pyspark")
pytestmark = [
    pytest.mark.spark,
    # PySpark 4.0's pandas conversion passes copy=False to astype, deprecated in pandas 3.
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
    # PySpark 4.0 cannot take pandas 3's Arrow-backed text column through Arrow and falls back.
    pytest.mark.filterwarnings("ignore:createDataFrame attempted Arrow optimization"),
]

COUNTERS = ["defects", "open_complaints"]
LATEST = ["nps", "outcome"]
SUBJECTS = 400


@pytest.fixture(autouse=True)
def embedded_default(monkeypatch):
    """DataFrames run on DuckDB unless a test chooses otherwise."""
    monkeypatch.delenv(engine.ENGINE_VARIABLE, raising=False)


def synthetic(seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Subjects won over 2023-2024, followed 0-700 days, and changes spread from 90 days before
    the entry to 90 days after the stop, many on the same day."""
    rng = np.random.default_rng(seed)
    entry = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 730, SUBJECTS), "D")
    duration = rng.integers(0, 700, SUBJECTS)
    duration[:20] = 0  # lost on the entry day (event) or never at risk (no event)
    subjects = pd.DataFrame({"customer_id": np.arange(SUBJECTS) * 7 + 3,  # keys, not positions
                             "acquired_on": entry, "duration": duration.astype(float),
                             "event": rng.integers(0, 2, SUBJECTS)})
    with_changes = subjects.iloc[: SUBJECTS - 40]  # the last 40 have none
    n = 6_000
    who = rng.integers(0, len(with_changes), n)
    offset = rng.integers(-90, 1, n) + (rng.random(n) * (duration[who] + 90)).astype(int)
    covariate = rng.choice(COUNTERS + LATEST, n)
    value = np.where(np.isin(covariate, LATEST), rng.integers(0, 3, n),  # ties in value
                     rng.choice([1, 1, -1], n)).astype(float)
    changes = pd.DataFrame({"customer_id": with_changes["customer_id"].to_numpy()[who],
                            "day": entry[who] + pd.to_timedelta(offset, "D"),
                            "covariate": covariate, "value": value,
                            "order": rng.permutation(n) // 3})  # ties in order too
    again = changes.sample(300, random_state=seed)  # the same day, another value
    again = again.assign(value=np.where(np.isin(again["covariate"], LATEST),
                                        (again["value"] + 1) % 3, again["value"]),
                         order=np.where(rng.random(len(again)) < 0.5, again["order"],
                                        rng.integers(0, n // 3, len(again))))
    return subjects, pd.concat([changes, again], ignore_index=True)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    return synthetic()


@pytest.fixture(scope="module")
def data_on_spark(spark, data) -> tuple[ibis.Table, ibis.Table]:
    subjects, changes = data
    return (spark.create_table("exposure_subjects", subjects, overwrite=True),
            spark.create_table("exposure_changes", changes, overwrite=True))


def table(subjects, changes, interval) -> pd.DataFrame:
    return counting_process(subjects, changes, counters=COUNTERS, latest=LATEST,
                            interval=interval)


@pytest.mark.parametrize("interval", ["month", None])
def test_same_table_on_duckdb_and_spark(data, data_on_spark, interval):
    on_duckdb = table(*data, interval)
    on_spark = table(*data_on_spark, interval)
    assert len(on_duckdb) > 2 * SUBJECTS and on_duckdb["event"].sum() > 100
    pd.testing.assert_frame_equal(on_spark, on_duckdb, check_exact=True)


def test_the_synthetic_data_hold_every_case(data):
    """The cases the parity must cover are in the data (else the test proves little)."""
    subjects, changes = data
    merged = changes.merge(subjects, on="customer_id")
    days = (merged["day"] - merged["acquired_on"]).dt.days
    assert (days < 0).sum() > 100  # before the entry
    assert (days > merged["duration"]).sum() > 100  # after the stop
    assert (days == merged["duration"]).sum() > 5  # on the event (or censoring) day
    same_day = changes.duplicated(["customer_id", "day", "covariate"], keep=False)
    assert same_day.sum() > 500
    assert changes.duplicated(["customer_id", "day", "covariate", "order"]).any()
    result = table(subjects, changes, None)
    assert set(subjects["customer_id"][SUBJECTS - 40:]) <= set(result["customer_id"])
    lost_on_entry = (subjects["duration"] == 0) & (subjects["event"] == 1)
    never_at_risk = (subjects["duration"] == 0) & (subjects["event"] == 0)
    assert lost_on_entry.any() and never_at_risk.any()
    assert not set(subjects["customer_id"][never_at_risk]) & set(result["customer_id"])


def test_same_table_on_spark_from_day_numbers_and_from_dates(data, spark):
    """Integer day numbers and DATE columns give the table that timestamps give."""
    subjects, changes = data
    epoch = pd.Timestamp("1970-01-01")
    as_numbers = (subjects.assign(acquired_on=(subjects["acquired_on"] - epoch).dt.days),
                  changes.assign(day=(changes["day"] - epoch).dt.days))
    as_dates = (subjects.assign(acquired_on=subjects["acquired_on"].dt.date),
                changes.assign(day=changes["day"].dt.date))
    expected = table(subjects, changes, "month")
    for name, (people, moves) in {"numbers": as_numbers, "dates": as_dates}.items():
        on_spark = table(spark.create_table(f"subjects_{name}", people, overwrite=True),
                         spark.create_table(f"changes_{name}", moves, overwrite=True), "month")
        pd.testing.assert_frame_equal(on_spark, expected, check_exact=True)


def test_dataframes_run_on_spark_with_the_engine_variable(data, spark, monkeypatch):
    """QUALITYLOOP_ENGINE=pyspark: DataFrames (what services/exposures.py passes) go to Spark."""
    expected = table(*data, "month")
    monkeypatch.setenv(engine.ENGINE_VARIABLE, "pyspark")
    assert engine.default_connection().name == "pyspark"
    pd.testing.assert_frame_equal(table(*data, "month"), expected, check_exact=True)
