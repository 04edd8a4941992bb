"""Management API for routing, scoped to the caller's workspace (DRF, session auth).

/api/workspaces/{slug}/routers/          list, create           (viewer reads, developer writes)
/api/workspaces/{slug}/routers/{name}/   read, update, delete
/api/workspaces/{slug}/model-health/     cooldowns, error rates and latency of the models
"""

import re

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from workspaces.permissions import WorkspaceMember

from .models import RESERVED_ROUTER_NAMES, ROUTER_NAME_PATTERN, Model, Router, RouterStrategy

_NAME = re.compile(ROUTER_NAME_PATTERN)


class RouterSerializer(serializers.ModelSerializer):
    strategy = serializers.ChoiceField(choices=RouterStrategy.choices, default="balanced")

    class Meta:
        model = Router
        fields = [
            "name",
            "candidates",
            "strategy",
            "default_model",
            "enabled",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def validate_name(self, name: str) -> str:
        if not _NAME.fullmatch(name):
            raise serializers.ValidationError("use 1-50 of a-z, 0-9, '_' and '-'")
        if name in RESERVED_ROUTER_NAMES:
            raise serializers.ValidationError(f"{name!r} is reserved")
        workspace = self.context["workspace"]
        taken = Router.objects.filter(workspace=workspace, name=name)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise serializers.ValidationError("this workspace already has a router of that name")
        return name

    def validate_candidates(self, candidates) -> list[str]:
        if not isinstance(candidates, list) or not all(
            isinstance(c, str) and c.strip() for c in candidates
        ):
            raise serializers.ValidationError('a list of model ids or patterns, e.g. ["openai/*"]')
        if len(candidates) > 200:
            raise serializers.ValidationError("at most 200 entries")
        return [c.strip() for c in candidates]

    def validate_default_model(self, default_model: str) -> str:
        if (
            default_model
            and not Model.objects.filter(public_id=default_model, enabled=True).exists()
        ):
            raise serializers.ValidationError(f"no model {default_model!r} in the catalog")
        return default_model


class RouterViewSet(viewsets.ModelViewSet):
    serializer_class = RouterSerializer
    permission_classes = [permissions.IsAuthenticated, WorkspaceMember]
    lookup_field = "name"
    lookup_value_regex = "[a-z0-9_-]{1,50}"

    def get_queryset(self):
        return Router.objects.filter(workspace=self.workspace)

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "workspace": getattr(self, "workspace", None)}

    def perform_create(self, serializer) -> None:
        serializer.save(workspace=self.workspace)


class ModelHealthRowSerializer(serializers.Serializer):
    model = serializers.CharField()
    available = serializers.BooleanField()
    cooldown_seconds_left = serializers.FloatField()
    cooldown_reason = serializers.CharField()
    error_rate = serializers.FloatField()
    latency_ms = serializers.FloatField(allow_null=True)


class ModelHealthSerializer(serializers.Serializer):
    data = ModelHealthRowSerializer(many=True)
    redis = serializers.BooleanField(help_text="False: this process's own view only.")


class ModelHealthView(APIView):
    permission_classes = [permissions.IsAuthenticated, WorkspaceMember]

    @extend_schema(summary="Cooldowns, error rates and latency", responses=ModelHealthSerializer)
    def get(self, request, workspace: str) -> Response:
        from .health_store import shared_snapshot

        snapshot = shared_snapshot()
        models = Model.objects.filter(enabled=True, provider__enabled=True).select_related(
            "provider"
        )
        rows = []
        for model in models:
            health = snapshot.get(f"{model.provider.slug}|{model.public_id}", {})
            rows.append({"model": model.public_id, **_HEALTHY, **health})
        return Response({"data": rows, "redis": bool(settings.REDIS_URL)})


_HEALTHY = {
    "available": True,
    "cooldown_seconds_left": 0,
    "cooldown_reason": "",
    "error_rate": 0.0,
    "latency_ms": None,
}
