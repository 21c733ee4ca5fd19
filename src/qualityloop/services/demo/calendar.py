"""Turning simulation time (months from the window start, as floats) into calendar dates."""

from __future__ import annotations

import datetime as dt

import numpy as np

from qualityloop.services.demo.causal_model import N_MONTHS


class Calendar:
    """The demo window: ``N_MONTHS`` whole months that end where the month of ``as_of`` begins."""

    def __init__(self, as_of: dt.date) -> None:
        self.end_month = np.datetime64(as_of, "M")
        self.start_month = self.end_month - N_MONTHS
        self.start = self.start_month.astype("datetime64[D]")
        self.today = self.end_month.astype("datetime64[D]")  # the first day after the window

    def dates(self, months) -> np.ndarray:
        """Dates for times in months (fractions fall proportionally inside the month)."""
        t = np.asarray(months, dtype=float)
        whole = np.floor(t).astype(int)
        first = (self.start_month + whole).astype("datetime64[D]")
        length = ((self.start_month + whole + 1).astype("datetime64[D]") - first).astype(int)
        return first + np.floor((t - whole) * length).astype(int)

    def month_start(self, month: int) -> np.datetime64:
        return (self.start_month + month).astype("datetime64[D]")

    def year_of(self, months) -> np.ndarray:
        return self.dates(months).astype("datetime64[Y]").astype(int) + 1970


def plus_days(dates: np.ndarray, days) -> np.ndarray:
    return dates + np.asarray(np.round(days), dtype=int).astype("timedelta64[D]")
