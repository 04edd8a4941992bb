"""Anthropic's Messages API: x-api-key, anthropic-version, named SSE events."""

from collections.abc import Mapping

import orjson

from ...catalog.snapshot import ModelRoute
from ...wire import anthropic
from .. import http
from ..adapter import JsonPost
from ..base import Timeouts, UpstreamResponse

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096  # Anthropic requires max_tokens; used when the model sets no limit


class AnthropicChat(JsonPost):
    native_surface = "messages"

    def native_body(self, body: dict, route: ModelRoute, *, stream: bool) -> dict:
        return {**body, "model": route.upstream_name}

    def from_canonical(self, request: dict, route: ModelRoute) -> dict:
        return anthropic.chat_to_anthropic_request(
            request,
            upstream_model=route.upstream_name,
            default_max_tokens=route.max_output_tokens or DEFAULT_MAX_TOKENS,
            adaptive_thinking=anthropic.takes_adaptive_thinking(
                route.upstream_name, route.capabilities
            ),
        )

    def url(self, route: ModelRoute, stream: bool) -> str:
        return f"{route.provider.base_url}/messages"

    def headers(self, route: ModelRoute, stream: bool) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if stream else "application/json",
            "anthropic-version": API_VERSION,
        }
        if route.provider.credential:
            headers["x-api-key"] = route.provider.credential
        return headers

    async def count_tokens(
        self,
        route: ModelRoute,
        body: dict,
        timeouts: Timeouts,
        extra_headers: Mapping[str, str] | None = None,
    ) -> UpstreamResponse:
        """POST {base}/messages/count_tokens with the Messages call's headers."""
        url = f"{route.provider.base_url}/messages/count_tokens"
        headers = self.headers(route, False)
        return await http.post_json(url, body, headers, timeouts, extra_headers)

    def canonical_response(self, raw: bytes, route: ModelRoute) -> dict:
        return anthropic.anthropic_to_chat_response(orjson.loads(raw))

    def stream_decoder(self, route: ModelRoute) -> anthropic.AnthropicStreamDecoder:
        return anthropic.AnthropicStreamDecoder()
