"""plot_predicted_vs_actual draws the predicted_vs_actual table of a CDNOW holdout split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import vl_convert

from qualityloop.analytics.retention import (
    BetaGeo,
    calibration_holdout_split,
    plot_predicted_vs_actual,
    predicted_vs_actual,
)

HERE = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    log = pd.read_csv(HERE / "data" / "cdnow" / "CDNOW_master.txt", sep=r"\s+")
    log["date"] = pd.to_datetime(log["date"].astype(str), format="%Y%m%d")
    split = calibration_holdout_split(log, "customer_id", "date", "1997-09-30", "1998-06-30", "W")
    model = BetaGeo().fit(split, "frequency_cal", "recency_cal", "T_cal")
    return predicted_vs_actual(model, split)


def _chart_data(chart) -> pd.DataFrame:
    spec = chart.to_dict()
    (rows,) = spec["datasets"].values()
    return pd.DataFrame(rows)


def test_chart_data_equals_the_table(table):
    data = _chart_data(plot_predicted_vs_actual(table))
    for column, series in [("actual", "actual"), ("predicted", "model prediction")]:
        rows = data[data["series"] == series].set_index("frequency_cal").sort_index()
        assert list(rows.index) == list(table.index)
        np.testing.assert_allclose(rows["purchases"], table[column], rtol=1e-12)
        np.testing.assert_array_equal(rows["customers"], table["customers"])


def test_two_series_each_a_line_with_points(table):
    spec = plot_predicted_vs_actual(table).to_dict()
    assert sorted(layer["mark"]["type"] for layer in spec["layer"]) == ["line", "point"]
    assert all(layer["encoding"]["color"]["field"] == "series" for layer in spec["layer"])
    assert set(_chart_data(plot_predicted_vs_actual(table))["series"]) == {
        "actual", "model prediction"}


def test_renders_to_svg(table):
    svg = vl_convert.vegalite_to_svg(plot_predicted_vs_actual(table).to_dict())
    assert svg and "<svg" in svg


def test_a_table_without_predictions_is_refused():
    with pytest.raises(ValueError, match="predicted"):
        plot_predicted_vs_actual(pd.DataFrame({"actual": [1.0]}))
