"""Property tests of the analytics functions with hypothesis.

Random valid inputs give results of the documented shape and ranges (probabilities in [0, 1],
survival non-increasing, control limits ordered, alpha at most 1, rho_C in [0, 1], counts that
add up); invalid inputs (NaN, empty, text, one row) give a ValueError with a message, never an
IndexError, a ZeroDivisionError or a result of the wrong shape.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import fuzz_support
import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from qualityloop.analytics.assessment import (
    aggregate_scores,
    ave,
    builtin_instrument,
    composite_reliability,
    construct_scores,
    cronbach_alpha,
    item_loadings,
    rho_a,
    validate_responses,
)
from qualityloop.analytics.exceptions import ConvergenceError, ConvergenceWarning
from qualityloop.analytics.relate import PLSPathModel
from qualityloop.analytics.retention import (
    churn_rate,
    cohort_retention,
    repeat_purchase_rate,
    rfm_summary,
)
from qualityloop.analytics.spc import (
    c_chart,
    capability,
    cusum,
    ewma,
    individuals,
    p_chart,
    u_chart,
    xbar_r,
    xbar_s,
)
from qualityloop.analytics.survival import CoxPH, KaplanMeier

EPS = 1e-9
FEW = fuzz_support.examples(ci=15, long=600)
SOME = fuzz_support.examples(ci=8, long=300)  # for the costlier targets (Ibis, PLS, Cox)

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
bad_numbers = st.sampled_from([np.nan, np.inf, -np.inf, "x", None, "1,5"])


def fails_clearly(call: Callable[[], Any]) -> Any:
    """Run ``call``: a result, or a ValueError with a message; anything else fails the test."""
    try:
        return call()
    except ValueError as error:
        assert str(error).strip(), "a ValueError without a message"
        return None


def ordered(lower: Any, center: Any, upper: Any) -> bool:
    lower, center, upper = (np.broadcast_to(np.asarray(v, dtype=float), np.shape(center))
                            for v in (lower, center, upper))
    return bool(np.all(lower <= center + EPS) and np.all(center <= upper + EPS))


# --- retention ----------------------------------------------------------------------------------

@st.composite
def transaction_logs(draw, min_size: int = 1) -> pd.DataFrame:
    n = draw(st.integers(min_size, 25))
    days = draw(st.lists(st.integers(0, 400), min_size=n, max_size=n))
    return pd.DataFrame({
        "customer_id": draw(st.lists(st.integers(0, 6), min_size=n, max_size=n)),
        "date": pd.Timestamp("2023-01-01") + pd.to_timedelta(days, unit="D"),
        "spend": draw(st.lists(st.floats(0, 1e4), min_size=n, max_size=n)),
    })


@settings(max_examples=SOME)
@given(log=transaction_logs(), freq=st.sampled_from(["D", "W", "M", "Q"]))
def test_rfm_summary_ranges(log, freq):
    fuzz_support.count("retention rfm_summary")
    summary = rfm_summary(log, monetary="spend", freq=freq)
    assert list(summary.columns) == ["frequency", "recency", "T", "monetary_value"]
    assert summary.index.is_unique and summary.index.is_monotonic_increasing
    assert set(summary.index) == set(log["customer_id"])
    assert (summary["frequency"] >= 0).all()
    assert (summary["frequency"] == summary["frequency"].round()).all()
    per_customer = log.groupby("customer_id").size()
    assert (summary["frequency"] <= per_customer.loc[summary.index] - 1).all()
    assert (summary["recency"] >= 0).all() and (summary["recency"] <= summary["T"] + EPS).all()
    assert (summary["monetary_value"] >= -EPS).all()
    assert (summary.loc[summary["frequency"] == 0, "monetary_value"] == 0).all()


@settings(max_examples=SOME)
@given(log=transaction_logs(), period=st.sampled_from(["D", "W", "M"]),
       kind=st.sampled_from(["first_time", "recurring"]), cumulative=st.booleans())
def test_cohort_retention_counts_add_up(log, period, kind, cumulative):
    fuzz_support.count("retention cohort_retention")
    table = cohort_retention(log, period=period, kind=kind, cumulative=cumulative)
    counts, rates = table.counts, table.rates
    assert counts.shape == rates.shape and len(table.sizes) == len(counts)
    assert (counts[0] == table.sizes).all()
    if kind == "first_time":
        assert table.sizes.sum() == log["customer_id"].nunique()
    values = rates.to_numpy()
    seen = values[~np.isnan(values)]
    assert ((seen >= 0) & (seen <= 1 + EPS)).all()
    if cumulative:  # "on or after k" never grows with k
        diffs = np.diff(counts.to_numpy(), axis=1)
        assert (diffs[~np.isnan(diffs)] <= EPS).all()
    curve = table.mean_curve
    weighted = curve["weighted"].dropna().to_numpy()
    assert ((weighted >= 0) & (weighted <= 1 + EPS)).all()
    assert (curve["cohorts"] <= len(counts)).all()


@settings(max_examples=SOME)
@given(log=transaction_logs(), period=st.sampled_from(["D", "W", "M"]))
def test_churn_and_repeat_rates_are_shares(log, period):
    fuzz_support.count("retention churn/repeat")
    churn = churn_rate(log, period=period)
    assert (churn["active_before"] == churn["retained"] + churn["churned"]).all()
    rate = churn["churn_rate"].dropna()
    assert ((rate >= 0) & (rate <= 1)).all()
    repeat = repeat_purchase_rate(log)
    assert 0 <= repeat <= 1


@settings(max_examples=FEW)
@given(log=transaction_logs(min_size=2), where=st.integers(0, 24), bad=bad_numbers,
       column=st.sampled_from(["customer_id", "date", "spend"]))
def test_retention_rejects_bad_cells_clearly(log, where, bad, column):
    fuzz_support.count("retention invalid input")
    broken = log.astype({column: object})
    broken.loc[broken.index[where % len(broken)], column] = bad
    for call in (lambda: rfm_summary(broken, monetary="spend"),
                 lambda: cohort_retention(broken, monetary="spend"),
                 lambda: churn_rate(broken)):
        fails_clearly(call)


def test_retention_on_an_empty_log():
    fuzz_support.count("retention invalid input")
    empty = pd.DataFrame({"customer_id": pd.Series(dtype=int),
                          "date": pd.Series(dtype="datetime64[ns]")})
    assert rfm_summary(empty).empty
    assert np.isnan(repeat_purchase_rate(empty))
    with pytest.raises(ValueError, match="no cohorts"):  # was a TypeError
        cohort_retention(empty)
    unusable = pd.DataFrame({"customer_id": [None, 1], "date": [pd.Timestamp("2024-01-01"), None]})
    with pytest.raises(ValueError, match="no cohorts"):
        cohort_retention(unusable)
    assert churn_rate(empty).empty


# --- survival -----------------------------------------------------------------------------------

@st.composite
def survival_data(draw, min_size: int = 1, max_size: int = 40) -> pd.DataFrame:
    n = draw(st.integers(min_size, max_size))
    size = st.lists
    return pd.DataFrame({
        "duration": draw(size(st.integers(0, 30) | st.floats(0, 1e3), min_size=n, max_size=n)),
        "event": draw(size(st.sampled_from([0, 1]), min_size=n, max_size=n)),
        "weight": draw(size(st.sampled_from([0.5, 1, 2, 3]), min_size=n, max_size=n)),
        "x": draw(size(st.floats(-5, 5), min_size=n, max_size=n)),
        "z": draw(size(st.integers(0, 1), min_size=n, max_size=n)),
    })


@settings(max_examples=FEW)
@given(data=survival_data(), ci=st.sampled_from(["log-log", "linear"]),
       weighted=st.booleans())
def test_kaplan_meier_is_a_survival_curve(data, ci, weighted):
    fuzz_support.count("survival KaplanMeier")
    km = KaplanMeier(ci=ci).fit(data, weights_col="weight" if weighted else None)
    table = km.survival_function_
    survival = table["survival"].to_numpy()
    assert table.index.is_monotonic_increasing and table.index[0] == 0
    assert ((survival >= 0) & (survival <= 1)).all()
    assert (np.diff(survival) <= EPS).all()
    assert ordered(table["lower"], survival, table["upper"])
    assert ((table["lower"] >= 0) & (table["upper"] <= 1)).all()
    assert (np.diff(table["at_risk"].to_numpy()) <= EPS).all()
    weights = data["weight"] if weighted else pd.Series(1.0, index=data.index)
    assert km.event_table_["events"].sum() == pytest.approx((weights * data["event"]).sum())
    median = km.median_survival_time_
    assert median == np.inf or median in set(table.index)
    readings = km.survival_at([0, *data["duration"]]).to_numpy()
    assert ((readings >= 0) & (readings <= 1)).all()


@settings(max_examples=FEW)
@given(data=survival_data(), where=st.integers(0, 39), bad=bad_numbers | st.just(-1),
       column=st.sampled_from(["duration", "event", "weight"]))
def test_kaplan_meier_rejects_bad_cells_clearly(data, where, bad, column):
    fuzz_support.count("survival invalid input")
    broken = data.astype({column: object})
    broken.loc[broken.index[where % len(broken)], column] = bad
    fails_clearly(lambda: KaplanMeier().fit(broken, weights_col="weight"))


def test_kaplan_meier_on_no_rows_and_all_zero_weights():
    fuzz_support.count("survival invalid input")
    with pytest.raises(ValueError, match="no rows"):
        KaplanMeier().fit(pd.DataFrame({"duration": [], "event": []}))
    with pytest.raises(ValueError, match="every weight"):  # was "data has no rows"
        KaplanMeier().fit_arrays([1, 2], [1, 0], weights=[0, 0])


@settings(max_examples=SOME)
@given(data=survival_data(min_size=1), ties=st.sampled_from(["efron", "breslow"]),
       penalizer=st.sampled_from([0.0, 0.1]))
def test_cox_fits_or_says_why(data, ties, penalizer):
    fuzz_support.count("survival CoxPH")
    model = CoxPH(ties=ties, penalizer=penalizer)
    try:
        model.fit(data, duration_col="duration", event_col="event", covariates=["x", "z"])
    except (ValueError, ConvergenceError) as refused:
        assert str(refused).strip()
        return
    assert list(model.params_.index) == ["x", "z"]
    assert np.isfinite(model.params_).all()
    concordance = fails_clearly(lambda: model.concordance_index_)  # no comparable pair: says so
    assert concordance is None or 0 <= concordance <= 1
    cumulative = model.baseline_cumulative_hazard_.to_numpy()
    assert (np.diff(cumulative, axis=0) >= -EPS).all()
    curves = model.predict_survival_function(data.head(3)).to_numpy()
    assert curves.shape[1] == min(3, len(data))
    assert ((curves >= 0) & (curves <= 1)).all() and (np.diff(curves, axis=0) <= EPS).all()
    summary = model.summary()
    assert ((summary["p"] >= 0) & (summary["p"] <= 1)).all()


@settings(max_examples=FEW)
@given(data=survival_data(min_size=1, max_size=12), where=st.integers(0, 11),
       bad=bad_numbers, column=st.sampled_from(["duration", "event", "x"]))
def test_cox_rejects_bad_cells_clearly(data, where, bad, column):
    fuzz_support.count("survival invalid input")
    broken = data.astype({column: object})
    broken.loc[broken.index[where % len(broken)], column] = bad
    try:
        CoxPH().fit(broken, duration_col="duration", event_col="event", covariates=["x", "z"])
    except (ValueError, ConvergenceError) as refused:
        assert str(refused).strip()


# --- relationships (PLS-PM) ---------------------------------------------------------------------

@st.composite
def pls_data(draw) -> pd.DataFrame:
    n = draw(st.integers(1, 40))
    columns = ["q1", "q2", "q3", "l1", "l2"]
    cells = hnp.arrays(np.float64, (n, len(columns)),
                       elements=st.integers(1, 7).map(float) | st.floats(-3, 3))
    frame = pd.DataFrame(draw(cells), columns=columns)
    signal = draw(st.floats(0, 3))
    frame[["l1", "l2"]] += signal * frame[["q1"]].to_numpy()
    return frame


PLS_MODEL = {"Quality": ["q1", "q2", "q3"], "Loyalty": ["l1", "l2"]}


@settings(max_examples=SOME)
@given(data=pls_data(), scheme=st.sampled_from(["path", "centroid", "factorial"]),
       mode_b=st.booleans())
def test_pls_fits_with_documented_shapes_or_says_why(data, scheme, mode_b):
    fuzz_support.count("relate PLSPathModel")
    model = PLSPathModel(PLS_MODEL, [("Quality", "Loyalty")], scheme=scheme,
                         modes={"Quality": "B"} if mode_b else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = fails_clearly(lambda: model.fit(data))
    if fitted is None:
        return
    assert fitted.construct_scores_.shape == (fitted.n_obs_, 2)
    assert fitted.path_coefficients_.shape == (2, 2)
    r2 = fitted.r2_.to_numpy()
    assert ((r2 >= -EPS) & (r2 <= 1 + EPS)).all()
    loadings = fitted.outer_loadings_.to_numpy()
    seen = loadings[~np.isnan(loadings)]
    assert ((seen >= -1 - 1e-6) & (seen <= 1 + 1e-6)).all()
    reliability = fitted.reliability_
    assert (reliability["alpha"].dropna() <= 1 + EPS).all()
    assert ((reliability["ave"] >= 0) & (reliability["ave"] <= 1 + 1e-6)).all()


def test_pls_on_one_row_and_text_says_why():
    fuzz_support.count("relate invalid input")
    one_row = pd.DataFrame({c: [1.0] for c in ["q1", "q2", "q3", "l1", "l2"]})
    model = PLSPathModel(PLS_MODEL, [("Quality", "Loyalty")])
    with pytest.raises(ValueError, match="at least 3"):
        model.fit(one_row)
    text = pd.DataFrame({c: ["a", "b", "c", "d"] for c in ["q1", "q2", "q3", "l1", "l2"]})
    with pytest.raises(ValueError):
        model.fit(text)


# --- assessment ---------------------------------------------------------------------------------

answers = st.integers(1, 7).map(float) | st.just(np.nan)


@st.composite
def blocks(draw, min_rows: int = 1) -> pd.DataFrame:
    n = draw(st.integers(min_rows, 30))
    k = draw(st.integers(1, 5))
    return pd.DataFrame(draw(hnp.arrays(np.float64, (n, k), elements=answers)),
                        columns=[f"i{j}" for j in range(k)])


@settings(max_examples=FEW)
@given(block=blocks(), standardized=st.booleans())
def test_block_reliability_ranges(block, standardized):
    fuzz_support.count("assessment reliability")
    complete = not block.isna().any().any()
    alpha = fails_clearly(lambda: cronbach_alpha(block, standardized=standardized))
    if alpha is not None:
        assert not np.isnan(alpha)
        # Pairwise-complete covariances (missing answers) need not be positive semi-definite,
        # and alpha can then exceed 1 (reported, not changed here).
        assert alpha <= 1 + EPS or not complete
    loadings = fails_clearly(lambda: item_loadings(block))
    if loadings is not None:
        assert list(loadings.index) == list(block.columns)
        # With missing answers the pairwise-complete correlation matrix need not be positive
        # semi-definite, and a loading can come out above 1 (reported, not changed here).
        if complete:
            assert ((loadings >= -1 - 1e-6) & (loadings <= 1 + 1e-6)).all()
    rho = fails_clearly(lambda: rho_a(block))
    if rho is not None:
        assert not np.isnan(rho)


@settings(max_examples=FEW)
@given(loadings=st.lists(st.floats(0, 1), min_size=1, max_size=10))
def test_composite_reliability_and_ave_in_unit_interval(loadings):
    fuzz_support.count("assessment rho_C/AVE")
    assume(sum(loadings) > 0 or len(loadings) > 0)
    rho_c = composite_reliability(loadings)
    assert 0 <= rho_c <= 1 + EPS
    assert 0 <= ave(loadings) <= 1


@settings(max_examples=FEW)
@given(loadings=st.lists(st.floats(-10, 10) | st.sampled_from([np.nan, np.inf]), max_size=4))
def test_composite_reliability_rejects_bad_loadings_clearly(loadings):
    fuzz_support.count("assessment invalid input")
    fails_clearly(lambda: composite_reliability(loadings))
    fails_clearly(lambda: ave(loadings))


INSTRUMENT = builtin_instrument()


@st.composite
def responses(draw) -> pd.DataFrame:
    n = draw(st.integers(1, 12))
    items = INSTRUMENT.item_ids
    frame = pd.DataFrame(draw(hnp.arrays(np.float64, (n, len(items)), elements=answers)),
                         columns=items)
    frame["unit"] = draw(st.lists(st.sampled_from(["A", "B", None]), min_size=n, max_size=n))
    frame["round"] = 1
    return frame


@settings(max_examples=SOME)
@given(frame=responses(), min_answered=st.sampled_from([0.25, 0.5, 1.0]))
def test_construct_scores_stay_on_the_scale_and_counts_add_up(frame, min_answered):
    fuzz_support.count("assessment scoring")
    scores = construct_scores(frame, INSTRUMENT, min_answered=min_answered)
    constructs = [c.id for c in INSTRUMENT.constructs]
    assert len(scores) == len(frame)
    values = scores[constructs].to_numpy()
    seen = values[~np.isnan(values)]
    low, high = INSTRUMENT.scale_min, INSTRUMENT.scale_max
    assert ((seen >= low) & (seen <= high)).all()
    table = aggregate_scores(scores)
    maturity = table["maturity"].dropna()
    assert ((maturity >= 0) & (maturity <= 100)).all()
    for construct in constructs:
        assert table.loc[table["construct"] == construct, "n"].sum() == \
            scores[construct].notna().sum()


@settings(max_examples=FEW)
@given(frame=responses(), where=st.integers(0, 11),
       bad=st.sampled_from([0, 8, 3.5, "x", "7", -1, np.inf, True]))
def test_bad_answers_are_listed_by_row_and_column(frame, where, bad):
    fuzz_support.count("assessment invalid input")
    item = INSTRUMENT.item_ids[where % len(INSTRUMENT.item_ids)]
    broken = frame.astype({item: object})
    broken.loc[broken.index[where % len(broken)], item] = bad
    try:
        validate_responses(broken, INSTRUMENT)
    except ValueError as refused:
        assert item in str(refused)


# --- SPC ----------------------------------------------------------------------------------------

measurements = st.floats(-1e3, 1e3, allow_nan=False).map(lambda v: round(v, 3))


@st.composite
def subgroups(draw) -> np.ndarray:
    m = draw(st.integers(2, 25))
    n = draw(st.integers(2, 10))
    return draw(hnp.arrays(np.float64, (m, n), elements=measurements))


def assert_limits_ordered(chart) -> None:
    for one in (chart, chart.companion):
        if one is None:
            continue
        assert len(one.statistic) == len(one.center_line) == len(one.upper_limit)
        assert ordered(one.lower_limit, one.center_line, one.upper_limit), one.chart


@settings(max_examples=FEW)
@given(data=subgroups(), which=st.sampled_from([xbar_r, xbar_s]), drop=st.booleans())
def test_variables_charts_have_ordered_limits(data, which, drop):
    fuzz_support.count("spc xbar charts")
    chart = fails_clearly(lambda: which(data, exclude_out_of_control=drop))
    if chart is None:
        return
    assert len(chart.statistic) == len(data)
    assert_limits_ordered(chart)


@settings(max_examples=FEW)
@given(values=st.lists(measurements, min_size=2, max_size=60), drop=st.booleans(),
       lam=st.floats(0.05, 1), k=st.floats(0, 2))
def test_individuals_ewma_cusum_have_ordered_limits(values, drop, lam, k):
    fuzz_support.count("spc individuals/ewma/cusum")
    for make in (lambda: individuals(values, exclude_out_of_control=drop),
                 lambda: ewma(values, lam=lam), lambda: cusum(values, k=k)):
        chart = fails_clearly(make)
        if chart is not None:
            assert len(chart.statistic) == len(values)
            assert_limits_ordered(chart)


@st.composite
def attribute_samples(draw) -> tuple[list[int], list[int]]:
    m = draw(st.integers(2, 30))
    sizes = draw(st.lists(st.integers(1, 500), min_size=m, max_size=m))
    counts = [draw(st.integers(0, size)) for size in sizes]
    return counts, sizes


@settings(max_examples=FEW)
@given(sample=attribute_samples())
def test_attribute_charts_have_ordered_limits(sample):
    fuzz_support.count("spc attribute charts")
    counts, sizes = sample
    for make in (lambda: p_chart(counts, sizes), lambda: c_chart(counts),
                 lambda: u_chart(counts, sizes)):
        chart = fails_clearly(make)
        if chart is not None:
            assert_limits_ordered(chart)
            assert (chart.lower_limit >= 0).all()
            if chart.chart == "p":  # the upper limit is not clipped at 1 (as in qcc)
                assert ((chart.statistic >= 0) & (chart.statistic <= 1)).all()


@settings(max_examples=FEW)
@given(data=subgroups(), spec=st.tuples(finite, finite), one_sided=st.sampled_from([None, 0, 1]))
def test_capability_indices_and_ppm_ranges(data, spec, one_sided):
    fuzz_support.count("spc capability")
    lsl, usl = sorted(spec)
    assume(lsl < usl)
    limits = {"lsl": None if one_sided == 1 else lsl, "usl": None if one_sided == 0 else usl}
    result = fails_clearly(lambda: capability(data, **limits))
    if result is None:
        return
    ppm = result.ppm.to_numpy()
    ppm = ppm[~np.isnan(ppm)]  # NaN on the side without a specification limit
    assert ((ppm >= 0) & (ppm <= 1e6 + 1e-6)).all()
    indices = result.indices.dropna()
    assert ordered(indices["lower"], indices["value"], indices["upper"])


@settings(max_examples=FEW)
@given(data=subgroups(), where=st.tuples(st.integers(0, 24), st.integers(0, 9)),
       bad=st.sampled_from([np.nan, np.inf, "x", None]),
       subgroup_size=st.sampled_from([None, 0, -1, 1, 3]))
def test_spc_rejects_bad_input_clearly(data, where, bad, subgroup_size):
    fuzz_support.count("spc invalid input")
    broken = data.astype(object)
    broken[where[0] % len(data), where[1] % data.shape[1]] = bad
    fails_clearly(lambda: xbar_r(broken))
    fails_clearly(lambda: individuals(broken[:, 0]))
    fails_clearly(lambda: capability(broken, lsl=-1, usl=1))
    fails_clearly(lambda: capability(data.ravel(), lsl=-1e4, usl=1e4,
                                     subgroup_size=subgroup_size))
    fails_clearly(lambda: xbar_r(data[:1]))
    fails_clearly(lambda: p_chart([1], [0]))


@pytest.mark.parametrize("size", [0, -1, 2.5, True])
def test_capability_refuses_a_subgroup_size_below_one(size):
    """Found by fuzzing: subgroup_size=0 was a ZeroDivisionError, -1 numpy's reshape error."""
    fuzz_support.count("spc invalid input")
    with pytest.raises(ValueError, match="subgroup_size must be a whole number"):
        capability(list(range(12)), lsl=-1, usl=20, subgroup_size=size)


def test_capability_interval_of_a_negative_index_is_ordered():
    """Found by fuzzing: with the mean above the USL, Cpu < 0 and its Bissell interval came
    out upside down (lower > value > upper)."""
    fuzz_support.count("spc capability")
    result = capability([[10.0, 10.2], [10.1, 9.9], [10.3, 10.0]], lsl=9.0, usl=9.9)
    row = result.indices.loc["Cpu"]
    assert row["value"] < 0
    assert row["lower"] <= row["value"] <= row["upper"]


def test_a_column_of_numbers_and_text_is_a_clear_error():
    """Found by fuzzing: a customer id column holding 1, 2 and "x" was a pyarrow ArrowTypeError
    from deep inside the query."""
    fuzz_support.count("retention invalid input")
    log = pd.DataFrame({"customer_id": [1, "x", 2],
                        "date": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"])})
    for call in (rfm_summary, cohort_retention, churn_rate, repeat_purchase_rate):
        with pytest.raises(ValueError, match="column 'customer_id' mixes values"):
            call(log)


def test_alpha_of_items_that_do_not_vary_is_a_clear_error():
    """Found by fuzzing (long run): items answered the same by everyone gave alpha NaN (0/0)
    instead of the documented ValueError; items cancelling out gave -inf."""
    fuzz_support.count("assessment invalid input")
    with pytest.raises(ValueError, match="'i0' has the same answer from every respondent"):
        cronbach_alpha(pd.DataFrame({"i0": [1.0, 1, 1], "i1": [1.0, 1, 1]}))
    with pytest.raises(ValueError, match="cancel each other out"):
        cronbach_alpha(pd.DataFrame({"i0": [1.0, 2, 3], "i1": [3.0, 2, 1]}))


def test_pls_with_a_perfectly_explained_construct_fits():
    """Found by fuzzing (long run): R² = 1 made Cohen's f² a ZeroDivisionError, and indicators
    that are exact multiples of each other made the outer VIF numpy's "Singular matrix"."""
    fuzz_support.count("relate PLSPathModel")
    base = np.array([1.0, 2.0, 3.0, 4.0, 6.0])
    data = pd.DataFrame({"q1": base, "q2": 2 * base, "q3": base + 1, "l1": base, "l2": 3 * base})
    model = PLSPathModel(PLS_MODEL, [("Quality", "Loyalty")]).fit(data)
    assert model.r2_["Loyalty"] == pytest.approx(1.0)
    assert np.isinf(model.f2_.loc["Quality", "Loyalty"])
    assert np.isinf(model.vif_["outer"].loc["q1", "Quality"])


def test_rho_a_of_uncorrelated_items_is_a_clear_error():
    """Found by fuzzing (long run): two items with correlation 0 gave rho_A NaN (0/0)."""
    fuzz_support.count("assessment invalid input")
    block = pd.DataFrame({"i0": [2.0, 1, 5, 6], "i1": [1.0, 2, 1, 2]})
    with pytest.raises(ValueError, match="uncorrelated"):
        rho_a(block)
