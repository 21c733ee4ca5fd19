"""How API callers prove who they are: an API token (``Authorization: Bearer TOKEN``) or the
browser session of a logged-in user (so the web pages can call the API too)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja.security import HttpBearer, django_auth

from qualityloop.records.accounts.models import ApiToken


class TokenAuth(HttpBearer):
    """Bearer-token authentication against the hashed tokens of ``ApiToken``.

    The user returned carries the token's scope (``ApiToken.authenticate`` sets ``token_role``),
    so every permission question of the request is judged by the lower of that scope and the
    user's current role (``role_of``, ``permissions.scope_of``)."""

    def authenticate(self, request: HttpRequest, token: str):
        user = ApiToken.authenticate(token)
        if user is None:
            return None
        # The history middleware reads request.user when a record is saved, so changes made
        # with a token are recorded under the token's owner.
        request.user = user
        return user


API_AUTH = [TokenAuth(), django_auth]
