"""calibration_holdout_split equals lifetimes' calibration_and_holdout_data on CDNOW;
predicted_vs_actual table; convergence warnings of the models."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qualityloop.analytics.exceptions import ConvergenceWarning
from qualityloop.analytics.retention import BetaGeo, calibration_holdout_split, predicted_vs_actual

HERE = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    frame = pd.read_csv(HERE / "data" / "cdnow" / "CDNOW_master.txt", sep=r"\s+")
    frame["date"] = pd.to_datetime(frame["date"].astype(str), format="%Y%m%d")
    return frame


@pytest.mark.parametrize("freq", ["D", "W"])
def test_split_equals_lifetimes_row_for_row(log, freq):
    ours = calibration_holdout_split(log, "customer_id", "date", "1997-09-30", "1998-06-30",
                                     freq, monetary="dollar_value")
    reference = pd.read_csv(HERE / "reference" / f"cdnow_holdout_{freq}.csv.gz",
                            index_col="customer_id")
    assert list(ours.columns) == list(reference.columns)
    np.testing.assert_array_equal(ours.index.to_numpy(), reference.index.to_numpy())
    for column in ours.columns:
        np.testing.assert_allclose(ours[column], reference[column], rtol=1e-12, err_msg=column)


def test_weekly_bg_nbd_tracks_the_holdout_purchases(log):
    split = calibration_holdout_split(log, "customer_id", "date", "1997-09-30", "1998-06-30", "W")
    model = BetaGeo().fit(split, "frequency_cal", "recency_cal", "T_cal")
    table = predicted_vs_actual(model, split)
    assert list(table.index) == list(range(8))
    assert table["customers"].sum() == len(split)
    total_actual = (table["actual"] * table["customers"]).sum()
    total_predicted = (table["predicted"] * table["customers"]).sum()
    assert total_predicted == pytest.approx(total_actual, rel=0.15)


def test_observation_end_must_follow_calibration_end(log):
    with pytest.raises(ValueError, match="must come after"):
        calibration_holdout_split(log, "customer_id", "date", "1997-09-30", "1997-09-01")


def test_a_doubtful_fit_warns():
    # Nobody ever buys again: the likelihood keeps rising as the purchase rate goes to zero.
    summary = pd.DataFrame({"frequency": [0.0] * 50, "recency": [0.0] * 50, "T": [30.0] * 50})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        BetaGeo().fit(summary)
    assert any(issubclass(w.category, ConvergenceWarning) for w in caught)
