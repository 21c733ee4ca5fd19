"""One door for input: every analytics function turns what it is given into a pandas DataFrame
here, with the same checks and the same messages."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd


def to_pandas(data: Any) -> pd.DataFrame:
    """A pandas DataFrame from a pandas or polars DataFrame, an Ibis table or a mapping."""
    if isinstance(data, pd.DataFrame):
        return data
    module = type(data).__module__
    if module.startswith("polars"):
        return data.to_pandas()
    if module.startswith("ibis"):
        return data.to_pandas()
    if isinstance(data, dict):
        return pd.DataFrame(data)
    raise TypeError(
        f"expected a pandas or polars DataFrame or an Ibis table, got {type(data).__name__}"
    )


def require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str = "data") -> None:
    """Raise ValueError naming every missing column and the columns that are there."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{what} has no column {', '.join(repr(c) for c in missing)}; "
            f"its columns are: {', '.join(map(str, frame.columns))}"
        )


def numeric_column(
    frame: pd.DataFrame, column: str, *, minimum: float | None = None, allow_missing: bool = False
) -> np.ndarray:
    """A column as a float array, checked for non-numbers, missing and infinite values and an
    optional lower bound; errors name the column and the first offending row label."""
    values = pd.to_numeric(frame[column], errors="coerce")
    bad_text = values.isna() & frame[column].notna()
    if bad_text.any():
        row = frame.index[bad_text.to_numpy()][0]
        raise ValueError(f"column {column!r} must be numeric; row {row!r} holds "
                         f"{frame[column][row]!r}")
    if not allow_missing and values.isna().any():
        row = frame.index[values.isna().to_numpy()][0]
        raise ValueError(f"column {column!r} has a missing value at row {row!r}")
    array = values.to_numpy(dtype=float)
    infinite = np.isinf(array)
    if infinite.any():
        raise ValueError(f"column {column!r} has an infinite value at row "
                         f"{frame.index[infinite][0]!r}")
    if minimum is not None and (array < minimum).any():
        row = frame.index[array < minimum][0]
        raise ValueError(f"column {column!r} must be at least {minimum}; row {row!r} holds "
                         f"{frame[column][row]!r}")
    return array


_TYPE_CHECKS = {
    "temporal": ("dates or timestamps", lambda dtype: dtype.is_timestamp() or dtype.is_date()),
    "numeric": ("numbers", lambda dtype: dtype.is_numeric()),
}


def require_table_columns(
    table: Any, kinds: dict[str, str | None], what: str = "transactions"
) -> None:
    """Check an Ibis table's columns by name and type without running a query.

    ``kinds`` maps each required column to ``"temporal"``, ``"numeric"`` or None (any type).
    Raises ValueError naming every missing column (and the columns that are there), or the
    first column whose type is wrong with the type it has.
    """
    missing = [c for c in kinds if c not in table.columns]
    if missing:
        raise ValueError(
            f"{what} has no column {', '.join(repr(c) for c in missing)}; "
            f"its columns are: {', '.join(map(str, table.columns))}"
        )
    schema = table.schema()
    for column, kind in kinds.items():
        if kind is None:
            continue
        expected, accepts = _TYPE_CHECKS[kind]
        if not accepts(schema[column]):
            hint = " (convert it first, e.g. with pandas.to_datetime)" if kind == "temporal" else ""
            raise ValueError(
                f"column {column!r} of {what} must hold {expected}; it holds {schema[column]}{hint}"
            )
