from django.contrib import admin

from .models import LedgerEntry, UsageRecord


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    list_display = [
        "request_id",
        "workspace",
        "model",
        "status_code",
        "prompt_tokens",
        "completion_tokens",
        "streamed",
        "latency_ms",
        "created_at",
    ]
    list_filter = ["status_code", "streamed", "endpoint", "workspace"]
    search_fields = ["request_id", "model", "workspace__slug"]
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    list_display = ["workspace", "kind", "amount_usd", "note", "created_at"]
    list_filter = ["kind"]
    search_fields = ["workspace__slug", "note"]
    readonly_fields = ["created_at"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # entries are appended, never edited

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
