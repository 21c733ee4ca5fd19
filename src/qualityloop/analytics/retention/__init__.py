"""Retention analytics: RFM summaries, cohort tables and customer-base models.

Every function accepts a pandas or polars DataFrame or an Ibis table; aggregations run as Ibis
expressions (DuckDB for DataFrames, the table's own backend for an Ibis table).
"""

from qualityloop.analytics.retention.cohorts import (
    CohortTable,
    churn_rate,
    cohort_retention,
    repeat_purchase_rate,
)
from qualityloop.analytics.retention.models import (
    BetaGeo,
    GammaGamma,
    ParetoNBD,
    calibration_holdout_split,
    customer_lifetime_value,
    predicted_vs_actual,
)
from qualityloop.analytics.retention.plotting import plot_predicted_vs_actual
from qualityloop.analytics.retention.rfm import rfm_summary

__all__ = [
    "BetaGeo",
    "GammaGamma",
    "ParetoNBD",
    "calibration_holdout_split",
    "customer_lifetime_value",
    "predicted_vs_actual",
    "plot_predicted_vs_actual",
    "CohortTable",
    "churn_rate",
    "cohort_retention",
    "repeat_purchase_rate",
    "rfm_summary",
]
