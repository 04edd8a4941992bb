"""Guardrails in the admin: for staff to look (and switch a guardrail off). Rules change
through the dashboard or the management API, which validate them and write a new version;
versions and matches are never edited. A match's text shows only where it was kept."""

from django.contrib import admin
from django.db.models import Count

from .models import Guardrail, GuardrailMatch, GuardrailVersion


class VersionInline(admin.TabularInline):
    model = GuardrailVersion
    fields = ["number", "rules", "created_at", "created_by"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Guardrail)
class GuardrailAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "version", "enabled", "is_default", "log_raw", "keys"]
    list_filter = ["enabled", "is_default", "log_raw", "workspace"]
    list_select_related = ["workspace"]
    search_fields = ["name", "workspace__slug"]
    fields = [
        "workspace",
        "name",
        "description",
        "enabled",
        "is_default",
        "log_raw",
        "version",
        "created_at",
        "updated_at",
        "created_by",
    ]
    # Only `enabled` changes here: a default or raw-text switch has rules the services keep.
    readonly_fields = [field for field in fields if field != "enabled"]
    inlines = [VersionInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(key_count=Count("keys"))

    @admin.display(description="bound keys", ordering="key_count")
    def keys(self, guardrail: Guardrail) -> int:
        return guardrail.key_count  # the annotation

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(GuardrailVersion)
class GuardrailVersionAdmin(admin.ModelAdmin):
    list_display = ["guardrail", "number", "created_at", "created_by"]
    list_select_related = ["guardrail", "created_by"]
    list_filter = ["guardrail__workspace"]
    search_fields = ["guardrail__name", "guardrail__workspace__slug"]
    fields = ["guardrail", "number", "rules", "created_at", "created_by"]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a match names its version: the history stays whole


@admin.register(GuardrailMatch)
class GuardrailMatchAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "workspace",
        "guardrail_name",
        "version",
        "stage",
        "action",
        "rule_type",
        "entity",
        "request_id",
    ]
    list_filter = ["stage", "action", "rule_type", "entity", "workspace"]
    list_select_related = ["workspace"]
    search_fields = ["request_id", "guardrail_name", "workspace__slug"]
    date_hierarchy = "created_at"
    FIELDS = [
        "created_at",
        "workspace",
        "guardrail",
        "guardrail_name",
        "version",
        "api_key",
        "request_id",
        "endpoint",
        "stage",
        "action",
        "rule_index",
        "rule_type",
        "entity",
        "detail",
    ]

    def get_fields(self, request, obj=None) -> list[str]:
        # The matched text only where the guardrail's log_raw kept it.
        kept = obj is not None and bool(obj.raw_text)
        return [*self.FIELDS, "raw_text"] if kept else list(self.FIELDS)

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        return self.get_fields(request, obj)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
