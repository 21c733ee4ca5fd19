"""Relationships between constructs: PLS path modelling with bootstrap inference, and its
out-of-sample predictive assessment (PLSpredict)."""

from qualityloop.analytics.relate.pls import PLSPathModel
from qualityloop.analytics.relate.predict import pls_predict

__all__ = ["PLSPathModel", "pls_predict"]
