"""Checking a path model's specification and the data for it; every error names the construct
or column at fault."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from qualityloop.analytics.relate._algorithm import SCHEMES, Layout
from qualityloop.analytics.validation import numeric_column, to_pandas

MISSING_RULES = ("mean", "listwise")


def check_options(scheme: str, missing: str, max_iter: int, tol: float) -> None:
    """Raise ValueError for an unknown scheme or missing-value rule, or a bad iteration limit."""
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}; got {scheme!r}")
    if missing not in MISSING_RULES:
        raise ValueError(f"missing must be one of {', '.join(MISSING_RULES)}; got {missing!r}")
    if not isinstance(max_iter, int | np.integer) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive whole number; got {max_iter!r}")
    if not tol > 0:
        raise ValueError(f"tol must be above 0; got {tol!r}")


def check_measurement(measurement: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """The measurement model as {construct: [indicators]}, each construct with indicators."""
    if not isinstance(measurement, Mapping) or not measurement:
        raise ValueError("measurement must map each construct to its list of indicator columns")
    blocks: dict[str, list[str]] = {}
    for construct, indicators in measurement.items():
        if isinstance(indicators, str):
            indicators = [indicators]
        indicators = list(indicators or [])
        if not indicators:
            raise ValueError(f"construct {construct!r} has no indicators")
        if len(set(indicators)) != len(indicators):
            raise ValueError(f"construct {construct!r} lists an indicator twice: {indicators}")
        blocks[str(construct)] = [str(i) for i in indicators]
    return blocks


def check_structural(structural: Sequence[tuple[str, str]], constructs: list[str]) -> list[tuple]:
    """The paths as (from, to) pairs between known constructs, without cycles, every construct
    on at least one path."""
    paths: list[tuple[str, str]] = []
    for path in structural:
        if len(path) != 2:
            raise ValueError(f"each structural path must be a (from, to) pair; got {path!r}")
        source, target = str(path[0]), str(path[1])
        for end in (source, target):
            if end not in constructs:
                raise ValueError(
                    f"path {source!r} -> {target!r} names construct {end!r}, which has no "
                    f"indicators in measurement (constructs: {', '.join(constructs)})"
                )
        if (source, target) not in paths:
            paths.append((source, target))
    if not paths:
        raise ValueError("structural must list at least one path (from, to)")
    on_a_path = {end for path in paths for end in path}
    for construct in constructs:
        if construct not in on_a_path:
            raise ValueError(f"construct {construct!r} is on no structural path; "
                             "every construct needs at least one")
    cycle = find_cycle(paths)
    if cycle:
        raise ValueError("the structural model has a cycle: " + " -> ".join(cycle)
                         + "; PLS path models must be recursive (no feedback loops)")
    return paths


def find_cycle(paths: list[tuple[str, str]]) -> list[str] | None:
    """One directed cycle as [a, b, ..., a], or None (depth-first search)."""
    successors: dict[str, list[str]] = {}
    for source, target in paths:
        successors.setdefault(source, []).append(target)
    state: dict[str, int] = {}  # 1 = on the current route, 2 = finished
    route: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        route.append(node)
        for nxt in successors.get(node, []):
            if state.get(nxt) == 1:
                return route[route.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = 2
        route.pop()
        return None

    for start in list(successors):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def check_modes(modes: Mapping[str, str] | None, constructs: list[str]) -> np.ndarray:
    """Boolean array: True where the construct is Mode B (formative)."""
    modes = dict(modes or {})
    for construct, mode in modes.items():
        if construct not in constructs:
            raise ValueError(f"modes names construct {construct!r}, which is not in measurement")
        if mode not in ("A", "B"):
            raise ValueError(f"mode of construct {construct!r} must be 'A' or 'B'; got {mode!r}")
    return np.array([modes.get(c, "A") == "B" for c in constructs])


def build_layout(
    blocks: dict[str, list[str]], paths: list[tuple[str, str]], mode_b: np.ndarray
) -> tuple[Layout, list[str]]:
    """The index form of the model, and the indicator columns in order of first appearance."""
    constructs = list(blocks)
    indicators = list(dict.fromkeys(i for block in blocks.values() for i in block))
    position = {name: i for i, name in enumerate(indicators)}
    adjacency = np.zeros((len(constructs), len(constructs)))
    for source, target in paths:
        adjacency[constructs.index(source), constructs.index(target)] = 1.0
    layout = Layout(
        blocks=tuple(np.array([position[i] for i in blocks[c]]) for c in constructs),
        adjacency=adjacency,
        mode_b=mode_b,
    )
    return layout, indicators


def indicator_frame(
    data: Any, blocks: dict[str, list[str]], indicators: list[str], missing: str
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The indicator columns as floats with missing values handled by ``missing``, and a report
    of what was done."""
    frame = to_pandas(data)
    for construct, block in blocks.items():
        for column in block:
            if column not in frame.columns:
                raise ValueError(
                    f"construct {construct!r} names indicator {column!r}, which is not a column "
                    f"of data; its columns are: {', '.join(map(str, frame.columns))}"
                )
    values = pd.DataFrame(
        {c: numeric_column(frame, c, allow_missing=True) for c in indicators}, index=frame.index
    )
    absent = values.isna()
    for column in indicators:
        if absent[column].all():
            raise ValueError(f"indicator column {column!r} has no values")
    report: dict[str, Any] = {
        "method": missing,
        "rows": len(values),
        "missing_values": {c: int(n) for c, n in absent.sum().items() if n},
    }
    if missing == "listwise":
        values = values[~absent.any(axis=1)]
        report["rows_dropped"] = report["rows"] - len(values)
        report["values_replaced"] = 0
    else:
        values = values.fillna(values.mean())
        report["rows_dropped"] = 0
        report["values_replaced"] = int(absent.to_numpy().sum())
    report["rows_used"] = len(values)
    _check_usable(values, blocks)
    return values, report


def check_mode_b_blocks(corr: np.ndarray, blocks: dict[str, list[str]], indicators: list[str],
                        mode_b: np.ndarray) -> None:
    """A Mode B block's weights are a multiple regression: its indicators must not be
    (nearly) collinear."""
    for (construct, block), formative in zip(blocks.items(), mode_b, strict=True):
        if formative and len(block) > 1:
            index = [indicators.index(i) for i in block]
            if np.linalg.cond(corr[np.ix_(index, index)]) > 1e10:
                raise ValueError(f"the indicators of Mode B construct {construct!r} are "
                                 "collinear (one is a combination of the others); drop one or "
                                 "use Mode A")


def _check_usable(values: pd.DataFrame, blocks: dict[str, list[str]]) -> None:
    if len(values) < 3:
        raise ValueError(f"the model needs at least 3 complete rows; {len(values)} remain "
                         "(with missing='listwise', rows with any missing indicator are dropped)")
    spread = values.std(ddof=1)
    for construct, block in blocks.items():
        for column in block:
            if not spread[column] > 0:
                raise ValueError(f"indicator {column!r} of construct {construct!r} has the same "
                                 "value in every row used; it cannot be standardised")
