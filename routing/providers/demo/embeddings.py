"""Embeddings answered locally: a deterministic unit vector per input, from its hash, so
the same text always embeds the same way and a fresh install can try the endpoint."""

import hashlib
import math
from collections.abc import AsyncIterator

import orjson

from ...catalog.snapshot import ModelRoute
from ...wire import embeddings
from ..base import Timeouts

DEFAULT_DIMENSIONS = 256


def _vector(item: str | list[int], size: int) -> list[float]:
    seed = item.encode() if isinstance(item, str) else orjson.dumps(item)
    values: list[float] = []
    counter = 0
    while len(values) < size:
        block = hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
        values.extend((byte - 127.5) / 127.5 for byte in block)
        counter += 1
    values = values[:size]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]


class DemoEmbeddingsResponse:
    status = 200
    headers = {"content-type": "application/json"}

    def __init__(self, body: dict, route: ModelRoute) -> None:
        size = body.get("dimensions") or DEFAULT_DIMENSIONS
        self._answer = {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": _vector(item, size)}
                for i, item in enumerate(body["input"])
            ],
            "model": route.upstream_name,
            "usage": {
                "prompt_tokens": (tokens := embeddings.estimate_input_tokens(body)),
                "total_tokens": tokens,
            },
        }

    async def chunks(self) -> AsyncIterator[bytes]:
        yield await self.read()

    async def read(self) -> bytes:
        return orjson.dumps(self._answer)

    def close(self) -> None:
        pass

    def release(self) -> None:
        pass


class DemoEmbeddings:
    # No native surface: the answer is always rendered by Orca, so base64 and float come
    # out as each client asked.
    native_surface = ""

    def native_body(self, body: dict, route: ModelRoute, *, stream: bool) -> dict:
        return embeddings.validate_embeddings_request(body)  # string inputs become lists

    def from_canonical(self, request: dict, route: ModelRoute) -> dict:
        return request

    async def send(
        self, route: ModelRoute, body: dict, *, stream: bool, timeouts: Timeouts
    ) -> DemoEmbeddingsResponse:
        return DemoEmbeddingsResponse(body, route)

    def canonical_response(self, raw: bytes, route: ModelRoute) -> dict:
        return orjson.loads(raw)
