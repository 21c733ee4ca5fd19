"""CoxPH against the published Rossi coefficients, lifelines (CoxPHFitter, CoxTimeVaryingFitter)
and statsmodels (PHReg, for Breslow ties). Reference values come from the scripts in
tests/reference/make_cox_reference.py and make_cox_breslow_reference.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qualityloop.analytics.survival import CoxPH

HERE = Path(__file__).parent
REFERENCE = HERE.parent / "reference"
DATA = HERE.parent / "data" / "rossi"
RTOL = 1e-4  # lifelines stops Newton-Raphson a little earlier than we do


@pytest.fixture(scope="module")
def rossi() -> pd.DataFrame:
    return pd.read_csv(DATA / "rossi.csv")


@pytest.fixture(scope="module")
def stanford() -> pd.DataFrame:
    return pd.read_csv(DATA / "stanford_heart.csv")


@pytest.fixture(scope="module")
def simulated() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "cox_simulated.csv")


def reference(case: str, quantity: str, source: str = "cox_reference.csv") -> pd.Series:
    table = pd.read_csv(REFERENCE / source, keep_default_na=False)
    rows = table[(table["case"] == case) & (table["quantity"] == quantity)]
    assert len(rows), f"no reference {case}/{quantity}"
    return rows.set_index("name")["value"].astype(float)


def scalar(case: str, quantity: str, source: str = "cox_reference.csv") -> float:
    return float(reference(case, quantity, source).iloc[0])


def assert_matches(model: CoxPH, case: str, source: str = "cox_reference.csv",
                   se_rtol: float = RTOL) -> None:
    coef = reference(case, "coef", source)
    se = reference(case, "se", source)
    np.testing.assert_allclose(model.params_[coef.index], coef, rtol=RTOL)
    np.testing.assert_allclose(model.standard_errors_[se.index], se, rtol=se_rtol)
    assert model.log_likelihood_ == pytest.approx(scalar(case, "log_likelihood", source),
                                                  rel=1e-7)


def test_rossi_efron_gives_the_published_coefficients(rossi: pd.DataFrame) -> None:
    model = CoxPH().fit(rossi, duration_col="week", event_col="arrest")
    published = {"fin": -0.379, "age": -0.057, "race": 0.314, "wexp": -0.150, "mar": -0.434,
                 "paro": -0.085, "prio": 0.091}
    assert model.params_.round(3).to_dict() == published
    assert model.n_events_ == 114
    assert list(model.params_.index) == list(published)


def test_rossi_efron_matches_lifelines(rossi: pd.DataFrame) -> None:
    model = CoxPH().fit(rossi, duration_col="week", event_col="arrest")
    assert_matches(model, "rossi_efron")
    assert model.concordance_index_ == pytest.approx(scalar("rossi_efron", "concordance"),
                                                     abs=1e-12)
    np.testing.assert_allclose(model.hazard_ratios_, np.exp(model.params_))


def test_rossi_breslow_and_efron_match_statsmodels(rossi: pd.DataFrame) -> None:
    source = "cox_statsmodels_reference.csv"
    breslow = CoxPH(ties="breslow").fit(rossi, duration_col="week", event_col="arrest")
    assert_matches(breslow, "rossi_breslow", source)
    assert_matches(CoxPH().fit(rossi, duration_col="week", event_col="arrest"), "rossi_efron",
                   source)
    stratified = CoxPH(ties="breslow").fit(rossi, duration_col="week", event_col="arrest",
                                           strata="race")
    assert_matches(stratified, "rossi_breslow_strata", source)


def test_robust_errors_with_tied_times_match_statsmodels(rossi: pd.DataFrame) -> None:
    # tied weeks: the score residuals must spread each tied group's risk-set terms correctly
    model = CoxPH(ties="breslow", robust=True).fit(rossi, duration_col="week",
                                                   event_col="arrest")
    assert_matches(model, "rossi_breslow_robust", "cox_statsmodels_reference.csv")
    efron = CoxPH(robust=True).fit(rossi, duration_col="week", event_col="arrest")
    # Efron's residuals differ (lifelines and statsmodels use Breslow's; R uses Efron's)
    assert not np.allclose(efron.standard_errors_, model.standard_errors_, rtol=1e-3)


@pytest.mark.parametrize(("case", "strata"), [("rossi_strata", ["race"]),
                                              ("rossi_strata2", ["wexp", "paro"])])
def test_strata_match_lifelines(rossi: pd.DataFrame, case: str, strata: list[str]) -> None:
    model = CoxPH().fit(rossi, duration_col="week", event_col="arrest", strata=strata)
    assert_matches(model, case)
    assert strata[0] not in model.params_.index
    assert model.concordance_index_ == pytest.approx(scalar(case, "concordance"), abs=1e-12)


def test_baseline_cumulative_hazard_matches_lifelines(rossi: pd.DataFrame) -> None:
    baseline = pd.read_csv(REFERENCE / "cox_reference_baseline.csv")
    fits = {
        "rossi_efron": CoxPH().fit(rossi, duration_col="week", event_col="arrest"),
        "rossi_strata2": CoxPH().fit(rossi, duration_col="week", event_col="arrest",
                                     strata=["wexp", "paro"]),
    }
    for case, model in fits.items():
        expected = baseline[baseline["case"] == case]
        ours = model.baseline_cumulative_hazard_
        columns = list(dict.fromkeys(expected["column"]))
        assert ours.shape[1] == len(columns)
        for position, column in enumerate(columns):  # strata in the same sorted order
            rows = expected[expected["column"] == column]
            values = ours.iloc[:, position].reindex(rows["time"].to_numpy()).to_numpy()
            np.testing.assert_allclose(values, rows["value"], rtol=1e-6, atol=1e-12)


def test_weights_match_lifelines(simulated: pd.DataFrame) -> None:
    data = simulated[simulated["dataset"] == "weighted"].drop(columns=["dataset", "cluster"])
    model = CoxPH().fit(data, duration_col="time", event_col="event", weights_col="weight")
    assert_matches(model, "sim_weighted")
    robust = CoxPH(robust=True).fit(data, duration_col="time", event_col="event",
                                    weights_col="weight")
    assert_matches(robust, "sim_weighted_robust")
    expected = pd.read_csv(REFERENCE / "cox_reference_baseline.csv").query(
        "case == 'sim_weighted'")
    values = model.baseline_cumulative_hazard_.iloc[:, 0].reindex(expected["time"].to_numpy())
    np.testing.assert_allclose(values, expected["value"], rtol=1e-5)


def test_robust_and_clustered_errors_match_lifelines(simulated: pd.DataFrame) -> None:
    # untied times: lifelines' score residuals ignore ties, so compare where ties cannot matter
    data = simulated[simulated["dataset"] == "plain"].drop(columns=["dataset", "weight"])
    robust = CoxPH(robust=True).fit(data.drop(columns="cluster"), duration_col="time",
                                    event_col="event")
    assert_matches(robust, "sim_robust")
    clustered = CoxPH().fit(data, duration_col="time", event_col="event", cluster_col="cluster")
    assert_matches(clustered, "sim_cluster")
    assert not np.allclose(robust.standard_errors_, clustered.standard_errors_, rtol=1e-3)


def test_penalizer_matches_lifelines(rossi: pd.DataFrame) -> None:
    model = CoxPH(penalizer=0.1).fit(rossi, duration_col="week", event_col="arrest")
    coef = reference("rossi_penalized", "coef")
    se = reference("rossi_penalized", "se")
    np.testing.assert_allclose(model.params_[coef.index], coef, rtol=1e-4)
    np.testing.assert_allclose(model.standard_errors_[se.index], se, rtol=1e-4)


def test_proportional_hazards_test_matches_lifelines(rossi: pd.DataFrame) -> None:
    model = CoxPH().fit(rossi, duration_col="week", event_col="arrest")
    table = model.check_proportional_hazards()
    statistic = reference("rossi_efron", "ph_statistic")
    p = reference("rossi_efron", "ph_p")
    np.testing.assert_allclose(table.loc[statistic.index, "statistic"], statistic, rtol=1e-5)
    np.testing.assert_allclose(table.loc[p.index, "p"], p, rtol=1e-5)
    assert table["violated"].to_dict() == (p < 0.05).to_dict()
    assert table.loc["age", "violated"] and table.loc["wexp", "violated"]


def test_start_stop_matches_lifelines_time_varying(stanford: pd.DataFrame) -> None:
    model = CoxPH().fit(stanford, event_col="event", start_col="start", stop_col="stop",
                        covariates=["age", "year", "surgery", "transplant"])
    assert_matches(model, "stanford")
    expected = pd.read_csv(REFERENCE / "cox_reference_baseline.csv").query("case == 'stanford'")
    values = model.baseline_cumulative_hazard_.iloc[:, 0].reindex(expected["time"].to_numpy())
    np.testing.assert_allclose(values, expected["value"], rtol=1e-5)
