"""The OpenAI error envelope, used for gateway errors on OpenAI-shaped endpoints."""

from typing import Any

import orjson

GATEWAY_ERROR_TYPE = "orcarouter_api_error"


def error_body(
    message: str,
    *,
    code: str | None,
    param: str | None = None,
    type_: str = GATEWAY_ERROR_TYPE,
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def error_bytes(
    message: str, *, code: str | None, param: str | None = None, type_: str = GATEWAY_ERROR_TYPE
) -> bytes:
    return orjson.dumps(error_body(message, code=code, param=param, type_=type_))


def parse_upstream_error(raw: bytes) -> tuple[str, str | None, str | None, str | None]:
    """(message, type, param, code) from an upstream error body, whatever its shape."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        text = raw.decode("utf-8", "replace").strip()
        return (text[:500] or "upstream returned an error with no body", None, None, None)
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        # OpenAI: type/param/code; Anthropic: type; Gemini: status (and a numeric code).
        code = error.get("code")
        return (
            str(error.get("message") or "upstream error"),
            _str_or_none(error.get("type") or error.get("status")),
            _str_or_none(error.get("param")),
            code if isinstance(code, str) else None,
        )
    if isinstance(error, str):
        return error, None, None, None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return data["message"], None, None, None
    return "upstream error", None, None, None


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
