"""assess_reliability on the built-in instrument with simulated answers (a latent level per
construct plus noise): good data passes the thresholds, a noise construct fails them, and
reverse-keyed, constant and missing answers are handled as documented."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qualityloop.analytics.assessment import (
    THRESHOLDS,
    assess_reliability,
    builtin_instrument,
    construct_scores,
    cronbach_alpha,
    load_instrument,
    reverse_keyed,
)

INSTRUMENT = builtin_instrument()
GOOD = [c.id for c in INSTRUMENT.constructs if c.id != "supplier"]


def simulate(n: int = 300, noise: tuple[str, ...] = (), seed: int = 0) -> pd.DataFrame:
    """Answers on 1-7: round(4 + 1.3 * latent + noise), turned round for reverse-keyed items;
    constructs in ``noise`` have no latent level (pure noise). Latent levels of different
    constructs correlate 0.3."""
    rng = np.random.default_rng(seed)
    k = len(INSTRUMENT.constructs)
    covariance = np.full((k, k), 0.3) + 0.7 * np.eye(k)
    latent = rng.multivariate_normal(np.zeros(k), covariance, size=n)
    columns: dict[str, object] = {
        "respondent": [f"r{i}" for i in range(n)],
        "unit": rng.choice(["Assembly", "Service"], n),
        "round": 1,
    }
    for j, construct in enumerate(INSTRUMENT.constructs):
        strength = 0.0 if construct.id in noise else 1.3
        for item in construct.items:
            sign = -1 if item.reverse else 1
            raw = 4 + sign * strength * latent[:, j] + rng.normal(size=n)
            columns[item.id] = np.clip(np.rint(raw), 1, 7)
    return pd.DataFrame(columns)


@pytest.fixture(scope="module")
def answers() -> pd.DataFrame:
    return simulate(noise=("supplier",))


@pytest.fixture(scope="module")
def result(answers):
    return assess_reliability(answers, INSTRUMENT, bootstrap=200, seed=1)


def test_good_constructs_pass_every_threshold(result):
    table = result.constructs.loc[GOOD]
    for flag in ("alpha_ok", "rho_a_ok", "rho_c_ok", "ave_ok", "fornell_larcker_ok"):
        assert table[flag].all(), flag
    assert (table["alpha"] >= THRESHOLDS["alpha"]).all()
    good_items = result.loadings[result.loadings["construct"] != "supplier"]
    assert good_items["loading_ok"].all()


def test_noise_construct_fails(result):
    noise = result.constructs.loc["supplier"]
    assert not noise["alpha_ok"] and not noise["rho_c_ok"] and not noise["ave_ok"]
    assert noise["alpha"] < 0.3
    supplier_items = result.loadings[result.loadings["construct"] == "supplier"]
    assert not supplier_items["loading_ok"].all()   # a first component of noise can favour one item


def test_htmt_between_good_constructs_passes_and_intervals_are_there(result):
    pairs = result.htmt_pairs
    good = pairs[pairs["construct_a"].isin(GOOD) & pairs["construct_b"].isin(GOOD)]
    assert len(good) == len(GOOD) * (len(GOOD) - 1) // 2
    assert good["strict_ok"].all() and good["liberal_ok"].all()
    assert (good["lower"] <= good["htmt"]).all() and (good["htmt"] <= good["upper"]).all()
    # with bootstrap the flag judges the upper bound
    judged = pairs["upper"] < THRESHOLDS["htmt_strict"]
    assert pairs["strict_ok"].tolist() == judged.tolist()
    assert result.htmt.loc["leadership", "planning"] == result.htmt.loc["planning", "leadership"]
    assert np.isnan(result.htmt.loc["leadership", "leadership"])


def test_tables_have_the_documented_shape(result):
    assert list(result.constructs.columns) == [
        "name", "items", "n", "alpha", "rho_a", "rho_c", "ave", "alpha_ok", "rho_a_ok",
        "rho_c_ok", "ave_ok", "fornell_larcker_ok"]
    assert list(result.constructs.index) == [c.id for c in INSTRUMENT.constructs]
    assert list(result.loadings.index) == INSTRUMENT.item_ids
    assert result.summary() is result.constructs
    assert result.respondents == 300 and result.bootstrap == 200
    diagonal = np.diag(result.fornell_larcker.to_numpy())
    expected = np.sqrt(result.constructs.loc[result.fornell_larcker.index, "ave"].to_numpy())
    np.testing.assert_allclose(diagonal, expected.astype(float))


def test_statistics_are_taken_after_reverse_keying(answers, result):
    turned = reverse_keyed(answers, INSTRUMENT)
    leadership = INSTRUMENT.construct("leadership").item_ids
    assert result.constructs.loc["leadership", "alpha"] == pytest.approx(
        cronbach_alpha(turned[leadership]))
    unturned = cronbach_alpha(answers[leadership])
    assert unturned < result.constructs.loc["leadership", "alpha"] - 0.2
    assert result.loadings.loc["lead5", "reverse"]
    assert result.loadings.loc["lead5", "loading"] > 0.708
    assert result.loadings.loc["lead5", "mean"] == pytest.approx(turned["lead5"].mean())


def test_forgetting_a_reverse_key_lowers_alpha_and_is_pointed_out(answers, result):
    text = INSTRUMENT.to_yaml()
    marker = "text: When deadlines are tight, management expects us to let quality slide.\n" \
             "    reverse: true"
    assert marker in text
    careless = load_instrument(text.replace(marker, marker.replace("true", "false")))
    found = assess_reliability(answers, careless)
    assert found.constructs.loc["leadership", "alpha"] < \
        result.constructs.loc["leadership", "alpha"] - 0.1
    assert any("lead5 correlates negatively" in w and "reverse-keyed" in w
               for w in found.warnings)


def test_constant_item_is_dropped_with_a_warning(answers):
    frame = answers.assign(info4=5.0)
    found = assess_reliability(frame, INSTRUMENT)
    assert any(w.startswith("Item info4 (Quality data and reporting) got the same answer (5) "
                            "from every respondent") for w in found.warnings)
    information = found.constructs.loc["information"]
    assert information["items"] == 3
    kept = [i for i in INSTRUMENT.construct("information").item_ids if i != "info4"]
    assert information["alpha"] == pytest.approx(cronbach_alpha(frame[kept]))
    assert np.isfinite(information[["alpha", "rho_a", "rho_c", "ave"]].astype(float)).all()
    assert not found.loadings.loc["info4", "used"]
    assert np.isnan(found.loadings.loc["info4", "loading"])
    assert found.loadings.loc["info4", "loading_ok"] is pd.NA


def test_missing_answers_follow_the_pairwise_rule_and_are_reported(answers):
    rng = np.random.default_rng(5)
    frame = answers.copy()
    frame.loc[rng.random(len(frame)) < 0.35, "plan1"] = np.nan
    frame.loc[rng.random(len(frame)) < 0.05, "plan2"] = np.nan
    found = assess_reliability(frame, INSTRUMENT)
    planning = INSTRUMENT.construct("planning").item_ids
    covariance = reverse_keyed(frame, INSTRUMENT)[planning].cov()   # pairwise-complete
    k = len(planning)
    expected = k / (k - 1) * (1 - np.trace(covariance) / covariance.to_numpy().sum())
    assert found.constructs.loc["planning", "alpha"] == pytest.approx(expected, abs=1e-10)
    assert found.loadings.loc["plan1", "answered"] == frame["plan1"].notna().sum()
    assert any(w.startswith("Item plan1 was left unanswered by 3") for w in found.warnings)
    scores = construct_scores(frame, INSTRUMENT)
    assert found.constructs.loc["planning", "n"] == scores["planning"].notna().sum()


def test_respondents_without_enough_answers_are_reported(answers):
    frame = answers.copy()
    frame.loc[: len(frame) // 3, ["supp1", "supp2"]] = np.nan
    found = assess_reliability(frame, INSTRUMENT)
    assert any("answered too few items of supplier to get a score" in w for w in found.warnings)


def test_too_few_respondents_warns_but_computes():
    found = assess_reliability(simulate(n=20, seed=3), INSTRUMENT)
    assert found.warnings[0].startswith("Only 20 respondents: reliability estimates from fewer "
                                        "than 30 are unstable")
    assert np.isfinite(found.constructs["alpha"].astype(float)).all()


@pytest.mark.parametrize("respondents", [0, 1, 2])
def test_fewer_than_three_respondents_gives_one_warning_and_no_statistics(respondents):
    found = assess_reliability(simulate(n=5, seed=4).iloc[:respondents], INSTRUMENT)
    plural = "" if respondents == 1 else "s"
    assert found.warnings == [f"Only {respondents} respondent{plural}: at least 3 are needed "
                              "before any reliability statistic can be computed."]
    assert found.constructs["alpha"].isna().all()
    assert found.constructs["alpha_ok"].isna().all()
    assert found.htmt_pairs.empty
    assert found.respondents == respondents


def test_single_usable_item_gets_no_statistics_and_a_warning(answers):
    frame = answers.assign(supp1=4.0, supp2=4.0)
    found = assess_reliability(frame, INSTRUMENT)
    supplier = found.constructs.loc["supplier"]
    assert supplier["items"] == 1
    assert np.isnan(supplier["alpha"]) and supplier["alpha_ok"] is pd.NA
    assert "Supplier quality has one usable item (supp3): its reliability cannot be estimated." \
        in found.warnings
    assert found.htmt.loc["supplier", "leadership"] > 0   # HTMT still defined for one item


def test_without_bootstrap_the_flags_judge_the_point_value(answers):
    found = assess_reliability(answers, INSTRUMENT)
    assert found.bootstrap == 0
    assert found.htmt_pairs["lower"].isna().all()
    judged = found.htmt_pairs["htmt"] < THRESHOLDS["htmt_liberal"]
    assert found.htmt_pairs["liberal_ok"].tolist() == judged.tolist()
