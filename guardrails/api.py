"""Management API for guardrails (DRF), scoped to the caller's workspace.

/api/workspaces/{slug}/guardrails/                      list, create      (viewer reads,
/api/workspaces/{slug}/guardrails/{id}/                 get, PUT, PATCH,   developer writes)
                                                        DELETE (409 while keys are bound)
/api/workspaces/{slug}/guardrails/{id}/versions/[{n}/]  the immutable history of the rules
/api/workspaces/{slug}/guardrails/{id}/test/            the sandbox: screen a text, no
                                                        upstream call, nothing recorded
                                                        (developers, as for writes)
/api/workspaces/{slug}/guardrails/matches/              the matches feed, newest first,
                                                        cursor-paginated, with filters

A key is bound to a guardrail on the key resource (`guardrail` of /keys/{id}/). Another
workspace's guardrail id answers 404 here, and 400 naming `guardrail` when bound to a key.
"""

from django.db.models import Count, JSONField, OuterRef, QuerySet, Subquery
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
from rest_framework.views import APIView

from billing.api import NewestFirstCursor, parse_moment
from billing.schema import PAGING, SINCE, UNTIL
from workspaces.management_auth import WorkspaceAccess
from workspaces.models import Workspace
from workspaces.permissions import WorkspaceMember

from . import services
from .models import Guardrail, GuardrailMatch, GuardrailVersion
from .serializers import (
    GuardrailSerializer,
    GuardrailVersionSerializer,
    MatchPageSerializer,
    SandboxRequestSerializer,
    SandboxResultSerializer,
)

ID_PATTERN = "[0-9]{1,18}"  # fits a bigint: a longer number is a 404, never a database error
RULE_TYPES = ["pii", "keyword", "regex", "max_chars", "moderation"]


def guardrails_of(workspace: Workspace) -> QuerySet:
    """The workspace's guardrails with their bound-key count and current rules (one query)."""
    current = GuardrailVersion.objects.filter(
        guardrail=OuterRef("pk"), number=OuterRef("version")
    ).values("rules")[:1]
    return (
        Guardrail.objects.filter(workspace=workspace)
        .select_related("created_by")
        .annotate(
            key_count=Count("keys", distinct=True),
            current_rules=Subquery(current, output_field=JSONField()),
        )
        .order_by("name", "id")
    )


def refused(error: services.Refused) -> exceptions.APIException:
    if error.status == 409:
        conflict = exceptions.APIException(error.message)
        conflict.status_code = status.HTTP_409_CONFLICT
        return conflict
    return exceptions.ValidationError({error.field: [error.message]})


def _acting_user(access: WorkspaceAccess):
    return access.membership.user if access.membership is not None else None


# --- guardrails -----------------------------------------------------------------------------


@extend_schema_view(
    create=extend_schema(responses={201: GuardrailSerializer}),
    destroy=extend_schema(
        description="Delete the guardrail. Refused (409) while API keys are bound to it.",
        responses={204: OpenApiResponse(description="Deleted.")},
    ),
)
class GuardrailViewSet(viewsets.ModelViewSet):
    """Named policies of rules. Every change of the rules is a new immutable version; the
    gateways see a change within one config poll."""

    serializer_class = GuardrailSerializer
    permission_classes = [permissions.IsAuthenticated, WorkspaceMember]
    lookup_url_kwarg = "guardrail_id"
    lookup_value_regex = ID_PATTERN
    pagination_class = None

    def get_queryset(self):
        return guardrails_of(self.workspace)

    def _answer(self, guardrail_id: int, code: int = status.HTTP_200_OK) -> Response:
        row = self.get_queryset().get(pk=guardrail_id)
        return Response(GuardrailSerializer(row).data, status=code)

    def create(self, request, workspace: str) -> Response:
        given = GuardrailSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        try:
            guardrail = services.create_guardrail(
                self.workspace,
                name=data["name"],
                rules=data.get("rules", []),
                description=data.get("description", ""),
                enabled=data.get("enabled", True),
                is_default=data.get("is_default", False),
                log_raw=data.get("log_raw", False),
                created_by=_acting_user(self.access),
            )
        except services.Refused as error:
            raise refused(error) from None
        return self._answer(guardrail.pk, status.HTTP_201_CREATED)

    def update(self, request, workspace: str, guardrail_id: str, partial: bool = False):
        guardrail = self.get_object()
        given = GuardrailSerializer(guardrail, data=request.data, partial=partial)
        given.is_valid(raise_exception=True)
        data = dict(given.validated_data)
        if not partial:  # PUT replaces: what is not sent takes its default
            defaults = {"description": "", "enabled": True, "is_default": False, "log_raw": False}
            data = {**defaults, "rules": [], **data}
        try:
            services.update_guardrail(
                guardrail, services.Change.of(data), by=_acting_user(self.access)
            )
        except services.Refused as error:
            raise refused(error) from None
        return self._answer(guardrail.pk)

    def destroy(self, request, workspace: str, guardrail_id: str) -> Response:
        try:
            services.delete_guardrail(self.get_object())
        except services.Refused as error:
            raise refused(error) from None
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Try the guardrail on a text (the sandbox)",
        operation_id="guardrails_test",
        description="Screens `text` at `stage` with the current version's rules (or "
        "`version`'s), as the gateway would: no upstream call, nothing recorded (moderation "
        "rules, which call a model, are not run). The matched text is returned only when "
        "the guardrail's log_raw is on.",
        request=SandboxRequestSerializer,
        responses=SandboxResultSerializer,
    )
    @action(detail=True, methods=["post"], url_path="test")
    def test(self, request, workspace: str, guardrail_id: str) -> Response:
        guardrail = self.get_object()
        given = SandboxRequestSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        number = data.get("version", guardrail.version)
        version = guardrail.versions.filter(number=number).first()
        if version is None:
            raise exceptions.ValidationError({"version": [f"no version {number}"]})
        try:
            result = services.sandbox(
                version.rules, data["text"], data["stage"], log_raw=guardrail.log_raw
            )
        except services.Refused as error:
            raise refused(error) from None
        body = {
            "decision": result.decision,
            "version": version.number,
            "matches": result.matches,
            "masked_text": result.masked_text,
            "blocked_by": result.blocked_by,
        }
        response = Response(body)
        response["Cache-Control"] = "no-store"  # it echoes the text screened
        return response


@extend_schema_view(
    list=extend_schema(summary="A guardrail's versions, newest first"),
    retrieve=extend_schema(summary="One version of a guardrail's rules"),
)
class GuardrailVersionViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The history of a guardrail's rules: every version, never changed once written."""

    serializer_class = GuardrailVersionSerializer
    permission_classes = [permissions.IsAuthenticated, WorkspaceMember]
    lookup_field = "number"
    lookup_url_kwarg = "number"
    lookup_value_regex = "[0-9]{1,9}"
    pagination_class = None

    def get_queryset(self):
        guardrail = get_object_or_404(
            Guardrail, pk=self.kwargs["guardrail_id"], workspace=self.workspace
        )
        return (
            GuardrailVersion.objects.filter(guardrail=guardrail)
            .select_related("guardrail", "created_by")
            .order_by("-number")
        )


# --- the matches feed -----------------------------------------------------------------------


def _bad(parameter: str, message: str) -> exceptions.ValidationError:
    return exceptions.ValidationError({parameter: [message]})


def _text(params, name: str) -> str | None:
    value = params.get(name)
    return value.strip() if value is not None and value.strip() else None


def _id(params, name: str) -> int | None:
    value = _text(params, name)
    if value is None:
        return None
    if not value.isdigit() or not 0 < int(value) < 2**63:
        raise _bad(name, "a positive integer")
    return int(value)


def _choice(params, name: str, choices: list[str]) -> str | None:
    value = _text(params, name)
    if value is not None and value not in choices:
        raise _bad(name, f"one of {', '.join(choices)}")
    return value


def matches_queryset(workspace: Workspace, params) -> QuerySet:
    """The workspace's matches narrowed by the request's filters (400 naming a bad one)."""
    rows = GuardrailMatch.objects.filter(workspace=workspace)
    if (guardrail := _id(params, "guardrail")) is not None:
        rows = rows.filter(guardrail_id=guardrail)
    if (key := _id(params, "key")) is not None:
        rows = rows.filter(api_key_id=key)
    if (stage := _choice(params, "stage", GuardrailMatch.Stage.values)) is not None:
        rows = rows.filter(stage=stage)
    if (verdict := _choice(params, "action", GuardrailMatch.Action.values)) is not None:
        rows = rows.filter(action=verdict)
    if (rule_type := _choice(params, "rule_type", RULE_TYPES)) is not None:
        rows = rows.filter(rule_type=rule_type)
    for name, column in (("entity", "entity"), ("request_id", "request_id")):
        value = _text(params, name)
        if value is not None:
            if len(value) > 64 or not value.isprintable():
                raise _bad(name, "at most 64 printable characters")
            rows = rows.filter(**{column: value})
    since, until = parse_moment(params, "since"), parse_moment(params, "until")
    if since is not None and until is not None and until <= since:
        raise _bad("until", "must be after since")
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    if until is not None:
        rows = rows.filter(created_at__lt=until)
    return rows


_MATCH_FIELDS = [
    "id",
    "created_at",
    "request_id",
    "endpoint",
    "guardrail_id",
    "guardrail_name",
    "version",
    "api_key_id",
    "api_key__name",
    "api_key__prefix",
    "stage",
    "action",
    "rule_index",
    "rule_type",
    "entity",
    "detail",
    "raw_text",
]


def match_row(row: dict) -> dict:
    key = None
    if row["api_key_id"] is not None:
        key = {
            "id": row["api_key_id"],
            "name": row["api_key__name"],
            "prefix": row["api_key__prefix"],
        }
    return {
        "id": row["id"],
        "created_at": row["created_at"].isoformat(),
        "request_id": row["request_id"],
        "endpoint": row["endpoint"],
        "guardrail": {
            "id": row["guardrail_id"],
            "name": row["guardrail_name"],
            "version": row["version"],
        },
        "key": key,
        "stage": row["stage"],
        "action": row["action"],
        "rule_index": row["rule_index"],
        "rule_type": row["rule_type"],
        "entity": row["entity"],
        "detail": row["detail"],
        "text": row["raw_text"] or None,  # None: not kept (the guardrail does not log raw text)
    }


def _query(name: str, type_, description: str, **extra) -> OpenApiParameter:
    return OpenApiParameter(name, type_, OpenApiParameter.QUERY, description=description, **extra)


MATCH_FILTERS = [
    _query("guardrail", OpenApiTypes.INT, "A guardrail id."),
    _query("key", OpenApiTypes.INT, "An API key id."),
    _query("stage", OpenApiTypes.STR, "Where it matched.", enum=GuardrailMatch.Stage.values),
    _query("action", OpenApiTypes.STR, "What the rule did.", enum=GuardrailMatch.Action.values),
    _query("rule_type", OpenApiTypes.STR, "The rule's type.", enum=RULE_TYPES),
    _query("entity", OpenApiTypes.STR, "A PII entity, e.g. email."),
    _query("request_id", OpenApiTypes.STR, "One call's id (X-Orca-Request-Id)."),
    SINCE,
    UNTIL,
]


class MatchListView(APIView):
    permission_classes = [permissions.IsAuthenticated, WorkspaceMember]

    @extend_schema(
        summary="Guardrail matches, newest first",
        tags=["guardrails"],
        operation_id="guardrails_matches_list",
        parameters=[*MATCH_FILTERS, *PAGING],
        responses=MatchPageSerializer,
    )
    def get(self, request, workspace: str) -> Response:
        rows = (
            matches_queryset(self.workspace, request.query_params)
            .select_related("api_key")
            .values(*_MATCH_FIELDS)
        )
        paginator = NewestFirstCursor()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response([match_row(row) for row in page])
