"""Figures over the whole customer base, computed once a day and shared by every server process.

The dashboard's customer tiles and chart and the Retention page read the order stream (millions
of rows): seconds to compute, the same all day. They are kept in a file cache in the data folder
(``QUALITYLOOP_HOME/page-cache``), so every worker process and the CLI share one copy, and a
process started after the figures were computed shows them at once.

A cached value is keyed by the day, the org unit and a *data stamp*: the newest order (by id) and
the newest and last changed customer, feedback response and org unit. Importing orders, customers
or responses therefore makes the next request compute afresh; a change to an existing order's
amount (orders keep no history and are rarely edited) is picked up the next day.

:func:`warm_up` is what a server process does before its first request (web/wsgi.py): import
the URL configuration (every view and the analytics behind them), start the chart renderer, and
fill the whole organisation's dashboard figures in a background thread if they are missing.
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

    parts = [Order.objects.aggregate(v=Max("pk"))["v"]]
    for model in (Customer, FeedbackResponse, OrgUnit):
        parts += model.objects.aggregate(n=Max("pk"), t=Max("updated_at")).values()
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
    if value is None:
        value = compute()
        store().set(key, value, DAY_SECONDS)
    return value


def refresh(name: str, unit: OrgUnit | None, compute: Callable[[], Any]) -> None:
    """Compute and store ``name`` for ``unit`` now, replacing what was cached."""
    store().set(_key(name, unit, timezone.localdate(), data_stamp()), compute(), DAY_SECONDS)


def warm_up(background: bool = True) -> None:
    """Prepare a server process before its first request (see the module docstring)."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports every view module
    _start_chart_renderer()
    if background:
        threading.Thread(target=_fill_dashboard, name="qualityloop-warm-up", daemon=True).start()
    else:
        _fill_dashboard()


def _start_chart_renderer() -> None:
    """The first chart a process renders pays for starting the Vega engine (a second or two)."""
    import vl_convert

    vl_convert.vegalite_to_svg({"mark": "point", "data": {"values": [{"x": 1}]},
                                "encoding": {"x": {"field": "x", "type": "quantitative"}}})


def _fill_dashboard() -> None:
    from django.db import connection

    from qualityloop.web.views import dashboard

    try:
        dashboard.customer_figures(None)
    except Exception:  # a warm-up must never stop the server; the page computes on demand
        log.exception("warming the dashboard figures failed")
    finally:
        connection.close()
