"""Survival analysis for time to churn: the Kaplan-Meier estimator with confidence bands,
median survival and groups; the Cox proportional hazards model."""

from qualityloop.analytics.survival.cox import CoxPH, concordance_index
from qualityloop.analytics.survival.kaplan_meier import KaplanMeier, survival_chart

__all__ = ["CoxPH", "KaplanMeier", "concordance_index", "survival_chart"]
