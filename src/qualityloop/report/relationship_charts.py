"""Charts of the relationship report: the hazard-ratio forest plot, survival curves with and
without an exposure, the unit-level path diagram and the record-based TQM index per unit.

The Altair charts render with ``report.charts.to_svg``; :func:`path_diagram_svg` writes its SVG
directly (boxes and arrows at fixed positions read better than a force layout).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any

from qualityloop.report.charts import PALETTE, _theme

if TYPE_CHECKING:
    import altair as alt
    import pandas as pd

CLEAR = PALETTE[3]  # interval away from "no effect"
UNCLEAR = PALETTE[5]
DAYS_PER_MONTH = 30.4375
FOREST_WIDTH = 300
LABEL_LIMIT = 290


def _log_ticks(low: float, high: float) -> list[float]:
    """Readable hazard-ratio ticks (0.25, 0.5, 1, 2, 4 ...) spanning ``low`` to ``high``."""
    candidates = [0.1, 0.2, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8, 10, 20, 50]
    ticks = [t for t in candidates if low <= t <= high]
    return ticks if 1 in ticks else sorted({*ticks, 1})


def forest_chart(summary: pd.DataFrame, title: str = "Hazard ratios with 95% intervals"
                 ) -> alt.Chart:
    """Hazard ratios as points with their confidence intervals as bars, on a log axis.

    Parameters
    ----------
    summary : pandas.DataFrame
        ``label``, ``hazard_ratio``, ``lower``, ``upper`` (and optionally ``p``), one row per
        exposure, in the order to draw top to bottom.
    title : str

    Returns
    -------
    altair.Chart
        A reference line at 1 (no effect); red where the interval excludes 1, grey otherwise;
        the ratio and interval printed at the right of each row.
    """
    import altair as alt

    data = summary[["label", "hazard_ratio", "lower", "upper"]].copy()
    data["evidence"] = ["clear" if lo > 1 or hi < 1 else "cannot tell from no effect"
                        for lo, hi in zip(data["lower"], data["upper"], strict=True)]
    data["text"] = [f"{r:.2f} ({lo:.2f}-{hi:.2f})" for r, lo, hi in zip(
        data["hazard_ratio"], data["lower"], data["upper"], strict=True)]
    low = min(float(data["lower"].min()), 1.0) / 1.15
    high = max(float(data["upper"].max()), 1.0) * 1.15
    x_scale = alt.Scale(type="log", domain=[low, high], nice=False)
    order = list(data["label"])
    y = alt.Y("label:N", title=None, sort=order,
              axis=alt.Axis(labelLimit=LABEL_LIMIT, domain=False, ticks=False, grid=False))
    colour = alt.Color("evidence:N", title=None,
                       scale=alt.Scale(domain=["clear", "cannot tell from no effect"],
                                       range=[CLEAR, UNCLEAR]))
    base = alt.Chart(data).encode(y=y)
    bars = base.mark_rule(strokeWidth=3, opacity=0.8).encode(
        x=alt.X("lower:Q", scale=x_scale, title="Hazard ratio (log scale; 1 = no effect)",
                axis=alt.Axis(values=_log_ticks(low, high), format="~g", grid=True)),
        x2="upper:Q", color=colour)
    points = base.mark_point(filled=True, size=90, shape="diamond", opacity=1).encode(
        x=alt.X("hazard_ratio:Q", scale=x_scale), color=colour,
        tooltip=["label", alt.Tooltip("hazard_ratio:Q", format=".2f"),
                 alt.Tooltip("lower:Q", format=".2f"), alt.Tooltip("upper:Q", format=".2f")])
    reference = alt.Chart(data.head(1)).mark_rule(color="#1c2a36", strokeDash=[4, 3]).encode(
        x=alt.datum(1.0, scale=x_scale))
    numbers = base.mark_text(align="left", fontSize=11, font="sans-serif",
                             color="#1c2a36").encode(x=alt.value(FOREST_WIDTH + 12),
                                                     text="text:N")
    chart: Any = alt.layer(reference, bars, points, numbers).properties(title=title)
    return _theme(chart).properties(width=FOREST_WIDTH, height=max(90, 30 * len(data)))


def exposure_survival_chart(curves: pd.DataFrame, exposures: list[str],
                            titles: dict[str, str], columns: int = 2) -> alt.Chart:
    """Kaplan-Meier curves of time to churn before and after each exposure, with 95% bands.

    Parameters
    ----------
    curves : pandas.DataFrame
        ``exposure``, ``group``, ``time`` (days), ``survival``, ``lower``, ``upper`` (as from
        ``services.relationship.survival_by_exposure``).
    exposures : list of str
        Which exposures to draw, one panel each, in this order.
    titles : dict
        Panel title per exposure.
    columns : int
        Panels per row.
    """
    import altair as alt

    panels = []
    for name in exposures:
        data = curves[curves["exposure"] == name].copy()
        if data.empty:
            continue
        data["months"] = data["time"].astype(float) / DAYS_PER_MONTH
        groups = list(dict.fromkeys(data["group"]))
        # the exposed curve (listed first by the service) in the warning colour
        colour = alt.Color("group:N", title=None, sort=groups,
                           scale=alt.Scale(domain=groups, range=[CLEAR, PALETTE[0]][:len(groups)]),
                           legend=alt.Legend(orient="bottom", direction="vertical",
                                             labelLimit=260, symbolType="stroke",
                                             symbolOpacity=1, symbolStrokeWidth=3))
        base = alt.Chart(data).encode(
            x=alt.X("months:Q", title="Months since acquisition", axis=alt.Axis(grid=False)),
            color=colour)
        band = base.mark_area(opacity=0.18, interpolate="step-after").encode(
            y=alt.Y("lower:Q", title="Still a customer", scale=alt.Scale(domain=[0, 1]),
                    axis=alt.Axis(format="%")),
            y2="upper:Q")
        line = base.mark_line(interpolate="step-after", strokeWidth=2).encode(
            y="survival:Q")
        panels.append(alt.layer(band, line).properties(
            title=titles.get(name, name), width=300, height=190))
    chart: Any = alt.concat(*panels, columns=columns).resolve_scale(color="independent")
    return _theme_concat(chart)


def _theme_concat(chart: Any) -> Any:
    """The shared look for a chart made of panels (each panel keeps its own size)."""
    return (chart.configure_view(stroke=None)
            .configure_axis(labelFont="sans-serif", titleFont="sans-serif", labelColor="#44505c",
                            titleColor="#44505c", gridColor="#e6eaee", domainColor="#b0b8c0",
                            labelFontSize=11, titleFontSize=11, labelFlush=False)
            .configure_legend(labelFont="sans-serif", labelFontSize=11)
            .configure_title(font="sans-serif", fontSize=13, anchor="start", color="#1c2a36"))


def index_bar_chart(frame: pd.DataFrame, title: str) -> alt.Chart:
    """The record-based TQM index (composite, 0-100) per unit as horizontal bars.

    ``frame`` has ``unit_name`` and ``composite``.
    """
    import altair as alt

    data = frame.dropna(subset=["composite"]).sort_values("composite", ascending=False)
    data = data.assign(text=data["composite"].map(lambda v: f"{v:.0f}"))
    base = alt.Chart(data).encode(
        y=alt.Y("unit_name:N", title=None, sort=list(data["unit_name"]),
                axis=alt.Axis(labelLimit=220, ticks=False, domain=False)))
    bars = base.mark_bar(color=PALETTE[0], height=14).encode(
        x=alt.X("composite:Q", title="TQM index (0-100)", scale=alt.Scale(domain=[0, 100])),
        tooltip=["unit_name", alt.Tooltip("composite:Q", format=".1f")])
    text = base.mark_text(align="left", dx=4, fontSize=11, color="#1c2a36").encode(
        x="composite:Q", text="text:N")
    chart: Any = alt.layer(bars, text).properties(title=title)
    return _theme(chart).properties(height=max(80, 24 * len(data)))


def maturity_bar_chart(frame: pd.DataFrame, title: str) -> alt.Chart:
    """Survey maturity (0-100) per construct as horizontal bars (``construct``, ``maturity``)."""
    import altair as alt

    data = frame.dropna(subset=["maturity"])
    chart = alt.Chart(data).mark_bar(color=PALETTE[0], height=14).encode(
        y=alt.Y("construct:N", title=None, sort=list(data["construct"]),
                axis=alt.Axis(labelLimit=220)),
        x=alt.X("maturity:Q", title="Maturity (0-100)", scale=alt.Scale(domain=[0, 100])))
    return _theme(chart.properties(title=title)).properties(height=max(80, 24 * len(data)))


# path diagram ----------------------------------------------------------------------------------

BOX_WIDTH, BOX_HEIGHT = 170, 54
DIAGRAM_WIDTH, DIAGRAM_HEIGHT = 880, 270
# Centres of the boxes: the chain TQM -> Quality -> Satisfaction -> Retention as an arch, so the
# direct paths to Retention run below it without crossing.
LAYOUT = {"TQM": (105, 225), "Quality": (270, 45), "Satisfaction": (610, 45),
          "Retention": (775, 225)}
LABEL_AT = 0.5  # where on a path its coefficient label sits (share of the way)
INK, MUTED, POSITIVE, NEGATIVE = "#1c2a36", "#8a96a3", PALETTE[0], PALETTE[3]


@dataclass(frozen=True)
class _Box:
    x: float
    y: float

    def edge_towards(self, other: _Box) -> tuple[float, float]:
        """Where the line from this box's centre towards ``other`` leaves the box."""
        dx, dy = other.x - self.x, other.y - self.y
        if dx == 0 and dy == 0:
            return self.x, self.y
        scale = min(BOX_WIDTH / 2 / abs(dx) if dx else math.inf,
                    BOX_HEIGHT / 2 / abs(dy) if dy else math.inf)
        return self.x + dx * scale, self.y + dy * scale


def _positions(constructs: list[str]) -> dict[str, _Box]:
    """Fixed places for the unit-link constructs; others spread along a line."""
    if all(c in LAYOUT for c in constructs):
        return {c: _Box(*LAYOUT[c]) for c in constructs}
    step = (DIAGRAM_WIDTH - BOX_WIDTH) / max(1, len(constructs) - 1)
    return {c: _Box(BOX_WIDTH / 2 + i * step, DIAGRAM_HEIGHT / 2 + (60 if i % 2 else -60))
            for i, c in enumerate(constructs)}


def path_diagram_svg(paths: pd.DataFrame, r2: pd.Series | None = None,
                     names: dict[str, str] | None = None,
                     label_at: dict[tuple[str, str], float] | None = None) -> str:
    """A PLS path diagram as SVG: constructs as boxes, paths as arrows with their coefficients.

    Parameters
    ----------
    paths : pandas.DataFrame
        ``from``, ``to``, ``coefficient``, ``lower``, ``upper`` (NaN without a bootstrap).
    r2 : pandas.Series, optional
        R² per endogenous construct, printed in its box.
    names : dict, optional
        Display name per construct.
    label_at : dict, optional
        Share of the way along a path (from, to) to put its label (default 0.5).

    Returns
    -------
    str
        An ``<svg>`` element. Arrows whose interval excludes 0 are solid (blue positive, red
        negative) and thicker with a larger coefficient; the others dashed grey.
    """
    names = names or {}
    label_at = label_at or {}
    constructs = list(dict.fromkeys([*paths["from"], *paths["to"]]))
    boxes = _positions(constructs)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{DIAGRAM_WIDTH}" '
        f'height="{DIAGRAM_HEIGHT}" viewBox="0 0 {DIAGRAM_WIDTH} {DIAGRAM_HEIGHT}" '
        'font-family="sans-serif" role="img" aria-label="Path diagram">',
        "<defs>" + "".join(
            f'<marker id="ql-arrow-{key}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="13" '
            f'markerHeight="13" markerUnits="userSpaceOnUse" orient="auto-start-reverse">'
            f'<path d="M0,0 L10,5 L0,10 z" '
            f'fill="{colour}"/></marker>'
            for key, colour in (("pos", POSITIVE), ("neg", NEGATIVE), ("unclear", MUTED)))
        + "</defs>",
    ]
    labels = []
    columns = ["from", "to", "coefficient", "lower", "upper"]
    for row in paths[columns].itertuples(index=False, name=None):
        source, target = boxes[row[0]], boxes[row[1]]
        line, label = _arrow(source, target, row, label_at.get((row[0], row[1]), LABEL_AT))
        parts.append(line)
        labels.append(label)
    parts.extend(labels)  # labels over every line
    for construct, box in boxes.items():
        parts.append(_box(box, names.get(construct, construct),
                          None if r2 is None else r2.get(construct)))
    parts.append("</svg>")
    return "".join(parts)


def _arrow(source: _Box, target: _Box, row: Any, at: float) -> tuple[str, str]:
    coefficient, lower, upper = float(row[2]), float(row[3]), float(row[4])
    known = math.isfinite(lower) and math.isfinite(upper)
    clear = known and (lower > 0 or upper < 0)
    key = ("pos" if coefficient > 0 else "neg") if clear else "unclear"
    colour = {"pos": POSITIVE, "neg": NEGATIVE, "unclear": MUTED}[key]
    width = 1.5 + 4 * min(1.0, abs(coefficient)) if clear else 1.5
    dash = "" if clear else ' stroke-dasharray="6 4"'
    x1, y1 = source.edge_towards(target)
    x2, y2 = target.edge_towards(source)
    line = (f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{colour}" '
            f'stroke-width="{width:.1f}"{dash} marker-end="url(#ql-arrow-{key})"/>')
    lx, ly = x1 + (x2 - x1) * at, y1 + (y2 - y1) * at
    interval = f"[{lower:+.2f}, {upper:+.2f}]" if known else "no interval"
    label = (f'<g><rect x="{lx - 52:.1f}" y="{ly - 19:.1f}" width="104" height="36" rx="4" '
             f'fill="white" fill-opacity="0.92" stroke="{colour}" stroke-width="0.8"/>'
             f'<text x="{lx:.1f}" y="{ly - 3:.1f}" text-anchor="middle" font-size="14" '
             f'font-weight="700" fill="{colour if clear else INK}">{coefficient:+.2f}</text>'
             f'<text x="{lx:.1f}" y="{ly + 12:.1f}" text-anchor="middle" font-size="11" '
             f'fill="{INK}">{escape(interval)}</text></g>')
    return line, label


def _box(box: _Box, name: str, r2: float | None) -> str:
    left, top = box.x - BOX_WIDTH / 2, box.y - BOX_HEIGHT / 2
    shown = float(r2) if r2 is not None and math.isfinite(float(r2)) else None
    name_y = box.y - 3 if shown is not None else box.y + 5
    text = (f'<text x="{box.x:.1f}" y="{name_y:.1f}" text-anchor="middle" font-size="14" '
            f'font-weight="600" fill="{INK}">{escape(name)}</text>')
    if shown is not None:
        text += (f'<text x="{box.x:.1f}" y="{box.y + 15:.1f}" text-anchor="middle" '
                 f'font-size="11" fill="#44505c">R² {shown:.2f}</text>')
    return (f'<rect x="{left:.1f}" y="{top:.1f}" width="{BOX_WIDTH}" height="{BOX_HEIGHT}" '
            f'rx="8" fill="#eef4f9" stroke="{POSITIVE}" stroke-width="1.5"/>{text}')
