"""The embeddings family's dialects: OpenAI `/v1/embeddings` and Gemini `batchEmbedContents`
/ `embedContent`. Their canonical form is the OpenAI request with `input` as a list."""

from typing import Any

import orjson

from ...wire import embeddings
from ..operations import EMBEDDINGS
from ..request import Request
from .base import ClientCall, GoogleSurface, Surface


class EmbeddingsSurface(Surface):
    name = "embeddings"
    operation = EMBEDDINGS

    def validate(self, body: Any, request: Request) -> ClientCall:
        canonical = embeddings.validate_embeddings_request(body)
        return ClientCall(canonical["model"], False, encoding_format=canonical["encoding_format"])

    def to_canonical(self, body: dict, call: ClientCall) -> dict:
        return embeddings.validate_embeddings_request(body)

    def render_completion(self, completion: dict, call: ClientCall) -> bytes:
        return orjson.dumps(embeddings.render_openai_embeddings(completion, call.encoding_format))


class EmbedContentSurface(GoogleSurface):
    name = "embed_content"
    operation = EMBEDDINGS

    def validate(self, body: Any, request: Request) -> ClientCall:
        action, model = request.path_param("action"), request.path_param("model")
        embeddings.validate_gemini_embed_request(body, action, model)
        return ClientCall(model, False, action=action)

    def to_canonical(self, body: dict, call: ClientCall) -> dict:
        return embeddings.validate_gemini_embed_request(body, call.action, call.model)

    def render_completion(self, completion: dict, call: ClientCall) -> bytes:
        return orjson.dumps(embeddings.render_gemini_embed_response(completion, call.action))

    def native_answer(self, raw: bytes, call: ClientCall) -> bytes:
        # A Gemini upstream is always asked in the batch form; embedContent has one entry.
        if call.action == "batchEmbedContents":
            return raw
        batch = orjson.loads(raw)
        return orjson.dumps({"embedding": batch["embeddings"][0]})


EMBEDDINGS_SURFACE = EmbeddingsSurface()
EMBED_CONTENT = EmbedContentSurface()
