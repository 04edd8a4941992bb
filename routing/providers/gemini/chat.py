"""Gemini generateContent / streamGenerateContent?alt=sse; the model travels in the URL."""

from collections.abc import Mapping

import orjson

from ...catalog.snapshot import ModelRoute
from ...wire import gemini
from .. import http
from ..base import Timeouts, UpstreamResponse


def request_headers(route: ModelRoute) -> dict[str, str]:
    """Every Gemini call's headers: JSON, and the provider's key the way Google takes it."""
    headers = {"Content-Type": "application/json"}
    if route.provider.credential:
        headers["x-goog-api-key"] = route.provider.credential
    return headers


class GeminiChat:
    native_surface = "generate"

    def native_body(self, body: dict, route: ModelRoute, *, stream: bool) -> dict:
        return body  # the model travels in the URL

    def from_canonical(self, request: dict, route: ModelRoute) -> dict:
        return gemini.chat_to_gemini_request(request)

    async def send(
        self,
        route: ModelRoute,
        body: dict,
        *,
        stream: bool,
        timeouts: Timeouts,
        extra_headers: Mapping[str, str] | None = None,
    ) -> UpstreamResponse:
        action = "streamGenerateContent?alt=sse" if stream else "generateContent"
        url = f"{route.provider.base_url}/models/{route.upstream_name}:{action}"
        return await http.post_json(url, body, request_headers(route), timeouts, extra_headers)

    def canonical_response(self, raw: bytes, route: ModelRoute) -> dict:
        return gemini.gemini_to_chat_response(orjson.loads(raw), model=route.upstream_name)

    def stream_decoder(self, route: ModelRoute) -> gemini.GeminiStreamDecoder:
        return gemini.GeminiStreamDecoder(model=route.upstream_name)
