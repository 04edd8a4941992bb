import os
from decimal import Decimal

from django.db import models

from workspaces.querysets import VersionedQuerySet

from . import credentials


class ProviderKind(models.TextChoices):
    OPENAI = "openai", "OpenAI-compatible"
    ANTHROPIC = "anthropic", "Anthropic Messages"
    GEMINI = "gemini", "Google Gemini"
    DEMO = "demo", "Demo (answers locally)"


class Capability(models.TextChoices):
    TOOLS = "tools"
    VISION = "vision"
    JSON_SCHEMA = "json_schema"
    REASONING = "reasoning"
    # Anthropic: the model takes `thinking: {type: "adaptive"}` + `output_config.effort` (for
    # a model id Orca cannot read the Claude version from; see wire/anthropic/request.py).
    ADAPTIVE_THINKING = "adaptive_thinking"


class EndpointType(models.TextChoices):
    CHAT = "chat"  # served on every text surface: chat, responses, messages, generateContent
    # The upstream speaks OpenAI's Responses API for this model: Responses clients pass
    # through; with no "chat" beside it the model is Responses-only (chat clients translated).
    RESPONSES = "responses"
    EMBEDDINGS = "embeddings"  # /v1/embeddings and Gemini embedContent / batchEmbedContents
    # POST {base}/moderations (OpenAI's shape): a judge for guardrails' moderation rules.
    MODERATION = "moderation"


class Provider(models.Model):
    """An upstream account: where to send requests and with which credential."""

    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=ProviderKind.choices)
    base_url = models.URLField(max_length=300, blank=True)
    credential_env = models.CharField(
        max_length=100, blank=True, help_text="Read the credential from this environment variable."
    )
    credential_encrypted = models.TextField(blank=True, editable=False)
    enabled = models.BooleanField(default=True)
    max_concurrency = models.PositiveIntegerField(
        default=0, help_text="Most calls in flight per gateway process; 0 means no cap."
    )
    connect_timeout = models.FloatField(null=True, blank=True, help_text="Seconds; blank: default")
    first_byte_timeout = models.FloatField(null=True, blank=True)
    idle_timeout = models.FloatField(null=True, blank=True)
    total_timeout = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = VersionedQuerySet.as_manager()

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    def set_credential(self, secret: str) -> None:
        self.credential_encrypted = credentials.encrypt(secret) if secret else ""

    def resolve_credential(self) -> str:
        """The stored credential wins; otherwise the named environment variable, if set."""
        if self.credential_encrypted:
            return credentials.decrypt(self.credential_encrypted)
        if self.credential_env:
            return os.environ.get(self.credential_env, "")
        return ""

    @property
    def has_stored_credential(self) -> bool:
        return bool(self.credential_encrypted)


class ProviderCredential(models.Model):
    """A workspace's own credential for a catalog provider (BYOK), used before the
    platform's. Write-only: stored encrypted, shown only as its last characters (`hint`)."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="provider_credentials"
    )
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="own_credentials")
    credential_encrypted = models.TextField(editable=False)
    hint = models.CharField(max_length=8, editable=False, help_text="The last characters.")
    base_url = models.URLField(
        max_length=300,
        blank=True,
        help_text="OpenAI-compatible providers only; blank: the catalog's.",
    )
    allow_fallback = models.BooleanField(
        default=True, help_text="When this credential fails, the platform's may serve the call."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = VersionedQuerySet.as_manager()

    class Meta:
        ordering = ["workspace", "provider__slug"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "provider"], name="one_own_credential_per_provider"
            )
        ]

    def __str__(self) -> str:
        return f"{self.workspace} / {self.provider} (…{self.hint})"

    def set_credential(self, secret: str) -> None:
        self.credential_encrypted = credentials.encrypt(secret)
        self.hint = secret[-4:] if len(secret) >= 12 else ""

    def credential(self) -> str:
        return credentials.decrypt(self.credential_encrypted)


def _default_endpoints() -> list[str]:
    # TextChoices members are enum members at runtime; without Django stubs mypy sees str.
    return [EndpointType.CHAT.value]  # type: ignore[attr-defined]


class Model(models.Model):
    """A public model id served by one provider, with its prices per 1M tokens in USD."""

    public_id = models.CharField(max_length=200, unique=True, help_text="e.g. openai/gpt-4o-mini")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="models")
    upstream_name = models.CharField(max_length=200)
    input_price = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal(0))
    output_price = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal(0))
    cached_input_price = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    cache_write_price = models.DecimalField(
        max_digits=14, decimal_places=6, null=True, blank=True,
        help_text="Per 1M tokens written to the prompt cache; blank: the input price.",
    )  # fmt: skip
    reasoning_price = models.DecimalField(
        max_digits=14, decimal_places=6, null=True, blank=True,
        help_text="Per 1M reasoning tokens when priced apart; blank: the output price.",
    )  # fmt: skip
    extra_prices = models.JSONField(
        default=dict, blank=True,
        help_text='USD per unit, e.g. {"web_search_call": "0.01", "image": "0.04"}',
    )  # fmt: skip
    context_length = models.PositiveIntegerField(default=0)
    max_output_tokens = models.PositiveIntegerField(default=0)
    capabilities = models.JSONField(default=list, blank=True)
    endpoint_types = models.JSONField(default=_default_endpoints, blank=True)
    weight = models.PositiveIntegerField(
        default=1, help_text="Share of traffic for the primary provider when others serve it too."
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = VersionedQuerySet.as_manager()

    class Meta:
        ordering = ["public_id"]

    def __str__(self) -> str:
        return self.public_id


class ModelAlternate(models.Model):
    """Another provider (or another credential of one) serving the same public model, for
    load balancing, provider preferences and `:floor` / `:nitro`."""

    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="alternates")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="alternates")
    upstream_name = models.CharField(max_length=200)
    weight = models.PositiveIntegerField(default=1)
    input_price = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    output_price = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    cached_input_price = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    enabled = models.BooleanField(default=True)

    objects = VersionedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model", "provider"], name="one_alternate_per_provider")
        ]

    def __str__(self) -> str:
        return f"{self.model} via {self.provider}"


class StoredResponse(models.Model):
    """A /v1/responses conversation kept for previous_response_id, only for workspaces that
    opted in (Workspace.keep_response_history)."""

    response_id = models.CharField(max_length=64, unique=True)
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="stored_responses"
    )
    model = models.CharField(max_length=200)
    messages = models.JSONField(help_text="Canonical conversation up to and including this reply.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return self.response_id


class RouterStrategy(models.TextChoices):
    CHEAPEST = "cheapest", "Cheapest"
    FASTEST = "fastest", "Fastest (observed latency)"
    BALANCED = "balanced", "Balanced (price and latency)"


ROUTER_NAME_PATTERN = r"^[a-z0-9_-]{1,50}$"
RESERVED_ROUTER_NAMES = frozenset({"orcarouter"})


class Router(models.Model):
    """A named router of one workspace, called as `orcarouter/{name}`."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="routers"
    )
    name = models.CharField(max_length=50)
    candidates = models.JSONField(
        default=list,
        blank=True,
        help_text="Model ids and glob patterns (openai/*). Empty: every chat model.",
    )
    strategy = models.CharField(
        max_length=16, choices=RouterStrategy.choices, default=RouterStrategy.BALANCED
    )
    default_model = models.CharField(
        max_length=200, blank=True, help_text="Used when no candidate fits the request."
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = VersionedQuerySet.as_manager()

    class Meta:
        ordering = ["workspace", "name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="unique_router_name")
        ]

    def __str__(self) -> str:
        return f"orcarouter/{self.name}"
