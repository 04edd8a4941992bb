from django.contrib import admin, messages
from django.utils import timezone

from .models import ApiKey, Membership, Workspace


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "created_at"]
    search_fields = ["slug", "name"]
    readonly_fields = ["created_at"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["workspace", "user", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["workspace__slug", "user__username", "user__email"]
    autocomplete_fields = ["workspace", "user"]
    readonly_fields = ["created_at"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created from the dashboard or `manage.py create_key`; the admin never sees
    the secret, only its display prefix."""

    list_display = ["prefix", "name", "workspace", "enabled", "expires_at", "last_used_at"]
    list_filter = ["enabled", "workspace"]
    search_fields = ["name", "prefix", "workspace__slug"]
    readonly_fields = [
        "prefix",
        "workspace",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
    ]
    fields = [
        "workspace",
        "name",
        "prefix",
        "enabled",
        "expires_at",
        "allowed_models",
        "allowed_ips",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
    ]
    actions = ["disable_keys"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Disable (revoke) selected keys")
    def disable_keys(self, request, queryset) -> None:
        count = 0
        for key in queryset.filter(enabled=True):
            key.enabled = False
            key.revoked_at = timezone.now()
            key.save(update_fields=["enabled", "revoked_at"])
            count += 1
        self.message_user(request, f"{count} key(s) disabled.", messages.SUCCESS)
