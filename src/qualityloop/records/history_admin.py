"""The admin base for records that keep history: the history is shown, never reverted.

simple-history's admin lets a user open an old version and save it back ("revert"). That saves
the old values as a new change without the checks of the app's own workflows (a signed approval
would come back without a new signature), so the admin here offers no revert at all: the
versions can be read, and a correction is made as an ordinary change, which history keeps with
its author. Hiding the button is not enough (the form still accepts a POST), so a POST to a
version's page is refused.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from simple_history.admin import SimpleHistoryAdmin

REVERT_REFUSED = ("Old versions cannot be restored: history is evidence. Change the record "
                  "itself; the change is kept in its history with your name.")


class RecordHistoryAdmin(SimpleHistoryAdmin):
    """A record's admin page with a read-only history (no revert)."""

    def revert_disabled(self, request, obj=None) -> bool:
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method != "GET":
            raise PermissionDenied(REVERT_REFUSED)
        return super().history_form_view(request, object_id, version_id, extra_context)
