"""Management API of the prompt registry (DRF), scoped to the caller's workspace.

/api/workspaces/{slug}/prompts/                         list (?trash=1: the trash), create
                                                        (optionally with a first `version`)
/api/workspaces/{slug}/prompts/{name}/                  get, PATCH (description, enabled),
                                                        DELETE (into the trash)
/api/workspaces/{slug}/prompts/{name}/restore/          POST: out of the trash
/api/workspaces/{slug}/prompts/{name}/versions/[{n}/]   list, create (number = latest + 1), get
/api/workspaces/{slug}/prompts/{name}/labels/[{label}/] list, get, PUT {"version": n} (create
                                                        or move; a rollback is a move), DELETE
/api/workspaces/{slug}/prompts/{name}/render/           POST: the messages a call would get,
                                                        no upstream call

Viewers read; developers write (render too: it is the dashboard's "try it"). A prompt is
addressed by name (URL argument `prompt_name`; live prompts only, except for restore);
another workspace's answers 404.
A key is bound to a prompt on the key resource (`prompt`, `prompt_label` of /keys/{id}/).
"""

from django.db.models import Count, Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from workspaces.management_auth import WorkspaceAccess
from workspaces.models import Workspace
from workspaces.permissions import WorkspaceMember

from . import services
from .models import Prompt, PromptLabel, PromptVersion
from .serializers import (
    LabelMoveSerializer,
    LabelSerializer,
    PromptChangeSerializer,
    PromptDetailSerializer,
    PromptSerializer,
    PromptVersionSerializer,
    RenderRequestSerializer,
    RenderResultSerializer,
    RestoreSerializer,
    VersionInputSerializer,
)

NAME_REGEX = "[a-zA-Z0-9._-]{1,128}"
LABEL_REGEX = "[a-zA-Z0-9._-]{1,64}"
TRASH = OpenApiParameter(
    "trash",
    OpenApiTypes.BOOL,
    OpenApiParameter.QUERY,
    description="1: list the trash (deleted prompts, purged after 30 days) instead.",
)


def prompts_of(workspace: Workspace, *, trash: bool = False) -> QuerySet:
    """The workspace's live (or trashed) prompts with labels and bound-key counts."""
    return (
        Prompt.objects.filter(workspace=workspace, deleted_at__isnull=not trash)
        .select_related("created_by")
        .prefetch_related(
            Prefetch(
                "labels",
                queryset=PromptLabel.objects.select_related("version", "updated_by").order_by(
                    "name"
                ),
            )
        )
        .annotate(key_count=Count("keys", distinct=True))
        .order_by("-deleted_at" if trash else "name", "id")
    )


def refused(error: services.Refused) -> exceptions.APIException:
    if error.status == 409:
        conflict = exceptions.APIException(error.message)
        conflict.status_code = status.HTTP_409_CONFLICT
        return conflict
    if error.status == 404:
        return exceptions.NotFound(error.message)
    return exceptions.ValidationError({error.field: [error.message]})


def _acting_user(access: WorkspaceAccess):
    return access.membership.user if access.membership is not None else None


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _body(request) -> dict:
    if not isinstance(request.data, dict):
        raise exceptions.ValidationError({"detail": ["a JSON object"]})
    return request.data


class PromptScoped:
    """A view under /prompts/{name}/: the live prompt of that name in the URL's workspace."""

    kwargs: dict
    workspace: Workspace

    def prompt(self) -> Prompt:
        return get_object_or_404(
            Prompt,
            workspace=self.workspace,
            name=self.kwargs["prompt_name"],
            deleted_at__isnull=True,
        )


# --- prompts ---------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(parameters=[TRASH], summary="The workspace's prompts (or its trash)"),
    create=extend_schema(responses={201: PromptDetailSerializer}),
    retrieve=extend_schema(responses=PromptDetailSerializer),
    partial_update=extend_schema(request=PromptChangeSerializer, responses=PromptDetailSerializer),
    destroy=extend_schema(
        description="Move the prompt to the trash (purged after 30 days; restore brings it "
        "back). Bound keys keep the link, but nothing is injected meanwhile.",
        responses={204: OpenApiResponse(description="In the trash.")},
    ),
)
class PromptViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Named prompts. Each edit is a new immutable version; labels point at versions; a
    change is seen by every gateway within one config poll."""

    serializer_class = PromptSerializer
    permission_classes = [permissions.IsAuthenticated, WorkspaceMember]
    lookup_field = "name"
    lookup_url_kwarg = "prompt_name"
    lookup_value_regex = NAME_REGEX
    pagination_class = None
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        trash = self.action == "list" and _flag(self.request.query_params.get("trash"))
        return prompts_of(self.workspace, trash=trash)

    def _answer(self, prompt_id: int, code: int = status.HTTP_200_OK) -> Response:
        row = prompts_of(self.workspace).get(pk=prompt_id)
        return Response(PromptDetailSerializer(row).data, status=code)

    def retrieve(self, request, workspace: str, prompt_name: str) -> Response:
        return Response(PromptDetailSerializer(self.get_object()).data)

    def create(self, request, workspace: str) -> Response:
        body = _body(request)
        given = PromptSerializer(data=body)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        version = body.get("version")
        if version is not None and not isinstance(version, dict):
            raise exceptions.ValidationError({"version": ["an object: the first version"]})
        try:
            prompt = services.create_prompt(
                self.workspace,
                name=data["name"],
                description=data.get("description", ""),
                enabled=data.get("enabled", True),
                version=services.Draft.of(version) if version is not None else None,
                created_by=_acting_user(self.access),
            )
        except services.Refused as error:
            raise refused(error) from None
        return self._answer(prompt.pk, status.HTTP_201_CREATED)

    def update(self, request, workspace: str, prompt_name: str, partial: bool = False) -> Response:
        prompt = self.get_object()
        given = PromptChangeSerializer(data=_body(request))
        given.is_valid(raise_exception=True)
        try:
            services.update_prompt(prompt, **given.validated_data)
        except services.Refused as error:
            raise refused(error) from None
        return self._answer(prompt.pk)

    def destroy(self, request, workspace: str, prompt_name: str) -> Response:
        services.trash_prompt(self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Restore a prompt from the trash",
        operation_id="prompts_restore",
        request=RestoreSerializer,
        responses=PromptDetailSerializer,
        description="Refused (409) while a live prompt has the name.",
    )
    @action(detail=True, methods=["post"], url_path="restore")
    def restore(self, request, workspace: str, prompt_name: str) -> Response:
        given = RestoreSerializer(data=_body(request))
        given.is_valid(raise_exception=True)
        trashed = Prompt.objects.filter(
            workspace=self.workspace, name=prompt_name, deleted_at__isnull=False
        )
        if "id" in given.validated_data:
            trashed = trashed.filter(pk=given.validated_data["id"])
        prompt = trashed.order_by("-deleted_at", "-id").first()
        if prompt is None:
            raise exceptions.NotFound("no prompt of this name in the trash")
        try:
            services.restore_prompt(prompt)
        except services.Refused as error:
            raise refused(error) from None
        return self._answer(prompt.pk)

    @extend_schema(
        summary="Render a prompt: the messages a call would get",
        operation_id="prompts_render",
        request=RenderRequestSerializer,
        responses=RenderResultSerializer,
        description="Resolves `ref` (@label, @vN, @latest; default @production, else the "
        "newest version), checks and substitutes `variables`, and returns what would be sent "
        "before the caller's own messages, with the version's model and parameters. No "
        "upstream call; nothing recorded. A missing, unknown or mistyped variable is a 400 "
        "naming it (`variables.customer`).",
    )
    @action(detail=True, methods=["post"], url_path="render")
    def render(self, request, workspace: str, prompt_name: str) -> Response:
        prompt = self.get_object()
        given = RenderRequestSerializer(data=_body(request))
        given.is_valid(raise_exception=True)
        data = given.validated_data
        variables = data.get("variables")
        if variables is not None and not isinstance(variables, dict):
            raise exceptions.ValidationError({"variables": ["an object of names to values"]})
        try:
            out = services.render(prompt, data.get("ref"), variables)
        except services.Refused as error:
            raise refused(error) from None
        response = Response(
            {
                "prompt": out.prompt,
                "version": out.version,
                "label": out.label,
                "messages": out.messages,
                "model": out.model,
                "parameters": out.parameters,
            }
        )
        response["Cache-Control"] = "no-store"  # it echoes the variables
        return response


# --- versions --------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="A prompt's versions, newest first"),
    retrieve=extend_schema(summary="One version of a prompt"),
    create=extend_schema(
        summary="Make a new version (number = latest + 1)",
        request=VersionInputSerializer,
        responses={201: PromptVersionSerializer},
    ),
)
class PromptVersionViewSet(
    PromptScoped,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """The history of a prompt: immutable versions, numbered 1, 2, …"""

    serializer_class = PromptVersionSerializer
    permission_classes = [permissions.IsAuthenticated, WorkspaceMember]
    lookup_field = "number"
    lookup_url_kwarg = "number"
    lookup_value_regex = "[0-9]{1,9}"
    pagination_class = None

    def get_queryset(self):
        return (
            PromptVersion.objects.filter(prompt=self.prompt())
            .select_related("created_by")
            .order_by("-number")
        )

    def get_serializer_context(self) -> dict:
        context = super().get_serializer_context()
        if getattr(self, "workspace", None) is not None and "prompt_name" in self.kwargs:
            labels: dict[int, list[str]] = {}
            rows = PromptLabel.objects.filter(
                prompt__workspace=self.workspace,
                prompt__name=self.kwargs["prompt_name"],
                prompt__deleted_at__isnull=True,
            ).order_by("name")
            for version_id, label in rows.values_list("version_id", "name"):
                labels.setdefault(version_id, []).append(label)
            context["labels_by_version"] = labels
        return context

    def create(self, request, workspace: str, prompt_name: str) -> Response:
        prompt = self.prompt()
        VersionInputSerializer(data=_body(request)).is_valid(raise_exception=True)
        try:
            version = services.create_version(
                prompt, services.Draft.of(request.data), by=_acting_user(self.access)
            )
        except services.Refused as error:
            raise refused(error) from None
        body = PromptVersionSerializer(version, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED)


# --- labels ----------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="A prompt's labels (`latest` is implicit: the newest version)"),
    retrieve=extend_schema(summary="One label"),
    update=extend_schema(
        summary="Point a label at a version (create or move; a rollback is a move)",
        request=LabelMoveSerializer,
        responses={200: LabelSerializer, 201: LabelSerializer},
    ),
    destroy=extend_schema(
        summary="Delete a label", responses={204: OpenApiResponse(description="Deleted.")}
    ),
)
class PromptLabelViewSet(
    PromptScoped,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = LabelSerializer
    permission_classes = [permissions.IsAuthenticated, WorkspaceMember]
    lookup_field = "name"
    lookup_url_kwarg = "label"
    lookup_value_regex = LABEL_REGEX
    pagination_class = None
    http_method_names = ["get", "put", "delete", "head", "options"]

    def get_queryset(self):
        return (
            PromptLabel.objects.filter(prompt=self.prompt())
            .select_related("version", "updated_by")
            .order_by("name")
        )

    def update(self, request, workspace: str, prompt_name: str, label: str) -> Response:
        prompt = self.prompt()
        given = LabelMoveSerializer(data=_body(request))
        given.is_valid(raise_exception=True)
        try:
            row, created = services.move_label(
                prompt, label, given.validated_data["version"], by=_acting_user(self.access)
            )
        except services.Refused as error:
            raise refused(error) from None
        row = self.get_queryset().get(pk=row.pk)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(LabelSerializer(row).data, status=code)

    def destroy(self, request, workspace: str, prompt_name: str, label: str) -> Response:
        try:
            services.delete_label(self.prompt(), label)
        except services.Refused as error:
            raise refused(error) from None
        return Response(status=status.HTTP_204_NO_CONTENT)
