"""OpenRouter's provisioning API for the API keys of one workspace, authenticated by a
management key (`sk-orca-mgmt-…`, workspaces.management_auth): the key's own workspace is
the one acted on, so nothing here takes a workspace from the URL.

    GET    /api/v1/keys            list (?offset=, ?include_disabled=true)   viewer
    POST   /api/v1/keys            create: the secret is in this answer only developer
    GET    /api/v1/keys/{hash}     one key                                   viewer
    PATCH  /api/v1/keys/{hash}     name, disabled, limit, limit_reset        developer
    DELETE /api/v1/keys/{hash}     delete                                    developer

A key's `hash` is the keyed hash Orca stores for it (64 hex digits): an identifier that
cannot be turned back into the key. Another workspace's hash answers like a missing one.
OpenRouter's single `limit` with its `limit_reset` is one of Orca's spend caps (lifetime,
daily, weekly, monthly); setting it replaces the key's caps with that one. Every answer,
errors included, is in OpenRouter's shape (`{"error": {"code", "message"}}`)."""

import re
import time
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from routing.wire import openrouter as wire

from . import openrouter_schema as schema
from . import services
from .management_auth import ManagementKeyOnly
from .models import ApiKey, Role
from .openrouter import CAP_RESETS, workspace_keys

HASH = re.compile(r"[0-9a-f]{64}")
PAGE = 100  # keys per page of the list, as OpenRouter pages it
NAME_MAX = ApiKey._meta.get_field("name").max_length
LIMIT_MAX = Decimal("99999999.999999")  # what the cap columns hold (14 digits, 6 decimals)
CAP_FIELDS = ("spend_limit_usd", "daily_limit_usd", "weekly_limit_usd", "monthly_limit_usd")
CREATE_FIELDS = frozenset(
    {"name", "limit", "limit_reset", "include_byok_in_limit", "expires_at", "workspace_id",
     "creator_user_id"}
)  # fmt: skip
DELETE_TRIES = 5
MAX_EXPIRY_YEAR = 9998  # psycopg reads no year past 9999: stay clear of its edge
UPDATE_FIELDS = frozenset({"name", "disabled", "limit", "limit_reset", "include_byok_in_limit"})


class BadInput(exceptions.ValidationError):
    """A 400 whose message names the field."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StillRecording(exceptions.APIException):
    status_code = 409
    default_detail = "the key's last calls are still being recorded; delete it again in a moment"


def _message(exc: exceptions.APIException) -> str:
    if isinstance(exc, BadInput):
        return exc.message
    detail: Any = exc.detail
    if isinstance(detail, dict):
        return "; ".join(f"{field}: {_flat(value)}" for field, value in detail.items())
    return _flat(detail)


def _flat(detail: Any) -> str:
    if isinstance(detail, list):
        return "; ".join(_flat(item) for item in detail)
    return str(detail)


class OpenRouterView(APIView):
    permission_classes = [ManagementKeyOnly]
    parser_classes = [JSONParser]
    read_role = Role.VIEWER
    write_role = Role.DEVELOPER

    def handle_exception(self, exc):
        response = super().handle_exception(exc)  # DRF's status and headers (401 challenge)
        if isinstance(exc, exceptions.APIException):
            response.data = {"error": {"code": response.status_code, "message": _message(exc)}}
        return response

    def body(self, request, allowed: frozenset[str]) -> dict:
        data = request.data
        if not isinstance(data, dict):
            raise BadInput("the body must be a JSON object")
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise BadInput(
                f"unknown field {unknown[0]!r}; this endpoint takes {', '.join(sorted(allowed))}"
            )
        return data

    def answer(self, key_hash: str, status: int = 200, **extra) -> Response:
        (figures,) = workspace_keys(self.workspace.id, key_hash=key_hash)
        return Response({"data": wire.key_object(figures), **extra}, status=status)


def _bool_query(request, name: str) -> bool:
    value = request.query_params.get(name)
    if value is None:
        return False
    if value.lower() not in ("true", "false"):
        raise BadInput(f"`{name}` must be true or false")
    return value.lower() == "true"


def _name(data: dict, *, required: bool) -> str | None:
    if "name" not in data:
        if required:
            raise BadInput("`name` is required")
        return None
    name = data["name"]
    if not isinstance(name, str) or not name.strip():
        raise BadInput("`name` must be a non-empty string")
    if len(name) > NAME_MAX:
        raise BadInput(f"`name` is longer than {NAME_MAX} characters")
    if "\x00" in name:
        raise BadInput("`name` contains a NUL character")
    return name.strip()


def _limit(data: dict) -> tuple[bool, str | None, Decimal | None]:
    """(whether the caps change, the reset, the cap in USD or None for no cap)."""
    if "limit" not in data and "limit_reset" not in data:
        return False, None, None
    reset = data.get("limit_reset")
    if reset is not None and reset not in wire.RESETS:
        raise BadInput(f"`limit_reset` must be one of {', '.join(wire.RESETS)} or null")
    limit = data.get("limit")
    if limit is None:
        if reset is not None:
            raise BadInput("`limit_reset` needs a `limit`")
        return True, None, None
    if isinstance(limit, bool) or not isinstance(limit, int | float):
        raise BadInput("`limit` must be a number of USD, or null for none")
    out_of_range = BadInput(f"`limit` must be a number of USD between 0 and {LIMIT_MAX}")
    try:
        amount = Decimal(str(limit))
        if not amount.is_finite() or amount < 0 or amount > LIMIT_MAX:
            raise out_of_range
        amount = amount.quantize(Decimal("0.000001"))
    except InvalidOperation:
        raise out_of_range from None
    return True, reset, amount


def _set_caps(key: ApiKey, reset: str | None, amount: Decimal | None) -> list[str]:
    for field, cap_reset in zip(CAP_FIELDS, CAP_RESETS, strict=True):
        setattr(key, field, amount if amount is not None and cap_reset == reset else None)
    return list(CAP_FIELDS)


def _bool(data: dict, name: str) -> bool | None:
    if name not in data:
        return None
    value = data[name]
    if not isinstance(value, bool):
        raise BadInput(f"`{name}` must be true or false")
    return value


def _expires_at(data: dict) -> datetime | None:
    value = data.get("expires_at")
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadInput("`expires_at` must be an ISO 8601 date and time, e.g. 2027-01-31T00:00:00Z")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(
            "`expires_at` must be an ISO 8601 date and time, e.g. 2027-01-31T00:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise BadInput("`expires_at` needs a time zone (e.g. Z for UTC)")
    try:
        # In UTC: PostgreSQL refuses offsets past 15:59 (which Python accepts), and a moment
        # past 9999 in UTC would be stored but could never be read back.
        moment = moment.astimezone(UTC)
    except OverflowError:
        moment = None
    if moment is None or moment.year > MAX_EXPIRY_YEAR:
        raise BadInput(f"`expires_at` must be before the year {MAX_EXPIRY_YEAR + 1} (UTC)")
    if moment <= timezone.now():
        raise BadInput("`expires_at` must be in the future")
    return moment


class KeyListView(OpenRouterView):
    @schema.list_keys
    def get(self, request):
        offset = request.query_params.get("offset", "0")
        if not offset.isdigit() or len(offset) > 9:
            raise BadInput("`offset` must be a whole number of keys to skip")
        start = int(offset)
        keys = workspace_keys(
            self.workspace.id, include_disabled=_bool_query(request, "include_disabled")
        )
        return Response({"data": [wire.key_object(k) for k in keys[start : start + PAGE]]})

    @schema.create_key
    def post(self, request):
        data = self.body(request, CREATE_FIELDS)
        name = _name(data, required=True)
        changes_caps, reset, amount = _limit(data)
        _bool(data, "include_byok_in_limit")  # every spend counts toward the limit in Orca
        expires_at = _expires_at(data)
        workspace_id = data.get("workspace_id")
        if workspace_id is not None and workspace_id != self.workspace.slug:
            raise BadInput(
                "`workspace_id` must be the management key's own workspace "
                f"({self.workspace.slug!r}) or left out"
            )
        if data.get("creator_user_id") is not None:
            raise BadInput("`creator_user_id` is not supported: keys are the workspace's")
        with transaction.atomic():
            key, raw = services.create_api_key(
                self.workspace, name=name or "", expires_at=expires_at
            )
            if changes_caps:
                key.save(update_fields=_set_caps(key, reset, amount))
        return self.answer(key.key_hash, status=201, key=raw)


class KeyDetailView(OpenRouterView):
    def initial(self, request, *args, **kwargs):
        """Find the key before anything else: a hash of another workspace is not found, by
        every method, as a missing one is."""
        super().initial(request, *args, **kwargs)
        key_hash = kwargs["key_hash"]
        if not HASH.fullmatch(key_hash):
            raise BadInput("a key's hash is 64 lower-case hexadecimal digits")
        self.key = ApiKey.objects.filter(workspace=self.workspace, key_hash=key_hash).first()
        if self.key is None:
            raise exceptions.NotFound("no API key with this hash in the workspace")

    @schema.get_key
    def get(self, request, key_hash: str):
        return self.answer(key_hash)

    @schema.update_key
    def patch(self, request, key_hash: str):
        data = self.body(request, UPDATE_FIELDS)
        key = self.key
        changed: list[str] = []
        name = _name(data, required=False)
        if name is not None:
            key.name = name
            changed.append("name")
        disabled = _bool(data, "disabled")
        if disabled is not None:
            if not disabled and key.revoked_at is not None:
                raise BadInput("this key was revoked; a revoked key cannot be enabled again")
            key.enabled = not disabled
            changed.append("enabled")
        changes_caps, reset, amount = _limit(data)
        if changes_caps:
            changed += _set_caps(key, reset, amount)
        _bool(data, "include_byok_in_limit")
        if changed:
            key.save(update_fields=changed)  # post_save: every gateway reloads the key
        return self.answer(key_hash)

    @schema.delete_key
    def delete(self, request, key_hash: str):
        # Its usage records stay in the workspace, without the key. A record the usage
        # writer commits while the deletion runs still names the key and fails the deletion
        # at commit (the foreign key is checked then): the next try unlinks it too.
        for attempt in range(DELETE_TRIES):
            try:
                with transaction.atomic():
                    ApiKey.objects.filter(pk=self.key.pk).delete()  # post_delete: caches drop it
                return Response({"deleted": True})
            except IntegrityError:
                if attempt + 1 < DELETE_TRIES:
                    time.sleep(0.2)
        raise StillRecording()
