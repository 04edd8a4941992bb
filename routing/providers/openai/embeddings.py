"""Embeddings from OpenAI and every OpenAI-compatible server: POST {base}/embeddings."""

import orjson

from ...catalog.snapshot import ModelRoute
from ...wire import embeddings
from .. import http
from ..adapter import JsonPost

ORCA_ONLY = ("task_type", "input_type")


class OpenAIEmbeddings(JsonPost):
    native_surface = "embeddings"

    def native_body(self, body: dict, route: ModelRoute, *, stream: bool) -> dict:
        # task_type / input_type are Orca's (and OpenRouter's) for Gemini: OpenAI refuses them.
        sent = {k: v for k, v in body.items() if k not in ORCA_ONLY}
        sent["model"] = route.upstream_name
        return sent

    def from_canonical(self, request: dict, route: ModelRoute) -> dict:
        return embeddings.to_openai_upstream(request, route.upstream_name)

    def url(self, route: ModelRoute, stream: bool) -> str:
        return f"{route.provider.base_url}/embeddings"

    def headers(self, route: ModelRoute, stream: bool) -> dict[str, str]:
        return http.bearer_headers(route.provider.credential, False)  # never a stream

    def canonical_response(self, raw: bytes, route: ModelRoute) -> dict:
        return embeddings.openai_upstream_response(orjson.loads(raw), route.upstream_name)
