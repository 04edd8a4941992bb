from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from .models import ApiKey, ManagementKey, Membership, Workspace
from .services import InvalidKeySettings, normalise_ip_allowlist


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["name", "enabled", "expires_at", "allowed_models", "allowed_ips"]

    def clean_allowed_models(self) -> list[str]:
        value = self.cleaned_data["allowed_models"] or []
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise forms.ValidationError('a JSON list of model ids or patterns, e.g. ["openai/*"]')
        return value

    def clean_allowed_ips(self) -> list[str]:
        value = self.cleaned_data["allowed_ips"] or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise forms.ValidationError('a JSON list of addresses or ranges, e.g. ["10.0.0.0/8"]')
        try:
            return normalise_ip_allowlist(value)
        except InvalidKeySettings as exc:
            raise forms.ValidationError(str(exc)) from None


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

    form = ApiKeyForm
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


@admin.register(ManagementKey)
class ManagementKeyAdmin(admin.ModelAdmin):
    """Created from the dashboard, the management API or `create_key --management`; the admin
    sees the display prefix only and can revoke."""

    list_display = ["prefix", "name", "workspace", "role", "revoked_at", "last_used_at"]
    list_filter = ["role", "workspace"]
    search_fields = ["name", "prefix", "workspace__slug"]
    fields = [
        "workspace",
        "name",
        "role",
        "prefix",
        "expires_at",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
    ]
    readonly_fields = fields
    actions = ["revoke_keys"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # read-only; revoking is the action below

    @admin.action(description="Revoke selected management keys")
    def revoke_keys(self, request, queryset) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"{count} management key(s) revoked.", messages.SUCCESS)
