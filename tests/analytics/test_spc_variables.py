"""x-bar/R, x-bar/s and individuals charts against Montgomery's piston-ring example (Tables 6.3
and 6.4; the data set ``pistonrings`` of R's qcc) and qcc's printed figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qualityloop.analytics.spc import (
    individuals,
    subgroup_matrix,
    subgroups_from_long,
    xbar_r,
    xbar_s,
)
from qualityloop.analytics.spc.constants import c4, d2

DATA = Path(__file__).resolve().parents[1] / "data" / "spc"


@pytest.fixture(scope="module")
def piston() -> tuple[np.ndarray, np.ndarray]:
    frame = pd.read_csv(DATA / "pistonrings.csv")
    wide = frame.assign(position=frame.groupby("sample").cumcount()).pivot(
        index="sample", columns="position", values="diameter")
    trial = frame.groupby("sample")["trial"].first().to_numpy()
    return wide.to_numpy()[trial], wide.to_numpy()[~trial]


def test_piston_rings_phase_one_matches_montgomery(piston):
    phase_one, _ = piston
    chart = xbar_r(phase_one)
    ranges = chart.companion
    # Montgomery Example 6.1: x-double-bar = 74.001, R-bar = 0.023, limits 73.988 / 74.014,
    # R chart 0 / 0.049 (he computes D4 R-bar with R-bar rounded to 0.023); every sample in
    # control. qcc prints center 74.00118, StdDev 0.009785039 (R-bar / d2), limits
    # 73.98805 / 74.0143.
    assert chart.center == pytest.approx(74.00118, abs=5e-6)
    assert round(ranges.center, 3) == 0.023
    # qcc divides by the tabulated d2 = 2.326; we integrate d2 = 2.32593, hence rel 5e-5
    assert chart.sigma == pytest.approx(0.009785039, rel=5e-5)
    assert chart.lower_limit[0] == pytest.approx(73.98805, abs=5e-6)
    assert chart.upper_limit[0] == pytest.approx(74.0143, abs=5e-5)
    assert round(chart.lower_limit[0], 3) == 73.988
    assert round(chart.upper_limit[0], 3) == 74.014
    assert ranges.upper_limit[0] == pytest.approx(2.114 * ranges.center, rel=5e-4)
    assert abs(ranges.upper_limit[0] - 0.049) < 1e-3
    assert ranges.lower_limit[0] == 0
    assert chart.out_of_control.size == 0 and ranges.out_of_control.size == 0
    assert chart.phase == "I" and chart.excluded == []
    # x-bar limits are x-double-bar +/- A2 R-bar
    assert chart.upper_limit[0] - chart.center == pytest.approx(0.577 * ranges.center, rel=1e-3)
    assert chart.sigma == pytest.approx(ranges.center / d2(5))


def test_piston_rings_phase_two_flags_samples_37_to_39(piston):
    phase_one, phase_two = piston
    reference = xbar_r(phase_one)
    chart = xbar_r(phase_two, limits=reference)
    assert chart.phase == "II"
    assert chart.upper_limit == pytest.approx(reference.upper_limit[0])
    assert chart.lower_limit == pytest.approx(reference.lower_limit[0])
    # Montgomery Table 6.4: the x-bar chart signals at samples 37, 38 and 39 (12-14 of the 15).
    assert chart.out_of_control.tolist() == [11, 12, 13]
    assert chart.companion.out_of_control.size == 0
    assert round(chart.statistic[11], 4) == 74.0166


def test_xbar_s_on_piston_rings_uses_s_bar(piston):
    phase_one, _ = piston
    chart = xbar_s(phase_one)
    s_bar = phase_one.std(axis=1, ddof=1).mean()
    # Montgomery (6.3.1): sigma-hat = s-bar / c4, x-bar limits x-double-bar +/- A3 s-bar.
    assert chart.sigma == pytest.approx(s_bar / c4(5))
    assert chart.upper_limit[0] - chart.center == pytest.approx(1.427 * s_bar, rel=5e-4)
    assert chart.out_of_control.size == 0
    assert chart.companion.center == pytest.approx(s_bar)
    assert chart.companion.upper_limit[0] == pytest.approx(2.089 * s_bar, rel=5e-4)  # B4(5)


def test_explicit_standards_give_standard_limits():
    data = [[1.0, 2.0, 3.0, 4.0], [2.0, 2.5, 3.0, 3.5], [1.5, 2.0, 2.5, 3.5]]
    chart = xbar_r(data, limits={"center": 2.5, "sigma": 1.0})
    assert chart.upper_limit[0] == pytest.approx(2.5 + 3 / 2)
    # R chart with sigma given: center d2 sigma, UCL D2 sigma = (d2 + 3 d3) sigma = 4.698 (n=4)
    assert chart.companion.center == pytest.approx(2.059, abs=5e-4)
    assert chart.companion.upper_limit[0] == pytest.approx(4.698, abs=5e-4)


def test_exclusion_is_iterative_and_reported():
    rng = np.random.default_rng(7)
    data = rng.normal(10, 1, size=(30, 4))
    data[5] += 6  # one far-out subgroup
    first = xbar_r(data)
    assert 5 in first.out_of_control
    revised = xbar_r(data, exclude_out_of_control=True)
    assert 5 in revised.excluded
    assert revised.center == pytest.approx(np.delete(data, revised.excluded, 0).mean())
    # the dropped subgroup is still drawn and still flagged against the revised limits
    assert 5 in revised.out_of_control
    assert xbar_r(data, exclude=[5]).center == pytest.approx(np.delete(data, 5, 0).mean())


def test_individuals_chart_moving_range():
    values = np.array([9.45, 7.99, 9.29, 11.66, 12.16, 10.18, 8.04, 11.46, 9.20, 10.34])
    chart = individuals(values)
    moving = np.abs(np.diff(values))
    assert chart.sigma == pytest.approx(moving.mean() / d2(2))
    assert chart.upper_limit[0] == pytest.approx(values.mean() + 2.66 * moving.mean(), rel=1e-3)
    assert np.isnan(chart.companion.statistic[0])
    assert chart.companion.upper_limit[0] == pytest.approx(3.267 * moving.mean(), rel=1e-3)


def test_summary_and_plot(piston):
    phase_one, _ = piston
    chart = xbar_r(phase_one, rules="nelson")
    table = chart.summary()
    assert list(table.columns[:6]) == ["subgroup", "size", "statistic", "center_line",
                                       "lower_limit", "upper_limit"]
    assert len(table) == 25 and (table["size"] == 5).all()
    spec = chart.plot().to_dict()
    assert len(spec["vconcat"]) == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([[1.0, 2.0, 3.0], [1.0, 2.0]], "unequal size"),
        ([[1.0, 2.0, 3.0], [1.0, np.nan, 2.0]], "unequal size"),
        ([[1.0, 2.0, 3.0]], "at least 2 subgroups"),
        ([[1.0], [2.0]], "from 2 to 25"),
        (np.ones((3, 26)), "from 2 to 25"),
        ([1.0, 2.0, 3.0], "individuals"),
    ],
)
def test_bad_subgroups_are_refused_clearly(data, message):
    with pytest.raises(ValueError, match=message):
        xbar_r(data)
    with pytest.raises(ValueError, match=message):
        subgroup_matrix(data)


def test_phase_two_refuses_exclusions(piston):
    phase_one, phase_two = piston
    with pytest.raises(ValueError, match="phase I"):
        xbar_r(phase_two, limits=xbar_r(phase_one), exclude_out_of_control=True)
    with pytest.raises(ValueError, match="sigma"):
        xbar_r(phase_two, limits={"center": 74.0})


def test_long_measurements_become_subgroups(piston):
    phase_one, _ = piston
    frame = pd.read_csv(DATA / "pistonrings.csv")
    wide = subgroups_from_long(frame[frame["trial"]], value="diameter", subgroup="sample")
    np.testing.assert_array_equal(wide.to_numpy(), phase_one)
    ragged = pd.DataFrame({"lot": ["a", "a", "a", "b", "b", "c", "c", "c"],
                           "mm": [1, 2, 3, 1, 2, 1, 2, 3]})
    with pytest.raises(ValueError, match="subgroup 1 .* has 2 values, most have 3"):
        xbar_r(subgroups_from_long(ragged, value="mm", subgroup="lot"))
    with pytest.raises(ValueError, match="no column 'width'"):
        subgroups_from_long(ragged, value="width", subgroup="lot")
    with pytest.raises(ValueError, match="must hold numbers; row 1"):
        subgroups_from_long(ragged.assign(mm=["1", "x", "3", "1", "2", "1", "2", "3"]),
                            value="mm", subgroup="lot")


def test_as_dict_is_json_ready(piston):
    phase_one, phase_two = piston
    chart = xbar_r(phase_two, limits=xbar_r(phase_one))
    described = json.loads(json.dumps(chart.as_dict(), allow_nan=False))
    assert described["out_of_control"] == [11, 12, 13]
    assert described["phase"] == "II" and described["companion"]["chart"] == "R"
    assert described["points"][11]["beyond_limits"] is True
    moving = individuals([1.0, 2.0, 1.5, 2.5]).as_dict()["companion"]["points"][0]
    assert moving["statistic"] is None  # the first moving range does not exist


def test_variables_charts_take_limits_only_from_variables_charts(piston):
    from qualityloop.analytics.spc import c_chart, ewma

    phase_one, phase_two = piston
    with pytest.raises(ValueError, match="limits come from a c chart"):
        xbar_r(phase_two, limits=c_chart([3, 4, 5]))
    # an x-bar/s chart's center and sigma serve an x-bar/R chart and an EWMA
    reference = xbar_s(phase_one)
    assert xbar_r(phase_two, limits=reference).sigma == pytest.approx(reference.sigma)
    assert ewma(phase_two, limits=reference).center == pytest.approx(reference.center)
