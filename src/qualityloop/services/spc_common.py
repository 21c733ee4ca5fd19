"""The Django-free pieces of SPC shared by the records service (``services.spc``) and the file
charting of ``qualityloop spc``: phase I/II and JSON-ready capability results."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from qualityloop.analytics import spc


def number(value: Any) -> float | None:
    """A finite float, or None for NaN and infinities (JSON has neither)."""
    result = float(value)
    return result if np.isfinite(result) else None


def phased(make: Callable[..., spc.ControlChart], settings: Any,
           *data: Any) -> spc.ControlChart:
    """``make(*data)`` in phase I, or with limits from the first ``settings.baseline`` points.

    Parameters
    ----------
    make
        A chart function of :mod:`qualityloop.analytics.spc` (``u_chart``, ``xbar_r``, ...).
    settings
        Anything with ``rules`` (the run-rule set) and ``baseline`` (None for phase I).
    *data
        The chart function's data arguments, one entry per point (sliced for the baseline).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> chart = phased(spc.c_chart, SimpleNamespace(rules="nelson", baseline=3), [4, 6, 5, 15])
    >>> chart.phase, chart.center
    ('II', 5.0)
    """
    count = len(data[0])
    if settings.baseline is None or settings.baseline >= count:
        return make(*data, rules=settings.rules)
    reference = make(*(values[: settings.baseline] for values in data), rules=settings.rules)
    return make(*data, limits=reference, rules=settings.rules)


def capability_dict(result: spc.Capability | None) -> dict[str, Any] | None:
    """A capability result as JSON-ready data (indices with intervals, ppm out of spec)."""
    if result is None:
        return None
    indices = {name: {k: number(v) for k, v in row.items()}
               for name, row in result.indices.iterrows()}
    ppm = {name: {k: number(v) for k, v in row.items()} for name, row in result.ppm.iterrows()}
    return {"n": result.n, "center": result.center, "sigma_within": result.sigma_within,
            "sigma_overall": result.sigma_overall, "lsl": result.lsl, "usl": result.usl,
            "target": result.target, "confidence": result.confidence, "indices": indices,
            "ppm": ppm}
