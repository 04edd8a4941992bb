"""Gemini embeddings: always the batch form, POST {base}/models/{model}:batchEmbedContents."""

import orjson

from ...catalog.snapshot import ModelRoute
from ...wire import embeddings
from .. import http
from ..base import Timeouts, UpstreamResponse


class GeminiEmbeddings:
    native_surface = "embed_content"

    def native_body(self, body: dict, route: ModelRoute, *, stream: bool) -> dict:
        # An embedContent body becomes a one-entry batch: the upstream call is always batch.
        action = "batchEmbedContents" if "requests" in body else "embedContent"
        return embeddings.gemini_native_body(body, action, route.upstream_name)

    def from_canonical(self, request: dict, route: ModelRoute) -> dict:
        return embeddings.to_gemini_batch(request, route.upstream_name)

    async def send(
        self, route: ModelRoute, body: dict, *, stream: bool, timeouts: Timeouts
    ) -> UpstreamResponse:
        headers = {"Content-Type": "application/json"}
        if route.provider.credential:
            headers["x-goog-api-key"] = route.provider.credential
        url = f"{route.provider.base_url}/models/{route.upstream_name}:batchEmbedContents"
        return await http.post(url, orjson.dumps(body), headers, timeouts)

    def canonical_response(self, raw: bytes, route: ModelRoute) -> dict:
        # Gemini reports no usage: the answer carries none here, and the pipeline puts in
        # its estimate of the input, which is what is billed (marked as not reported).
        answer = embeddings.gemini_batch_response(orjson.loads(raw), route.upstream_name, 0)
        del answer["usage"]
        return answer
