"""Embeddings from OpenAI and every OpenAI-compatible server: POST {base}/embeddings."""

from collections.abc import Mapping

import orjson

from ...catalog.snapshot import ModelRoute
from ...wire import embeddings
from .. import http
from ..base import Timeouts, UpstreamResponse

ORCA_ONLY = ("task_type", "input_type")


class OpenAIEmbeddings:
    native_surface = "embeddings"

    def native_body(self, body: dict, route: ModelRoute, *, stream: bool) -> dict:
        # task_type / input_type are Orca's (and OpenRouter's) for Gemini: OpenAI refuses them.
        sent = {k: v for k, v in body.items() if k not in ORCA_ONLY}
        sent["model"] = route.upstream_name
        return sent

    def from_canonical(self, request: dict, route: ModelRoute) -> dict:
        return embeddings.to_openai_upstream(request, route.upstream_name)

    async def send(
        self,
        route: ModelRoute,
        body: dict,
        *,
        stream: bool,
        timeouts: Timeouts,
        extra_headers: Mapping[str, str] | None = None,
    ) -> UpstreamResponse:
        headers = http.bearer_headers(route.provider.credential, False)
        url = f"{route.provider.base_url}/embeddings"
        return await http.post_json(url, body, headers, timeouts, extra_headers)

    def canonical_response(self, raw: bytes, route: ModelRoute) -> dict:
        return embeddings.openai_upstream_response(orjson.loads(raw), route.upstream_name)
