"""Gemini generateContent / streamGenerateContent?alt=sse; the model travels in the URL."""

import orjson

from ...catalog.snapshot import ModelRoute
from ...wire import gemini
from ..adapter import JsonPost


def request_headers(route: ModelRoute) -> dict[str, str]:
    """Every Gemini call's headers: JSON, and the provider's key the way Google takes it."""
    headers = {"Content-Type": "application/json"}
    if route.provider.credential:
        headers["x-goog-api-key"] = route.provider.credential
    return headers


class GeminiChat(JsonPost):
    native_surface = "generate"

    def native_body(self, body: dict, route: ModelRoute, *, stream: bool) -> dict:
        return body  # the model travels in the URL

    def from_canonical(self, request: dict, route: ModelRoute) -> dict:
        return gemini.chat_to_gemini_request(request)

    def url(self, route: ModelRoute, stream: bool) -> str:
        action = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"{route.provider.base_url}/models/{route.upstream_name}:{action}"

    def headers(self, route: ModelRoute, stream: bool) -> dict[str, str]:
        return request_headers(route)

    def canonical_response(self, raw: bytes, route: ModelRoute) -> dict:
        return gemini.gemini_to_chat_response(orjson.loads(raw), model=route.upstream_name)

    def stream_decoder(self, route: ModelRoute) -> gemini.GeminiStreamDecoder:
        return gemini.GeminiStreamDecoder(model=route.upstream_name)
