"""Charts shared by the web pages and the report: Altair specifications rendered offline to SVG.

Each chart function takes the DataFrame a ``qualityloop.services.metrics`` series function
returns and gives back an Altair chart; :func:`to_svg` renders any of them with vl-convert, so no
page needs a JavaScript charting library or anything from the internet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import altair as alt
    import pandas as pd

PALETTE = ["#1f5f8b", "#e07b39", "#5b9a68", "#b8403a", "#8c6bb1", "#7f7f7f"]
WIDTH = 360
HEIGHT = 200


def _theme(chart: alt.Chart) -> alt.Chart:
    return (
        chart.properties(width=WIDTH, height=HEIGHT)
        .configure_view(stroke=None)
        .configure_axis(
            labelFont="sans-serif", titleFont="sans-serif", labelColor="#44505c", labelFlush=False,
            titleColor="#44505c", gridColor="#e6eaee", domainColor="#b0b8c0", labelFontSize=11,
            titleFontSize=11,
        )
        .configure_legend(labelFont="sans-serif", titleFont="sans-serif", orient="top",
                          labelFontSize=11, titleFontSize=11)
        .configure_title(font="sans-serif", fontSize=13, anchor="start", color="#1c2a36")
    )


def _month_axis() -> alt.X:
    import altair as alt

    return alt.X("yearmonth(month):T", title=None,
                 axis=alt.Axis(format="%b %y", labelAngle=0, tickCount=6, grid=False))


def customers_chart(frame: pd.DataFrame) -> alt.Chart:
    """Active customers at each month end (line) over customers churned that month (bars)."""
    import altair as alt

    base = alt.Chart(frame).encode(x=_month_axis())
    active = base.mark_line(point=True, color=PALETTE[0]).encode(
        y=alt.Y("active:Q", title="Active customers", scale=alt.Scale(zero=False),
                axis=alt.Axis(orient="left", titleColor=PALETTE[0], format="~s")),
        tooltip=["month", "active", "acquired", "churned"],
    )
    churned = base.mark_bar(color=PALETTE[3], opacity=0.45).encode(
        y=alt.Y("churned:Q", title="Churned in month",
                axis=alt.Axis(orient="right", titleColor=PALETTE[3], tickMinStep=1, format="~s")),
    )
    layered = alt.layer(churned, active).resolve_scale(y="independent")
    return _theme(layered.properties(title="Active customers and churn per month"))


def nonconformance_stage_chart(frame: pd.DataFrame) -> alt.Chart:
    """Nonconformances per lifecycle stage, stacked by severity."""
    import altair as alt

    # Short labels ("Field", not "Field (at the customer)") keep the axis readable.
    frame = frame.assign(stage=frame["stage"].str.replace(r"\s*\(.*\)", "", regex=True))
    stages = list(dict.fromkeys(frame["stage"])) if len(frame) else []
    chart = alt.Chart(frame).mark_bar().encode(
        x=alt.X("stage:N", title=None, sort=stages, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("sum(count):Q", title="Nonconformances", axis=alt.Axis(tickMinStep=1)),
        color=alt.Color(
            "severity:N", title="Severity",
            scale=alt.Scale(domain=["minor", "major", "critical"],
                            range=[PALETTE[2], PALETTE[1], PALETTE[3]]),
        ),
        tooltip=["stage", "severity", "count"],
    )
    return _theme(chart.properties(title="Nonconformances by lifecycle stage (12 months)"))


def complaints_chart(frame: pd.DataFrame) -> alt.Chart:
    """Complaints received and resolved per month, side by side as lines."""
    import altair as alt

    long = frame.melt(id_vars="month", value_vars=["received", "resolved"],
                      var_name="flow", value_name="complaints")
    chart = alt.Chart(long).mark_line(point=True).encode(
        x=_month_axis(),
        y=alt.Y("complaints:Q", title="Complaints", axis=alt.Axis(tickMinStep=1)),
        color=alt.Color("flow:N", title=None,
                        scale=alt.Scale(domain=["received", "resolved"],
                                        range=[PALETTE[1], PALETTE[0]])),
        tooltip=["month", "flow", "complaints"],
    )
    return _theme(chart.properties(title="Complaints received and resolved per month"))


def to_svg(chart: alt.Chart) -> str:
    """Render a chart to a self-contained SVG string (offline, through vl-convert)."""
    import vl_convert

    svg = vl_convert.vegalite_to_svg(chart.to_dict())
    # The SVG's own XML declaration is not allowed inside an HTML page.
    return svg.split("?>", 1)[1].lstrip() if svg.startswith("<?xml") else svg
