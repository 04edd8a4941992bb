"""Serializers of the prompt registry's management API. The JSON of a version (messages,
variables, parameters) is checked by prompts/services.py, so a refused entry is named the
same way from the API and the dashboard (e.g. `variables[1].type`)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import TRASH_DAYS, Prompt, PromptLabel, PromptVersion

MESSAGES_HELP = (
    'The few-shot prefix sent before the caller\'s messages: [{"role": "user" | "assistant", '
    '"content": "..."}].'
)
VARIABLES_HELP = (
    'Typed variables: [{"name": "customer", "type": "string" | "number" | "integer" | '
    '"boolean", "required": true, "default": ..., "description": "..."}]. A `{{name}}` used '
    "in the text but not declared is a required string."
)
PARAMETERS_HELP = (
    "Applied where a request leaves them out: temperature (0-2), top_p (0-1), max_tokens, "
    'response_format ({"type": "text" | "json_object" | "json_schema", ...}).'
)

_OBJECT = {"type": "object", "additionalProperties": {}}


@extend_schema_field({"type": "array", "items": _OBJECT})
class JsonListField(serializers.JSONField):
    """Any JSON; its shape is the service's to judge (it names the bad entry)."""


@extend_schema_field(_OBJECT)
class JsonObjectField(serializers.JSONField):
    """Any JSON; its shape is the service's to judge."""


_USER = {"slug_field": "username", "read_only": True, "allow_null": True}


class LabelSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="version.number", read_only=True)
    updated_by = serializers.SlugRelatedField(**_USER)

    class Meta:
        model = PromptLabel
        fields = ["name", "version", "updated_at", "updated_by"]
        read_only_fields = fields


class PromptVersionSerializer(serializers.ModelSerializer):
    messages = JsonListField(read_only=True, help_text=MESSAGES_HELP)
    variables = JsonListField(read_only=True, help_text=VARIABLES_HELP)
    parameters = JsonObjectField(read_only=True, help_text=PARAMETERS_HELP)
    created_by = serializers.SlugRelatedField(**_USER)
    labels = serializers.SerializerMethodField(help_text="The labels pointing at this version.")

    class Meta:
        model = PromptVersion
        fields = [
            "number",
            "system",
            "messages",
            "variables",
            "model",
            "parameters",
            "commit_message",
            "created_at",
            "created_by",
            "labels",
        ]
        read_only_fields = fields

    def get_labels(self, version: PromptVersion) -> list[str]:
        labels = self.context.get("labels_by_version")
        if labels is not None:
            return labels.get(version.pk, [])
        return sorted(version.labels.values_list("name", flat=True))


class VersionInputSerializer(serializers.Serializer):
    """A new version. Only the shapes the schema needs are declared; services.Draft checks
    the rest and names the field."""

    system = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="At most 100,000 characters.",
    )
    messages = JsonListField(required=False, help_text=MESSAGES_HELP)
    variables = JsonListField(required=False, help_text=VARIABLES_HELP)
    model = serializers.CharField(
        required=False, allow_blank=True, help_text="A catalog model id; blank: the caller's."
    )
    parameters = JsonObjectField(required=False, help_text=PARAMETERS_HELP)
    commit_message = serializers.CharField(required=False, allow_blank=True)
    labels = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        help_text='Labels to point at the new version, e.g. ["staging"].',
    )


@extend_schema_field(VersionInputSerializer)
class VersionField(serializers.JSONField):
    """The first version in a create body; checked by services.Draft (`version.system`...)."""


class PromptSerializer(serializers.ModelSerializer):
    name = serializers.CharField(max_length=200, help_text="1-128 letters, digits, ., _ or -.")
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    enabled = serializers.BooleanField(
        required=False, help_text="Off: nothing is injected, an explicit reference is a 400."
    )
    latest_version = serializers.IntegerField(read_only=True, help_text="0: no version yet.")
    labels = LabelSerializer(many=True, read_only=True)
    keys = serializers.IntegerField(
        read_only=True, source="key_count", default=0, help_text="API keys bound to this prompt."
    )
    created_by = serializers.SlugRelatedField(**_USER)
    deleted_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text=f"Set: in the trash (purged {TRASH_DAYS} days after).",
    )
    version = VersionField(
        write_only=True, required=False, help_text="Create only: the first version."
    )

    class Meta:
        model = Prompt
        fields = [
            "id",
            "name",
            "description",
            "enabled",
            "latest_version",
            "labels",
            "keys",
            "created_at",
            "updated_at",
            "created_by",
            "deleted_at",
            "version",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]


class PromptDetailSerializer(PromptSerializer):
    latest = serializers.SerializerMethodField(help_text="The newest version; null: none yet.")

    class Meta(PromptSerializer.Meta):
        fields = [*PromptSerializer.Meta.fields, "latest"]

    @extend_schema_field(PromptVersionSerializer(allow_null=True))
    def get_latest(self, prompt: Prompt) -> dict | None:
        version = prompt.versions.filter(number=prompt.latest_version).first()
        return PromptVersionSerializer(version).data if version is not None else None


class PromptChangeSerializer(serializers.Serializer):
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    enabled = serializers.BooleanField(required=False)


class LabelMoveSerializer(serializers.Serializer):
    version = serializers.IntegerField(
        min_value=1, max_value=2**31 - 1, help_text="The version the label points at from now."
    )


class RestoreSerializer(serializers.Serializer):
    id = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        help_text="Which trashed prompt of this name (default: the one deleted last).",
    )


class RenderRequestSerializer(serializers.Serializer):
    ref = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="@label, @vN or @latest; default: @production, else the newest version.",
    )
    variables = JsonObjectField(required=False, help_text="Variable values by name.")


class MessageSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=["system", "user", "assistant"])
    content = serializers.CharField()


class RenderResultSerializer(serializers.Serializer):
    prompt = serializers.CharField()
    version = serializers.IntegerField()
    label = serializers.CharField(
        allow_null=True, help_text="The label that chose the version; null for @vN."
    )
    messages = MessageSerializer(many=True, help_text="What goes before the caller's messages.")
    model = serializers.CharField(help_text="Blank: the caller's model.")
    parameters = JsonObjectField()
