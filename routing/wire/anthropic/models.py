"""`GET /v1/models` and `GET /v1/models/{id}` in Anthropic's shape, for Anthropic clients
(the anthropic SDK's `models.list()` / `models.retrieve()`, Claude Code).

A model object is `{type: "model", id, display_name, created_at (RFC 3339), max_input_tokens,
max_tokens, lifecycle}`; a list is `{data, has_more, first_id, last_id}`, paged by `limit`
(1..1000, 20 by default), `after_id` and `before_id` as Anthropic pages. Orca's list is in
id order, so a cursor need not be a listed id: the page starts right after (or ends right
before) where that id would sort.
"""

import time
from typing import Any

from ..canonical import InvalidRequest

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000


def _rfc3339(epoch_seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(max(epoch_seconds, 0)))


def model_object(
    *, public_id: str, created: int, context_length: int, max_output_tokens: int
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": "model",
        "id": public_id,
        "display_name": public_id,
        "created_at": _rfc3339(created),
        "lifecycle": "active",
    }
    if context_length:
        item["max_input_tokens"] = context_length
    if max_output_tokens:
        item["max_tokens"] = max_output_tokens
    return item


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise InvalidRequest(
            f"limit: Input should be an integer between 1 and {MAX_LIMIT}, got {raw!r}",
            param="limit",
        )
    return int(raw)


def model_list(
    items: list[dict[str, Any]],
    *,
    limit: str | None = None,
    after_id: str | None = None,
    before_id: str | None = None,
) -> dict[str, Any]:
    """One page of `items` (model objects in id order), as the query parameters ask."""
    size = _limit(limit)
    if after_id and before_id:
        raise InvalidRequest("after_id and before_id cannot be used together", param="before_id")
    if before_id:
        earlier = [item for item in items if item["id"] < before_id]
        page = earlier[-size:]
        has_more = len(earlier) > size
    else:
        later = [item for item in items if item["id"] > after_id] if after_id else items
        page = later[:size]
        has_more = len(later) > size
    return {
        "data": page,
        "has_more": has_more,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
    }
