from django.db import models

from workspaces.models import ApiKey, Workspace


class UsageRecord(models.Model):
    """One relayed call: who, which model, how many tokens, how it ended. No prompt text."""

    request_id = models.CharField(max_length=40, unique=True)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="usage")
    api_key = models.ForeignKey(ApiKey, null=True, on_delete=models.SET_NULL, related_name="usage")
    endpoint = models.CharField(max_length=40)
    model = models.CharField(max_length=200, help_text="Public model id the call was served by.")
    upstream_model = models.CharField(max_length=200, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cached_tokens = models.PositiveIntegerField(default=0)
    reasoning_tokens = models.PositiveIntegerField(default=0)
    usage_reported = models.BooleanField(
        default=True, help_text="False when the upstream sent no usage and counts are estimated."
    )
    status_code = models.PositiveSmallIntegerField()
    error_code = models.CharField(max_length=60, blank=True)
    streamed = models.BooleanField(default=False)
    latency_ms = models.PositiveIntegerField(default=0)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    router = models.CharField(
        max_length=60, blank=True, help_text="orcarouter/{name} if one served"
    )
    fallback_level = models.PositiveSmallIntegerField(null=True, blank=True)
    attempts = models.JSONField(
        default=list, blank=True, help_text="Models tried before this one, with their status."
    )
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["workspace", "-created_at"]),
            models.Index(fields=["api_key", "-created_at"]),
        ]

    def __str__(self) -> str:
        return self.request_id


class LedgerEntry(models.Model):
    """One movement of a workspace's prepaid balance, in USD. The balance is their sum."""

    class Kind(models.TextChoices):
        GRANT = "grant"
        SPEND = "spend"
        REFUND = "refund"
        ADJUSTMENT = "adjustment"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="ledger")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount_usd = models.DecimalField(max_digits=18, decimal_places=9)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"{self.kind} {self.amount_usd} ({self.workspace})"
