"""Run rules: hand-made series that trigger each rule exactly once, and a clean series."""

from __future__ import annotations

import numpy as np
import pytest

from qualityloop.analytics.spc import RULE_SETS, c_chart, check_rules
from qualityloop.analytics.spc.rules import run_length, trailing_count

# A repeating cycle (in sigmas from the center) that triggers no rule of either set: no run on
# one side longer than 2, no trend longer than 2, no long alternation, 1 sigma crossed every
# few points, never 2 sigma.
CYCLE = [0.5, 1.5, -0.5, -1.5, -0.7, 0.6]
CLEAN = CYCLE * 5
HEAD = CLEAN[:10]  # ends at -1.5
TAIL = [-1.5] + CLEAN[4:16]  # starts at -1.5

# (rule set, rule) -> (points before, pattern, points after). The rule signals once, at the
# last point of the pattern.
CASES = {
    ("western_electric", 1): (HEAD, [3.5], TAIL),
    ("western_electric", 2): (HEAD, [2.5, 0.5, 2.4], TAIL),
    ("western_electric", 3): (HEAD, [1.5, 1.2, -0.3, 1.4, 1.1], TAIL),
    ("western_electric", 4): (HEAD, [0.4, 0.8, 0.3, 0.9, 0.2, 0.7, 0.5, 0.6], TAIL),
    ("nelson", 1): (HEAD, [-3.4], TAIL),
    ("nelson", 2): (HEAD, [0.4, 0.8, 0.3, 0.9, 0.2, 0.7, 0.5, 0.6, 0.3], TAIL),
    # with HEAD's last point (-1.5): six points steadily increasing
    ("nelson", 3): (HEAD, [-0.9, -0.5, 0.0, 0.4, 0.8], TAIL),
    # HEAD's last two points (-0.5, -1.5) start the alternation: 14 points up and down
    ("nelson", 4): (HEAD, [1.2, -0.5, 1.1, -0.6, 0.5, -1.2, 0.6, -1.1, 1.3, -0.5, 0.6, -1.1],
                    TAIL),
    ("nelson", 5): (HEAD, [2.5, 0.5, 2.4], TAIL),
    ("nelson", 6): (HEAD, [1.5, 1.2, -0.3, 1.4, 1.1], TAIL),
    ("nelson", 7): (HEAD, [0.5, 0.3, -0.4, -0.2, 0.6, 0.1, -0.3, -0.5, 0.2, 0.4, -0.1, -0.6,
                           0.3, 0.5, -0.2], TAIL),
    ("nelson", 8): (CLEAN[:9], [1.5, 1.6, -1.4, -1.5, 1.5, 1.4, -1.6, -1.5], CLEAN[2:14]),
}


@pytest.mark.parametrize("rules", list(RULE_SETS))
def test_clean_series_triggers_nothing(rules):
    series = np.array(CLEAN * 3)
    assert check_rules(series, 0.0, 1.0, rules).empty
    # the same on another scale: rules read sigmas of the plotted statistic
    assert check_rules(50 + 0.2 * series, 50, 0.2, rules).empty


@pytest.mark.parametrize(("rule_set", "number"), list(CASES))
def test_each_rule_triggers_exactly_once(rule_set, number):
    head, pattern, tail = CASES[(rule_set, number)]
    series = np.array(head + pattern + tail)
    expected_at = len(head) + len(pattern) - 1
    table = check_rules(series, 0.0, 1.0, rule_set)
    assert table.to_dict("records") == [
        {"subgroup": expected_at, "rule": number,
         "description": dict((n, d) for n, _, d in RULE_SETS[rule_set])[number]}
    ]
    rule = next(f for n, f, _ in RULE_SETS[rule_set] if n == number)
    assert np.flatnonzero(rule(series, 0.0, 1.0)).tolist() == [expected_at]


def test_rules_take_sigma_per_point():
    # a point 2.5 units out is beyond 3 sigma where sigma is 0.8 but not where it is 1
    values = np.array([0.0, 2.5, 0.0, 2.5])
    sigma = np.array([1.0, 1.0, 0.8, 0.8])
    flagged = RULE_SETS["nelson"][0][1](values, 0.0, sigma)
    assert flagged.tolist() == [False, False, False, True]


def test_pattern_continuing_signals_at_each_further_point():
    series = np.array(HEAD + [0.5] * 10 + TAIL)
    table = check_rules(series, 0.0, 1.0, "nelson")
    assert table.loc[table["rule"] == 2, "subgroup"].tolist() == [18, 19]


def test_helpers():
    assert run_length(np.array([1, 1, 0, 1, 1, 1], dtype=bool)).tolist() == [1, 2, 0, 1, 2, 3]
    assert trailing_count(np.array([1, 0, 1, 1], dtype=bool), 3).tolist() == [1, 1, 2, 2]


def test_chart_violations_table_and_rule_set_choice():
    counts = [20, 22, 18, 21, 19, 20, 23, 17, 20, 45, 21, 19]
    chart = c_chart(counts, exclude=[9], rules="nelson")
    assert chart.violations.to_dict("records")[0] == {
        "subgroup": 9, "rule": 1, "description": "1 point beyond 3 sigma"}
    assert c_chart(counts, rules=None).violations.empty
    assert list(chart.violations.columns) == ["subgroup", "rule", "description"]
    assert chart.summary().loc[9, "rules"] == "1"


def test_bad_sigma_is_refused():
    with pytest.raises(ValueError, match="positive"):
        check_rules([1.0, 2.0], 0.0, 0.0)
