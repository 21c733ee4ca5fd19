"""What the load test sends and how it names what it writes; shared by the locustfile (run by
locust, under gevent) and ``run.py`` (which prepares the site and checks it afterwards)."""

from __future__ import annotations

import datetime as dt

# Every record the load test writes has an external id starting with this and the run's id.
PREFIX = "LT"
# The share of the requests each class of simulated user sends (locustfile.py).
SHARES = {"ApiReader": 0.50, "WebReader": 0.10, "Creator": 0.20, "OwnFieldUpdater": 0.10,
          "HotAppender": 0.10}
# A read-modify-write refused with 412 is read again and retried up to this many times.
APPEND_TRIES = 8


def record_id(run: str, what: str, *parts: object) -> str:
    """The external id of a record written by the load test, e.g. ``LT3f2a-NC-4-17``."""
    return "-".join([f"{PREFIX}{run}", what, *(str(p) for p in parts)])


def nonconformance(external_id: str, unit: str) -> dict:
    """A new nonconformance, as a staff member raises it at inspection."""
    return {
        "external_id": external_id,
        "title": "Burr on machined edge (load test)",
        "org_unit": unit,
        "detected_on": dt.date.today().isoformat(),
        "stage": "production",
        "source": "inspection",
        "severity": "minor",
        "quantity_affected": 1,
    }


def complaint(external_id: str, customer: str, unit: str) -> dict:
    """A new customer complaint."""
    return {
        "external_id": external_id,
        "customer": customer,
        "received_on": dt.date.today().isoformat(),
        "channel": "email",
        "description": "Delivered parts do not fit (load test).",
        "org_unit": unit,
    }


def measurement(external_id: str, unit: str, value: float) -> dict:
    """A new process measurement of one characteristic."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return {
        "external_id": external_id,
        "characteristic": "Load test diameter",
        "org_unit": unit,
        "subgroup": f"LT-{now:%Y%m%d%H%M}",
        "measured_at": now.isoformat(),
        "value": value,
        "unit_of_measure": "mm",
        "lsl": 11.985,
        "usl": 12.015,
    }
