"""Embeddings answered locally: a deterministic unit vector per input, from its hash, so
the same text always embeds the same way and a fresh install can try the endpoint."""

import hashlib
import math

import orjson

from ...catalog.snapshot import ModelRoute
from ...wire import embeddings
from ..adapter import LocalAnswer
from ..base import LocalResponse

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


def _answer(body: dict, route: ModelRoute) -> dict:
    size = body.get("dimensions") or DEFAULT_DIMENSIONS
    tokens = embeddings.estimate_input_tokens(body)
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": _vector(item, size)}
            for i, item in enumerate(body["input"])
        ],
        "model": route.upstream_name,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


class DemoEmbeddings(LocalAnswer):
    # No native surface: the answer is always rendered by Orca, so base64 and float come
    # out as each client asked.
    native_surface = ""

    def native_body(self, body: dict, route: ModelRoute, *, stream: bool) -> dict:
        return embeddings.validate_embeddings_request(body)  # string inputs become lists

    def from_canonical(self, request: dict, route: ModelRoute) -> dict:
        return request

    def answer(self, route: ModelRoute, body: dict) -> LocalResponse:
        return LocalResponse(orjson.dumps(_answer(body, route)))

    def canonical_response(self, raw: bytes, route: ModelRoute) -> dict:
        return orjson.loads(raw)
