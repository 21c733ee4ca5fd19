"""Relationships between constructs: PLS path modelling with bootstrap inference, and its
out-of-sample predictive assessment (PLSpredict)."""

from qualityloop.analytics.relate.pls import PLSPathModel

__all__ = ["PLSPathModel"]
