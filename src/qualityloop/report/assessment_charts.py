"""Charts of the TQM assessment, shared by the Assessment page and the report.

Vega-Lite has no radar mark, so :func:`radar_coordinates` places each construct on a spoke and
computes the polygon corners in pandas; :func:`maturity_radar_chart` draws them with line, point,
rule and text marks. Render any chart with ``report.charts.to_svg``.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from qualityloop.report.charts import PALETTE, _theme

if TYPE_CHECKING:
    import altair as alt
    import pandas as pd

RINGS = (25, 50, 75, 100)
LABEL_RADIUS = 116
LABEL_WIDTH = 16  # characters per line of a construct label
RADAR_SIZE = 360
SERIES_COLOURS = (PALETTE[0], PALETTE[5], PALETTE[1], PALETTE[2])
CONSTRUCT_COLOURS = ["#1f5f8b", "#e07b39", "#5b9a68", "#b8403a", "#8c6bb1", "#7f7f7f",
                     "#c9a227", "#3fa7b5", "#d16ba5"]


def spoke_angle(position: int, spokes: int) -> float:
    """The angle (radians, clockwise from 12 o'clock) of spoke ``position`` of ``spokes``."""
    return 2 * math.pi * position / spokes


def radar_coordinates(frame: pd.DataFrame, value: str = "maturity",
                      series: str = "series", axis: str = "construct",
                      order: Sequence[str] | None = None) -> pd.DataFrame:
    """Polygon corners of a radar chart: one closed polygon per series.

    Parameters
    ----------
    frame : pandas.DataFrame
        Long table with a ``series`` column (e.g. the unit and the organisation), an ``axis``
        column (the construct label) and a ``value`` column on 0-100.
    order : sequence of str, optional
        The axes clockwise from 12 o'clock; by default in order of first appearance.

    Returns
    -------
    pandas.DataFrame
        The input columns plus ``x``, ``y`` (the corner) and ``step`` (drawing order; the first
        corner of each series is repeated at the end to close the polygon). Missing values are
        left out, so a series with a gap is drawn through the corners it has.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"series": "A", "construct": ["a", "b", "c", "d"],
    ...                       "maturity": [100.0, 50.0, 100.0, 50.0]})
    >>> radar_coordinates(frame)[["x", "y", "step"]].round(6).values.tolist()
    [[0.0, 100.0, 0.0], [50.0, 0.0, 1.0], [0.0, -100.0, 2.0], [-50.0, -0.0, 3.0], [0.0, 100.0, 4.0]]
    """
    import pandas as pd

    axes = list(order) if order is not None else list(dict.fromkeys(frame[axis]))
    position = {name: i for i, name in enumerate(axes)}
    pieces = []
    for _name, group in frame.groupby(series, sort=False):
        group = group[group[axis].isin(position) & group[value].notna()].copy()
        if group.empty:
            continue
        group["step"] = group[axis].map(position).astype(float)
        group = group.sort_values("step")
        angle = group["step"].map(lambda p: spoke_angle(int(p), len(axes)))
        group["x"] = group[value] * angle.map(math.sin)
        group["y"] = group[value] * angle.map(math.cos)
        closing = group.iloc[[0]].assign(step=float(len(axes)))
        pieces.extend([group, closing])
    if not pieces:
        return frame.iloc[0:0].assign(x=[], y=[], step=[])
    return pd.concat(pieces, ignore_index=True)


def _grid(axes: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Rings (as closed polygons), spokes and axis labels of a radar with these axes."""
    import pandas as pd

    count = len(axes)
    angles = [spoke_angle(i, count) for i in range(count)]
    rings = pd.DataFrame([
        {"ring": ring, "step": i, "x": ring * math.sin(a), "y": ring * math.cos(a)}
        for ring in RINGS for i, a in enumerate([*angles, angles[0]])])
    spokes = pd.DataFrame({"x": 0.0, "y": 0.0, "x2": [100 * math.sin(a) for a in angles],
                           "y2": [100 * math.cos(a) for a in angles]})
    labels = pd.DataFrame({
        "label": [textwrap.wrap(name, LABEL_WIDTH) for name in axes],
        "x": [LABEL_RADIUS * math.sin(a) for a in angles],
        "y": [LABEL_RADIUS * math.cos(a) for a in angles],
        "align": ["center" if abs(math.sin(a)) < 0.2 else "left" if math.sin(a) > 0 else "right"
                  for a in angles],
    })
    # the outer ring is not numbered: its number would sit on the top axis label
    ring_labels = pd.DataFrame({"x": 0.0, "y": [float(r) for r in RINGS[:-1]],
                                "text": [str(r) for r in RINGS[:-1]]})
    return rings, spokes, pd.concat([labels.assign(kind="axis"),
                                     ring_labels.assign(kind="ring")], ignore_index=True)


def maturity_radar_chart(frame: pd.DataFrame, title: str,
                         order: Sequence[str] | None = None) -> alt.Chart:
    """Construct maturity (0-100) on a radar: one polygon per series.

    Parameters
    ----------
    frame : pandas.DataFrame
        ``series`` (e.g. "Porto Plant", "Organisation"), ``construct`` (label shown at the
        spoke), ``maturity`` (0-100) and optionally ``n`` (respondents, for the tooltip).
        The first series is drawn in the brand colour, the second in grey.
    title : str
    order : sequence of str, optional
        Construct labels clockwise from 12 o'clock.
    """
    import altair as alt

    axes = list(order) if order is not None else list(dict.fromkeys(frame["construct"]))
    corners = radar_coordinates(frame, order=axes)
    series = list(dict.fromkeys(frame["series"]))
    rings, spokes, labels = _grid(axes)
    span = alt.Scale(domain=[-175, 175], nice=False)
    x_enc = alt.X("x:Q", scale=span, axis=None)
    y_enc = alt.Y("y:Q", scale=alt.Scale(domain=[-135, 135], nice=False), axis=None)
    grid = alt.Chart(rings).mark_line(color="#dde3e8", strokeWidth=1).encode(
        x=x_enc, y=y_enc, detail="ring:N", order="step:Q")
    rules = alt.Chart(spokes).mark_rule(color="#dde3e8").encode(
        x=x_enc, y=y_enc, x2="x2:Q", y2="y2:Q")
    axis_text = [
        alt.Chart(labels[(labels["kind"] == "axis") & (labels["align"] == align)])
        .mark_text(align=align, baseline="middle", fontSize=11, font="sans-serif",
                   color="#1c2a36", lineHeight=13)
        .encode(x=x_enc, y=y_enc, text="label")
        for align in ("left", "right", "center")]
    ring_text = alt.Chart(labels[labels["kind"] == "ring"]).mark_text(
        align="left", dx=3, dy=-5, fontSize=9, color="#8a96a3", font="sans-serif").encode(
        x=x_enc, y=y_enc, text="text:N")
    colour = alt.Color("series:N", title=None, sort=series,
                       scale=alt.Scale(domain=series, range=list(SERIES_COLOURS[:len(series)])))
    tooltip = ["series:N", "construct:N", alt.Tooltip("maturity:Q", format=".0f")]
    if "n" in corners.columns:
        tooltip.append(alt.Tooltip("n:Q", title="respondents"))
    polygons = alt.Chart(corners).mark_line(strokeWidth=2.2).encode(
        x=x_enc, y=y_enc, color=colour, order="step:Q",
        strokeDash=alt.StrokeDash("series:N", title=None, sort=series,
                                  scale=alt.Scale(domain=series,
                                                  range=[[1, 0], [5, 3], [2, 2], [6, 2]][
                                                      :len(series)])))
    points = alt.Chart(corners[corners["step"] < len(axes)]).mark_point(
        filled=True, size=40).encode(x=x_enc, y=y_enc, color=colour, tooltip=tooltip)
    chart: Any = alt.layer(grid, rules, ring_text, *axis_text, polygons, points)
    return _theme(chart.properties(title=title)).properties(
        width=RADAR_SIZE * 1.3, height=RADAR_SIZE)


def maturity_trend_chart(frame: pd.DataFrame, title: str,
                         order: Sequence[str] | None = None) -> alt.Chart:
    """Construct maturity per survey round: one line per construct.

    Parameters
    ----------
    frame : pandas.DataFrame
        ``round`` (label on the x axis, in the order given), ``construct`` (label),
        ``maturity`` (0-100) and optionally ``n``.
    title : str
    order : sequence of str, optional
        Construct labels in legend order.
    """
    import altair as alt

    rounds = list(dict.fromkeys(frame["round"]))
    constructs = list(order) if order is not None else list(dict.fromkeys(frame["construct"]))
    tooltip = ["round:N", "construct:N", alt.Tooltip("maturity:Q", format=".0f")]
    if "n" in frame.columns:
        tooltip.append(alt.Tooltip("n:Q", title="respondents"))
    chart = alt.Chart(frame).mark_line(point=alt.OverlayMarkDef(size=45), strokeWidth=2).encode(
        x=alt.X("round:N", title=None, sort=rounds,
                axis=alt.Axis(labelAngle=0, labelLimit=160)),
        y=alt.Y("maturity:Q", title="Maturity (0-100)", scale=alt.Scale(domain=[0, 100])),
        color=alt.Color("construct:N", title=None, sort=constructs,
                        scale=alt.Scale(domain=constructs,
                                        range=CONSTRUCT_COLOURS[:len(constructs)]),
                        legend=alt.Legend(orient="right", labelLimit=190)),
        tooltip=tooltip,
    )
    return _theme(chart.properties(title=title)).properties(width=max(220, 130 * len(rounds)),
                                                             height=240)
