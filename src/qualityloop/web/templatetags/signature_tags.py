"""Template tag of the signed steps: say that signing is locked before the user tries
(``services.signatures``; kept apart from the shared ``qualityloop`` tags)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html

from qualityloop.services.signatures import lock_notice

register = template.Library()


@register.simple_tag
def signing_lock(user: Any) -> str:
    """A notice when ``user``'s signatures are locked (too many wrong passwords), else nothing."""
    notice = lock_notice(user)
    if notice is None:
        return ""
    return format_html('<p class="error" role="status" data-testid="signing-locked">{}.</p>',
                       notice[:1].upper() + notice[1:])
