"""Pictures of SPC results as Altair charts. Numbers come from the other modules; this one only
draws them (Altair is imported inside the functions)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from qualityloop.analytics.spc.charts import ControlChart

COLOURS = {"statistic": "#1f5f8b", "limit": "#b8403a", "center": "#5b9a68", "signal": "#e07b39",
           "beyond": "#b8403a", "bar": "#1f5f8b", "line": "#e07b39"}
TITLES = {
    "xbar": "x-bar chart", "R": "R chart", "s": "s chart", "I": "Individuals chart",
    "MR": "Moving range chart", "p": "p chart (fraction nonconforming)",
    "np": "np chart (number nonconforming)", "c": "c chart (nonconformities)",
    "u": "u chart (nonconformities per unit)", "ewma": "EWMA chart", "cusum": "Tabular CUSUM",
}
WIDTH = 420
HEIGHT = 180


def chart_frame(chart: ControlChart) -> pd.DataFrame:
    """The summary in long-ish form for drawing: one row per subgroup with a ``status`` of
    ``"in control"``, ``"rule signal"`` or ``"beyond limits"``."""
    table = chart.summary()
    table["status"] = "in control"
    table.loc[table["rules"] != "", "status"] = "rule signal"
    table.loc[table["beyond_limits"], "status"] = "beyond limits"
    table["subgroup"] = table["subgroup"] + 1  # people count samples from 1
    return table


def plot_control_chart(chart: ControlChart, title: str | None = None) -> Any:
    """A control chart: the statistic as a line with points (coloured by status), the center
    line and the limits as steps (they vary with the sample size). With a companion (R, s, MR),
    both charts stacked.

    Examples
    --------
    >>> from qualityloop.analytics.spc import c_chart
    >>> picture = plot_control_chart(c_chart([3, 5, 4, 12, 2, 4]))
    >>> sorted(picture.to_dict()["layer"][0]["encoding"])[:2]
    ['x', 'y']
    """
    import altair as alt

    top = _single(chart, title or TITLES.get(chart.chart, chart.chart))
    if chart.companion is None:
        return top
    bottom = _single(chart.companion, TITLES.get(chart.companion.chart, chart.companion.chart))
    return alt.vconcat(top, bottom).resolve_scale(color="shared")


def _single(chart: ControlChart, title: str) -> Any:
    import altair as alt

    data = chart_frame(chart)
    if chart.lower_statistic is not None:  # CUSUM: C- drawn below zero
        data["lower_statistic"] = -data["lower_statistic"]
    x = alt.X("subgroup:Q", title="Sample", axis=alt.Axis(tickMinStep=1, grid=False),
              scale=alt.Scale(nice=False, padding=8))
    base = alt.Chart(data).encode(x=x)
    y_title = "C+ / -C-" if chart.chart == "cusum" else chart.chart
    layers = [
        base.mark_line(interpolate="step-after", color=COLOURS["limit"], strokeDash=[4, 3])
        .encode(y=alt.Y("upper_limit:Q", title=y_title, scale=alt.Scale(zero=False))),
        base.mark_line(interpolate="step-after", color=COLOURS["limit"], strokeDash=[4, 3])
        .encode(y="lower_limit:Q"),
        base.mark_line(color=COLOURS["center"]).encode(y="center_line:Q"),
        base.mark_line(color=COLOURS["statistic"]).encode(y="statistic:Q"),
    ]
    if chart.lower_statistic is not None:
        layers.append(base.mark_line(color=COLOURS["statistic"], strokeDash=[2, 2])
                      .encode(y="lower_statistic:Q"))
    layers.append(base.mark_point(filled=True, size=40).encode(
        y="statistic:Q",
        color=alt.Color("status:N", title=None,
                        scale=alt.Scale(domain=["in control", "rule signal", "beyond limits"],
                                        range=[COLOURS["statistic"], COLOURS["signal"],
                                               COLOURS["beyond"]])),
        tooltip=["subgroup", alt.Tooltip("statistic:Q", format=".4~g"),
                 alt.Tooltip("lower_limit:Q", format=".4~g"),
                 alt.Tooltip("upper_limit:Q", format=".4~g"), "rules", "status"],
    ))
    return alt.layer(*layers).properties(width=WIDTH, height=HEIGHT, title=title)


def plot_capability(result: Any, title: str | None = None, bins: int = 20) -> Any:
    """Histogram of the data (as density) with the within (solid) and overall (dashed) normal
    curves and dashed rules at the specification limits and the target."""
    import altair as alt
    import numpy as np
    from scipy import stats

    values = pd.DataFrame({"value": result.data})
    marks = [v for v in (result.lsl, result.usl, result.target) if v is not None]
    low = min(float(values["value"].min()), *marks) - result.sigma_overall
    high = max(float(values["value"].max()), *marks) + result.sigma_overall
    grid = np.linspace(low, high, 200)
    curves = pd.concat([
        pd.DataFrame({"x": grid, "density": stats.norm.pdf(grid, result.center, sigma),
                      "sigma": name})
        for name, sigma in (("within", result.sigma_within), ("overall", result.sigma_overall))
    ])
    width = (float(values["value"].max()) - float(values["value"].min())) / bins or 1.0
    bars = alt.Chart(values).transform_bin(
        ["start", "end"], "value", bin=alt.Bin(step=width)
    ).transform_aggregate(count="count()", groupby=["start", "end"]).transform_calculate(
        density=f"datum.count / ({len(values)} * {width})"
    ).mark_bar(color=COLOURS["bar"], opacity=0.45).encode(
        x=alt.X("start:Q", title="Measurement", scale=alt.Scale(domain=[low, high], zero=False)),
        x2="end:Q", y=alt.Y("density:Q", title="Density"),
    )
    lines = alt.Chart(curves).mark_line().encode(
        x="x:Q", y="density:Q",
        strokeDash=alt.StrokeDash("sigma:N", title="Normal curve",
                                  scale=alt.Scale(domain=["within", "overall"],
                                                  range=[[1, 0], [5, 3]])),
        color=alt.value(COLOURS["line"]),
    )
    specs = pd.DataFrame([{"at": v, "label": label} for v, label in
                          ((result.lsl, "LSL"), (result.usl, "USL"), (result.target, "target"))
                          if v is not None])
    rules = alt.Chart(specs).mark_rule(color=COLOURS["limit"], strokeDash=[4, 3]).encode(
        x="at:Q", tooltip=["label", "at"])
    labels = alt.Chart(specs).mark_text(dy=-6, color=COLOURS["limit"], baseline="bottom").encode(
        x="at:Q", y=alt.value(0), text="label:N")
    heading = title or (f"Process capability: Cpk {result['Cpk']:.2f}, "
                        f"Ppk {result['Ppk']:.2f}")
    return alt.layer(bars, lines, rules, labels).properties(width=WIDTH, height=HEIGHT,
                                                           title=heading)
