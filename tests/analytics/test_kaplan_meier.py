"""KaplanMeier against a published textbook example, against lifelines, and its own invariants."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qualityloop.analytics.exceptions import NotFittedError
from qualityloop.analytics.survival import KaplanMeier

REFERENCE = Path(__file__).parent.parent / "reference"

# Freireich et al. (1963), remission times in weeks of leukaemia patients; the 6-MP arm
# (0 = censored) and the placebo arm (all relapsed). Klein & Moeschberger (2003), Table 4.1A,
# and Kleinbaum & Klein, "Survival Analysis", ch. 2.
SIX_MP = [6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35]
SIX_MP_EVENT = [1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
PLACEBO = [1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23]

# Hand calculation, S(t) = prod (1 - d/n), Greenwood SE = S * sqrt(sum d / (n (n - d))):
#  t   n  d  S                         sum d/(n(n-d))            SE
#  6  21  3  18/21         = 0.857143  3/378 = 0.0079365         0.857143*0.089087 = 0.0764
#  7  17  1  0.857143*16/17 = 0.806723 +1/272 -> 0.0116130       0.806723*0.107764 = 0.0869
# 10  15  1  *14/15       = 0.752941   +1/210 -> 0.0163749       0.752941*0.127964 = 0.0963
#     (9 censored leaves 15 at risk at 10; the censored 10 counts as at risk: event first)
# 13  12  1  *11/12       = 0.690196   +1/132 -> 0.0239507       0.690196*0.154760 = 0.1068
#     (10 and 11 censored leave 12)
# 16  11  1  *10/11       = 0.627451   +1/110 -> 0.0330416       0.627451*0.181773 = 0.1141
# 22   7  1  *6/7         = 0.537815   +1/42  -> 0.0568511       0.537815*0.238435 = 0.1282
#     (17, 19, 20 censored leave 7)
# 23   6  1  *5/6         = 0.448179   +1/30  -> 0.0901844       0.448179*0.300307 = 0.1346
# These agree with the published 0.857 .807 .753 .690 .627 .538 .448 and
# SEs .076 .087 .096 .107 .114 .128 .135.
PUBLISHED_TIMES = [6, 7, 10, 13, 16, 22, 23]
PUBLISHED_SURVIVAL = [0.857, 0.807, 0.753, 0.690, 0.627, 0.538, 0.448]
PUBLISHED_SE = [0.076, 0.087, 0.096, 0.107, 0.114, 0.128, 0.135]


def leukaemia() -> pd.DataFrame:
    return pd.DataFrame({
        "weeks": SIX_MP + PLACEBO,
        "relapse": SIX_MP_EVENT + [1] * len(PLACEBO),
        "arm": ["6-MP"] * len(SIX_MP) + ["placebo"] * len(PLACEBO),
    })


def six_mp() -> KaplanMeier:
    return KaplanMeier().fit_arrays(SIX_MP, SIX_MP_EVENT)


# (a) the published example ----------------------------------------------------------------------


def test_six_mp_matches_the_published_estimates_and_greenwood_errors():
    table = six_mp().survival_function_
    at_events = table.loc[PUBLISHED_TIMES]
    np.testing.assert_allclose(at_events["survival"], PUBLISHED_SURVIVAL, atol=5e-4)
    np.testing.assert_allclose(at_events["std_error"], PUBLISHED_SE, atol=5e-4)
    np.testing.assert_array_equal(at_events["at_risk"], [21, 17, 15, 12, 11, 7, 6])
    np.testing.assert_array_equal(at_events["events"], [3, 1, 1, 1, 1, 1, 1])


def test_six_mp_exact_fractions_and_tie_at_six():
    table = six_mp().survival_function_
    assert table.loc[6, "survival"] == pytest.approx(18 / 21, abs=1e-15)
    assert table.loc[23, "survival"] == pytest.approx(
        18 / 21 * 16 / 17 * 14 / 15 * 11 / 12 * 10 / 11 * 6 / 7 * 5 / 6, abs=1e-15
    )
    # At 6: three relapses and one censoring; the censored patient is in the risk set.
    assert table.loc[6, ["at_risk", "events", "censored"]].tolist() == [21, 3, 1]
    assert table.loc[0, "survival"] == 1.0


def test_medians_of_the_two_arms():
    km = KaplanMeier().fit(leukaemia(), "weeks", "relapse", group_col="arm")
    assert km.median_survival_time_["placebo"] == 8
    # 6-MP: S(22) = 0.538 > 0.5, S(23) = 0.448.
    assert km.median_survival_time_["6-MP"] == 23


def test_linear_band_is_estimate_plus_minus_z_standard_errors():
    table = KaplanMeier(ci="linear").fit_arrays(SIX_MP, SIX_MP_EVENT).survival_function_
    z = 1.959963984540054
    np.testing.assert_allclose(table["upper"], np.clip(table["survival"] + z * table["std_error"],
                                                       0, 1))
    np.testing.assert_allclose(table["lower"], np.clip(table["survival"] - z * table["std_error"],
                                                       0, 1))


def test_log_log_band_contains_the_estimate_and_stays_in_unit_interval():
    table = six_mp().survival_function_
    assert (table["lower"] <= table["survival"]).all()
    assert (table["survival"] <= table["upper"]).all()
    assert (table["lower"] >= 0).all() and (table["upper"] <= 1).all()
    # Wider for a 99% band than for 95%.
    wide = KaplanMeier(alpha=0.01).fit_arrays(SIX_MP, SIX_MP_EVENT).survival_function_
    assert (wide["lower"] <= table["lower"]).all() and (wide["upper"] >= table["upper"]).all()
    assert (wide.loc[6:, "upper"] - wide.loc[6:, "lower"] > table.loc[6:, "upper"]
            - table.loc[6:, "lower"]).all()


# (b) lifelines ----------------------------------------------------------------------------------


def reference_inputs() -> dict[str, pd.DataFrame]:
    data = pd.read_csv(REFERENCE / "km_input.csv")
    return {name: rows for name, rows in data.groupby("dataset", sort=False)}


def fit_like_reference(name: str, rows: pd.DataFrame) -> KaplanMeier:
    return KaplanMeier().fit(
        rows,
        duration_col="duration",
        event_col="event",
        weights_col="weight" if name == "weights" else None,
        entry_col="entry" if name == "entry" else None,
    )


@pytest.mark.parametrize("name", ["ties", "weights", "entry", "to_zero"])
def test_survival_and_bands_equal_lifelines(name):
    rows = reference_inputs()[name]
    expected = pd.read_csv(REFERENCE / "km_reference.csv").query("dataset == @name")
    expected = expected.set_index("time")
    table = fit_like_reference(name, rows).survival_function_
    # lifelines' timeline also holds entry times and, with entries, starts at the first entry;
    # ours holds the durations and the origin 0 (where S = 1).
    assert set(rows["duration"]) <= set(expected.index)
    table = table.loc[table.index.isin(expected.index)]
    assert len(table) >= rows["duration"].nunique()
    expected = expected.loc[table.index]
    for column in ["survival", "lower", "upper"]:
        np.testing.assert_allclose(table[column], expected[column], rtol=0, atol=1e-10,
                                   err_msg=column)
    if name != "entry":  # lifelines counts a subject entering at t as at risk at t
        np.testing.assert_allclose(table["at_risk"], expected["at_risk"])


@pytest.mark.parametrize("name", ["ties", "weights", "entry", "to_zero"])
def test_median_and_its_interval_equal_lifelines(name):
    expected = pd.read_csv(REFERENCE / "km_reference_median.csv").set_index("dataset").loc[name]
    km = fit_like_reference(name, reference_inputs()[name])
    assert km.median_survival_time_ == pytest.approx(expected["median"], abs=1e-10)
    lower, upper = km.median_confidence_interval_
    assert lower == pytest.approx(expected["median_lower"], abs=1e-10)
    assert upper == pytest.approx(expected["median_upper"], abs=1e-10)


def test_reference_data_really_has_ties_and_censoring():
    rows = reference_inputs()["ties"]
    assert rows["duration"].duplicated().sum() > 300
    tied_mixed = rows.groupby("duration")["event"].nunique()
    assert (tied_mixed == 2).sum() > 10
    assert 0.2 < 1 - rows["event"].mean() < 0.4


# (c) weights, (d) groups -----------------------------------------------------------------------


def test_frequency_weights_equal_replicated_rows():
    rng = np.random.default_rng(7)
    data = pd.DataFrame({
        "duration": rng.integers(0, 30, 200).astype(float),
        "event": rng.integers(0, 2, 200),
        "weight": rng.integers(0, 5, 200),
    })
    weighted = KaplanMeier().fit(data, weights_col="weight")
    replicated = KaplanMeier().fit(data.loc[data.index.repeat(data["weight"])])
    pd.testing.assert_frame_equal(weighted.survival_function_, replicated.survival_function_,
                                  check_exact=False, rtol=1e-12, atol=1e-12)
    assert weighted.median_confidence_interval_ == replicated.median_confidence_interval_


def test_grouped_fit_equals_separate_fits():
    data = leukaemia()
    grouped = KaplanMeier().fit(data, "weeks", "relapse", group_col="arm")
    assert set(grouped.groups_) == {"6-MP", "placebo"}
    for arm, rows in data.groupby("arm"):
        alone = KaplanMeier().fit(rows, "weeks", "relapse")
        pd.testing.assert_frame_equal(grouped.survival_function_.loc[arm],
                                      alone.survival_function_)
        pd.testing.assert_frame_equal(grouped.groups_[arm].event_table_, alone.event_table_)
        assert grouped.median_confidence_interval_.loc[arm].tolist() == list(
            alone.median_confidence_interval_)
    assert grouped.survival_function_.index.names == ["arm", "time"]
    summary = grouped.summary()
    assert summary.loc["placebo", ["subjects", "events", "censored", "median"]].tolist() == [
        21, 21, 0, 8]
    assert summary.loc["6-MP", ["subjects", "events", "censored"]].tolist() == [21, 9, 12]


# reading the curve ------------------------------------------------------------------------------


def test_survival_at_is_a_right_continuous_step():
    km = six_mp()
    values = km.survival_at([0, 5.99, 6, 6.5, 7, 23, 100])
    np.testing.assert_allclose(values, [1, 1, 18 / 21, 18 / 21, 18 / 21 * 16 / 17,
                                        km.survival_function_.loc[23, "survival"],
                                        km.survival_function_.loc[23, "survival"]])
    assert km.survival_at(-1).tolist() == [1.0]
    by_arm = KaplanMeier().fit(leukaemia(), "weeks", "relapse", group_col="arm").survival_at(
        [8, 100])
    assert by_arm.loc[8.0, "placebo"] == pytest.approx(8 / 21)
    assert by_arm.loc[100.0, "placebo"] == 0.0


def test_median_is_infinite_when_curve_stays_above_half():
    km = KaplanMeier().fit_arrays([1, 2, 3, 4], [1, 0, 0, 0])
    assert km.median_survival_time_ == float("inf")
    assert km.summary()["median"].iloc[0] == float("inf")


def test_event_table_and_left_truncation_risk_set():
    km = KaplanMeier().fit_arrays([3, 5, 5, 8], [1, 1, 0, 1], entry=[0, 4, 0, 6])
    table = km.event_table_
    # Risk sets (entry, duration]: at 3 the subjects entering at 4 and 6 are not yet at risk;
    # at 5 the one leaving at 3 is gone and the one entering at 6 has not come.
    assert table["at_risk"].tolist() == [2, 2, 1]
    assert table["entered"].tolist() == [2, 1, 1]
    assert km.survival_at([3, 5, 8]).tolist() == pytest.approx([1 / 2, 1 / 4, 0.0])


def test_plot_returns_an_altair_chart_with_band_and_line():
    chart = KaplanMeier().fit(leukaemia(), "weeks", "relapse", group_col="arm").plot()
    spec = chart.to_dict()
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks == ["area", "line"]
    assert spec["layer"][0]["encoding"]["color"]["field"] == "arm"


def test_refit_forgets_groups():
    km = KaplanMeier().fit(leukaemia(), "weeks", "relapse", group_col="arm")
    km.fit_arrays(SIX_MP, SIX_MP_EVENT)
    assert km.groups_ is None
    assert km.median_survival_time_ == 23


def test_polars_input_gives_the_same_fit():
    pl = pytest.importorskip("polars")
    data = leukaemia()
    from_polars = KaplanMeier().fit(pl.from_pandas(data), "weeks", "relapse")
    from_pandas = KaplanMeier().fit(data, "weeks", "relapse")
    pd.testing.assert_frame_equal(from_polars.survival_function_, from_pandas.survival_function_)


# errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ({"duration": [1, -2], "event": [1, 0]}, "'duration' must be at least 0; row 1"),
        ({"duration": [1, 2], "event": [1, 2]}, "'event' must hold 0/1 or True/False; row 1"),
        ({"duration": [1, None], "event": [1, 0]}, "'duration' has a missing value at row 1"),
        ({"duration": [1, 2], "event": [None, 0]}, "'event' has a missing value at row 0"),
        ({"duration": [1, 2], "event": ["yes", 0]}, "'event' must be numeric; row 0"),
        ({"duration": [1, 2]}, "no column 'event'"),
    ],
)
def test_bad_input_names_column_and_row(frame, message):
    with pytest.raises(ValueError, match=message):
        KaplanMeier().fit(pd.DataFrame(frame))


def test_boolean_events_are_accepted():
    km = KaplanMeier().fit(pd.DataFrame({"duration": [1, 2, 3], "event": [True, False, True]}))
    assert km.survival_function_["events"].sum() == 2


def test_other_bad_inputs():
    with pytest.raises(ValueError, match="'entry' must be below 'duration'; row 0"):
        KaplanMeier().fit_arrays([1, 2], [1, 1], entry=[1, 0])
    with pytest.raises(ValueError, match="'arm' has a missing value at row 2"):
        KaplanMeier().fit(pd.DataFrame({"duration": [1, 2, 3], "event": [1, 1, 1],
                                        "arm": ["a", "b", None]}), group_col="arm")
    with pytest.raises(ValueError, match="ci must be one of"):
        KaplanMeier(ci="plain").fit_arrays([1], [1])
    with pytest.raises(ValueError, match="alpha"):
        KaplanMeier(alpha=1.5).fit_arrays([1], [1])
    with pytest.raises(ValueError, match="no rows"):
        KaplanMeier().fit_arrays([], [])
    with pytest.raises(NotFittedError):
        KaplanMeier().summary()


def test_no_event_column_means_every_row_is_an_event_and_minus_zero_is_zero():
    km = KaplanMeier().fit(pd.DataFrame({"weeks": PLACEBO}), duration_col="weeks", event_col=None)
    assert km.median_survival_time_ == 8
    km = KaplanMeier().fit_arrays([-0.0, 0.0, 1.0], [1, 0, 1])
    assert km.survival_function_.index.tolist() == [0.0, 1.0]
    assert km.survival_function_["survival"].tolist() == pytest.approx([2 / 3, 0.0])


@pytest.mark.parametrize("decimals", [0, 6])
def test_distinct_sorted_equals_numpy_unique_on_both_paths(decimals):
    from qualityloop.analytics.survival.kaplan_meier import _distinct_sorted

    values = np.round(np.random.default_rng(3).exponential(5.0, 2000), decimals)
    times, position = _distinct_sorted(values)
    expected_times, expected_position = np.unique(values, return_inverse=True)
    np.testing.assert_array_equal(times, expected_times)
    np.testing.assert_array_equal(position, expected_position)
