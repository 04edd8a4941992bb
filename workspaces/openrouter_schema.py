"""The OpenAPI description of /api/v1/keys (workspaces/openrouter_api.py): OpenRouter's
shapes, as raw schemas, for drf-spectacular (and schemathesis, which checks the answers
against them)."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema

from routing.wire.openrouter import RESETS

TAGS = ["openrouter"]


def _nullable(schema: dict) -> dict:
    return {**schema, "nullable": True}


_USD = {"type": "number"}
_TIME = {"type": "string", "format": "date-time"}
_RESET = {"type": "string", "enum": list(RESETS), "nullable": True}

KEY = {
    "type": "object",
    "properties": {
        "hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "name": {"type": "string"},
        "label": {"type": "string", "description": "the key's display prefix"},
        "disabled": {"type": "boolean"},
        "limit": _nullable(_USD),
        "limit_remaining": _nullable(_USD),
        "limit_reset": _RESET,
        "include_byok_in_limit": {"type": "boolean"},
        **{
            f"{kind}{window}": _USD
            for kind in ("usage", "byok_usage")
            for window in ("", "_daily", "_weekly", "_monthly")
        },
        "created_at": _TIME,
        "updated_at": _nullable(_TIME),
        "last_used_at": _nullable(_TIME),
        "expires_at": _nullable(_TIME),
        "workspace_id": {"type": "string"},
        "creator_user_id": {"type": "string", "nullable": True},
        "external_user": {"type": "string", "nullable": True},
    },
}
KEY["required"] = list(KEY["properties"])

ERROR = {
    "type": "object",
    "description": "OpenRouter's error envelope: the HTTP status as `code`.",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "integer"},
                "message": {"type": "string"},
                "metadata": {"type": "object", "nullable": True},
            },
            "required": ["code", "message"],
        }
    },
    "required": ["error"],
}

_LIMIT = {
    "limit": {**_nullable(_USD), "minimum": 0, "description": "USD; null: no cap"},
    "limit_reset": _RESET,
    "include_byok_in_limit": {"type": "boolean"},
}
CREATE = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        **_LIMIT,
        "expires_at": _nullable(_TIME),
        "workspace_id": {"type": "string", "nullable": True},
        "creator_user_id": {"type": "string", "nullable": True},
    },
    "required": ["name"],
    "additionalProperties": False,
}
UPDATE = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "disabled": {"type": "boolean"},
        **_LIMIT,
    },
    "additionalProperties": False,
}


def _errors(*codes: int) -> dict:
    return {code: OpenApiResponse(response=ERROR, description="error") for code in codes}


def _answer(schema: dict, description: str) -> OpenApiResponse:
    return OpenApiResponse(response=schema, description=description)


ONE = {"type": "object", "properties": {"data": KEY}, "required": ["data"]}

list_keys = extend_schema(
    tags=TAGS,
    operation_id="openrouter_keys_list",
    parameters=[
        OpenApiParameter("offset", int, description="keys to skip (pages of 100)"),
        OpenApiParameter("include_disabled", bool, description="list disabled keys too"),
    ],
    responses={
        200: _answer(
            {
                "type": "object",
                "properties": {"data": {"type": "array", "items": KEY}},
                "required": ["data"],
            },
            "the workspace's keys, newest first",
        ),
        **_errors(400, 401, 403, 406),
    },
)
create_key = extend_schema(
    tags=TAGS,
    operation_id="openrouter_keys_create",
    request={"application/json": CREATE},
    responses={
        201: _answer(
            {
                "type": "object",
                "properties": {"data": KEY, "key": {"type": "string"}},
                "required": ["data", "key"],
            },
            "the key, and its secret (`key`), shown this once",
        ),
        **_errors(400, 401, 403, 406, 415),
    },
)
get_key = extend_schema(
    tags=TAGS,
    operation_id="openrouter_keys_retrieve",
    responses={200: _answer(ONE, "the key"), **_errors(400, 401, 403, 404, 406)},
)
update_key = extend_schema(
    tags=TAGS,
    operation_id="openrouter_keys_update",
    request={"application/json": UPDATE},
    responses={200: _answer(ONE, "the key"), **_errors(400, 401, 403, 404, 406, 415)},
)
delete_key = extend_schema(
    tags=TAGS,
    operation_id="openrouter_keys_destroy",
    responses={
        200: _answer(
            {"type": "object", "properties": {"deleted": {"type": "boolean"}}},
            "deleted",
        ),
        **_errors(400, 401, 403, 404, 406, 409),
    },
)
