"""The page shown when the login rate limit refuses an attempt (django-axes calls it), and the
answer to a refused electronic signature (a wrong password, or signing locked after too many)."""

from __future__ import annotations

import math
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from qualityloop.services.signatures import ReauthenticationFailed, SignatureLocked

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


def signature_refused(refusal: ReauthenticationFailed,
                      page: Callable[[int, str], HttpResponse]) -> HttpResponse:
    """The step's page with why the signature was refused: 403 for a wrong password, 429 with
    ``Retry-After`` while signing is locked (``services.signatures``).

    Parameters
    ----------
    refusal
        What :func:`qualityloop.services.signatures.sign` raised.
    page
        Renders the step's page with a status and the message to show in the step.
    """
    message = str(refusal)[:1].upper() + str(refusal)[1:] + "."
    if not isinstance(refusal, SignatureLocked):
        return page(403, message)
    response = page(TOO_MANY_REQUESTS, message)
    response["Retry-After"] = str(refusal.retry_after)
    return response
