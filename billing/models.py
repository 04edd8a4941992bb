from django.conf import settings
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
    cost_pico = models.BigIntegerField(
        default=0, help_text="What the workspace was charged, in 10^-12 USD (exact)."
    )
    byok = models.BooleanField(
        default=False,
        help_text="Served with the workspace's own provider credential; charged the BYOK fee.",
    )
    router = models.CharField(
        max_length=60, blank=True, help_text="orcarouter/{name} if one served"
    )
    fallback_level = models.PositiveSmallIntegerField(null=True, blank=True)
    attempts = models.JSONField(
        default=list, blank=True, help_text="Models tried before this one, with their status."
    )
    guardrail = models.CharField(
        max_length=80, blank=True, default="", help_text="<name>:v<N> of the policy that ran"
    )
    guardrail_action = models.CharField(
        max_length=8, blank=True, default="", help_text="What it did: flag, mask or block"
    )
    prompt = models.CharField(
        max_length=128, blank=True, default="", help_text="The registry prompt the call used"
    )
    prompt_version = models.PositiveIntegerField(null=True, blank=True)
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
    """One movement of a workspace's prepaid balance. The balance is their sum.

    Amounts are exact integers in pico-dollars (10^-12 USD): a price per 1M tokens with six
    decimals times a token count is always a whole number of them."""

    class Kind(models.TextChoices):
        GRANT = "grant"
        SPEND = "spend"
        REFUND = "refund"
        ADJUSTMENT = "adjustment"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="ledger")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount_pico = models.BigIntegerField(help_text="10^-12 USD; spends are negative")
    request_id = models.CharField(
        max_length=40, blank=True, null=True, unique=True, help_text="The call a spend is for."
    )
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"{self.kind} {self.amount_pico / 10**12:.6f} USD ({self.workspace})"


class UsageRollup(models.Model):
    """Usage summed per hour or day, workspace, key and model (Celery beat keeps it)."""

    class Period(models.TextChoices):
        HOUR = "hour"
        DAY = "day"

    period = models.CharField(max_length=4, choices=Period.choices)
    start = models.DateTimeField()
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="rollups")
    # No database constraint: deleting a key must not collide with the bucket of keyless
    # records; the id of a deleted key simply stops resolving.
    api_key = models.ForeignKey(
        ApiKey, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    model = models.CharField(max_length=200)
    requests = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    cached_tokens = models.BigIntegerField(default=0)
    reasoning_tokens = models.BigIntegerField(default=0)
    cost_pico = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["period", "start", "workspace", "api_key", "model"],
                name="one_rollup_per_bucket",
                nulls_distinct=False,
            )
        ]
        indexes = [models.Index(fields=["workspace", "period", "start"])]

    def __str__(self) -> str:
        return f"{self.workspace_id} {self.model} {self.period} {self.start:%Y-%m-%d %H:00}"


class StoredExchange(models.Model):
    """Prompt and output text of a call, kept only for workspaces whose retention asks for
    it, and deleted when the retention period ends."""

    usage = models.OneToOneField(UsageRecord, on_delete=models.CASCADE, related_name="exchange")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    request_body = models.TextField()
    response_text = models.TextField(blank=True)
    delete_after = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"exchange of usage {self.usage_id}"


class CheckoutTopUp(models.Model):
    """A Stripe Checkout Session Orca opened for a workspace's top-up. The webhook credits
    the workspace this row names (never one the event's metadata names alone), once."""

    class Status(models.TextChoices):
        OPEN = "open"
        PENDING = "pending"  # completed, but a delayed payment method has not settled
        PAID = "paid"
        EXPIRED = "expired"
        FAILED = "failed"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="topups")
    # Null until Stripe has opened the session (the row comes first, and the session carries
    # its id in metadata, so a session whose id never reached this row is still found).
    session_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    amount_cents = models.PositiveIntegerField(help_text="What the user asked to add.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Set with the credit, in the transaction that writes the event below.
    ledger_entry = models.OneToOneField(
        LedgerEntry, null=True, blank=True, on_delete=models.SET_NULL, related_name="topup"
    )
    credited_cents = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["workspace", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.session_id} ({self.workspace_id}, {self.status})"


class StripeEvent(models.Model):
    """A Stripe webhook event Orca acted on. The unique event id, written in the transaction
    that credits the ledger, is what makes a redelivered or concurrent duplicate a no-op."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    session_id = models.CharField(max_length=255, blank=True)
    outcome = models.CharField(max_length=40)
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.event_id} {self.type}: {self.outcome}"


class LowBalanceAlert(models.Model):
    """The low-balance e-mail went out for this workspace: no other until the balance is back
    above the threshold (which deletes the row)."""

    workspace = models.OneToOneField(
        Workspace, on_delete=models.CASCADE, related_name="low_balance_alert"
    )
    balance_pico = models.BigIntegerField(help_text="The balance the alert was sent at.")
    sent_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"low balance alert of {self.workspace_id}"
