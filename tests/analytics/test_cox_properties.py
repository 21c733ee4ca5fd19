"""CoxPH invariants that pin the formulas down without a peer: start/stop splits change nothing,
Efron equals Breslow without ties, concordance equals the pair-by-pair count, score residuals
are the derivative of the score in each row's weight, predictions follow the baseline."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qualityloop.analytics.survival import CoxPH, concordance_index
from qualityloop.analytics.survival.cox import _design, _evaluate, _score_residuals

DATA = Path(__file__).parent.parent / "data" / "rossi"


@pytest.fixture(scope="module")
def rossi() -> pd.DataFrame:
    return pd.read_csv(DATA / "rossi.csv")


def split_into_intervals(data: pd.DataFrame, seed: int = 3) -> pd.DataFrame:
    """Each subject's (0, week] cut at up to two random points; the event stays on the last."""
    rng = np.random.default_rng(seed)
    pieces = []
    for subject, row in data.reset_index(drop=True).iterrows():
        cuts = np.unique(rng.integers(1, max(int(row["week"]), 2), rng.integers(0, 3)))
        cuts = cuts[cuts < row["week"]]
        edges = np.r_[0, cuts, row["week"]]
        for k in range(len(edges) - 1):
            piece = row.to_dict()
            piece.update(id=subject, start=edges[k], stop=edges[k + 1],
                         arrest=row["arrest"] if k == len(edges) - 2 else 0)
            pieces.append(piece)
    return pd.DataFrame(pieces).drop(columns="week")


@pytest.mark.parametrize(("ties", "strata"), [("efron", None), ("breslow", "race")])
def test_splitting_subjects_into_intervals_changes_nothing(
    rossi: pd.DataFrame, ties: str, strata: str | None
) -> None:
    whole = CoxPH(ties=ties, robust=True).fit(rossi, duration_col="week", event_col="arrest",
                                              strata=strata)
    split = split_into_intervals(rossi)
    assert len(split) > len(rossi) + 200
    covariates = list(whole.params_.index)
    pieces = CoxPH(ties=ties, robust=True).fit(
        split, event_col="arrest", start_col="start", stop_col="stop", covariates=covariates,
        cluster_col="id", strata=strata)
    np.testing.assert_allclose(pieces.params_, whole.params_, rtol=1e-10)
    np.testing.assert_allclose(pieces.variance_matrix_, whole.variance_matrix_, rtol=1e-8)
    # the robust variance sums a subject's rows: the same as one row per subject
    np.testing.assert_allclose(pieces.standard_errors_, whole.standard_errors_, rtol=1e-8)
    assert pieces.log_likelihood_ == pytest.approx(whole.log_likelihood_, rel=1e-12)
    # the baseline belongs to the mean row, and the split has more rows of long-lived subjects
    shift = (split[covariates].mean() - rossi[covariates].mean()) @ whole.params_
    np.testing.assert_allclose(
        pieces.baseline_cumulative_hazard_.loc[whole.baseline_hazard_.index],
        whole.baseline_cumulative_hazard_ * np.exp(shift), rtol=1e-9, atol=1e-15)


def test_late_entry_leaves_the_subject_out_of_earlier_risk_sets() -> None:
    # b enters at 2, after a's event at 1: risk sets are {a, c, d} at 1 and {b, d} at 4
    data = pd.DataFrame({"start": [0.0, 2.0, 0.0, 0.0], "stop": [1.0, 4.0, 3.0, 5.0],
                         "event": [1, 1, 0, 0], "x": [1.0, 0.0, 0.5, 2.0]})
    model = CoxPH().fit(data, event_col="event", start_col="start", stop_col="stop")

    def loglik(b: float) -> float:
        return (b - np.log(np.exp(b) + np.exp(0.5 * b) + np.exp(2 * b))
                - np.log(1 + np.exp(2 * b)))

    beta = float(model.params_["x"])
    assert model.log_likelihood_ == pytest.approx(loglik(beta), rel=1e-12)
    h = 1e-4
    assert loglik(beta + h) < loglik(beta) > loglik(beta - h)
    hazard = model.baseline_hazard_.iloc[:, 0]
    assert hazard.loc[1.0] > 0 and hazard.loc[3.0] == 0 and hazard.loc[4.0] > 0
    centred = data["x"] - data["x"].mean()
    assert hazard.loc[4.0] == pytest.approx(1 / np.exp(centred[[1, 3]] * beta).sum())


def test_efron_equals_breslow_without_ties() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 2))
    data = pd.DataFrame({"t": rng.exponential(size=300), "e": rng.random(300) < 0.7,
                         "a": x[:, 0], "b": x[:, 1]}).astype({"e": int})
    efron = CoxPH().fit(data, duration_col="t", event_col="e")
    breslow = CoxPH(ties="breslow").fit(data, duration_col="t", event_col="e")
    np.testing.assert_allclose(efron.params_, breslow.params_, rtol=1e-12)
    tied = data.assign(t=np.ceil(data["t"] * 4))
    assert not np.allclose(CoxPH().fit(tied, duration_col="t", event_col="e").params_,
                           CoxPH(ties="breslow").fit(tied, duration_col="t",
                                                     event_col="e").params_, rtol=1e-3)


def brute_force_concordance(times, hazard, events, strata) -> float:
    correct = tied = pairs = 0.0
    for i, j in combinations(range(len(times)), 2):
        if strata[i] != strata[j]:
            continue
        if times[j] < times[i] or (times[j] == times[i] and events[j] and not events[i]):
            i, j = j, i
        if not events[i] or (times[i] == times[j] and events[j]):
            continue  # the earlier one must be an event; tied events are not comparable
        pairs += 1
        correct += hazard[i] > hazard[j]
        tied += hazard[i] == hazard[j]
    return (correct + 0.5 * tied) / pairs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_concordance_equals_the_pairwise_count(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 120
    times = rng.integers(1, 15, n).astype(float)  # many tied times
    hazard = rng.integers(0, 8, n).astype(float)  # many tied predictions
    events = rng.random(n) < 0.6
    strata = rng.integers(0, 3, n)
    none = np.zeros(n, dtype=int)
    assert concordance_index(times, hazard, events) == pytest.approx(
        brute_force_concordance(times, hazard, events, none), abs=1e-12)
    assert concordance_index(times, hazard, events, strata=strata) == pytest.approx(
        brute_force_concordance(times, hazard, events, strata), abs=1e-12)


def test_score_residuals_are_the_derivative_of_the_score_in_each_weight(
    rossi: pd.DataFrame,
) -> None:
    # The weighted score is sum_i w_i U_i, and U_i = d score / d w_i at fixed beta (Efron with
    # tied weeks included); a wrong tie correction in the residuals breaks this.
    data = rossi.iloc[:150].assign(w=1.0)
    model = CoxPH().fit(data, duration_col="week", event_col="arrest", weights_col="w",
                        covariates=["fin", "age", "prio"])
    design = model._prepared.design
    beta = model.params_.to_numpy()
    residuals = _score_residuals(design, _evaluate(design, beta))

    def score(weights: np.ndarray) -> np.ndarray:
        moved = _design(design.X, weights, design.events, design.exit_key, design.entry_key,
                        lower_bounds=False, ties="efron")
        return _evaluate(moved, beta).gradient

    eps = 1e-6
    base = score(design.weights.copy())
    tied_dead = design.dead[np.bincount(design.group_of_dead)[design.group_of_dead] > 1]
    censored = np.flatnonzero(~design.events)
    for row in (0, int(tied_dead[0]), int(tied_dead[-1]), int(censored[0]), len(data) - 1):
        weights = design.weights.copy()
        weights[row] += eps
        np.testing.assert_allclose((score(weights) - base) / eps, residuals[row], rtol=1e-4,
                                   atol=1e-6)


def test_predictions_follow_the_baseline(rossi: pd.DataFrame) -> None:
    model = CoxPH().fit(rossi, duration_col="week", event_col="arrest")
    covariates = list(model.params_.index)
    mean_subject = rossi[covariates].mean().to_frame().T
    assert model.predict_partial_hazard(mean_subject).iloc[0] == pytest.approx(1.0)
    two = rossi[covariates].iloc[[0, 1]]
    hazard = model.predict_partial_hazard(two)
    expected = np.exp((two - rossi[covariates].mean()) @ model.params_)
    np.testing.assert_allclose(hazard, expected)
    curves = model.predict_survival_function(two, times=[0.5, 10, 10.5, 52, 60])
    cumulative = model.baseline_cumulative_hazard_.iloc[:, 0]
    assert curves.iloc[0].tolist() == [1.0, 1.0]
    np.testing.assert_allclose(curves.loc[10.5], np.exp(-cumulative.loc[10] * hazard.to_numpy()))
    np.testing.assert_allclose(curves.loc[60], curves.loc[52])
    assert (np.diff(model.predict_survival_function(two).to_numpy(), axis=0) <= 0).all()


def test_stratified_predictions_use_their_stratum(rossi: pd.DataFrame) -> None:
    model = CoxPH().fit(rossi, duration_col="week", event_col="arrest", strata="race")
    rows = rossi.iloc[[0, 0]].assign(race=[0, 1])
    curves = model.predict_survival_function(rows, times=[30])
    cumulative = model.baseline_cumulative_hazard_.loc[30]
    hazard = model.predict_partial_hazard(rows).to_numpy()
    np.testing.assert_allclose(curves.iloc[0], np.exp(-cumulative.to_numpy() * hazard))
    with pytest.raises(ValueError, match="stratum 7"):
        model.predict_survival_function(rows.assign(race=7), times=[30])


def test_summary_is_consistent(rossi: pd.DataFrame) -> None:
    model = CoxPH(alpha=0.1).fit(rossi, duration_col="week", event_col="arrest")
    table = model.summary()
    assert list(table.columns) == [
        "coef", "exp(coef)", "se(coef)", "coef lower 90%", "coef upper 90%",
        "exp(coef) lower 90%", "exp(coef) upper 90%", "z", "p", "-log2(p)"]
    np.testing.assert_allclose(table["exp(coef) lower 90%"], np.exp(table["coef lower 90%"]))
    np.testing.assert_allclose(table["coef upper 90%"] - table["coef"],
                               1.6448536 * table["se(coef)"], rtol=1e-6)
    assert table.loc["prio", "p"] == pytest.approx(0.00140, abs=2e-5)


def test_refit_forgets_the_previous_fit(rossi: pd.DataFrame) -> None:
    model = CoxPH().fit(rossi, duration_col="week", event_col="arrest")
    _ = model.concordance_index_
    model.fit(rossi, duration_col="week", event_col="arrest", covariates=["prio"])
    assert list(model.params_.index) == ["prio"]
    alone = CoxPH().fit(rossi[["week", "arrest", "prio"]], duration_col="week",
                        event_col="arrest")
    assert model.concordance_index_ == alone.concordance_index_
    assert model.n_iter_ >= 2
