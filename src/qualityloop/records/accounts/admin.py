"""Admin pages for roles and API tokens, for the admin role only. Tokens are only listed: the
plain token is never stored, so new ones are issued with ``qualityloop user add`` or
``qualityloop user token NAME [--role viewer]``.

Saving a profile here moves its user into the role's group (see ``roles.apply_role``)."""

from django.contrib import admin

from qualityloop.records.accounts.choices import Role
from qualityloop.records.accounts.models import ApiToken, Profile, role_of


class AdminRoleOnly(admin.ModelAdmin):
    """Only the admin role manages users and tokens, even if someone grants the model rights."""

    def has_module_permission(self, request) -> bool:
        return _is_admin(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return _is_admin(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request) -> bool:
        return _is_admin(request) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return _is_admin(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return _is_admin(request) and super().has_delete_permission(request, obj)


def _is_admin(request) -> bool:
    return role_of(request.user) == Role.ADMIN


@admin.register(Profile)
class ProfileAdmin(AdminRoleOnly):
    list_display = ("user", "role", "org_unit")
    list_filter = ("role",)
    search_fields = ("user__username", "user__email")
    autocomplete_fields = ("user", "org_unit")


@admin.register(ApiToken)
class ApiTokenAdmin(AdminRoleOnly):
    """Tokens with their scope: the role a token was limited to when issued, and the role its
    requests act with now (the lower of that and the user's current role)."""

    list_display = ("prefix", "user", "name", "role", "acting_role", "created_at",
                    "last_used_at", "revoked_at")
    list_filter = ("revoked_at", "role")
    search_fields = ("prefix", "user__username", "name")
    readonly_fields = ("prefix", "key_hash", "role", "acting_role", "created_at", "last_used_at")
    fields = ("user", "name", "prefix", "key_hash", "role", "acting_role", "created_at",
              "last_used_at", "revoked_at")
    autocomplete_fields = ("user",)

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="acts as")
    def acting_role(self, token: ApiToken) -> str:
        return token.scope or "(no role)"
