"""Customer-base models: BG/NBD, Pareto/NBD, Gamma-Gamma and customer lifetime value."""

from qualityloop.analytics.retention.models.beta_geo import BetaGeo
from qualityloop.analytics.retention.models.clv import customer_lifetime_value
from qualityloop.analytics.retention.models.gamma_gamma import GammaGamma
from qualityloop.analytics.retention.models.holdout import (
    calibration_holdout_split,
    predicted_vs_actual,
)
from qualityloop.analytics.retention.models.pareto_nbd import ParetoNBD

__all__ = ["BetaGeo", "GammaGamma", "ParetoNBD", "calibration_holdout_split",
           "customer_lifetime_value", "predicted_vs_actual"]
