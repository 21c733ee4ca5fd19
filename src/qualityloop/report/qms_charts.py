"""Charts of the quality-system pages (training effectiveness, management review pack), drawn
with Altair and rendered to SVG by :func:`qualityloop.report.charts.to_svg`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qualityloop.report.charts import HEIGHT, PALETTE, WIDTH

if TYPE_CHECKING:
    import altair as alt
    import pandas as pd

AXIS = {"labelFont": "sans-serif", "titleFont": "sans-serif", "labelColor": "#44505c",
        "titleColor": "#44505c", "gridColor": "#e6eaee", "labelFontSize": 11, "titleFontSize": 11}


def coverage_scatter(table: pd.DataFrame, y: str, y_title: str, y_format: str) -> alt.Chart:
    """Units as points: problem-recognition coverage (x) against ``y``, labelled by unit name.

    ``table`` is :func:`qualityloop.services.training.effectiveness`'s.
    """
    import altair as alt

    data = table.dropna(subset=["coverage", y])
    base = alt.Chart(data).encode(
        x=alt.X("coverage:Q", title="Problem-recognition coverage",
                axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        y=alt.Y(f"{y}:Q", title=y_title, axis=alt.Axis(format=y_format),
                scale=alt.Scale(zero=True)),
        tooltip=["unit_name", alt.Tooltip("coverage:Q", format=".0%"),
                 alt.Tooltip(f"{y}:Q", format=y_format)],
    )
    points = base.mark_circle(size=90, color=PALETTE[0], opacity=0.85)
    labels = base.mark_text(align="left", dx=7, fontSize=10, color="#44505c").encode(
        text="unit_name:N")
    return (alt.layer(points, labels).properties(width=WIDTH, height=HEIGHT, title=y_title)
            .configure_view(stroke=None).configure_axis(**AXIS)
            .configure_title(font="sans-serif", fontSize=13, anchor="start", color="#1c2a36"))


def monthly_lines(frame: pd.DataFrame, value: str, title: str, y_title: str,
                  y_format: str = "~s", series: str | None = None) -> alt.Chart:
    """A line per ``series`` (or one line) of ``value`` by ``month``."""
    import altair as alt

    encoding = {"x": alt.X("yearmonth(month):T", title=None,
                           axis=alt.Axis(format="%b %y", labelAngle=0, grid=False)),
                "y": alt.Y(f"{value}:Q", title=y_title, axis=alt.Axis(format=y_format)),
                "tooltip": ["month:T", alt.Tooltip(f"{value}:Q", format=y_format)]}
    if series:
        encoding["color"] = alt.Color(f"{series}:N", title=None,
                                      scale=alt.Scale(range=PALETTE))
    mark = alt.Chart(frame).mark_line(point=True) if series else alt.Chart(frame).mark_line(
        point=True, color=PALETTE[0])
    chart = mark.encode(**encoding)
    return (chart.properties(width=WIDTH, height=HEIGHT, title=title)
            .configure_view(stroke=None).configure_axis(**AXIS)
            .configure_legend(labelFont="sans-serif", orient="top", labelFontSize=11)
            .configure_title(font="sans-serif", fontSize=13, anchor="start", color="#1c2a36"))
