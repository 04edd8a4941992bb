"""Hooks of the management API's OpenAPI schema (drf-spectacular, settings.SPECTACULAR_SETTINGS).

The views' own annotations describe their successes; every operation can also fail in the
same few ways (DRF's error bodies), which `add_error_responses` states once for all."""

from typing import Any

from django.http import HttpResponse, JsonResponse
from django.views.defaults import page_not_found

SCHEMA_PATHS = ("/api/schema/", "/api/docs/")

ERROR = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
# DRF's 400: field name (or non_field_errors / detail) -> messages.
INVALID = {
    "type": "object",
    "additionalProperties": {},
    "description": "The fields (or `detail`) that were refused, each with its messages.",
}
_DESCRIPTIONS = {
    "400": "Invalid input: the body, a parameter or the URL, named in the answer.",
    "401": "No credentials, an invalid or revoked management key, or a relay API key.",
    "403": "The caller's role does not allow this.",
    "404": "No such workspace or object (another workspace's look the same).",
    "409": "Conflicts with the current state (e.g. the last owner, a guardrail keys use, "
    "a prompt name taken while restoring).",
}
_WRITES = {"post", "put", "patch", "delete"}


def management_api_only(endpoints: list, **_kwargs) -> list:
    """The schema and docs views are not part of the API they describe."""
    return [endpoint for endpoint in endpoints if endpoint[0] not in SCHEMA_PATHS]


def _error(code: str) -> dict:
    name = "ValidationError" if code == "400" else "Error"
    schema = {"$ref": f"#/components/schemas/{name}"}
    return {"description": _DESCRIPTIONS[code], "content": {"application/json": {"schema": schema}}}


def _codes(path: str, method: str, operation: dict) -> list[str]:
    # 400 everywhere: a URL with a NUL or bytes that are not UTF-8 is refused before any view.
    codes = ["400", "401", "403"]
    if "{" in path:
        codes.append("404")
    if method in _WRITES and any(
        part in path for part in ("/members/", "/guardrails/", "/prompts/")
    ):
        codes.append("409")
    return codes


def add_error_responses(result: dict, **_kwargs) -> dict:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", ERROR)
    schemas.setdefault("ValidationError", INVALID)
    paths: dict[str, Any] = result.get("paths", {})
    for path, operations in paths.items():
        for method, operation in operations.items():
            if method not in _WRITES and method != "get":
                continue
            responses = operation.setdefault("responses", {})
            for code in _codes(path, method, operation):
                responses.setdefault(code, _error(code))
    return result


def not_found(request, exception) -> HttpResponse:
    """handler404: JSON under /api/ (what the schema documents), the usual page elsewhere."""
    if request.path.startswith("/api/v1/"):  # OpenRouter's base URL, and its error envelope
        return JsonResponse({"error": {"code": 404, "message": "Not Found"}}, status=404)
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)
