"""Relationships between constructs: PLS path modelling with bootstrap inference, and its
out-of-sample predictive assessment (PLSpredict); what-if simulation on a proportional
hazards model."""

from qualityloop.analytics.relate.pls import PLSPathModel
from qualityloop.analytics.relate.predict import pls_predict
from qualityloop.analytics.relate.what_if import WhatIfSimulation, simulate_what_if

__all__ = ["PLSPathModel", "WhatIfSimulation", "pls_predict", "simulate_what_if"]
