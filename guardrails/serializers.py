"""Serializers of the guardrails management API. Rules are checked by guardrails/services.py
(the engine's compile_policy), so a refused rule is named exactly as the engine names it."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import Guardrail, GuardrailMatch, GuardrailVersion

RULES_HELP = (
    "A JSON list of rules, e.g. "
    '[{"type": "pii", "stage": "both", "action": "mask", "entities": ["email"]}, '
    '{"type": "max_chars", "stage": "input", "action": "block", "limit": 50000}]. '
    "Types: pii, keyword, regex, max_chars, moderation; stage: input, output, both; "
    "action: block, mask, flag. A refused rule answers 400 naming it, e.g. `rules[1].limit`."
)


@extend_schema_field({"type": "array", "items": {"type": "object", "additionalProperties": {}}})
class RulesField(serializers.JSONField):
    """Any JSON here; its shape is the engine's to judge (services.check_rules)."""


class GuardrailSerializer(serializers.ModelSerializer):
    name = serializers.CharField(max_length=64)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    rules = RulesField(required=False, help_text=RULES_HELP)
    version = serializers.IntegerField(read_only=True, help_text="The current version's number.")
    keys = serializers.IntegerField(
        read_only=True, source="key_count", help_text="API keys bound to this guardrail."
    )
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    is_default = serializers.BooleanField(
        required=False,
        help_text="The workspace's default, for keys bound to no guardrail. Setting it "
        "demotes the previous default.",
    )
    log_raw = serializers.BooleanField(
        required=False, help_text="Keep the matched text in the matches feed (off: never)."
    )

    class Meta:
        model = Guardrail
        fields = [
            "id",
            "name",
            "description",
            "enabled",
            "is_default",
            "log_raw",
            "version",
            "rules",
            "keys",
            "created_at",
            "updated_at",
            "created_by",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    def to_representation(self, instance: Guardrail) -> dict:
        data = super().to_representation(instance)
        # From the view's annotated queryset (api.guardrails_of): no query per row.
        data["rules"] = getattr(instance, "current_rules", None) or []
        return data


class GuardrailVersionSerializer(serializers.ModelSerializer):
    rules = RulesField(read_only=True)
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    current = serializers.SerializerMethodField()

    class Meta:
        model = GuardrailVersion
        fields = ["number", "rules", "created_at", "created_by", "current"]
        read_only_fields = fields

    def get_current(self, version: GuardrailVersion) -> bool:
        return version.number == version.guardrail.version


class SandboxRequestSerializer(serializers.Serializer):
    text = serializers.CharField(
        max_length=500_000, allow_blank=True, trim_whitespace=False, help_text="What to screen."
    )
    stage = serializers.ChoiceField(choices=GuardrailMatch.Stage.choices, default="input")
    version = serializers.IntegerField(
        required=False, min_value=1, max_value=2**31 - 1, help_text="Default: the current one."
    )


class SandboxMatchSerializer(serializers.Serializer):
    rule_index = serializers.IntegerField()
    type = serializers.CharField()
    action = serializers.ChoiceField(choices=GuardrailMatch.Action.choices)
    stage = serializers.ChoiceField(choices=GuardrailMatch.Stage.choices)
    entity = serializers.CharField()
    detail = serializers.CharField()
    text = serializers.CharField(
        required=False, help_text="The matched text: only when the guardrail's log_raw is on."
    )


class SandboxResultSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["pass", "flag", "mask", "block"])
    version = serializers.IntegerField(help_text="The version that was run.")
    matches = SandboxMatchSerializer(many=True)
    masked_text = serializers.CharField(help_text="The text as the upstream would receive it.")
    blocked_by = SandboxMatchSerializer(allow_null=True)


class MatchGuardrailSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True, help_text="null: the guardrail was deleted.")
    name = serializers.CharField()
    version = serializers.IntegerField()


class MatchKeySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField()


class MatchRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    request_id = serializers.CharField()
    endpoint = serializers.CharField()
    guardrail = MatchGuardrailSerializer()
    key = MatchKeySerializer(allow_null=True, help_text="null: no key, or a deleted one.")
    stage = serializers.ChoiceField(choices=GuardrailMatch.Stage.choices)
    action = serializers.ChoiceField(choices=GuardrailMatch.Action.choices)
    rule_index = serializers.IntegerField()
    rule_type = serializers.CharField()
    entity = serializers.CharField()
    detail = serializers.CharField()
    text = serializers.CharField(
        allow_null=True, help_text="The matched text, kept only under the guardrail's log_raw."
    )


class MatchPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = MatchRowSerializer(many=True)
