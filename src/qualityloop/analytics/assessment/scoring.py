"""Construct scores from survey answers: checking answers against the instrument's scale,
turning reverse-keyed items round, scoring each respondent, aggregating by unit and round, and
reporting what is missing.

Responses are a wide table: one row per respondent, identifying columns (respondent, unit,
round, ...) and one column per item id holding the answer on the instrument's scale, or missing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from qualityloop.analytics.assessment.instrument import Instrument
from qualityloop.analytics.validation import require_columns, to_pandas

MAX_LISTED_PROBLEMS = 20
AGGREGATE_COLUMNS = ["construct", "mean", "sd", "n", "maturity"]


@dataclass(frozen=True)
class AnswerProblem:
    """One answer that is not on the scale: the row label, the item column, the value found and
    what was expected."""

    row: Any
    column: str
    value: Any
    expected: str

    def __str__(self) -> str:
        return f"row {self.row!r}, column {self.column!r}: {self.expected}, got {self.value!r}"


class ResponseError(ValueError):
    """Answers that cannot be scored. ``problems`` lists every :class:`AnswerProblem` (the
    message shows the first 20 and how many more there are)."""

    def __init__(self, problems: list[AnswerProblem], header: str = "") -> None:
        self.problems = problems
        lines = [str(p) for p in problems[:MAX_LISTED_PROBLEMS]]
        if len(problems) > MAX_LISTED_PROBLEMS:
            lines.append(f"... and {len(problems) - MAX_LISTED_PROBLEMS} more")
        super().__init__("\n".join(([header] if header else []) + lines))


def validate_responses(responses: Any, instrument: Instrument) -> pd.DataFrame:
    """Check every answer against the instrument and return the responses with numeric answers.

    An answer is a whole number from ``scale_min`` to ``scale_max``, or missing (NaN, None or
    blank text). Numbers written as text (``"5"``) are accepted, as CSV imports produce them.
    Columns that are not item ids (respondent, unit, round, ...) are kept unchanged.

    Parameters
    ----------
    responses : pandas or polars DataFrame
        One row per respondent, one column per item id of ``instrument``.
    instrument : Instrument

    Returns
    -------
    pandas.DataFrame
        A copy with every item column as float (NaN for a missing answer).

    Raises
    ------
    ValueError
        When item columns are missing (naming them).
    ResponseError
        Listing every bad answer by row label, column and what was expected.

    Examples
    --------
    >>> import pandas as pd
    >>> from qualityloop.analytics.assessment import builtin_instrument
    >>> instrument = builtin_instrument()
    >>> answers = pd.DataFrame({item: [4, 5] for item in instrument.item_ids})
    >>> answers.loc[1, "lead1"] = 9
    >>> validate_responses(answers, instrument)
    Traceback (most recent call last):
    ...
    qualityloop.analytics.assessment.scoring.ResponseError: 1 answer is not on the scale
    row 1, column 'lead1': expected a whole number from 1 to 7 or nothing, got 9
    """
    frame = to_pandas(responses)
    require_columns(frame, instrument.item_ids, what="responses")
    result = frame.copy()
    problems: list[AnswerProblem] = []
    for item_id in instrument.item_ids:
        result[item_id], found = _answers(frame[item_id], instrument)
        problems.extend(found)
    if problems:
        plural = "answer is" if len(problems) == 1 else "answers are"
        raise ResponseError(problems, f"{len(problems)} {plural} not on the scale")
    return result


def reverse_keyed(responses: Any, instrument: Instrument) -> pd.DataFrame:
    """Turn the reverse-keyed items round: ``scale_min + scale_max - answer``.

    After this, a higher answer means more of the construct for every item. Missing answers stay
    missing; other columns are unchanged. The answers are checked first
    (:func:`validate_responses`).

    Examples
    --------
    >>> import pandas as pd
    >>> from qualityloop.analytics.assessment import builtin_instrument
    >>> instrument = builtin_instrument()
    >>> answers = pd.DataFrame({item: [2.0] for item in instrument.item_ids})
    >>> turned = reverse_keyed(answers, instrument)
    >>> float(turned.loc[0, "lead1"]), float(turned.loc[0, "lead5"])  # lead5 is reverse-keyed
    (2.0, 6.0)
    """
    frame = validate_responses(responses, instrument)
    for item_id in instrument.reverse_item_ids:
        frame[item_id] = instrument.scale_min + instrument.scale_max - frame[item_id]
    return frame


def construct_scores(
    responses: Any, instrument: Instrument, min_answered: float = 0.5
) -> pd.DataFrame:
    """One score per respondent and construct: the mean of the answered items, after reversing.

    Missing answers: a respondent's construct score is the mean of the items they answered, as
    long as they answered at least ``min_answered`` (a share) of the construct's items;
    otherwise the score is NaN. With the default 0.5, two of four items are enough, one is not.

    Parameters
    ----------
    responses : pandas or polars DataFrame
        Wide answers (see :func:`validate_responses`).
    instrument : Instrument
    min_answered : float, default 0.5
        Share of a construct's items (in (0, 1]) that must be answered for a score.

    Returns
    -------
    pandas.DataFrame
        Same rows and index as ``responses``: the non-item columns, then one float column per
        construct id, on the instrument's scale. ``attrs`` holds ``scale`` (min, max) and
        ``constructs`` (the construct ids) for :func:`aggregate_scores`.

    Examples
    --------
    >>> import pandas as pd
    >>> from qualityloop.analytics.assessment import builtin_instrument
    >>> instrument = builtin_instrument()
    >>> answers = pd.DataFrame({item: [6.0] for item in instrument.item_ids})
    >>> answers["unit"] = "Plant A"
    >>> answers.loc[0, "lead5"] = 2.0   # reverse-keyed: counts as 6
    >>> scores = construct_scores(answers, instrument)
    >>> float(scores.loc[0, "leadership"])
    6.0
    """
    if not 0 < min_answered <= 1:
        raise ValueError(f"min_answered must be a share in (0, 1], got {min_answered!r}")
    frame = reverse_keyed(responses, instrument)
    others = [c for c in frame.columns if c not in set(instrument.item_ids)]
    scores = frame[others].copy()
    for construct in instrument.constructs:
        block = frame[construct.item_ids]
        needed = math.ceil(min_answered * len(construct.items) - 1e-9)
        enough = block.notna().sum(axis=1) >= needed
        scores[construct.id] = block.mean(axis=1).where(enough)
    scores.attrs = {"scale": (instrument.scale_min, instrument.scale_max),
                    "constructs": [c.id for c in instrument.constructs]}
    return scores


def aggregate_scores(
    scores: pd.DataFrame,
    by: Sequence[str] = ("unit", "round"),
    instrument: Instrument | None = None,
) -> pd.DataFrame:
    """Mean, standard deviation and count of construct scores per group, with a maturity index.

    The maturity index puts the mean on 0-100: ``(mean - scale_min) / (scale_max - scale_min)
    * 100``. Respondents without a score for a construct (see :func:`construct_scores`) do not
    count for it.

    Parameters
    ----------
    scores : pandas.DataFrame
        From :func:`construct_scores`.
    by : sequence of str, default ("unit", "round")
        Columns to group by; empty for one overall row per construct. Missing group values form
        their own group.
    instrument : Instrument, optional
        Gives the scale and constructs; needed only when ``scores.attrs`` has lost them.

    Returns
    -------
    pandas.DataFrame
        Long table: the ``by`` columns, ``construct``, ``mean``, ``sd`` (n - 1 denominator; NaN
        for n < 2), ``n`` and ``maturity``, in construct order within each group.

    Examples
    --------
    >>> import pandas as pd
    >>> from qualityloop.analytics.assessment import builtin_instrument
    >>> instrument = builtin_instrument()
    >>> reverse = instrument.reverse_item_ids
    >>> answers = pd.DataFrame({i: [4.0, 1.0] if i in reverse else [4.0, 7.0]
    ...                         for i in instrument.item_ids})
    >>> answers["unit"], answers["round"] = "A", 1
    >>> table = aggregate_scores(construct_scores(answers, instrument))
    >>> table[["construct", "mean", "n", "maturity"]].head(2)
        construct  mean  n  maturity
    0  leadership   5.5  2      75.0
    1    planning   5.5  2      75.0
    """
    by = list(by)
    (low, high), constructs = _scale_and_constructs(scores, instrument)
    require_columns(scores, by + constructs, what="scores")
    long = scores.melt(id_vars=by, value_vars=constructs, var_name="construct",
                       value_name="score")
    long["construct"] = pd.Categorical(long["construct"], categories=constructs)
    table = (long.groupby(by + ["construct"], dropna=False, sort=True, observed=True)["score"]
             .agg(mean="mean", sd="std", n="count").reset_index())
    table["construct"] = table["construct"].astype(str)
    table["n"] = table["n"].astype(int)
    table["maturity"] = (table["mean"] - low) / (high - low) * 100
    return table[by + AGGREGATE_COLUMNS].reset_index(drop=True)


@dataclass(frozen=True)
class MissingReport:
    """What is missing in a set of responses.

    Attributes
    ----------
    items : pandas.DataFrame
        Indexed by item id: ``construct``, ``n_missing``, ``share_missing``.
    constructs : pandas.DataFrame
        Indexed by construct id: ``items``, ``share_missing`` (of the construct's answer cells)
        and ``share_unscored`` (share of respondents without a construct score under the
        ``min_answered`` rule of :func:`construct_scores`).
    respondents : int
        Number of rows.
    """

    items: pd.DataFrame
    constructs: pd.DataFrame
    respondents: int


def missing_report(
    responses: Any, instrument: Instrument, min_answered: float = 0.5
) -> MissingReport:
    """Share of missing answers per item and per construct.

    Examples
    --------
    >>> import pandas as pd
    >>> from qualityloop.analytics.assessment import builtin_instrument
    >>> instrument = builtin_instrument()
    >>> answers = pd.DataFrame({item: [4.0, 5.0] for item in instrument.item_ids})
    >>> answers.loc[0, ["supp1", "supp2"]] = None
    >>> report = missing_report(answers, instrument)
    >>> float(report.items.loc["supp1", "share_missing"])
    0.5
    >>> report.constructs.loc["supplier", ["share_missing", "share_unscored"]].round(3).tolist()
    [0.333, 0.5]
    """
    frame = validate_responses(responses, instrument)
    rows = len(frame)
    missing = frame[instrument.item_ids].isna()
    items = pd.DataFrame({
        "construct": [instrument.construct_of(i).id for i in instrument.item_ids],
        "n_missing": missing.sum().astype(int),
        "share_missing": missing.mean() if rows else np.nan,
    }, index=pd.Index(instrument.item_ids, name="item"))
    scores = construct_scores(frame, instrument, min_answered=min_answered)
    constructs = pd.DataFrame({
        "items": [len(c.items) for c in instrument.constructs],
        "share_missing": [missing[c.item_ids].to_numpy().mean() if rows else np.nan
                          for c in instrument.constructs],
        "share_unscored": [scores[c.id].isna().mean() if rows else np.nan
                           for c in instrument.constructs],
    }, index=pd.Index([c.id for c in instrument.constructs], name="construct"))
    return MissingReport(items=items, constructs=constructs, respondents=rows)


# helpers -----------------------------------------------------------------------------------------


def _answers(column: pd.Series, instrument: Instrument) -> tuple[pd.Series, list[AnswerProblem]]:
    """One item column as floats, and the answers in it that are not on the scale."""
    low, high = instrument.scale_min, instrument.scale_max
    cleaned = column
    if not pd.api.types.is_numeric_dtype(column):
        cleaned = column.mask(column.map(lambda v: isinstance(v, str) and not v.strip()))
    values = pd.to_numeric(cleaned, errors="coerce").astype(float)
    with np.errstate(invalid="ignore"):
        off_scale = values.notna() & ((values < low) | (values > high) | (values % 1 != 0))
    bad = (values.isna() & cleaned.notna()) | off_scale
    expected = f"expected a whole number from {low} to {high} or nothing"
    problems = [AnswerProblem(row, str(column.name), _plain(column[row]), expected)
                for row in column.index[bad.to_numpy()]]
    return values, problems


def _plain(value: Any) -> Any:
    """numpy scalars as Python ones, so messages read ``9`` rather than ``np.int64(9)``."""
    return value.item() if isinstance(value, np.generic) else value


def _scale_and_constructs(
    scores: pd.DataFrame, instrument: Instrument | None
) -> tuple[tuple[int, int], list[str]]:
    if instrument is not None:
        return (instrument.scale_min, instrument.scale_max), [c.id for c in instrument.constructs]
    if "scale" in scores.attrs and "constructs" in scores.attrs:
        return tuple(scores.attrs["scale"]), list(scores.attrs["constructs"])
    raise ValueError("scores do not say their scale and constructs (scores.attrs was lost); "
                     "pass instrument=")
