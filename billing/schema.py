"""What the usage and ledger API answers, as serializers for its OpenAPI schema only (the
views in billing/api.py build these bodies from `.values()` rows, off the ORM's objects)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from .models import LedgerEntry

USD = "An exact decimal string in USD."


class KeyRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField()


class TokensSerializer(serializers.Serializer):
    prompt = serializers.IntegerField()
    completion = serializers.IntegerField()
    cached = serializers.IntegerField()
    reasoning = serializers.IntegerField()
    reported = serializers.BooleanField(help_text="False: Orca counted the tokens itself.")


class UsageRowSerializer(serializers.Serializer):
    request_id = serializers.CharField()
    created_at = serializers.DateTimeField()
    key = KeyRefSerializer(allow_null=True, help_text="null: the key was deleted.")
    model = serializers.CharField()
    upstream_model = serializers.CharField()
    endpoint = serializers.CharField()
    tokens = TokensSerializer()
    cost_usd = serializers.CharField(help_text=USD)
    status_code = serializers.IntegerField()
    error_code = serializers.CharField()
    streamed = serializers.BooleanField()
    latency_ms = serializers.IntegerField()
    ttft_ms = serializers.IntegerField(allow_null=True)
    router = serializers.CharField()
    fallback_level = serializers.IntegerField(allow_null=True)
    attempts = serializers.ListField(child=serializers.JSONField())


class UsagePageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = UsageRowSerializer(many=True)


class SeriesMetricsSerializer(serializers.Serializer):
    requests = serializers.IntegerField()
    errors = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    cached_tokens = serializers.IntegerField()
    reasoning_tokens = serializers.IntegerField()
    cost_usd = serializers.CharField(help_text=USD)


class SeriesPointSerializer(SeriesMetricsSerializer):
    start = serializers.DateTimeField()
    model = serializers.CharField(required=False, help_text="With group_by=model.")
    key = KeyRefSerializer(
        required=False, allow_null=True, help_text="With group_by=key; null: a deleted key."
    )


class UsageSeriesSerializer(serializers.Serializer):
    period = serializers.ChoiceField(choices=["hour", "day"])
    group_by = serializers.ChoiceField(choices=["model", "key"])
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    data = SeriesPointSerializer(many=True)
    totals = SeriesMetricsSerializer()


class LedgerRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=LedgerEntry.Kind.choices)
    amount_usd = serializers.CharField(help_text=USD + " Spends are negative.")
    request_id = serializers.CharField(allow_null=True)
    note = serializers.CharField()
    created_at = serializers.DateTimeField()


class LedgerPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = LedgerRowSerializer(many=True)
    balance_usd = serializers.CharField(help_text=USD)


def _query(name: str, type_, description: str, **extra) -> OpenApiParameter:
    return OpenApiParameter(name, type_, OpenApiParameter.QUERY, description=description, **extra)


SINCE = _query("since", OpenApiTypes.DATETIME, "Inclusive, ISO 8601 (UTC if no offset).")
UNTIL = _query("until", OpenApiTypes.DATETIME, "Exclusive, ISO 8601; after since.")
USAGE_FILTERS = [
    _query("key", OpenApiTypes.INT, "An API key id."),
    _query("model", OpenApiTypes.STR, "A public model id."),
    _query("status", OpenApiTypes.STR, "An HTTP status code (100-599), or `error` for >= 400."),
    SINCE,
    UNTIL,
]
PAGING = [
    _query("cursor", OpenApiTypes.STR, "The `next` or `previous` link's cursor."),
    _query("page_size", OpenApiTypes.INT, "1-500, default 50."),
]
SERIES_FILTERS = [
    _query("period", OpenApiTypes.STR, "Bucket size (default hour).", enum=["hour", "day"]),
    _query("group_by", OpenApiTypes.STR, "Default model.", enum=["model", "key"]),
    SINCE,
    UNTIL,
]
LEDGER_FILTERS = [
    _query("kind", OpenApiTypes.STR, "Entry kind.", enum=list(LedgerEntry.Kind.values)),
    *PAGING,
]
