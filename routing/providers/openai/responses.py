"""OpenAI's Responses API: POST {base}/responses, Bearer auth, named SSE events.

Responses clients reach it unchanged (pass-through: only the model is swapped, so `store`,
`include`, the upstream's own `previous_response_id`, reasoning summaries, encrypted
reasoning and every hosted tool arrive as sent). Chat-family clients reach it translated
when the model is Responses-only (routing.proxy.operations.chat picks this adapter).
"""

from collections.abc import Mapping

import orjson

from ...catalog.snapshot import ModelRoute
from ...wire import responses
from .. import http
from ..base import Timeouts, UpstreamResponse


class OpenAIResponses:
    native_surface = "responses"

    def native_body(self, body: dict, route: ModelRoute, *, stream: bool) -> dict:
        return {**body, "model": route.upstream_name}

    def from_canonical(self, request: dict, route: ModelRoute) -> dict:
        return responses.chat_to_responses_request(request, route.upstream_name)

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
        url = f"{route.provider.base_url}/responses"
        return await http.post_json(url, body, headers, timeouts, extra_headers)

    def canonical_response(self, raw: bytes, route: ModelRoute) -> dict:
        return responses.responses_to_chat_response(orjson.loads(raw), route.upstream_name)

    def stream_decoder(self, route: ModelRoute) -> responses.ResponsesStreamDecoder:
        return responses.ResponsesStreamDecoder(route.upstream_name)
