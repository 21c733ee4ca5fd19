"""Survival analysis for time to churn: the Kaplan-Meier estimator with confidence bands,
median survival and groups."""

from qualityloop.analytics.survival.kaplan_meier import KaplanMeier, survival_chart

__all__ = ["KaplanMeier", "survival_chart"]
