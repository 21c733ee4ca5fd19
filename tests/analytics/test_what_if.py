"""What-if simulation on a proportional hazards model: thinning is the exact expectation over
which events are removed (checked by listing every subset), flags and non-integer covariates,
value, parameter draws, groups and errors."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from qualityloop.analytics.relate import simulate_what_if


def survival(h0: float, eta: float) -> float:
    return float(np.exp(-h0 * np.exp(eta)))


def stay_share(h0: float, eta: float) -> float:
    cumulative = h0 * np.exp(eta)
    return float((1 - np.exp(-cumulative)) / cumulative)


def kept(sim, group: str | None = None) -> float:
    table = sim.interval("kept", by_group=group is not None)
    return float(table.loc[group or "total", "estimate"])


def test_thinning_a_count_is_the_average_over_every_subset_of_removed_events():
    beta, h0, count, cut = 0.6, 0.3, 3, 0.3
    expected = 0.0
    for removed in itertools.product([False, True], repeat=count):
        probability = np.prod([cut if r else 1 - cut for r in removed])
        expected += probability * survival(h0, beta * (count - sum(removed)))
    expected -= survival(h0, beta * count)
    sim = simulate_what_if([h0], pd.DataFrame({"d": [count]}), pd.Series({"d": beta}), [[0.0]],
                           {"d": -cut}, draws=0)
    assert kept(sim) == pytest.approx(expected, rel=1e-12)


def test_two_changes_at_once_average_over_their_joint_outcomes():
    beta = pd.Series({"d": 0.5, "open": 0.7})
    h0, d, cut_d, cut_open = 0.4, 2, 0.5, 0.25
    expected = 0.0
    for removed in range(d + 1):
        p_d = [0.25, 0.5, 0.25][removed]  # Binomial(2, 0.5)
        for closed, p_open in ((0, 1 - cut_open), (1, cut_open)):
            expected += p_d * p_open * survival(h0, 0.5 * (d - removed) + 0.7 * (1 - closed))
    expected -= survival(h0, 0.5 * d + 0.7)
    sim = simulate_what_if([h0], pd.DataFrame({"d": [d], "open": [1]}), beta, np.zeros((2, 2)),
                           {"d": -cut_d, "open": -cut_open}, draws=0)
    assert kept(sim) == pytest.approx(expected, rel=1e-12)


def test_cutting_a_flag_removes_it_for_that_share_of_the_exposed():
    X = pd.DataFrame({"flag": [1, 0, 1]})
    sim = simulate_what_if([0.2, 0.2, 0.5], X, pd.Series({"flag": 0.8}), [[0.0]],
                           {"flag": -0.4}, draws=0)
    expected = sum(0.4 * (survival(h, 0) - survival(h, 0.8)) for h in (0.2, 0.5))
    assert kept(sim) == pytest.approx(expected)
    assert sim.affected.sum() == 2 and sim.subjects.sum() == 3


def test_a_non_integer_covariate_is_scaled():
    sim = simulate_what_if([0.3], pd.DataFrame({"share": [0.5]}), pd.Series({"share": 1.0}),
                           [[0.0]], {"share": -0.5}, draws=0)
    assert kept(sim) == pytest.approx(survival(0.3, 0.25) - survival(0.3, 0.5))


def test_value_scales_with_the_expected_share_of_the_horizon_kept():
    sim = simulate_what_if([0.5], pd.DataFrame({"flag": [1]}), pd.Series({"flag": 1.0}),
                           [[0.0]], {"flag": -1.0}, values=[1000.0], draws=0)
    expected = 1000.0 * (stay_share(0.5, 0.0) / stay_share(0.5, 1.0) - 1)
    assert float(sim.interval("value").loc["total", "estimate"]) == pytest.approx(expected)


def test_centring_means_shift_the_linear_predictor():
    X = pd.DataFrame({"d": [2]})
    centred = simulate_what_if([0.3], X, pd.Series({"d": 0.5}), [[0.0]], {"d": -1.0},
                               means=pd.Series({"d": 1.0}), draws=0)
    assert kept(centred) == pytest.approx(survival(0.3, -0.5) - survival(0.3, 0.5))


def test_no_change_gives_exactly_zero_and_bigger_cuts_keep_more():
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"d": rng.poisson(1.0, 300), "open": rng.integers(0, 2, 300)})
    beta = pd.Series({"d": 0.47, "open": 0.69})
    covariance = np.diag([0.003, 0.04])
    h0 = rng.uniform(0.05, 0.5, 300)
    values = rng.gamma(2, 1000, 300)

    def run(change: float):
        return simulate_what_if(h0, X, beta, covariance, {"d": change}, values=values,
                                draws=100, seed=5)

    zero = run(0.0)
    assert (zero.kept.to_numpy() == 0).all() and (zero.value.to_numpy() == 0).all()
    results = [run(c) for c in (-0.1, -0.3, -0.6, -1.0)]
    for smaller, bigger in itertools.pairwise(results):
        # same seed, same draws: every draw with a positive coefficient keeps more
        assert (bigger.kept.to_numpy() > smaller.kept.to_numpy()).all()
        assert (bigger.value.to_numpy() > smaller.value.to_numpy()).all()
    rise = run(0.3)
    assert kept(rise) < 0


def test_draws_give_an_interval_around_the_estimate_reproducibly():
    X = pd.DataFrame({"d": [0, 1, 2, 3] * 50})
    args = ([0.2] * 200, X, pd.Series({"d": 0.47}), [[0.01]], {"d": -0.3})
    sim = simulate_what_if(*args, draws=300, seed=1)
    total = sim.interval("kept").loc["total"]
    assert total["lower"] < total["estimate"] < total["upper"]
    assert sim.kept.shape == (301, 1)
    again = simulate_what_if(*args, draws=300, seed=1)
    pd.testing.assert_frame_equal(sim.kept, again.kept)
    certain = simulate_what_if(*args[:3], [[0.0]], args[4], draws=50, seed=1)
    row = certain.interval("kept").loc["total"]
    assert row["lower"] == pytest.approx(row["estimate"]) == pytest.approx(row["upper"])


def test_groups_add_up_to_the_total():
    X = pd.DataFrame({"d": [1, 2, 0, 3]})
    sim = simulate_what_if([0.2, 0.3, 0.4, 0.1], X, pd.Series({"d": 0.5}), [[0.01]],
                           {"d": -0.5}, groups=["a", "b", "a", "b"], draws=20)
    by_group = sim.interval("kept", by_group=True)
    assert list(by_group.index) == ["a", "b"]
    assert by_group["estimate"].sum() == pytest.approx(kept(sim))
    assert sim.affected.to_dict() == {"a": 1, "b": 2}


@pytest.mark.parametrize("changes, kwargs, message", [
    ({"nps": -0.3}, {}, "cannot change 'nps': it is not a covariate"),
    ({"d": -1.5}, {}, "at least -1"),
    ({"flag": 0.2}, {}, "'flag' is a yes/no exposure: it can only be cut"),
    ({"d": -0.3}, {"cumulative_hazard": [0.1]}, "cumulative_hazard has 1 values for 2"),
    ({"d": -0.3}, {"cumulative_hazard": [0.1, np.nan]}, "missing or infinite value at "
                                                       "position 1"),
    ({"d": -0.3}, {"covariance": [[0.1]]}, "covariance must be 2 x 2"),
    ({"d": -0.3}, {"draws": -1}, "draws must be >= 0"),
])
def test_clear_errors(changes, kwargs, message):
    arguments = {"cumulative_hazard": [0.1, 0.2], "covariance": np.eye(2) * 0.01, "draws": 5}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        simulate_what_if(arguments["cumulative_hazard"],
                         pd.DataFrame({"d": [1, 2], "flag": [0, 1]}),
                         pd.Series({"d": 0.5, "flag": 0.3}), arguments["covariance"], changes,
                         draws=arguments["draws"])


def test_docstring_examples_run():
    import doctest

    from qualityloop.analytics.relate import what_if

    result = doctest.testmod(what_if, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
