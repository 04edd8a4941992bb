"""OpenAI's Responses API: POST {base}/responses, Bearer auth, named SSE events.

Responses clients reach it unchanged (pass-through: only the model is swapped, so `store`,
`include`, the upstream's own `previous_response_id`, reasoning summaries, encrypted
reasoning and every hosted tool arrive as sent). Chat-family clients reach it translated
when the model is Responses-only (routing.proxy.operations.chat picks this adapter).
"""

import orjson

from ...catalog.snapshot import ModelRoute
from ...wire import responses
from ..adapter import JsonPost


class OpenAIResponses(JsonPost):
    native_surface = "responses"

    def native_body(self, body: dict, route: ModelRoute, *, stream: bool) -> dict:
        return {**body, "model": route.upstream_name}

    def from_canonical(self, request: dict, route: ModelRoute) -> dict:
        return responses.chat_to_responses_request(request, route.upstream_name)

    def url(self, route: ModelRoute, stream: bool) -> str:
        return f"{route.provider.base_url}/responses"

    def canonical_response(self, raw: bytes, route: ModelRoute) -> dict:
        return responses.responses_to_chat_response(orjson.loads(raw), route.upstream_name)

    def stream_decoder(self, route: ModelRoute) -> responses.ResponsesStreamDecoder:
        return responses.ResponsesStreamDecoder(route.upstream_name)
