"""Charts shared by the web pages and the report: Altair specifications rendered offline to SVG.

Each chart function takes the DataFrame a ``qualityloop.services.metrics`` series function
returns and gives back an Altair chart; :func:`to_svg` renders any of them with vl-convert, so no
page needs a JavaScript charting library or anything from the internet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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


# Retention page ---------------------------------------------------------------------------------

COHORT_ROWS = 18
COHORT_OFFSETS = 13


def cohort_heatmap_chart(
    rates: pd.DataFrame, sizes: pd.Series, max_cohorts: int = COHORT_ROWS,
    max_offsets: int = COHORT_OFFSETS,
) -> alt.Chart:
    """Monthly cohorts (rows) by months since the first purchase (columns), rate as colour.

    Only the latest ``max_cohorts`` cohorts and the first ``max_offsets`` offsets are drawn: the
    numbers in the cells must stay readable.
    """
    import altair as alt
    import pandas as pd

    table = rates.iloc[-max_cohorts:, :max_offsets]
    stacked: Any = table.rename_axis(index="cohort", columns="offset").stack()
    long = stacked.rename("rate").reset_index().dropna(subset=["rate"])
    long["cohort"] = pd.to_datetime(long["cohort"]).dt.strftime("%Y-%m")
    long["offset"] = long["offset"].astype(int)
    long["size"] = long["cohort"].map(
        pd.Series(sizes.to_numpy(), index=pd.to_datetime(sizes.index).strftime("%Y-%m"))
    )
    long["label"] = (long["rate"] * 100).round().astype(int).astype(str)
    cohorts = list(dict.fromkeys(long["cohort"]))
    base = alt.Chart(long).encode(
        x=alt.X("offset:O", title="Months since first purchase",
                axis=alt.Axis(labelAngle=0, domain=False, ticks=False)),
        y=alt.Y("cohort:O", title=None, sort=cohorts,
                axis=alt.Axis(domain=False, ticks=False)),
    )
    cells = base.mark_rect(stroke="white", strokeWidth=1).encode(
        color=alt.Color("rate:Q", title="Retained", scale=alt.Scale(scheme="blues", domain=[0, 1]),
                        legend=alt.Legend(format="%", orient="right", gradientLength=120,
                                          gradientThickness=10)),
        tooltip=["cohort", "offset", alt.Tooltip("rate:Q", format=".1%"), "size"],
    )
    numbers = base.mark_text(fontSize=10, font="sans-serif").encode(
        text="label:N",
        color=alt.condition("datum.rate > 0.55", alt.value("white"), alt.value("#1c2a36")),
    )
    chart: Any = alt.layer(cells, numbers).properties(
        title="Cohort retention: % of each month's new customers buying in month n"
    )
    height = max(120, 17 * len(cohorts))
    return _theme(chart).properties(width=33 * max(1, table.shape[1]), height=height)


def survival_by_segment_chart(survival_function: pd.DataFrame, group_col: str = "segment",
                              days_per_unit: float = 30.4375) -> alt.Chart:
    """Kaplan-Meier curves of time to churn, one colour per segment, with confidence bands.

    ``survival_function`` is a fitted ``KaplanMeier.survival_function_`` indexed by (group, time)
    with time in days; the x axis shows months.
    """
    import altair as alt

    data = survival_function.reset_index()
    data["months"] = data["time"].astype(float) / days_per_unit
    groups = sorted(data[group_col].astype(str).unique())
    data[group_col] = data[group_col].astype(str)
    color = alt.Color(f"{group_col}:N", title=None,
                      scale=alt.Scale(domain=groups, range=PALETTE[: len(groups)]))
    base = alt.Chart(data).encode(
        x=alt.X("months:Q", title="Months since acquisition", axis=alt.Axis(grid=False)),
        color=color,
    )
    band = base.mark_area(opacity=0.18, interpolate="step-after").encode(
        y=alt.Y("lower:Q", title="Still a customer", scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%")),
        y2="upper:Q",
    )
    line = base.mark_line(interpolate="step-after", strokeWidth=2).encode(
        y="survival:Q",
        tooltip=[group_col, alt.Tooltip("months:Q", format=".1f"),
                 alt.Tooltip("survival:Q", format=".1%"), "at_risk"],
    )
    chart: Any = alt.layer(band, line).properties(
        title="Customer survival by segment (Kaplan-Meier, 95% bands)"
    )
    return _theme(chart)


def histogram_chart(values: pd.Series, title: str, x_title: str, x_format: str = ",.0f",
                    bins: int = 30, color: str = PALETTE[0],
                    clip_quantile: float | None = None) -> alt.Chart:
    """A histogram of one numeric series (customers per bin).

    With ``clip_quantile`` (e.g. 0.95) values above that quantile are counted in the last bar, so
    a long right tail (lifetime value has one) does not squash every other bar into the first.
    """
    import altair as alt
    import numpy as np
    import pandas as pd

    numbers = pd.to_numeric(values, errors="coerce").dropna().astype(float)
    if clip_quantile is not None and len(numbers):
        cap = float(numbers.quantile(clip_quantile))
        numbers = numbers.clip(upper=cap)
        x_title = f"{x_title} (values above {cap:{x_format}} in the last bar)"
    # Counted here, not by Vega: a chart of 100,000 customers would otherwise carry every value
    # (and Altair refuses data over 5,000 rows).
    counts, edges = np.histogram(numbers.to_numpy(), bins=bins if len(numbers) else 1)
    frame = pd.DataFrame({"start": edges[:-1], "end": edges[1:], "customers": counts})
    chart = alt.Chart(frame).mark_bar(color=color, binSpacing=1).encode(
        x=alt.X("start:Q", bin="binned", title=x_title,
                axis=alt.Axis(format=x_format, labelAngle=0)),
        x2="end:Q",
        y=alt.Y("customers:Q", title="Customers", axis=alt.Axis(tickMinStep=1)),
        tooltip=[alt.Tooltip("customers:Q", title="customers")],
    )
    return _theme(chart.properties(title=title))
