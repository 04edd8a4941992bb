from django.contrib import admin

from .models import UsageRecord


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
