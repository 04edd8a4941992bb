"""Serializers of the workspace management API (workspaces, members, API and management
keys). Validation mirrors the dashboard's forms, so both refuse the same input."""

from decimal import Decimal

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.pricing import format_usd
from billing.spend import KeySpend

from .models import ApiKey, ManagementKey, Membership, Role, Workspace
from .services import InvalidKeySettings, normalise_ip_allowlist

MAX_LIST_ENTRIES = 200


class WorkspaceSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField(help_text="The caller's role in this workspace.")
    retention_days = serializers.IntegerField(
        min_value=1, max_value=180, required=False, help_text="For 'keep' retention (1-180)."
    )
    low_balance_threshold_usd = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        max_value=Decimal("1000000"),
        allow_null=True,
        required=False,
        help_text="E-mail the owners and admins once when the balance falls below this (USD); "
        "null: no alert (the settings page's rule).",
    )

    class Meta:
        model = Workspace
        fields = [
            "slug",
            "name",
            "role",
            "rpm_limit",
            "tpm_limit",
            "data_retention",
            "retention_days",
            "keep_response_history",
            "markup_percent",
            "low_balance_threshold_usd",
            "created_at",
        ]
        # As on the dashboard's settings page: name, slug and markup are the operator's.
        read_only_fields = ["slug", "name", "markup_percent", "created_at"]

    def get_role(self, workspace: Workspace) -> str:
        return self.context["roles"][workspace.id]


class MemberSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    email = serializers.CharField(source="user.email", read_only=True)
    role = serializers.ChoiceField(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["id", "username", "email", "role", "created_at"]
        read_only_fields = ["id", "created_at"]


class MemberAddSerializer(serializers.Serializer):
    user = serializers.CharField(
        max_length=254, help_text="The username or email address of an existing account."
    )
    role = serializers.ChoiceField(choices=Role.choices, default=Role.DEVELOPER)

    def validate_user(self, identifier: str):
        from .selectors import active_user

        user = active_user(identifier.strip())
        if user is None:
            raise serializers.ValidationError("no account with this username or email address")
        return user


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


def _future(moment):
    if moment is not None and moment <= timezone.now():
        raise serializers.ValidationError("must be in the future")
    return moment


def _usd(help_text: str) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=14,
        decimal_places=6,
        min_value=0,
        allow_null=True,
        required=False,
        help_text=f"{help_text} in USD; null: no limit.",
    )


class KeySpendSerializer(serializers.Serializer):
    """Exact decimal strings in USD: lifetime, and the current UTC day, Monday week and month
    (the windows of the spend limits)."""

    total_usd = serializers.CharField()
    day_usd = serializers.CharField()
    week_usd = serializers.CharField()
    month_usd = serializers.CharField()


_PERIODS = ("total", "day", "week", "month")


@extend_schema_field({"type": "string", "nullable": True})
class PromptNameField(serializers.Field):
    """A key's bound prompt, by name: a live prompt of the serializer's workspace."""

    def to_representation(self, prompt) -> str:
        return prompt.name

    def to_internal_value(self, name):
        from prompts.models import Prompt

        workspace = self.context.get("workspace")
        found = None
        if isinstance(name, str) and workspace is not None:
            found = Prompt.objects.filter(
                workspace=workspace, name=name.strip(), deleted_at__isnull=True
            ).first()
        if found is None:
            raise serializers.ValidationError("no prompt of this name in this workspace")
        return found


class ApiKeySerializer(serializers.ModelSerializer):
    """An API key's settings and spend. The secret is never part of it (see
    ApiKeyCreatedSerializer). `spend` comes from the context's `spends` (key id -> KeySpend)."""

    spend = serializers.SerializerMethodField()

    name = serializers.CharField(max_length=100, required=False, default="default")
    expires_at = serializers.DateTimeField(
        allow_null=True, required=False, help_text="ISO 8601; null: never."
    )
    allowed_models = serializers.ListField(
        child=serializers.CharField(max_length=200),
        max_length=MAX_LIST_ENTRIES,
        required=False,
        help_text="Model ids or globs (openai/*); empty: every model.",
    )
    allowed_ips = serializers.ListField(
        child=serializers.CharField(max_length=64),
        max_length=MAX_LIST_ENTRIES,
        required=False,
        help_text="IP addresses or CIDR ranges; empty: any address.",
    )
    rpm_limit = serializers.IntegerField(
        min_value=0, max_value=2**31 - 1, required=False, help_text="0: no limit."
    )
    tpm_limit = serializers.IntegerField(
        min_value=0, max_value=2**31 - 1, required=False, help_text="0: no limit."
    )
    spend_limit_usd = _usd("Lifetime spend limit")
    daily_limit_usd = _usd("Daily spend limit")
    weekly_limit_usd = _usd("Weekly spend limit")
    monthly_limit_usd = _usd("Monthly spend limit")
    guardrail = serializers.IntegerField(
        source="guardrail_id",
        allow_null=True,
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        help_text="The id of the guardrail that screens this key's calls (only it, even while "
        "disabled); null: the workspace's default guardrail, if any.",
    )
    prompt = PromptNameField(
        required=False,
        allow_null=True,
        help_text="The name of the prompt every call with this key gets (a request's own "
        "prompt_ref wins); null: none. A prompt in the trash is not injected.",
    )
    prompt_label = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="The bound prompt's label (or vN, latest); blank: production, else the "
        "newest version.",
    )

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "purpose",
            "enabled",
            "created_at",
            "last_used_at",
            "revoked_at",
            "expires_at",
            "allowed_models",
            "allowed_ips",
            "rpm_limit",
            "tpm_limit",
            "spend_limit_usd",
            "daily_limit_usd",
            "weekly_limit_usd",
            "monthly_limit_usd",
            "guardrail",
            "prompt",
            "prompt_label",
            "spend",
        ]
        read_only_fields = ["id", "prefix", "purpose", "created_at", "last_used_at", "revoked_at"]

    @extend_schema_field(KeySpendSerializer)
    def get_spend(self, key: ApiKey) -> dict:
        spend = self.context.get("spends", {}).get(key.id) or KeySpend()
        return {f"{period}_usd": format_usd(getattr(spend, period)) for period in _PERIODS}

    def validate_name(self, name: str) -> str:
        if not name.strip():
            raise serializers.ValidationError("may not be blank")
        return name.strip()

    def validate_expires_at(self, moment):
        return _future(moment)

    def validate_allowed_models(self, patterns: list[str]) -> list[str]:
        cleaned = [p.strip() for p in patterns if p.strip()]
        for pattern in cleaned:
            if any(c.isspace() for c in pattern):
                raise serializers.ValidationError(f"not a model id or pattern: {pattern!r}")
        return cleaned

    def validate_allowed_ips(self, entries: list[str]) -> list[str]:
        try:
            return normalise_ip_allowlist([e for e in entries if e.strip()])
        except InvalidKeySettings as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate_guardrail(self, guardrail_id: int | None) -> int | None:
        from guardrails.models import Guardrail

        workspace = self.context.get("workspace")
        if guardrail_id is not None and (
            workspace is None
            or not Guardrail.objects.filter(pk=guardrail_id, workspace=workspace).exists()
        ):
            raise serializers.ValidationError("no guardrail with this id in this workspace")
        return guardrail_id

    def validate_prompt_label(self, label: str) -> str:
        from prompts.refs import RefError, parse_selector

        label = label.strip()
        try:
            parse_selector("key", label)
        except RefError as error:
            raise serializers.ValidationError(error.message) from None
        return label

    def validate_enabled(self, enabled: bool) -> bool:
        if enabled and self.instance is not None and self.instance.revoked_at is not None:
            raise serializers.ValidationError("a revoked key cannot be enabled again")
        return enabled


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(
        read_only=True, help_text="The secret. Shown in this response only; Orca keeps a hash."
    )

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]


class ManagementKeySerializer(serializers.ModelSerializer):
    name = serializers.CharField(max_length=100, required=False, default="default")
    role = serializers.ChoiceField(
        choices=Role.choices, help_text="At most the creator's own role."
    )
    expires_at = serializers.DateTimeField(
        allow_null=True, required=False, help_text="ISO 8601; null: never."
    )
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = ManagementKey
        fields = [
            "id",
            "name",
            "role",
            "prefix",
            "created_at",
            "created_by",
            "last_used_at",
            "revoked_at",
            "expires_at",
        ]
        read_only_fields = ["id", "prefix", "created_at", "last_used_at", "revoked_at"]

    def validate_name(self, name: str) -> str:
        if not name.strip():
            raise serializers.ValidationError("may not be blank")
        return name.strip()

    def validate_expires_at(self, moment):
        return _future(moment)


class ManagementKeyCreatedSerializer(ManagementKeySerializer):
    key = serializers.CharField(
        read_only=True, help_text="The secret. Shown in this response only; Orca keeps a hash."
    )

    class Meta(ManagementKeySerializer.Meta):
        fields = [*ManagementKeySerializer.Meta.fields, "key"]
