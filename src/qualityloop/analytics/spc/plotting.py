"""Pictures of SPC results as Altair charts. Numbers come from the other modules; this one only
draws them (Altair is imported inside the functions)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
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
    table["estimate"] = np.where(table["excluded"], "left out of the limits", "used for the limits")
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
    # Phase II limits come from earlier data: no point here was used for them, so the shape
    # legend (used / left out) would say something false.
    estimate = {} if chart.phase == "II" else {"shape": alt.Shape(
        "estimate:N", title=None,
        scale=alt.Scale(domain=["used for the limits", "left out of the limits"],
                        range=["circle", "cross"]))}
    layers.append(base.mark_point(filled=True, size=40).encode(
        y="statistic:Q",
        color=alt.Color("status:N", title=None,
                        scale=alt.Scale(domain=["in control", "rule signal", "beyond limits"],
                                        range=[COLOURS["statistic"], COLOURS["signal"],
                                               COLOURS["beyond"]])),
        **estimate,
        tooltip=["subgroup", alt.Tooltip("statistic:Q", format=".4~g"),
                 alt.Tooltip("lower_limit:Q", format=".4~g"),
                 alt.Tooltip("upper_limit:Q", format=".4~g"), "rules", "status"],
    ))
    return alt.layer(*layers).properties(width=WIDTH, height=HEIGHT, title=title)


def plot_capability(result: Any, title: str | None = None, bins: int = 20) -> Any:
    """Histogram of the data (as density) with the within (solid) and overall (dashed) normal
    curves and dashed rules at the specification limits and the target."""
    import altair as alt
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
        x2="end:Q", y=alt.Y("density:Q", title="Density"), y2=alt.datum(0),
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


def plot_pareto(result: Any, title: str | None = None) -> Any:
    """Pareto chart: bars (vital few darker) and the cumulative percent line on a second axis."""
    import altair as alt

    data = result.table.assign(category=result.table["category"].astype(str),
                               group=result.table["vital_few"].map({True: "vital few",
                                                                    False: "useful many"}))
    order = data["category"].tolist()
    base = alt.Chart(data).encode(x=alt.X("category:N", sort=order, title=None,
                                          axis=alt.Axis(labelAngle=-30)))
    bars = base.mark_bar().encode(
        y=alt.Y("count:Q", title="Count"),
        color=alt.Color("group:N", title=None,
                        scale=alt.Scale(domain=["vital few", "useful many"],
                                        range=[COLOURS["bar"], "#9db4c8"])),
        tooltip=["category", "count", alt.Tooltip("percent:Q", format=".1f"),
                 alt.Tooltip("cumulative_percent:Q", format=".1f")],
    )
    percent_axis = alt.Y("cumulative_percent:Q", title="Cumulative %",
                         scale=alt.Scale(domain=[0, 100]), axis=alt.Axis(orient="right"))
    line = base.mark_line(point=True, color=COLOURS["line"]).encode(y=percent_axis)
    cut = alt.Chart(pd.DataFrame({"cumulative_percent": [result.threshold]})).mark_rule(
        color=COLOURS["line"], strokeDash=[4, 3]).encode(y=percent_axis)
    return alt.layer(bars, alt.layer(line, cut)).resolve_scale(y="independent").properties(
        width=WIDTH, height=HEIGHT, title=title or "Pareto chart")


BONE_GAP = 4.4  # room for a cause label between two bones (x units)
PIXELS_PER_UNIT = 45


def fishbone_length(categories: int) -> float:
    """Length of the spine for a number of categories."""
    return BONE_GAP * max(1, (categories + 1) // 2) + 1.0


def fishbone_layout(result: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Line segments (x, y, x2, y2) and labels (x, y, text, kind, align) of a fishbone.

    The spine runs along y = 0 with the effect at its right end; categories take turns above
    and below, each bone slanting back from the spine to its label, BONE_GAP apart.
    """
    categories = list(result.causes)
    spine = fishbone_length(len(categories))
    segments = [(0.0, 0.0, spine, 0.0)]
    labels = [(spine + 0.2, 0.0, result.effect, "effect", "left")]
    for index, category in enumerate(categories):
        side = 1.0 if index % 2 == 0 else -1.0
        root = BONE_GAP * (index // 2 + 1)
        tip_x, tip_y = root - 1.6, 3.0 * side
        segments.append((root, 0.0, tip_x, tip_y))
        labels.append((tip_x, tip_y + 0.35 * side, category, "category", "center"))
        causes = result.causes[category]
        for position, cause in enumerate(causes, start=1):
            share = position / (len(causes) + 1)
            x, y = root + (tip_x - root) * (1 - share), tip_y * (1 - share)
            segments.append((x, y, x - 0.6, y))
            labels.append((x - 0.65, y, cause, "cause", "right"))
    return (pd.DataFrame(segments, columns=["x", "y", "x2", "y2"]),
            pd.DataFrame(labels, columns=["x", "y", "text", "kind", "align"]))


def plot_fishbone(result: Any, title: str | None = None) -> Any:
    """The cause-and-effect diagram drawn with Altair from :func:`fishbone_layout`."""
    import altair as alt

    segments, labels = fishbone_layout(result)
    spine = fishbone_length(len(result.causes))
    x_scale = alt.Scale(domain=[-1.0, spine + 4.0])
    y_scale = alt.Scale(domain=[-3.8, 3.8])
    lines = alt.Chart(segments).mark_rule(color="#44505c", strokeWidth=1.5).encode(
        x=alt.X("x:Q", scale=x_scale, axis=None), y=alt.Y("y:Q", scale=y_scale, axis=None),
        x2="x2:Q", y2="y2:Q")
    texts = []
    styles: dict[str, dict[str, Any]] = {
        "effect": {"align": "left", "fontWeight": "bold", "fontSize": 13},
        "category": {"align": "center", "fontWeight": "bold", "fontSize": 12},
        "cause": {"align": "right", "fontWeight": "normal", "fontSize": 10},
    }
    for kind, style in styles.items():
        texts.append(alt.Chart(labels[labels["kind"] == kind]).mark_text(
            baseline="middle", color="#1c2a36", **style).encode(x=alt.X("x:Q", scale=x_scale),
                                    y=alt.Y("y:Q", scale=y_scale), text="text:N"))
    return alt.layer(lines, *texts).properties(
        width=int(PIXELS_PER_UNIT * (spine + 5.0)), height=320,
        title=title or f"Cause and effect: {result.effect}",
    ).configure_view(stroke=None)


def plot_histogram(values: Any, *, bins: int, lsl: float | None, usl: float | None,
                   title: str | None, x_title: str) -> Any:
    """Histogram of values with dashed rules at the specification limits."""
    import altair as alt

    bars = alt.Chart(pd.DataFrame({"value": values})).mark_bar(
        color=COLOURS["bar"], binSpacing=1).encode(
        x=alt.X("value:Q", bin=alt.Bin(maxbins=bins), title=x_title),
        y=alt.Y("count():Q", title="Count"))
    specs = pd.DataFrame([{"at": v, "label": name} for v, name in ((lsl, "LSL"), (usl, "USL"))
                          if v is not None])
    layers = [bars]
    if len(specs):
        layers.append(alt.Chart(specs).mark_rule(color=COLOURS["limit"], strokeDash=[4, 3])
                      .encode(x="at:Q", tooltip=["label", "at"]))
    return alt.layer(*layers).properties(width=WIDTH, height=HEIGHT,
                                         title=title or "Histogram")


def plot_scatter(x: Any, y: Any, *, fit_line: bool, x_title: str, y_title: str,
                 title: str) -> Any:
    """Scatter diagram with an optional least-squares line."""
    import altair as alt

    data = pd.DataFrame({"x": x, "y": y})
    points = alt.Chart(data).mark_circle(color=COLOURS["statistic"], size=40).encode(
        x=alt.X("x:Q", title=x_title, scale=alt.Scale(zero=False)),
        y=alt.Y("y:Q", title=y_title, scale=alt.Scale(zero=False)), tooltip=["x", "y"])
    layers = [points]
    if fit_line:
        layers.append(points.transform_regression("x", "y").mark_line(color=COLOURS["line"]))
    return alt.layer(*layers).properties(width=WIDTH, height=HEIGHT, title=title)
