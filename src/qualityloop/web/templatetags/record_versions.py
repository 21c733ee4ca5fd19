"""``{% version_fields record %}``: the hidden fields a form sends to say which version of the
record its page showed (``web/views/edit_conflicts.py``), so a step or save on a record someone
changed since is refused instead of silently writing over their change."""

from __future__ import annotations

from django import template
from django.db import models
from django.utils.html import format_html
from django.utils.safestring import SafeString

from qualityloop.web.views.edit_conflicts import SEEN_FIELD, VERSION_FIELD, opened_on

register = template.Library()
CACHED = "_version_fields"


@register.simple_tag
def version_fields(record: models.Model, history: bool = True) -> SafeString:
    """Two hidden inputs: the record's version (ETag) and its newest history version (worked
    out once per record object: a page has several step forms). ``history=False`` for a form
    on each row of a list: no query per row (a refusal then names only the latest change)."""
    opened = record.__dict__.get(CACHED)
    if opened is None:
        opened = record.__dict__[CACHED] = opened_on(record, history)
    return format_html('<input type="hidden" name="{}" value="{}">'
                       '<input type="hidden" name="{}" value="{}">',
                       VERSION_FIELD, opened["version"], SEEN_FIELD, opened["seen"])
