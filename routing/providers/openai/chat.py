"""OpenAI Chat Completions: POST {base}/chat/completions, Bearer auth, data-only SSE."""

from collections.abc import Mapping

import orjson

from ...catalog.snapshot import ModelRoute
from ...wire import canonical, openai_chat
from .. import http
from ..base import Timeouts, UpstreamResponse


class OpenAIChat:
    native_surface = "chat"

    def native_body(self, body: dict, route: ModelRoute, *, stream: bool) -> dict:
        body = {**body, "model": route.upstream_name}
        return openai_chat.with_stream_usage(body) if stream else body

    def from_canonical(self, request: dict, route: ModelRoute) -> dict:
        body = canonical.strip_extensions(request)
        body["model"] = route.upstream_name
        return openai_chat.with_stream_usage(body) if body.get("stream") else body

    async def send(
        self,
        route: ModelRoute,
        body: dict,
        *,
        stream: bool,
        timeouts: Timeouts,
        extra_headers: Mapping[str, str] | None = None,
    ) -> UpstreamResponse:
        headers = http.bearer_headers(route.provider.credential, stream)
        url = f"{route.provider.base_url}/chat/completions"
        return await http.post_json(url, body, headers, timeouts, extra_headers)

    def canonical_response(self, raw: bytes, route: ModelRoute) -> dict:
        data = orjson.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not a chat completion object")
        return data

    def stream_decoder(self, route: ModelRoute) -> openai_chat.OpenAIStreamDecoder:
        return openai_chat.OpenAIStreamDecoder()
