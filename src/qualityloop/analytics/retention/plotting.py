"""Charts of retention results. Numbers come from the other modules; this one only draws them."""

from __future__ import annotations

from typing import Any

import pandas as pd

from qualityloop.analytics.validation import require_columns

SERIES = {"actual": "actual", "predicted": "model prediction"}


def plot_predicted_vs_actual(table: pd.DataFrame, title: str | None = None) -> Any:
    """Mean holdout purchases, actual and predicted, by calibration frequency.

    The picture of lifetimes' ``plot_calibration_purchases_vs_holdout_purchases``: one line with
    points per series, calibration purchases on the x axis.

    Parameters
    ----------
    table : pandas.DataFrame
        The result of :func:`predicted_vs_actual`: index ``frequency_cal``, columns ``actual``,
        ``predicted`` and optionally ``customers`` (shown in the tooltip).
    title : str, optional
        Chart title; defaults to a description of the comparison.

    Returns
    -------
    altair.LayerChart
        Data in long form: ``frequency_cal``, ``series`` ("actual" / "model prediction"),
        ``purchases`` and ``customers``.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"customers": [10, 4], "actual": [0.2, 1.5],
    ...                       "predicted": [0.25, 1.4]},
    ...                      index=pd.Index([0, 1], name="frequency_cal"))
    >>> chart = plot_predicted_vs_actual(table)
    >>> sorted(set(pd.DataFrame(chart.data)["series"]))
    ['actual', 'model prediction']
    """
    import altair as alt

    require_columns(table, ["actual", "predicted"])
    data = _long_form(table)
    base = alt.Chart(data).encode(
        x=alt.X("frequency_cal:O", title="purchases in calibration period",
                axis=alt.Axis(labelAngle=0)),
        y=alt.Y("purchases:Q", title="mean purchases in holdout period"),
        color=alt.Color("series:N", title=None, sort=list(SERIES.values())),
        tooltip=["frequency_cal:O", "series:N", alt.Tooltip("purchases:Q", format=".3f"),
                 "customers:Q"],
    )
    chart = base.mark_line() + base.mark_point(filled=True)
    return chart.properties(
        width=400,
        title=title or "Actual vs predicted holdout purchases by calibration purchases",
    )


def _long_form(table: pd.DataFrame) -> pd.DataFrame:
    wide = table.reset_index()
    wide = wide.rename(columns={wide.columns[0]: "frequency_cal"})
    if "customers" not in wide:
        wide["customers"] = float("nan")  # serialised as null: the tooltip shows no count
    long = wide.melt(id_vars=["frequency_cal", "customers"], value_vars=list(SERIES),
                     var_name="series", value_name="purchases")
    long["series"] = long["series"].map(SERIES)
    long["frequency_cal"] = long["frequency_cal"].astype(int)
    return long[["frequency_cal", "series", "purchases", "customers"]]
