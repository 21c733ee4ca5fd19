"""Pareto table, cause-and-effect diagram, histogram and scatter helpers, DPMO and sigma level;
and the docstring examples of the whole SPC package."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pandas as pd
import pytest

from qualityloop.analytics.spc import tools
from qualityloop.analytics.spc.plotting import fishbone_layout


def test_pareto_matches_qcc_example():
    # qcc's pareto.chart help example: defects by cause; qcc prints the cumulative percents
    # 31.33, 58.00, 80.00, 91.00, 100.00 in the order contact num., price code, supplier code,
    # part num., schedule date.
    causes = ["price code", "schedule date", "supplier code", "contact num.", "part num."]
    result = tools.pareto(causes, [80, 27, 66, 94, 33])
    table = result.table
    assert table["category"].tolist() == ["contact num.", "price code", "supplier code",
                                          "part num.", "schedule date"]
    assert table["cumulative_percent"].round(2).tolist() == [31.33, 58.0, 80.0, 91.0, 100.0]
    assert table["cumulative_count"].tolist() == [94, 174, 240, 273, 300]
    assert result.vital_few == ["contact num.", "price code", "supplier code"]
    assert table["percent"].sum() == pytest.approx(100)


def test_pareto_from_occurrences_series_and_mapping():
    causes = ["seal", "label", "seal", "dent", "seal", "label", None]
    from_list = tools.pareto(causes)
    assert from_list.table[["category", "count"]].values.tolist() == [
        ["seal", 3], ["label", 2], ["dent", 1]]
    assert from_list.vital_few == ["seal", "label"]  # label crosses 80 %: it is included
    counted = tools.pareto(pd.Series(causes).value_counts())
    assert counted.table["count"].tolist() == [3, 2, 1]
    assert tools.pareto({"a": 5, "b": 15}).table["category"].tolist() == ["b", "a"]
    assert tools.pareto(causes, threshold=50).vital_few == ["seal"]


def test_pareto_plot():
    spec = tools.pareto({"a": 5, "b": 15, "c": 1}).plot().to_dict()
    assert len(spec["layer"]) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((["a", "b"], [1]), "one value per category"),
        ((["a", "a"], [1, 2]), "appears twice"),
        ((["a"], [-1]), "not negative"),
        (([],), "no categories"),
        ((["a", "b"], [0, 0]), "zero"),
    ],
)
def test_pareto_errors(args, message):
    with pytest.raises(ValueError, match=message):
        tools.pareto(*args)


def test_cause_and_effect_structure_and_drawing():
    causes = {category: [f"{category} cause {i}" for i in range(k)]
              for k, category in enumerate(tools.SIX_M, start=1)}
    diagram = tools.cause_and_effect("  Cans leak ", causes)
    assert diagram.effect == "Cans leak"
    assert len(diagram.table) == sum(range(1, 7))
    assert diagram.summary()["causes"].tolist() == [1, 2, 3, 4, 5, 6]
    segments, labels = fishbone_layout(diagram)
    assert len(segments) == 1 + 6 + 21  # spine, bones, one tick per cause
    categories = labels[labels["kind"] == "category"]
    assert (categories["y"] > 0).sum() == 3 and (categories["y"] < 0).sum() == 3
    assert labels.loc[labels["kind"] == "effect", "text"].tolist() == ["Cans leak"]
    spec = diagram.plot().to_dict()
    assert spec["title"] == "Cause and effect: Cans leak"


@pytest.mark.parametrize(
    ("effect", "causes", "message"),
    [
        ("", {"Man": ["x"]}, "effect"),
        ("late", {}, "at least one category"),
        ("late", {"Man": "tired"}, "list of texts"),
        ("late", {"Man": ["tired", ""]}, "non-empty texts"),
        ("late", {"": ["x"]}, "category names"),
    ],
)
def test_cause_and_effect_errors(effect, causes, message):
    with pytest.raises(ValueError, match=message):
        tools.cause_and_effect(effect, causes)


def test_histogram_and_scatter():
    rng = np.random.default_rng(5)
    spec = tools.histogram(rng.normal(size=50), lsl=-3, usl=3).to_dict()
    assert len(spec["layer"]) == 2
    x = np.arange(10.0)
    y = 2 * x + rng.normal(scale=3, size=10)
    chart = tools.scatter(x, y, x_title="speed", y_title="scrap")
    r = np.corrcoef(x, y)[0, 1]
    assert 0.5 < r < 0.99
    assert chart.to_dict()["title"] == f"scrap against speed (r = {r:.3f})"
    with pytest.raises(ValueError, match="equal length"):
        tools.scatter([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="no finite"):
        tools.histogram([np.nan])


def test_dpmo_and_sigma_level_match_the_six_sigma_table():
    assert tools.dpmo(defects=5, units=200, opportunities=25) == pytest.approx(1000.0)
    # the usual conversion table (1.5 sigma shift)
    for defects_per_million, level in ((3.4, 6.0), (233, 5.0), (6210, 4.0), (66807, 3.0),
                                       (308538, 2.0), (691462, 1.0)):
        assert tools.sigma_level(defects_per_million) == pytest.approx(level, abs=0.005)
    assert tools.sigma_level(1350, shift=0) == pytest.approx(3.0, abs=0.001)
    for bad in (0, 1e6, -5):
        with pytest.raises(ValueError, match="DPMO"):
            tools.sigma_level(bad)
    with pytest.raises(ValueError, match="units > 0"):
        tools.dpmo(1, 0)
    with pytest.raises(ValueError, match="exceed"):
        tools.dpmo(11, 10, 1)


@pytest.mark.parametrize("module", ["constants", "rules", "charts", "capability", "tools",
                                    "plotting"])
def test_docstring_examples_run(module):
    imported = importlib.import_module(f"qualityloop.analytics.spc.{module}")
    result = doctest.testmod(imported, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


def _point_layer(spec):
    return next(layer for layer in spec["layer"] if layer["mark"]["type"] == "point")


def test_control_chart_marks_points_left_out_in_phase_one_only():
    from qualityloop.analytics.spc import c_chart
    from qualityloop.analytics.spc.plotting import plot_control_chart

    counts = [3, 5, 4, 30, 2, 4, 5, 3, 4, 6]
    phase_one = c_chart(counts, exclude_out_of_control=True)
    assert phase_one.excluded == [3]
    shape = _point_layer(plot_control_chart(phase_one).to_dict())["encoding"]["shape"]
    assert shape["field"] == "estimate"

    phase_two = c_chart([4, 5, 3], limits=phase_one)
    encoding = _point_layer(plot_control_chart(phase_two).to_dict())["encoding"]
    assert "shape" not in encoding and encoding["color"]["field"] == "status"
