"""Retention analytics: RFM summaries, cohort tables and customer-base models.

Every function accepts a pandas or polars DataFrame or an Ibis table; aggregations run as Ibis
expressions (DuckDB for DataFrames, the table's own backend for an Ibis table).
"""

from qualityloop.analytics.retention.rfm import rfm_summary

__all__ = ["rfm_summary"]
