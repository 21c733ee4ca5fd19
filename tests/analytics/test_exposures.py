"""counting_process: the start/stop rules on hand-made subjects (DuckDB; Spark parity is in
test_exposures_parity.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from qualityloop.analytics.exposures import counting_process, counting_process_expr


def subjects(*rows) -> pd.DataFrame:
    """(customer_id, entry date, duration, event) rows."""
    frame = pd.DataFrame(rows, columns=["customer_id", "acquired_on", "duration", "event"])
    return frame.assign(acquired_on=pd.to_datetime(frame["acquired_on"]))


def changes(*rows) -> pd.DataFrame:
    """(customer_id, date, covariate, value) rows."""
    frame = pd.DataFrame(rows, columns=["customer_id", "day", "covariate", "value"])
    return frame.assign(day=pd.to_datetime(frame["day"]), value=frame["value"].astype(float))


def build(people, moves, interval=None, **names) -> pd.DataFrame:
    return counting_process(people, moves, counters=["defects"], latest=["nps"],
                            interval=interval, **names)


def test_splits_at_each_change_day_and_counts_from_it():
    table = build(subjects((1, "2024-01-10", 100, 1)),
                  changes((1, "2024-01-20", "defects", 1), (1, "2024-01-20", "defects", 1),
                          (1, "2024-02-09", "nps", 6), (1, "2024-03-01", "defects", -1)))
    assert table[["start", "stop", "event"]].values.tolist() == [
        [0, 10, 0], [10, 30, 0], [30, 51, 0], [51, 100, 1]]
    assert table["defects"].tolist() == [0, 2, 2, 1]  # two on one day: one split, both count
    assert table["nps"].isna().tolist() == [True, True, False, False]
    assert table["nps"].tolist()[2:] == [6, 6]  # carried forward


def test_changes_before_entry_count_from_day_zero_and_on_or_after_the_stop_not_at_all():
    table = build(subjects((1, "2024-01-10", 30, 1)),
                  changes((1, "2023-12-01", "defects", 1), (1, "2024-02-09", "defects", 1),
                          (1, "2024-03-01", "nps", 9)))
    assert table[["start", "stop", "event", "defects"]].values.tolist() == [[0, 30, 1, 1]]
    assert table["nps"].isna().all()


def test_the_latest_of_several_values_on_a_row_wins():
    moves = changes((1, "2024-01-20", "nps", 3), (1, "2024-01-20", "nps", 8),
                    (1, "2024-01-15", "nps", 10))
    table = build(subjects((1, "2024-01-10", 60, 0)), moves)
    assert table["start"].tolist() == [0, 5, 10]
    assert table["nps"].tolist()[1:] == [10, 8]  # same day, no order: the greater value wins
    by_order = build(subjects((1, "2024-01-10", 60, 0)), moves.assign(order=[2, 1, 0]))
    assert by_order["nps"].tolist()[-1] == 3  # same day: the greater order wins
    monthly = build(subjects((1, "2024-01-10", 60, 0)), moves, interval="month")
    assert monthly["nps"].tolist()[-1] == 8  # 15 and 20 January both count from 1 February


def test_monthly_splits_at_month_starts_and_counts_changes_from_the_next_one():
    table = build(subjects((1, "2024-01-10", 60, 1)),
                  changes((1, "2024-01-31", "defects", 1), (1, "2024-02-01", "defects", 1)),
                  interval="month")
    assert table[["start", "stop"]].values.tolist() == [[0, 22], [22, 51], [51, 60]]
    assert table["defects"].tolist() == [0, 1, 2]


def test_subjects_lost_on_entry_get_half_a_day_and_never_at_risk_none():
    table = build(subjects((1, "2024-01-10", 0, 1), (2, "2024-01-10", 0, 0),
                           (3, "2024-01-10", 5, 0)),
                  changes((1, "2024-01-10", "defects", 1)))
    assert table.values.tolist()[0][:5] == [1, 0, 0.5, 1, 0]
    assert table["customer_id"].tolist() == [1, 3]
    assert table.dtypes.astype(str).tolist() == ["int64", "float64", "float64", "int64",
                                                 "float64", "float64"]


def test_day_numbers_and_other_column_names():
    people = subjects((5, "2024-01-10", 40, 1)).rename(
        columns={"customer_id": "who", "acquired_on": "won", "duration": "days",
                 "event": "lost"})
    people["won"] = (people["won"] - pd.Timestamp("1970-01-01")).dt.days
    moves = changes((5, "2024-01-20", "defects", 1)).rename(columns={"customer_id": "who"})
    table = build(people, moves, subject="who", entry="won", duration="days", event="lost")
    assert table.columns[:4].tolist() == ["who", "start", "stop", "event"]
    assert table["defects"].tolist() == [0, 1]


def test_unknown_covariates_are_ignored_and_bad_input_named():
    people = subjects((1, "2024-01-10", 40, 1))
    table = build(people, changes((1, "2024-01-20", "something_else", 1)))
    assert len(table) == 1
    with pytest.raises(ValueError, match="interval"):
        build(people, changes(), interval="week")
    with pytest.raises(ValueError, match="distinct"):
        counting_process_expr(people, changes(), counters=["a"], latest=["a"])
    with pytest.raises(ValueError, match="'day' of changes must hold dates"):
        build(people, changes((1, "2024-01-20", "defects", 1)).assign(day="x"))
    with pytest.raises(ValueError, match="no column 'duration'"):
        build(people.drop(columns="duration"), changes())


def test_docstring_examples_run():
    import doctest

    from qualityloop.analytics import exposures

    result = doctest.testmod(exposures)
    assert result.attempted >= 1 and result.failed == 0
