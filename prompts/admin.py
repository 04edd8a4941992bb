"""The prompt registry in the admin: for staff to look (and switch a prompt off). Versions
are written by the dashboard and the management API, which validate them; a version is
never edited here. Labels move only through the services too (they check the version is
the prompt's own), so they are read-only as well."""

from django.contrib import admin
from django.db.models import Count

from .models import Prompt, PromptLabel, PromptVersion


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class LabelInline(_ReadOnlyInline):
    model = PromptLabel
    fields = ["name", "version", "updated_at", "updated_by"]
    readonly_fields = fields


class VersionInline(_ReadOnlyInline):
    model = PromptVersion
    fields = ["number", "commit_message", "model", "created_at", "created_by"]
    readonly_fields = fields


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "latest_version", "enabled", "deleted_at", "keys"]
    list_filter = ["enabled", ("deleted_at", admin.EmptyFieldListFilter), "workspace"]
    list_select_related = ["workspace"]
    search_fields = ["name", "workspace__slug"]
    fields = [
        "workspace",
        "name",
        "description",
        "enabled",
        "latest_version",
        "deleted_at",
        "created_at",
        "updated_at",
        "created_by",
    ]
    readonly_fields = [field for field in fields if field != "enabled"]
    inlines = [LabelInline, VersionInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(key_count=Count("keys"))

    @admin.display(description="bound keys", ordering="key_count")
    def keys(self, prompt: Prompt) -> int:
        return prompt.key_count  # the annotation

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(PromptVersion)
class PromptVersionAdmin(admin.ModelAdmin):
    list_display = ["prompt", "number", "model", "commit_message", "created_at", "created_by"]
    list_select_related = ["prompt", "created_by"]
    list_filter = ["prompt__workspace"]
    search_fields = ["prompt__name", "prompt__workspace__slug", "commit_message"]
    fields = [
        "prompt",
        "number",
        "system",
        "messages",
        "variables",
        "model",
        "parameters",
        "commit_message",
        "created_at",
        "created_by",
    ]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # usage records name versions: the history stays whole


@admin.register(PromptLabel)
class PromptLabelAdmin(admin.ModelAdmin):
    list_display = ["prompt", "name", "version", "updated_at", "updated_by"]
    list_select_related = ["prompt", "version", "updated_by"]
    list_filter = ["prompt__workspace"]
    search_fields = ["prompt__name", "name"]
    fields = ["prompt", "name", "version", "updated_at", "updated_by"]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
