"""The admin base for records that keep history: the history is shown, never reverted.

simple-history's admin lets a user open an old version and save it back ("revert"). That saves
the old values as a new change without the checks of the app's own workflows (a signed approval
would come back without a new signature), so the admin here offers no revert at all: the
versions can be read, and a correction is made as an ordinary change, which history keeps with
its author. Hiding the button is not enough (the form still accepts a POST), so a POST to a
version's page is refused.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from simple_history.admin import SimpleHistoryAdmin

REVERT_REFUSED = ("Old versions cannot be restored: history is evidence. Change the record "
                  "itself; the change is kept in its history with your name.")


class ReadScopedAdmin(admin.ModelAdmin):
    """An admin whose lists, pages, histories and reference searches hold only the records the
    user may read (``services.permissions.restrict``): under ``QUALITYLOOP_READ_SCOPE=unit`` a
    unit lead's admin is narrowed like the app's own pages."""

    def get_queryset(self, request):
        from qualityloop.services import permissions
        from qualityloop.services.record_kinds import kind_for_model

        found = super().get_queryset(request)
        kind = kind_for_model(self.model)
        return found if kind is None else permissions.restrict(found, request.user, kind)


class RecordHistoryAdmin(ReadScopedAdmin, SimpleHistoryAdmin):
    """A record's admin page with a read-only history (no revert), narrowed to what the user may
    read."""

    def revert_disabled(self, request, obj=None) -> bool:
        return True

    def get_history_queryset(self, request, history_manager, pk_name, object_id):
        found = super().get_history_queryset(request, history_manager, pk_name, object_id)
        return found if self._history_readable(request, object_id) else found.none()

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method != "GET":
            raise PermissionDenied(REVERT_REFUSED)
        if not self._history_readable(request, object_id):
            raise Http404("no such record")
        return super().history_form_view(request, object_id, version_id, extra_context)

    def _history_readable(self, request, object_id) -> bool:
        """A record's history is the user's to read when the record is (a deleted record's, when
        they read every record of its kind), as ``permissions.may_read_history`` says."""
        from qualityloop.services import permissions
        from qualityloop.services.record_kinds import kind_for_model

        kind = kind_for_model(self.model)
        if kind is None or permissions.scope_of(request.user, kind, "read") is (
                permissions.Scope.ALL):
            return True
        return self.get_queryset(request).filter(pk=object_id).exists()
