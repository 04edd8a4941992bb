"""`models.list` and `models.get` in Gemini's shape, for google-genai clients
(`GET /v1beta/models`, `GET /v1beta/models/{id}`, and the same under `/v1/`).

A model is `{name: "models/<id>", displayName, inputTokenLimit, outputTokenLimit,
supportedGenerationMethods, thinking}`; a list is `{models, nextPageToken}` (the token
absent on the last page), paged by `pageSize` (50 by default; larger than 1000 counts as
1000, as Google does) and the `pageToken` of the page before. The token is opaque to the
client: the last id of the page before, base64url-encoded (Orca lists in id order).
"""

import base64
import binascii
from typing import Any

from ..canonical import InvalidRequest

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000

# Orca's endpoint types -> the Gemini methods a model of that type answers through Orca.
_METHODS = {
    "chat": ("generateContent", "streamGenerateContent", "countTokens"),
    "embeddings": ("embedContent", "batchEmbedContents"),
}


def model_object(
    *,
    public_id: str,
    endpoint_types: tuple[str, ...],
    capabilities: tuple[str, ...],
    context_length: int,
    max_output_tokens: int,
) -> dict[str, Any]:
    methods = [method for kind in endpoint_types for method in _METHODS.get(kind, ())]
    item: dict[str, Any] = {"name": f"models/{public_id}", "displayName": public_id}
    if context_length:
        item["inputTokenLimit"] = context_length
    if max_output_tokens:
        item["outputTokenLimit"] = max_output_tokens
    item["supportedGenerationMethods"] = methods
    if "chat" in endpoint_types:
        item["thinking"] = "reasoning" in capabilities
    return item


def _page_size(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    if not raw.isdigit():
        raise InvalidRequest(
            f"Invalid value at 'page_size' (TYPE_INT32), {raw!r}", param="pageSize"
        )
    size = int(raw)
    return min(size, MAX_PAGE_SIZE) if size else DEFAULT_PAGE_SIZE  # 0: unspecified


def _page_token(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def _after(token: str) -> str:
    try:
        padded = token + "=" * (-len(token) % 4)
        after = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        after = ""
    if not after:
        raise InvalidRequest("page_token is not valid", param="pageToken")
    return after


def model_list(
    items: list[dict[str, Any]], *, page_size: str | None = None, page_token: str | None = None
) -> dict[str, Any]:
    """One page of `items` (model objects in id order), as the query parameters ask."""
    size = _page_size(page_size)
    if page_token:
        after = "models/" + _after(page_token)
        items = [item for item in items if item["name"] > after]
    page = items[:size]
    answer: dict[str, Any] = {"models": page}
    if len(items) > size:
        answer["nextPageToken"] = _page_token(page[-1]["name"].removeprefix("models/"))
    return answer
