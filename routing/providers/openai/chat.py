"""OpenAI Chat Completions: POST {base}/chat/completions, Bearer auth, data-only SSE."""

import orjson

from ...catalog.snapshot import ModelRoute
from ...wire import canonical, openai_chat
from ..adapter import JsonPost


class OpenAIChat(JsonPost):
    native_surface = "chat"

    def native_body(self, body: dict, route: ModelRoute, *, stream: bool) -> dict:
        body = {**body, "model": route.upstream_name}
        return openai_chat.with_stream_usage(body) if stream else body

    def from_canonical(self, request: dict, route: ModelRoute) -> dict:
        body = canonical.strip_extensions(request)
        body["model"] = route.upstream_name
        if "reasoning_effort" in body and "max_tokens" in body:
            # A translated call that reasons: OpenAI's reasoning models refuse max_tokens
            # and take the same limit as max_completion_tokens.
            limit = body.pop("max_tokens")
            body.setdefault("max_completion_tokens", limit)
        return openai_chat.with_stream_usage(body) if body.get("stream") else body

    def url(self, route: ModelRoute, stream: bool) -> str:
        return f"{route.provider.base_url}/chat/completions"

    def canonical_response(self, raw: bytes, route: ModelRoute) -> dict:
        data = orjson.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not a chat completion object")
        return openai_chat.count_searches(data)  # OpenAI reports none; a cited answer is one

    def stream_decoder(self, route: ModelRoute) -> openai_chat.OpenAIStreamDecoder:
        return openai_chat.OpenAIStreamDecoder()
