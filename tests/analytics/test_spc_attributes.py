"""p, np, c and u charts against Montgomery's orange-juice (Example 7.1) and circuit-board
(Example 7.3) examples, the data sets ``orangejuice`` and ``circuit`` of R's qcc."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qualityloop.analytics.spc import c_chart, np_chart, p_chart, u_chart

DATA = Path(__file__).resolve().parents[1] / "data" / "spc"


@pytest.fixture(scope="module")
def orange() -> pd.DataFrame:
    return pd.read_csv(DATA / "orangejuice.csv")


@pytest.fixture(scope="module")
def circuit() -> pd.DataFrame:
    return pd.read_csv(DATA / "circuit.csv")


def trial_of(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["trial"]]


def test_orange_juice_trial_limits(orange):
    trial = trial_of(orange)
    chart = p_chart(trial["D"], trial["size"])
    # Example 7.1: p-bar = 0.2313, UCL 0.4102, LCL 0.0524; samples 15 and 23 out.
    assert round(chart.center, 4) == 0.2313
    assert round(chart.upper_limit[0], 4) == 0.4102
    assert round(chart.lower_limit[0], 4) == 0.0524
    assert chart.out_of_control.tolist() == [14, 22]
    assert chart.sigma == pytest.approx(np.sqrt(0.231333 * (1 - 0.231333)), rel=1e-5)


def test_orange_juice_revised_limits(orange):
    trial = trial_of(orange)
    # Montgomery removes samples 15 and 23 (assignable causes): p-bar 0.2150, UCL 0.3893,
    # LCL 0.0407; sample 21 is then above the revised UCL but has no assignable cause.
    for chart in (p_chart(trial["D"], 50, exclude=[14, 22]),
                  p_chart(trial["D"], 50, exclude_out_of_control=True, max_iterations=1)):
        assert chart.excluded == [14, 22]
        assert round(chart.center, 4) == 0.2150
        assert round(chart.upper_limit[0], 4) == 0.3893
        assert round(chart.lower_limit[0], 4) == 0.0407
        assert chart.out_of_control.tolist() == [14, 20, 22]
    # iterating until nothing is beyond the limits also drops sample 21
    iterated = p_chart(trial["D"], 50, exclude_out_of_control=True)
    assert iterated.excluded == [14, 20, 22]
    assert iterated.center == pytest.approx((347 - 22 - 24 - 20) / (27 * 50))


def test_orange_juice_phase_two_after_adjustment(orange):
    trial, later = trial_of(orange), orange[~orange["trial"]]
    revised = p_chart(trial["D"], 50, exclude=[14, 22])
    chart = p_chart(later["D"], later["size"], limits=revised)
    assert chart.phase == "II"
    assert chart.center == pytest.approx(revised.center)
    # Table 7.2 (samples 31-54): no point above the UCL; several near or below the LCL, which
    # signals the improvement Montgomery discusses (sample 41, p = 0.04, falls below 0.0407).
    assert (chart.statistic <= chart.upper_limit).all()
    assert chart.out_of_control.tolist() == [10]
    rules = chart.violations
    assert (rules["rule"] == 4).any()  # a run below the center line after the adjustment


def test_np_chart_matches_p_chart_times_n(orange):
    trial = trial_of(orange)
    fraction = p_chart(trial["D"], 50)
    counts = np_chart(trial["D"], 50)
    np.testing.assert_allclose(counts.upper_limit, 50 * fraction.upper_limit)
    np.testing.assert_allclose(counts.center_line, 50 * 0.231333, rtol=1e-5)
    assert counts.out_of_control.tolist() == [14, 22]
    later = np_chart([9, 6, 12], 50, limits=counts)
    assert later.center == pytest.approx(counts.center)
    with pytest.raises(ValueError, match="constant size"):
        np_chart([1, 2, 3], [50, 60, 50])


def test_circuit_boards_c_chart(circuit):
    trial = trial_of(circuit)
    chart = c_chart(trial["x"])
    # Example 7.3: c-bar = 19.85, UCL 33.22, LCL 6.48; samples 6 and 20 out. Montgomery rounds
    # c-bar to 19.85 before taking the square root; with c-bar = 516/26 the UCL is 33.211.
    assert round(chart.center, 2) == 19.85
    assert abs(chart.upper_limit[0] - 33.22) <= 0.01
    assert round(19.85 + 3 * np.sqrt(19.85), 2) == 33.22
    assert round(chart.lower_limit[0], 2) == 6.48
    assert chart.out_of_control.tolist() == [5, 19]
    # revised (samples 6 and 20 removed): c-bar 19.67, UCL 32.97, LCL 6.36
    revised = c_chart(trial["x"], exclude_out_of_control=True)
    assert revised.excluded == [5, 19]
    assert round(revised.center, 2) == 19.67
    assert round(revised.upper_limit[0], 2) == 32.97
    assert round(revised.lower_limit[0], 2) == 6.36
    later = c_chart(circuit.loc[~circuit["trial"], "x"], limits=revised)
    assert later.out_of_control.size == 0


def test_u_chart_with_variable_sizes_has_limits_per_sample():
    counts = np.array([7, 9, 5, 7, 9, 11, 6, 10, 12, 11])
    sizes = np.array([0.8, 1.1, 0.9, 1.0, 1.0, 0.7, 1.0, 1.2, 1.4, 1.05])
    chart = u_chart(counts, sizes)
    u_bar = counts.sum() / sizes.sum()
    assert chart.center == pytest.approx(u_bar)
    np.testing.assert_allclose(chart.upper_limit, u_bar + 3 * np.sqrt(u_bar / sizes))
    np.testing.assert_allclose(chart.lower_limit, np.maximum(u_bar - 3 * np.sqrt(u_bar / sizes), 0))
    assert len(set(chart.upper_limit.round(9))) > 1
    assert chart.statistic == pytest.approx(counts / sizes)


def test_u_chart_lower_limit_clipped_at_zero():
    chart = u_chart([1, 0, 2, 1], [1, 1, 1, 1])
    assert (chart.lower_limit == 0).all()


def test_p_chart_variable_sizes_limits_per_sample():
    defects = np.array([5, 7, 10, 8, 6, 8, 4, 8])
    sizes = np.array([100, 100, 80, 80, 125, 125, 100, 80])
    chart = p_chart(defects, sizes)
    p_bar = defects.sum() / sizes.sum()
    np.testing.assert_allclose(chart.upper_limit, p_bar + 3 * np.sqrt(p_bar * (1 - p_bar) / sizes))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: p_chart([1], 50), "at least 2 subgroups"),
        (lambda: p_chart([1, 60], 50), "exceeds the sample size"),
        (lambda: p_chart([1, 2, 3], [50, 50]), "one per subgroup"),
        (lambda: c_chart([1, -2, 3]), "at least 0"),
        (lambda: c_chart([1, np.nan, 3]), "missing"),
        (lambda: u_chart([1, 2], [1, 0]), "positive"),
        (lambda: c_chart([1, 2, 3], exclude=[7]), "does not exist"),
        (lambda: c_chart([1, 2, 3], exclude=[0, 1]), "at least 2 subgroups"),
        (lambda: c_chart([1, 2, 3], rules="bogus"), "rules must be one of"),
    ],
)
def test_attribute_input_errors(call, message):
    with pytest.raises(ValueError, match=message):
        chart = call()
        chart.violations  # noqa: B018 - the rules are checked when violations are asked for


def test_limits_from_another_kind_of_chart_are_refused(orange, circuit):
    fraction = p_chart(trial_of(orange)["D"], 50)
    counts = c_chart(trial_of(circuit)["x"])
    with pytest.raises(ValueError, match="limits come from a p chart; .* from a c chart"):
        c_chart([20, 21, 19], limits=fraction)
    with pytest.raises(ValueError, match="limits come from a c chart"):
        u_chart([20, 21, 19], [1, 1, 1], limits=counts)
    # a p chart's limits serve an np chart and the other way round
    assert np_chart([10, 12], 50, limits=fraction).center == pytest.approx(50 * fraction.center)
    assert p_chart([10, 12], 50, limits=np_chart(trial_of(orange)["D"], 50)).center == \
        pytest.approx(fraction.center)
    # a mapping works too, for standards given
    assert c_chart([20, 21, 19], limits={"center": 20}).upper_limit[0] == pytest.approx(
        20 + 3 * np.sqrt(20))
