"""Statistical process control and the basic quality tools.

Control charts (:mod:`.charts`) with run rules (:mod:`.rules`) and constants computed for
subgroup sizes 2-25 (:mod:`.constants`), process capability (:mod:`.capability`), and the
basic tools: Pareto table, cause-and-effect diagram, histogram and scatter helpers, DPMO and
sigma level (:mod:`.tools`). Numbers follow Montgomery's *Introduction to Statistical Quality
Control* and agree with R's qcc.
"""

from qualityloop.analytics.spc.capability import Capability, capability
from qualityloop.analytics.spc.charts import (
    ControlChart,
    c_chart,
    cusum,
    ewma,
    individuals,
    np_chart,
    p_chart,
    subgroup_matrix,
    subgroups_from_long,
    u_chart,
    xbar_r,
    xbar_s,
)
from qualityloop.analytics.spc.constants import c4, constants_table, d2, d3, factors
from qualityloop.analytics.spc.rules import RULE_SETS, check_rules
from qualityloop.analytics.spc.tools import (
    SIX_M,
    CauseAndEffect,
    Pareto,
    cause_and_effect,
    dpmo,
    histogram,
    pareto,
    scatter,
    sigma_level,
)

__all__ = [
    "Capability",
    "CauseAndEffect",
    "ControlChart",
    "Pareto",
    "RULE_SETS",
    "SIX_M",
    "c4",
    "c_chart",
    "capability",
    "cause_and_effect",
    "check_rules",
    "constants_table",
    "cusum",
    "d2",
    "d3",
    "dpmo",
    "ewma",
    "factors",
    "histogram",
    "individuals",
    "np_chart",
    "p_chart",
    "pareto",
    "scatter",
    "sigma_level",
    "subgroup_matrix",
    "subgroups_from_long",
    "u_chart",
    "xbar_r",
    "xbar_s",
]
