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
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status, viewsets
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


# --- A workspace's own provider credentials (BYOK) ----------------------------------------


class OwnCredentialSerializer(serializers.Serializer):
    """The credential is write-only: answers carry only `hint`, its last four characters."""

    provider = serializers.CharField(max_length=60)
    credential = serializers.CharField(
        write_only=True, max_length=own_credentials.MAX_CREDENTIAL, trim_whitespace=True
    )
    base_url = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=300,
        help_text="OpenAI-compatible providers only; empty: the catalog's base URL.",
    )  # fmt: skip
    allow_fallback = serializers.BooleanField(
        required=False, default=True,
        help_text="When this credential fails, the platform's may serve the call.",
    )  # fmt: skip
    hint = serializers.CharField(read_only=True)
    kind = serializers.CharField(read_only=True, source="provider.kind")
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def to_representation(self, row: ProviderCredential) -> dict:
        return {
            "provider": row.provider.slug,
            "kind": row.provider.kind,
            "hint": row.hint,
            "base_url": row.base_url,
            "allow_fallback": row.allow_fallback,
            "created_at": serializers.DateTimeField().to_representation(row.created_at),
            "updated_at": serializers.DateTimeField().to_representation(row.updated_at),
        }


def _refused(exc: own_credentials.Refused) -> serializers.ValidationError:
    return serializers.ValidationError({exc.field: [exc.message]})


class OwnCredentialViewSet(viewsets.GenericViewSet):
    """Admins and owners only, reads included (WorkspaceMember's `read_role`/`write_role`):
    a session member or a management key of the URL's workspace; anyone else gets 404."""

    serializer_class = OwnCredentialSerializer
    permission_classes = [permissions.IsAuthenticated, WorkspaceMember]
    read_role = Role.ADMIN
    write_role = Role.ADMIN
    lookup_field = "provider"
    lookup_value_regex = "[-a-zA-Z0-9_]{1,60}"

    def get_queryset(self):
        return ProviderCredential.objects.filter(workspace=self.workspace).select_related(
            "provider"
        )

    def get_object(self) -> ProviderCredential:
        row = self.get_queryset().filter(provider__slug=self.kwargs["provider"]).first()
        if row is None:
            raise Http404("no credential of this workspace for that provider")
        return row

    def list(self, request, workspace: str) -> Response:
        rows = self.get_queryset().order_by("provider__slug")
        return Response({"data": [OwnCredentialSerializer(row).data for row in rows]})

    def create(self, request, workspace: str) -> Response:
        """Add the workspace's credential for a provider, or replace the one it has."""
        incoming = OwnCredentialSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
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

    def retrieve(self, request, workspace: str, provider: str) -> Response:
        return Response(OwnCredentialSerializer(self.get_object()).data)

    def update(self, request, workspace: str, provider: str) -> Response:
        """PUT replaces the credential (sent again); PATCH changes base_url/allow_fallback,
        and the credential too if one is sent."""
        row = self.get_object()
        partial = request.method == "PATCH"
        # .items(): a form-encoded body (a QueryDict) gives each field's value, not its list
        body = dict(request.data.items()) if isinstance(request.data, dict) else {}
        incoming = OwnCredentialSerializer(
            data={"provider": row.provider.slug, **body}, partial=partial
        )
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        if data.get("provider", row.provider.slug) != row.provider.slug:
            raise serializers.ValidationError({"provider": ["the provider cannot be changed"]})
        try:
            if "credential" in data:
                checked = own_credentials.check(
                    row.provider,
                    data["credential"],
                    data.get("base_url", row.base_url if partial else ""),
                    data.get("allow_fallback", row.allow_fallback if partial else True),
                )
                row, _ = own_credentials.save(self.workspace, checked)
            else:
                row = own_credentials.update(
                    row,
                    base_url=data.get("base_url") if "base_url" in body else None,
                    allow_fallback=data.get("allow_fallback") if "allow_fallback" in body else None,
                )
        except own_credentials.Refused as exc:
            raise _refused(exc) from None
        return Response(OwnCredentialSerializer(row).data)

    def partial_update(self, request, workspace: str, provider: str) -> Response:
        return self.update(request, workspace, provider)

    def destroy(self, request, workspace: str, provider: str) -> Response:
        self.get_object().delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
