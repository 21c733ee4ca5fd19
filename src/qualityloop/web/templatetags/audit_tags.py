"""Template filters of the audit log (kept apart from the shared ``qualityloop`` tags)."""

from django import template

from qualityloop.services.permissions import may_read_audit

register = template.Library()


@register.filter
def may_audit(user) -> bool:
    """Whether the user may open the audit log."""
    return may_read_audit(user)
