"""Figures over the whole customer base, computed once a day and shared by every server process.

The dashboard's customer tiles and chart and the Retention page read the order stream (millions
of rows): seconds to compute, the same all day. They are kept in a file cache in the data folder
(``QUALITYLOOP_HOME/page-cache``), so every worker process and the CLI share one copy, and a
process started after the figures were computed shows them at once.

A cached value is keyed by the day, the org unit and a *data stamp*: the newest order (by id) and
the newest and last changed customer, feedback response and org unit. Importing orders, customers
or responses therefore makes the next request compute afresh; a change to an existing order's
amount (orders keep no history and are rarely edited) is picked up the next day.

:func:`warm_up` is what the embedded server (``qualityloop serve``, web/server.py) does before
its first request: import the URL configuration (every view and the analytics behind them: about
10 s on a busy 2-core machine), start the chart renderer (1-2 s), and fill the whole
organisation's daily figures in a background thread where missing (on the 100,000-customer
demo: dashboard 1-4 s, review pack headline 16-30 s, Retention page 30-80 s). Without it
the first visitor after a start waited for all of it.
The production server (gunicorn) imports the URL configuration once before forking, and each
worker starts its chart renderer; the first worker also fills the daily figures (web/server.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache.backends.filebased import FileBasedCache
from django.db.models import Max
from django.utils import timezone

from qualityloop.records.organisation.models import OrgUnit

DAY_SECONDS = 24 * 3600
T = TypeVar("T")
log = logging.getLogger(__name__)
_store: FileBasedCache | None = None
_computing: dict[str, threading.Lock] = {}
_computing_guard = threading.Lock()


def store() -> FileBasedCache:
    """The file cache under the data folder (made on first use, not at import)."""
    global _store
    if _store is None:
        from django.conf import settings

        location = settings.DATA_HOME / "page-cache"
        _store = FileBasedCache(str(location), {"TIMEOUT": DAY_SECONDS,
                                                "OPTIONS": {"MAX_ENTRIES": 1000}})
    return _store


def data_stamp() -> str:
    """What changes when customers, orders, feedback or org units are added or changed (index
    look-ups only: ``updated_at`` of customers and responses is indexed for this)."""
    from qualityloop.records.customers.models import Customer, FeedbackResponse, Order

    # One MAX per query: SQLite answers a lone MIN/MAX from the index, two together by a scan.
    parts = [model.objects.aggregate(v=Max(field))["v"]
             for model in (Order, Customer, FeedbackResponse, OrgUnit)
             for field in ("pk", "updated_at") if (model, field) != (Order, "updated_at")]
    return "|".join(p.isoformat() if isinstance(p, dt.datetime) else str(p or 0) for p in parts)


def _key(name: str, unit: OrgUnit | None, day: dt.date, stamp: str) -> str:
    return f"ql:{name}:{day}:{unit.pk if unit else 'all'}:{stamp}"


def daily(name: str, unit: OrgUnit | None, compute: Callable[[], T]) -> T:
    """``compute()`` for today, ``unit`` and the current data, computed once and shared.

    Parameters
    ----------
    name
        What is cached (one name per page part, e.g. ``"dashboard:customers"``).
    unit
        The org unit the figures are for; None for the whole organisation.
    compute
        Makes the value; it must be picklable.
    """
    key = _key(name, unit, timezone.localdate(), data_stamp())
    value = store().get(key)
    if value is not None:
        return value
    # A request arriving while the warm-up (or another request) computes the same figures waits
    # for that answer instead of computing them a second time beside it.
    with _computing_guard:
        lock = _computing.setdefault(key, threading.Lock())
    try:
        with lock:
            value = store().get(key)
            if value is None:
                value = compute()
                store().set(key, value, DAY_SECONDS)
    finally:
        with _computing_guard:
            _computing.pop(key, None)
    return value


def refresh(name: str, unit: OrgUnit | None, compute: Callable[[], Any]) -> None:
    """Compute and store ``name`` for ``unit`` now, replacing what was cached."""
    store().set(_key(name, unit, timezone.localdate(), data_stamp()), compute(), DAY_SECONDS)


def warm_up(charts: bool = True, figures: bool = True) -> None:
    """Prepare a server process before its first request (see the module docstring).

    Parameters
    ----------
    charts
        Start the chart renderer. Not in a process that will fork: the renderer's threads do
        not survive a fork.
    figures
        Fill the whole organisation's daily figures in a background thread where missing
        (dashboard, review pack headline, Retention page).
    """
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports every view module
    if charts:
        _start_chart_renderer()
    if figures:
        threading.Thread(target=_fill_dashboard, name="qualityloop-warm-up", daemon=True).start()


def _start_chart_renderer() -> None:
    """The first chart a process renders pays for starting the Vega engine (a second or two)."""
    import vl_convert

    vl_convert.vegalite_to_svg({"mark": "point", "data": {"values": [{"x": 1}]},
                                "encoding": {"x": {"field": "x", "type": "quantitative"}}})


def _fill_dashboard() -> None:
    """The whole organisation's figures that read every order, slowest last: the dashboard's
    (seconds), the review pack's retention headline and the Retention page (tens of seconds on
    the 100,000-customer demo). Each is skipped when already cached for today's data."""
    from django.db import connection

    from qualityloop.web.views import dashboard, management_review, retention

    steps = (lambda: dashboard.customer_figures(None), management_review._headline,
             lambda: retention.retention_figures(None))
    try:
        for step in steps:
            step()
    except Exception as error:  # a warm-up must never stop the server; pages compute on demand
        # One line, no traceback: a stop (SIGTERM) during the warm-up ends it this way too.
        log.warning("warming the page figures stopped: %s: %s", type(error).__name__, error)
    finally:
        connection.close()
