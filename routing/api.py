"""Management API for routing, scoped to the caller's workspace (DRF, session auth).

/api/workspaces/{slug}/routers/          list, create           (viewer reads, developer writes)
/api/workspaces/{slug}/routers/{name}/   read, update, delete
/api/workspaces/{slug}/model-health/     cooldowns, error rates and latency of the models
/api/workspaces/{slug}/providers/        the workspace's own provider credentials (BYOK):
                                         list, add or replace (admins and owners only)
/api/workspaces/{slug}/providers/{provider}/   read, replace (PUT), change (PATCH), delete
"""

import re

from django.conf import settings
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from workspaces.models import Role
from workspaces.permissions import WorkspaceMember

from . import own_credentials
from .models import (
    RESERVED_ROUTER_NAMES,
    ROUTER_NAME_PATTERN,
    Model,
    ProviderCredential,
    Router,
    RouterStrategy,
)

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
            isinstance(c, str) and c.strip() and c.isprintable() for c in candidates
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


# --- A workspace's own provider credentials (BYOK) ----------------------------------------


class OwnCredentialSerializer(serializers.Serializer):
    """A saved credential as answers show it: never the credential, only `hint`."""

    provider = serializers.CharField(source="provider.slug", read_only=True)
    kind = serializers.CharField(source="provider.kind", read_only=True)
    hint = serializers.CharField(read_only=True, help_text="The credential's last 4 characters.")
    base_url = serializers.CharField(read_only=True)
    allow_fallback = serializers.BooleanField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)


class OwnCredentialChangeSerializer(serializers.Serializer):
    """PUT sends the credential again (the rest defaults); PATCH sends what changes."""

    credential = serializers.CharField(
        write_only=True, max_length=own_credentials.MAX_CREDENTIAL, trim_whitespace=True,
        help_text="Write-only: stored encrypted, never shown again.",
    )  # fmt: skip
    base_url = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=300,
        help_text="OpenAI-compatible providers only; empty: the catalog's base URL.",
    )  # fmt: skip
    allow_fallback = serializers.BooleanField(
        required=False, default=True,
        help_text="When this credential fails, the platform's may serve the call.",
    )  # fmt: skip


class OwnCredentialAddSerializer(OwnCredentialChangeSerializer):
    provider = serializers.CharField(max_length=60, help_text="A catalog provider's slug.")


def _refused(exc: own_credentials.Refused) -> serializers.ValidationError:
    return serializers.ValidationError({exc.field: [exc.message]})


@extend_schema_view(
    create=extend_schema(
        description="Add the workspace's own credential for a provider (201), or replace the "
        "one it has (200).",
        request=OwnCredentialAddSerializer,
        responses={201: OwnCredentialSerializer, 200: OwnCredentialSerializer},
    ),
    update=extend_schema(request=OwnCredentialChangeSerializer, responses=OwnCredentialSerializer),
    partial_update=extend_schema(
        request=OwnCredentialChangeSerializer, responses=OwnCredentialSerializer
    ),
    destroy=extend_schema(responses={204: OpenApiResponse(description="Deleted.")}),
)
class OwnCredentialViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The workspace's own provider credentials (BYOK), used before the platform's. Admins
    and owners only, reads included (`read_role`/`write_role`); anyone else gets 404."""

    serializer_class = OwnCredentialSerializer
    permission_classes = [permissions.IsAuthenticated, WorkspaceMember]
    read_role = Role.ADMIN
    write_role = Role.ADMIN
    lookup_field = "provider"
    lookup_value_regex = "[-a-zA-Z0-9_]{1,60}"

    def get_queryset(self):
        return (
            ProviderCredential.objects.filter(workspace=self.workspace)
            .select_related("provider")
            .order_by("provider__slug")
        )

    def get_object(self) -> ProviderCredential:
        row = self.get_queryset().filter(provider__slug=self.kwargs["provider"]).first()
        if row is None:
            raise Http404("no credential of this workspace for that provider")
        return row

    def create(self, request, workspace: str) -> Response:
        given = OwnCredentialAddSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        try:
            provider = own_credentials.provider_named(data["provider"])
            checked = own_credentials.check(
                provider, data["credential"], data["base_url"], data["allow_fallback"]
            )
        except own_credentials.Refused as exc:
            raise _refused(exc) from None
        row, created = own_credentials.save(self.workspace, checked)
        return Response(
            OwnCredentialSerializer(row).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    def update(self, request, workspace: str, provider: str) -> Response:
        row = self.get_object()
        partial = request.method == "PATCH"
        given = OwnCredentialChangeSerializer(data=request.data, partial=partial)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        try:
            if "credential" in data:  # always on PUT (required there)
                checked = own_credentials.check(
                    row.provider,
                    data["credential"],
                    data.get("base_url", row.base_url),
                    data.get("allow_fallback", row.allow_fallback),
                )
                row, _ = own_credentials.save(self.workspace, checked)
            else:
                row = own_credentials.update(
                    row,
                    base_url=data.get("base_url"),
                    allow_fallback=data.get("allow_fallback"),
                )
        except own_credentials.Refused as exc:
            raise _refused(exc) from None
        return Response(OwnCredentialSerializer(row).data)

    def partial_update(self, request, workspace: str, provider: str) -> Response:
        return self.update(request, workspace, provider)

    def destroy(self, request, workspace: str, provider: str) -> Response:
        self.get_object().delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
