"""The page shown when the login rate limit refuses an attempt (django-axes calls it)."""

from __future__ import annotations

import math

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

TOO_MANY_REQUESTS = 429


def client_address(request: HttpRequest) -> str | None:
    """The address a login attempt is counted against: the connection's own.

    Not ``X-Forwarded-For``, which any client can set to a new value for each guess; behind a
    proxy every attempt then counts against the proxy's address (docs/security.md).
    """
    return request.META.get("REMOTE_ADDR")


def locked_out(request: HttpRequest, original_response: HttpResponse | None = None,
               credentials: dict | None = None) -> HttpResponse:
    """Refuse a login attempt after too many failures: HTTP 429 saying when to try again.

    Parameters
    ----------
    request
        The login request that was refused (web or admin login).
    original_response
        The login page as the view rendered it; not shown, the refusal replaces it.
    credentials
        What was submitted; only the username is shown back.
    """
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    minutes = math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    context = {"username": username, "failure_limit": settings.AXES_FAILURE_LIMIT,
               "minutes": minutes}
    response = render(request, "registration/locked_out.html", context,
                      status=TOO_MANY_REQUESTS)
    response["Retry-After"] = str(minutes * 60)
    return response
