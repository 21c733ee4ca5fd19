"""customer_lifetime_value against lifetimes' and against the formula by hand."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from qualityloop.analytics.retention import BetaGeo, GammaGamma, customer_lifetime_value
from qualityloop.analytics.retention.models.clv import periods_per_unit

HERE = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def models() -> tuple[BetaGeo, GammaGamma]:
    bg, gg = BetaGeo(), GammaGamma()
    bg.params_ = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    gg.params_ = {"p": 6.25, "q": 3.74, "v": 15.44}
    return bg, gg


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    frame = pd.read_csv(HERE / "data" / "cdnow" / "cdnow_customers_summary_with_transactions.csv",
                        index_col="ID")
    return frame.rename(columns={"x": "frequency", "t_x": "recency", "zbar": "monetary_value"})


def test_equals_lifetimes_customer_lifetime_value(models, cdnow):
    reference = pd.read_csv(HERE / "reference" / "lifetimes_cdnow_predictions.csv", index_col="ID")
    bg, gg = models
    clv = customer_lifetime_value(bg, gg, cdnow.loc[reference.index], horizon=12,
                                  discount_rate=0.01, freq="D", time_unit="M")
    assert clv.to_numpy() == pytest.approx(reference["clv_bg_12"].to_numpy(), rel=1e-9)


def test_one_period_without_discount_is_spend_times_expected_purchases(models, cdnow):
    bg, gg = models
    rows = cdnow.head(5)
    clv = customer_lifetime_value(bg, gg, rows, horizon=1, discount_rate=0.0, freq="W",
                                  time_unit="W")
    expected = bg.expected_purchases(1, rows) * gg.expected_spend(rows)
    assert clv.to_numpy() == pytest.approx(expected.to_numpy())


def test_discounting_lowers_the_value(models, cdnow):
    bg, gg = models
    rows = cdnow.head(50)
    low = customer_lifetime_value(bg, gg, rows, discount_rate=0.05, freq="W")
    high = customer_lifetime_value(bg, gg, rows, discount_rate=0.0, freq="W")
    assert (low <= high).all() and (low < high).any()


def test_units_and_arguments_are_checked(models, cdnow):
    assert periods_per_unit("D", "M") == 30
    assert periods_per_unit("W", "W") == 1
    bg, gg = models
    with pytest.raises(ValueError, match="freq must be one of"):
        customer_lifetime_value(bg, gg, cdnow.head(), freq="Q")
    with pytest.raises(ValueError, match="horizon"):
        customer_lifetime_value(bg, gg, cdnow.head(), horizon=0)
