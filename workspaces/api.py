"""Management API for workspaces, members, API keys and management keys (DRF).

Authenticated by the dashboard session or a management key (workspaces/management_auth.py);
the roles are the dashboard's. Another workspace's slug or id answers 404, as a missing one.

/api/workspaces/                                     the caller's workspaces
/api/workspaces/{slug}/                              get, update settings      (admin writes)
/api/workspaces/{slug}/members/[{id}/]               list, add, change role, remove (admin)
/api/workspaces/{slug}/keys/[{id}/]                  API keys: list, create, get, update,
                                                     revoke (DELETE)       (developer writes)
/api/workspaces/{slug}/management-keys/[{id}/]       list, create, get, revoke      (admin)

A created key's secret is in the creating response only (`key`); Orca keeps its hash.
A key's `guardrail` binds it to one of the workspace's guardrails (null: the default).
A key's `prompt` (a name) and `prompt_label` bind it to a prompt of the registry.
"""

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, generics, mixins, permissions, status, viewsets
from rest_framework.response import Response

from billing.spend import KeySpend, key_spends

from . import services
from .management_auth import WorkspaceAccess, access_of
from .member_rules import MemberRuleError, add_member, change_role, remove_member
from .models import ROLE_RANK, ApiKey, ManagementKey, Membership, Role, Workspace
from .permissions import WorkspaceMember
from .serializers import (
    ApiKeyCreatedSerializer,
    ApiKeySerializer,
    ManagementKeyCreatedSerializer,
    ManagementKeySerializer,
    MemberAddSerializer,
    MemberRoleSerializer,
    MemberSerializer,
    WorkspaceSerializer,
)

ID_PATTERN = "[0-9]{1,18}"  # fits a bigint: a longer number is a 404, never a database error


class RuleBroken(exceptions.APIException):
    def __init__(self, error: MemberRuleError) -> None:
        self.status_code = error.status
        super().__init__(error.message)


def _acting_user(access: WorkspaceAccess):
    """The account behind the call (None for a management key), for `created_by`."""
    return access.membership.user if access.membership is not None else None


def _no_store(response: Response) -> Response:
    response["Cache-Control"] = "no-store"  # the body holds a secret
    return response


# --- workspaces -----------------------------------------------------------------------------


@extend_schema_view(get=extend_schema(tags=["workspaces"], operation_id="workspaces_list"))
class WorkspaceListView(generics.ListAPIView):
    """The workspaces the caller may use: a user's memberships, or a management key's own
    workspace."""

    serializer_class = WorkspaceSerializer
    pagination_class = None

    def get_queryset(self):
        access = access_of(self.request)
        if access is not None:
            self._roles = {access.workspace.id: access.role}
            return Workspace.objects.filter(pk=access.workspace.pk)
        memberships = Membership.objects.filter(user=self.request.user).values_list(
            "workspace_id", "role"
        )
        self._roles = dict(memberships)
        return Workspace.objects.filter(pk__in=self._roles).order_by("slug")

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "roles": getattr(self, "_roles", {})}


@extend_schema_view(
    get=extend_schema(tags=["workspaces"], operation_id="workspaces_retrieve"),
    patch=extend_schema(tags=["workspaces"], operation_id="workspaces_update"),
)
class WorkspaceDetailView(generics.RetrieveUpdateAPIView):
    """A workspace and its settings; admins and owners change them (PATCH)."""

    serializer_class = WorkspaceSerializer
    permission_classes = [permissions.IsAuthenticated, WorkspaceMember]
    write_role = Role.ADMIN
    http_method_names = ["get", "patch", "head", "options"]

    def get_object(self) -> Workspace:
        return self.workspace

    def get_serializer_context(self) -> dict:
        context = super().get_serializer_context()
        access = getattr(self, "access", None)
        context["roles"] = {access.workspace.id: access.role} if access else {}
        return context


# --- members --------------------------------------------------------------------------------


@extend_schema_view(
    create=extend_schema(request=MemberAddSerializer, responses={201: MemberSerializer}),
    partial_update=extend_schema(request=MemberRoleSerializer, responses=MemberSerializer),
    destroy=extend_schema(responses={204: OpenApiResponse(description="Removed.")}),
)
class MemberViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Members and their roles. Admins add, change and remove members; only an owner grants,
    changes or removes an owner, and the last owner stays."""

    serializer_class = MemberSerializer
    permission_classes = [permissions.IsAuthenticated, WorkspaceMember]
    write_role = Role.ADMIN
    lookup_url_kwarg = "member_id"
    lookup_value_regex = ID_PATTERN
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return (
            Membership.objects.filter(workspace=self.workspace)
            .select_related("user")
            .order_by("user__username", "id")
        )

    def _by_owner(self) -> bool:
        return self.access.has_role(Role.OWNER)

    def create(self, request, workspace: str) -> Response:
        given = MemberAddSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            membership = add_member(
                self.workspace,
                given.validated_data["user"],
                given.validated_data["role"],
                by_owner=self._by_owner(),
            )
        except MemberRuleError as error:
            raise RuleBroken(error) from None
        return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, workspace: str, member_id: str) -> Response:
        with transaction.atomic():
            target = get_object_or_404(  # first: another workspace's id is a 404, whatever
                Membership.objects.select_for_update().select_related("user"),
                pk=member_id,
                workspace=self.workspace,
            )
            given = MemberRoleSerializer(data=request.data)
            given.is_valid(raise_exception=True)
            try:
                change_role(target, given.validated_data["role"], by_owner=self._by_owner())
            except MemberRuleError as error:
                raise RuleBroken(error) from None
        return Response(MemberSerializer(target).data)

    def destroy(self, request, workspace: str, member_id: str) -> Response:
        with transaction.atomic():
            target = get_object_or_404(
                Membership.objects.select_for_update(), pk=member_id, workspace=self.workspace
            )
            try:
                remove_member(target, by_owner=self._by_owner())
            except MemberRuleError as error:
                raise RuleBroken(error) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- API keys -------------------------------------------------------------------------------

_KEY_LIMITS = [
    "enabled",
    "rpm_limit",
    "tpm_limit",
    "spend_limit_usd",
    "daily_limit_usd",
    "weekly_limit_usd",
    "monthly_limit_usd",
]


@extend_schema_view(
    create=extend_schema(request=ApiKeySerializer, responses={201: ApiKeyCreatedSerializer}),
    destroy=extend_schema(
        description="Revoke the key (it stops working on every gateway within a second). "
        "The key stays listed, with `revoked_at` set.",
        responses=ApiKeySerializer,
    ),
)
class ApiKeyViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """The workspace's relay API keys (`sk-orca-…`). Viewers read; developers create, change
    and revoke."""

    serializer_class = ApiKeySerializer
    permission_classes = [permissions.IsAuthenticated, WorkspaceMember]
    lookup_url_kwarg = "key_id"
    lookup_value_regex = ID_PATTERN
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    _spends: dict[int, KeySpend] = {}  # a new key has spent nothing

    def get_queryset(self):
        return (
            ApiKey.objects.filter(workspace=self.workspace)
            .select_related("prompt")
            .order_by("-created_at", "-id")
        )

    def get_serializer_context(self) -> dict:
        context = super().get_serializer_context()
        return {**context, "spends": self._spends, "workspace": getattr(self, "workspace", None)}

    def _load_spends(self, keys: list[ApiKey]) -> None:
        self._spends = key_spends(self.workspace.id, [key.id for key in keys])  # one query

    def get_object(self) -> ApiKey:
        key = super().get_object()
        self._load_spends([key])
        return key

    def list(self, request, workspace: str) -> Response:
        keys = list(self.get_queryset())
        self._load_spends(keys)
        return Response(self.get_serializer(keys, many=True).data)

    def create(self, request, workspace: str) -> Response:
        given = ApiKeySerializer(data=request.data, context=self.get_serializer_context())
        given.is_valid(raise_exception=True)
        data = given.validated_data
        with transaction.atomic():
            key, raw = services.create_api_key(
                self.workspace,
                name=data.get("name", "default"),
                expires_at=data.get("expires_at"),
                allowed_models=data.get("allowed_models", ()),
                allowed_ips=data.get("allowed_ips", ()),
                created_by=_acting_user(self.access),
            )
            bound = ["guardrail_id", "prompt", "prompt_label"]
            limits = [field for field in [*_KEY_LIMITS, *bound] if field in data]
            for field in limits:
                setattr(key, field, data[field])
            if limits:
                key.save(update_fields=limits)
        key.key = raw  # type: ignore[attr-defined]  # for this one response only
        body = ApiKeyCreatedSerializer(key).data
        return _no_store(Response(body, status=status.HTTP_201_CREATED))

    def destroy(self, request, workspace: str, key_id: str) -> Response:
        key = self.get_object()
        if key.revoked_at is None:
            services.revoke_api_key(key)
        return Response(self.get_serializer(key).data)


# --- management keys ------------------------------------------------------------------------


@extend_schema_view(
    create=extend_schema(
        request=ManagementKeySerializer, responses={201: ManagementKeyCreatedSerializer}
    ),
    destroy=extend_schema(
        description="Revoke the key. It stays listed, with `revoked_at` set.",
        responses=ManagementKeySerializer,
    ),
)
class ManagementKeyViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Management keys (`sk-orca-mgmt-…`): admins and owners only. A key's role is at most
    its creator's; only an owner revokes an owner key."""

    serializer_class = ManagementKeySerializer
    permission_classes = [permissions.IsAuthenticated, WorkspaceMember]
    read_role = Role.ADMIN
    write_role = Role.ADMIN
    lookup_url_kwarg = "management_key_id"
    lookup_value_regex = ID_PATTERN
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_queryset(self):
        return ManagementKey.objects.filter(workspace=self.workspace).select_related("created_by")

    def _outranks(self, role: str) -> bool:
        return ROLE_RANK[Role(role)] > ROLE_RANK[Role(self.access.role)]

    def create(self, request, workspace: str) -> Response:
        given = ManagementKeySerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        if self._outranks(data["role"]):
            raise exceptions.PermissionDenied(
                f"a key's role can be at most your own ({self.access.role})"
            )
        key, raw = services.create_management_key(
            self.workspace,
            role=data["role"],
            name=data.get("name", "default"),
            expires_at=data.get("expires_at"),
            created_by=_acting_user(self.access),
        )
        key.key = raw  # type: ignore[attr-defined]  # for this one response only
        body = ManagementKeyCreatedSerializer(key).data
        return _no_store(Response(body, status=status.HTTP_201_CREATED))

    def destroy(self, request, workspace: str, management_key_id: str) -> Response:
        key = self.get_object()
        if self._outranks(key.role):
            raise exceptions.PermissionDenied("only an owner can revoke an owner key")
        services.revoke_management_key(key)
        return Response(ManagementKeySerializer(key).data)
