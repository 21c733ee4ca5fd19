"""EWMA and tabular CUSUM on Montgomery's Table 9.1 data (mu0 = 10, sigma = 1, the mean moves
to 11 after sample 20), against his printed values and a direct loop written here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qualityloop.analytics.spc import cusum, ewma, individuals, xbar_r

DATA = Path(__file__).resolve().parents[1] / "data" / "spc"
KNOWN = {"center": 10.0, "sigma": 1.0}

# Montgomery Table 9.2 (Example 9.1, k = 0.5, h = 5): C+ for periods 1-29. The first C-
# values are those of the recursion (the direct loop below checks every value).
MONTGOMERY_C_PLUS = [
    0.0, 0.0, 0.0, 1.16, 2.82, 2.50, 0.04, 1.00, 0.0, 0.0, 0.0, 0.97, 0.98, 0.0, 0.0,
    0.0, 0.12, 0.0, 0.0, 0.34, 0.74, 0.0, 1.79, 2.79, 2.89, 3.47, 3.35, 4.47, 5.28,
]
MONTGOMERY_C_MINUS_START = [0.05, 1.56, 1.77, 0.0]


@pytest.fixture(scope="module")
def table_9_1() -> np.ndarray:
    return pd.read_csv(DATA / "montgomery_table_9_1.csv")["x"].to_numpy()


def test_tabular_cusum_matches_montgomery(table_9_1):
    chart = cusum(table_9_1, k=0.5, h=5, limits=KNOWN)
    assert chart.statistic[:29].round(2).tolist() == MONTGOMERY_C_PLUS
    assert chart.lower_statistic[:4].round(2).tolist() == MONTGOMERY_C_MINUS_START
    # C+ first exceeds H = 5 at period 29
    assert chart.out_of_control.tolist() == [28, 29]
    assert (chart.upper_limit == 5).all() and (chart.lower_limit == -5).all()
    assert chart.violations["subgroup"].tolist() == [28, 29]
    assert chart.phase == "II"


def test_cusum_against_a_direct_loop(table_9_1):
    k, h, mu, sigma = 0.25, 4.0, 10.2, 1.3
    chart = cusum(table_9_1, k=k, h=h, limits={"center": mu, "sigma": sigma}, head_start=0.5)
    high = low = 0.5 * h * sigma
    for i, x in enumerate(table_9_1):
        high = max(0.0, x - mu - k * sigma + high)
        low = max(0.0, mu - k * sigma - x + low)
        assert chart.statistic[i] == pytest.approx(high)
        assert chart.lower_statistic[i] == pytest.approx(low)


def test_ewma_matches_montgomery_and_a_direct_loop(table_9_1):
    lam, width = 0.1, 2.7
    chart = ewma(table_9_1, lam=lam, L=width, limits=KNOWN)
    # Example 9.2 (lambda 0.1, L 2.7): z1 = 9.945 and limits 10.27 / 9.73 at sample 1, by hand
    # from the recursion; every point is checked against the direct loop below.
    assert round(chart.statistic[0], 3) == 9.945
    assert round(chart.statistic[1], 4) == 9.7495
    assert round(chart.upper_limit[0], 2) == 10.27 and round(chart.lower_limit[0], 2) == 9.73
    z = 10.0
    for i, x in enumerate(table_9_1, start=1):
        z = lam * x + (1 - lam) * z
        half_width = width * np.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * i)))
        assert chart.statistic[i - 1] == pytest.approx(z)
        assert chart.upper_limit[i - 1] == pytest.approx(10 + half_width)
        assert chart.lower_limit[i - 1] == pytest.approx(10 - half_width)
    # the limits widen to the asymptotic 10 +/- 2.7 sqrt(0.1 / 1.9) = 10.619
    assert round(chart.upper_limit[-1], 3) == 10.619
    assert chart.out_of_control.tolist() == [28, 29]


def test_ewma_phase_one_estimates_like_the_individuals_chart(table_9_1):
    chart = ewma(table_9_1)
    reference = individuals(table_9_1)
    assert chart.center == pytest.approx(reference.center)
    assert chart.sigma == pytest.approx(reference.sigma)
    assert chart.phase == "I"
    # reusing the chart as limits gives the same numbers (phase II)
    again = ewma(table_9_1, limits=chart)
    np.testing.assert_allclose(again.upper_limit, chart.upper_limit)


def test_subgrouped_data_use_means_and_sigma_over_root_n():
    rng = np.random.default_rng(11)
    data = rng.normal(5, 2, size=(20, 4))
    chart = ewma(data, lam=1.0, L=3.0)  # lam = 1 is the Shewhart x-bar chart
    reference = xbar_r(data)
    np.testing.assert_allclose(chart.statistic, data.mean(axis=1))
    np.testing.assert_allclose(chart.upper_limit, reference.upper_limit)
    sums = cusum(data, limits={"center": 5, "sigma": 2})
    np.testing.assert_allclose(sums.upper_limit, 5 * 2 / np.sqrt(4))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: ewma(x, lam=0), "lam"),
        (lambda x: ewma(x, L=-1), "L must be positive"),
        (lambda x: cusum(x, h=0), "h > 0"),
        (lambda x: cusum(x, head_start=1), "head_start"),
        (lambda x: ewma(x[:1]), "at least 2"),
    ],
)
def test_bad_parameters(table_9_1, call, message):
    with pytest.raises(ValueError, match=message):
        call(table_9_1)


def test_plots_render(table_9_1):
    for chart in (ewma(table_9_1, lam=0.1, L=2.7, limits=KNOWN), cusum(table_9_1, limits=KNOWN)):
        spec = chart.plot().to_dict()
        assert "layer" in spec
        assert chart.summary()["beyond_limits"].sum() == 2
