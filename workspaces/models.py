from django.conf import settings
from django.db import models

from .querysets import VersionedQuerySet


class Workspace(models.Model):
    """The tenant boundary: keys, members, routers, billing and usage hang off it."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=60, unique=True)
    keep_response_history = models.BooleanField(
        default=False,
        help_text="Store /v1/responses conversations so previous_response_id can continue them. "
        "Off by default: no prompt or output text is kept.",
    )

    class Retention(models.TextChoices):
        METADATA = "metadata", "Metadata only (no prompt or output text)"
        KEEP = "keep", "Keep prompts and outputs for N days"
        ZERO = "zero", "Zero data retention"

    data_retention = models.CharField(
        max_length=10, choices=Retention.choices, default=Retention.METADATA
    )
    retention_days = models.PositiveIntegerField(default=30, help_text="For 'keep' (1-180).")
    markup_percent = models.DecimalField(
        max_digits=6, decimal_places=2, default=0,
        help_text="Added to provider prices; negative for a discount (e.g. -10).",
    )  # fmt: skip
    rpm_limit = models.PositiveIntegerField(default=0, help_text="Requests per minute; 0: none")
    tpm_limit = models.PositiveIntegerField(default=0, help_text="Tokens per minute; 0: none")
    low_balance_threshold_usd = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True,
        help_text="E-mail the owners and admins once when the balance falls below this (USD); "
        "blank: no alert.",
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)

    objects = VersionedQuerySet.as_manager()

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    DEVELOPER = "developer", "Developer"
    VIEWER = "viewer", "Viewer"


# Higher ranks may do everything lower ranks may.
ROLE_RANK = {Role.VIEWER: 0, Role.DEVELOPER: 1, Role.ADMIN: 2, Role.OWNER: 3}


class Membership(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.DEVELOPER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="unique_membership")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"

    def has_role(self, minimum: str) -> bool:
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(minimum)]


class ApiKey(models.Model):
    """An `sk-orca-` key. Only its keyed hash and a display prefix are stored."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, default="default")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=32, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    enabled = models.BooleanField(default=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    allowed_models = models.JSONField(
        default=list,
        blank=True,
        help_text="Model ids or glob patterns (openai/*). Empty allows every model.",
    )
    allowed_ips = models.JSONField(
        default=list,
        blank=True,
        help_text="IP addresses or CIDR ranges. Empty allows any address.",
    )
    rpm_limit = models.PositiveIntegerField(default=0, help_text="Requests per minute; 0: none")
    tpm_limit = models.PositiveIntegerField(default=0, help_text="Tokens per minute; 0: none")
    spend_limit_usd = models.DecimalField(
        max_digits=14, decimal_places=6, null=True, blank=True, help_text="Lifetime; blank: none"
    )
    daily_limit_usd = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    weekly_limit_usd = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    monthly_limit_usd = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    # An explicit binding: the key is screened by this guardrail only (never the workspace
    # default, not even while this one is disabled). Blank: the workspace default, if any.
    guardrail = models.ForeignKey(
        "guardrails.Guardrail",
        null=True,
        blank=True,
        on_delete=models.PROTECT,  # a bound guardrail is detached before it can go
        related_name="keys",
    )
    # A bound prompt: every call with the key gets it (a request's own prompt_ref wins),
    # at `prompt_label` (blank: production).
    prompt = models.ForeignKey(
        "prompts.Prompt", null=True, blank=True, on_delete=models.SET_NULL, related_name="keys"
    )
    prompt_label = models.CharField(max_length=64, blank=True, default="")

    class Purpose(models.TextChoices):
        API = "api", "API key"
        # Minted by the dashboard for one login session's playground (workspaces/session_keys.py).
        PLAYGROUND = "playground", "Playground session key"

    purpose = models.CharField(
        max_length=16, choices=Purpose.choices, default=Purpose.API, editable=False
    )

    objects = VersionedQuerySet.as_manager()
    # For bookkeeping writes (last_used_at) that must not flush every gateway's caches.
    untracked = models.Manager()  # noqa: DJ012  (a manager, not a field)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"


class ManagementKey(models.Model):
    """An `sk-orca-mgmt-` key for the management API: one workspace, one role. Stored like an
    API key (keyed hash and display prefix only), in its own table so the relay, which looks
    keys up in ApiKey, can never accept one, and the management API never accepts an ApiKey."""

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="management_keys"
    )
    name = models.CharField(max_length=100, default="default")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=40, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "management key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}, {self.role})"

    @property
    def is_active(self) -> bool:
        from django.utils import timezone

        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()
