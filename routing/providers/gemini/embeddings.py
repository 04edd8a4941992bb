"""Gemini embeddings: always the batch form, POST {base}/models/{model}:batchEmbedContents.

Gemini takes at most 100 entries per batch while an OpenAI client may send 2,048 inputs,
so a larger translated request goes up as several batches at once and is answered as one.
"""

import asyncio
from collections.abc import Mapping

import orjson

from ...catalog.snapshot import ModelRoute
from ...wire import embeddings
from .. import http
from ..base import LocalResponse, Timeouts, UpstreamResponse
from .chat import request_headers


def merge_batches(parts: list[bytes]) -> bytes:
    """Several batch replies as one, in order; the first malformed part stands for all
    (the caller reports it as the upstream's malformed reply)."""
    vectors: list = []
    for raw in parts:
        try:
            part = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw
        if not isinstance(part, dict) or not isinstance(part.get("embeddings"), list):
            return raw
        vectors.extend(part["embeddings"])
    return orjson.dumps({"embeddings": vectors})


def _close_all(tasks: list, keep: UpstreamResponse | None) -> None:
    """Close every part's response but `keep` (what the caller answers with)."""
    for task in tasks:
        answered = task.done() and not task.cancelled() and task.exception() is None
        if answered and task.result() is not keep:
            task.result().close()


class GeminiEmbeddings:
    native_surface = "embed_content"

    def native_body(self, body: dict, route: ModelRoute, *, stream: bool) -> dict:
        # An embedContent body becomes a one-entry batch: the upstream call is always batch.
        action = "batchEmbedContents" if "requests" in body else "embedContent"
        return embeddings.gemini_native_body(body, action, route.upstream_name)

    def from_canonical(self, request: dict, route: ModelRoute) -> dict:
        return embeddings.to_gemini_batch(request, route.upstream_name)

    async def send(
        self,
        route: ModelRoute,
        body: dict,
        *,
        stream: bool,
        timeouts: Timeouts,
        extra_headers: Mapping[str, str] | None = None,
    ) -> UpstreamResponse:
        headers = request_headers(route)
        url = f"{route.provider.base_url}/models/{route.upstream_name}:batchEmbedContents"
        entries = body["requests"]
        size = embeddings.GEMINI_BATCH_LIMIT
        if extra_headers:
            headers = {**extra_headers, **headers}  # never over Orca's own
        if len(entries) <= size:
            return await http.post_json(url, body, headers, timeouts)
        bodies = [
            orjson.dumps({**body, "requests": entries[i : i + size]})
            for i in range(0, len(entries), size)
        ]
        tasks = [asyncio.ensure_future(http.post(url, part, headers, timeouts)) for part in bodies]
        try:
            await asyncio.wait(tasks)
        except BaseException:  # the client left: no part may keep its connection busy
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            _close_all(tasks, keep=None)
            raise
        failure = next((t.exception() for t in tasks if t.exception() is not None), None)
        refused = next(
            (t.result() for t in tasks if t.exception() is None and t.result().status != 200), None
        )
        if failure is not None or refused is not None:
            # The first failure stands for the whole request; the other replies are dropped.
            _close_all(tasks, keep=refused)
            if refused is not None:
                return refused
            assert failure is not None
            raise failure
        answers = [t.result() for t in tasks]
        try:
            parts = [await answer.read() for answer in answers]
        finally:
            for answer in answers:
                answer.close()
        return LocalResponse(merge_batches(parts), answers[0].headers)

    def canonical_response(self, raw: bytes, route: ModelRoute) -> dict:
        # Gemini reports no usage: the answer carries none here, and the pipeline puts in
        # its estimate of the input, which is what is billed (marked as not reported).
        answer = embeddings.gemini_batch_response(orjson.loads(raw), route.upstream_name, 0)
        del answer["usage"]
        return answer
