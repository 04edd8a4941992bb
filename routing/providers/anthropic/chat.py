"""Anthropic's Messages API: x-api-key, anthropic-version, named SSE events."""

from collections.abc import Mapping

import orjson

from ...catalog.snapshot import ModelRoute
from ...wire import anthropic
from .. import http
from ..base import Timeouts, UpstreamResponse

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096  # Anthropic requires max_tokens; used when the model sets no limit


class AnthropicChat:
    native_surface = "messages"

    def native_body(self, body: dict, route: ModelRoute, *, stream: bool) -> dict:
        return {**body, "model": route.upstream_name}

    def from_canonical(self, request: dict, route: ModelRoute) -> dict:
        return anthropic.chat_to_anthropic_request(
            request,
            upstream_model=route.upstream_name,
            default_max_tokens=route.max_output_tokens or DEFAULT_MAX_TOKENS,
        )

    async def send(
        self,
        route: ModelRoute,
        body: dict,
        *,
        stream: bool,
        timeouts: Timeouts,
        path: str = "/messages",
        extra_headers: Mapping[str, str] | None = None,
    ) -> UpstreamResponse:
        headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if stream else "application/json",
            "anthropic-version": API_VERSION,
        }
        if route.provider.credential:
            headers["x-api-key"] = route.provider.credential
        url = f"{route.provider.base_url}{path}"
        return await http.post_json(url, body, headers, timeouts, extra_headers)

    def canonical_response(self, raw: bytes, route: ModelRoute) -> dict:
        return anthropic.anthropic_to_chat_response(orjson.loads(raw))

    def stream_decoder(self, route: ModelRoute) -> anthropic.AnthropicStreamDecoder:
        return anthropic.AnthropicStreamDecoder()
