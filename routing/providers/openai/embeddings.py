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
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if route.provider.credential:
            headers["Authorization"] = f"Bearer {route.provider.credential}"
        url = f"{route.provider.base_url}/embeddings"
        if extra_headers:
            headers = {**extra_headers, **headers}  # never over Orca's own
        return await http.post(url, orjson.dumps(body), headers, timeouts)

    def canonical_response(self, raw: bytes, route: ModelRoute) -> dict:
        return embeddings.openai_upstream_response(orjson.loads(raw), route.upstream_name)
