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
    list_display = ["workspace", "kind", "amount", "request_id", "note", "created_by", "created_at"]
    list_filter = ["kind"]
    search_fields = ["workspace__slug", "note"]
    readonly_fields = ["created_at"]

    @admin.display(description="USD")
    def amount(self, entry: LedgerEntry) -> str:
        return f"{entry.amount_pico / 10**12:.6f}"

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # entries are appended, never edited

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
