"""Construct scores: answer checks, reverse keying, the missing-answer rule, aggregation and the
missing report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qualityloop.analytics.assessment import (
    ResponseError,
    aggregate_scores,
    builtin_instrument,
    construct_scores,
    load_instrument,
    missing_report,
    reverse_keyed,
    validate_responses,
)

SMALL = load_instrument("""
id: small
name: Small
version: "1"
scale: {min: 1, max: 5}
constructs:
  - id: lead
    name: Leadership
    items:
      - {id: l1, text: a}
      - {id: l2, text: b}
      - {id: l3, text: c}
      - {id: l4, text: d, reverse: true}
  - id: data
    name: Data
    items:
      - {id: d1, text: a}
      - {id: d2, text: b}
      - {id: d3, text: c}
""")


def answers(**columns) -> pd.DataFrame:
    frame = pd.DataFrame({item: [3.0, 3.0] for item in SMALL.item_ids})
    for name, values in columns.items():
        frame[name] = values
    return frame


def test_out_of_scale_and_non_numeric_answers_are_listed_by_row_and_column():
    frame = answers(l1=[0, 3], d2=["x", "4"], d3=[2.5, ""])
    with pytest.raises(ResponseError) as caught:
        validate_responses(frame, SMALL)
    assert [(p.row, p.column, p.value) for p in caught.value.problems] == [
        (0, "l1", 0), (0, "d2", "x"), (0, "d3", 2.5)]
    assert str(caught.value).splitlines() == [
        "3 answers are not on the scale",
        "row 0, column 'l1': expected a whole number from 1 to 5 or nothing, got 0",
        "row 0, column 'd2': expected a whole number from 1 to 5 or nothing, got 'x'",
        "row 0, column 'd3': expected a whole number from 1 to 5 or nothing, got 2.5",
    ]


def test_numbers_as_text_and_blanks_are_accepted():
    frame = answers(d2=["4", " "], unit=["A", "B"])
    checked = validate_responses(frame, SMALL)
    assert checked["d2"].tolist()[0] == 4.0
    assert np.isnan(checked["d2"].tolist()[1])
    assert checked["unit"].tolist() == ["A", "B"]


def test_missing_item_columns_are_named():
    with pytest.raises(ValueError, match="responses has no column 'd3'"):
        validate_responses(answers().drop(columns="d3"), SMALL)


def test_reverse_keyed_items_are_turned_round_and_scores_invert():
    frame = answers(l1=[5, 1], l2=[5, 1], l3=[5, 1], l4=[1, 5])
    turned = reverse_keyed(frame, SMALL)
    assert turned["l4"].tolist() == [5.0, 1.0]
    assert turned["l1"].tolist() == [5.0, 1.0]
    scores = construct_scores(frame, SMALL)
    assert scores["lead"].tolist() == [5.0, 1.0]
    flipped = construct_scores(frame.assign(l4=[5, 1]), SMALL)
    assert flipped["lead"].tolist() == [4.0, 2.0]


def test_missing_answer_rule_mean_of_answered_items_when_at_least_half_answered():
    # lead has 4 items: 2 answered is enough (mean of those two), 1 is not.
    # data has 3 items: ceil(1.5) = 2 answered needed.
    frame = pd.DataFrame({
        "l1": [4, 4, np.nan], "l2": [2, np.nan, np.nan], "l3": [np.nan, np.nan, np.nan],
        "l4": [np.nan, np.nan, 1],
        "d1": [5, 5, np.nan], "d2": [3, np.nan, np.nan], "d3": [np.nan, np.nan, np.nan],
    })
    scores = construct_scores(frame, SMALL)
    assert scores["lead"].iloc[0] == 3.0                  # (4 + 2) / 2
    assert scores["lead"].iloc[1:].isna().all()           # one of four answered

    assert scores["data"].tolist()[0] == 4.0
    assert np.isnan(scores["data"].tolist()[1])
    strict = construct_scores(frame, SMALL, min_answered=1.0)
    assert strict["lead"].isna().all()
    lenient = construct_scores(frame, SMALL, min_answered=0.25)
    assert lenient["lead"].tolist() == [3.0, 4.0, 5.0]


def test_min_answered_must_be_a_share():
    with pytest.raises(ValueError, match=r"min_answered must be a share in \(0, 1\]"):
        construct_scores(answers(), SMALL, min_answered=2)


def test_scores_keep_identifying_columns_and_index():
    frame = answers(respondent=["r1", "r2"], unit=["A", "B"]).set_axis([10, 11])
    scores = construct_scores(frame, SMALL)
    assert list(scores.columns) == ["respondent", "unit", "lead", "data"]
    assert list(scores.index) == [10, 11]


def test_aggregate_by_unit_and_round_with_maturity_index():
    frame = pd.DataFrame({
        "unit": ["A", "A", "A", "B"], "round": [1, 1, 2, 1],
        "l1": [5, 3, 1, 2], "l2": [5, 3, 1, 2], "l3": [5, 3, 1, 2], "l4": [1, 3, 5, 4],
        "d1": [4, 2, 1, 5], "d2": [4, 2, 1, 5], "d3": [4, 2, 1, 5],
    })
    table = aggregate_scores(construct_scores(frame, SMALL))
    assert list(table.columns) == ["unit", "round", "construct", "mean", "sd", "n", "maturity"]
    assert table[["unit", "round", "construct"]].values.tolist() == [
        ["A", 1, "lead"], ["A", 1, "data"], ["A", 2, "lead"], ["A", 2, "data"],
        ["B", 1, "lead"], ["B", 1, "data"]]
    first = table.iloc[0]
    assert first["mean"] == 4.0
    assert first["sd"] == pytest.approx(np.std([5.0, 3.0], ddof=1))
    assert first["n"] == 2
    assert first["maturity"] == 75.0          # (4 - 1) / (5 - 1) * 100
    assert np.isnan(table.iloc[2]["sd"])     # one respondent
    assert table.iloc[2]["maturity"] == 0.0


def test_aggregate_overall_and_without_attrs():
    frame = answers(l1=[5, 1], l2=[5, 1], l3=[5, 1], l4=[1, 5])
    scores = construct_scores(frame, SMALL)
    overall = aggregate_scores(scores, by=[])
    assert overall["construct"].tolist() == ["lead", "data"]
    assert overall["mean"].tolist() == [3.0, 3.0]
    plain = pd.DataFrame(scores)
    plain.attrs = {}
    with pytest.raises(ValueError, match="pass instrument="):
        aggregate_scores(plain, by=[])
    assert aggregate_scores(plain, by=[], instrument=SMALL).equals(overall)


def test_respondents_without_a_score_do_not_count():
    frame = answers(unit=["A", "A"], d1=[4, np.nan], d2=[4, np.nan])
    table = aggregate_scores(construct_scores(frame, SMALL), by=["unit"])
    data = table[table["construct"] == "data"].iloc[0]
    assert data["n"] == 1
    assert data["mean"] == pytest.approx(11 / 3)   # (4 + 4 + 3) / 3


def test_missing_report_per_item_and_construct():
    frame = answers(l1=[np.nan, np.nan], d1=[np.nan, 4], d2=[np.nan, 4])
    report = missing_report(frame, SMALL)
    assert report.respondents == 2
    assert report.items.loc["l1", "share_missing"] == 1.0
    assert report.items.loc["d1", "n_missing"] == 1
    assert report.items.loc["l1", "construct"] == "lead"
    assert report.constructs.loc["lead", "share_missing"] == pytest.approx(2 / 8)
    assert report.constructs.loc["data", "share_missing"] == pytest.approx(2 / 6)
    assert report.constructs.loc["data", "share_unscored"] == 0.5
    assert report.constructs.loc["lead", "share_unscored"] == 0.0


def test_builtin_instrument_scores_every_construct():
    instrument = builtin_instrument()
    frame = pd.DataFrame({item: [7] for item in instrument.item_ids})
    frame[instrument.reverse_item_ids] = 1
    scores = construct_scores(frame, instrument)
    assert scores.iloc[0].tolist() == [7.0] * len(instrument.constructs)


def test_polars_responses_are_accepted():
    polars = pytest.importorskip("polars")
    frame = polars.from_pandas(answers(unit=["A", "B"]))
    scores = construct_scores(frame, SMALL)
    assert scores["unit"].tolist() == ["A", "B"]
    assert scores["data"].tolist() == [3.0, 3.0]
