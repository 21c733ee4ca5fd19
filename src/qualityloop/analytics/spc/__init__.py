"""Statistical process control and the basic quality tools.

Control charts (:mod:`.charts`) with run rules (:mod:`.rules`) and constants computed for
subgroup sizes 2-25 (:mod:`.constants`), process capability (:mod:`.capability`), and the
basic tools: Pareto table, cause-and-effect diagram, histogram and scatter helpers, DPMO and
sigma level (:mod:`.tools`). Numbers follow Montgomery's *Introduction to Statistical Quality
Control* and agree with R's qcc.
"""

from qualityloop.analytics.spc.charts import (
    ControlChart,
    c_chart,
    cusum,
    ewma,
    individuals,
    np_chart,
    p_chart,
    subgroup_matrix,
    u_chart,
    xbar_r,
    xbar_s,
)
from qualityloop.analytics.spc.constants import c4, constants_table, d2, d3, factors
from qualityloop.analytics.spc.rules import RULE_SETS, check_rules

__all__ = [
    "ControlChart",
    "RULE_SETS",
    "c4",
    "c_chart",
    "check_rules",
    "constants_table",
    "cusum",
    "d2",
    "d3",
    "ewma",
    "factors",
    "individuals",
    "np_chart",
    "p_chart",
    "subgroup_matrix",
    "u_chart",
    "xbar_r",
    "xbar_s",
]
