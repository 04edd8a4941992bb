"""Embeddings: the OpenAI `/v1/embeddings` body and Gemini `embedContent` /
`batchEmbedContents`, to and from one canonical form. Pure: no Django, no I/O.

The canonical request is the validated OpenAI body with `input` always a list (of strings, or
of token arrays), `encoding_format` always set, and Orca's `task_type` (also read from
OpenRouter's `input_type`). The canonical response is the OpenAI response with float vectors:
upstreams are always asked for floats and the gateway renders base64 itself, so the client
gets the format it asked for whichever upstream answered.
"""

import base64
import binascii
import math
import sys
from array import array
from typing import Any

from . import tokens
from .common import is_int, is_number
from .errors import InvalidRequest

__all__ = [
    "ENCODING_FORMATS",
    "GEMINI_BATCH_LIMIT",
    "MAX_INPUTS",
    "TASK_TYPES",
    "decode_base64_vector",
    "encode_base64_vector",
    "estimate_input_tokens",
    "gemini_batch_response",
    "gemini_native_body",
    "normalise_task_type",
    "openai_upstream_response",
    "render_gemini_embed_response",
    "render_openai_embeddings",
    "to_gemini_batch",
    "to_openai_upstream",
    "validate_embeddings_request",
    "validate_gemini_embed_request",
]

MAX_INPUTS = 2048  # OpenAI's limit on the items of `input`
# No embedding model has more dimensions (text-embedding-3-large and gemini-embedding-001
# have 3,072); the bound keeps one request from asking for gigabytes of vectors.
MAX_DIMENSIONS = 65_536
GEMINI_BATCH_LIMIT = 100  # "at most 100 requests can be in one batch" (the Gemini API)
ENCODING_FORMATS = ("float", "base64")
TASK_TYPES = frozenset(
    {
        "RETRIEVAL_QUERY",
        "RETRIEVAL_DOCUMENT",
        "SEMANTIC_SIMILARITY",
        "CLASSIFICATION",
        "CLUSTERING",
        "CODE_RETRIEVAL_QUERY",
        "QUESTION_ANSWERING",
        "FACT_VERIFICATION",
    }
)
# Short names other APIs use for the two retrieval sides (Cohere-style search_* included).
_TASK_ALIASES = {
    "QUERY": "RETRIEVAL_QUERY",
    "SEARCH_QUERY": "RETRIEVAL_QUERY",
    "DOCUMENT": "RETRIEVAL_DOCUMENT",
    "PASSAGE": "RETRIEVAL_DOCUMENT",
    "SEARCH_DOCUMENT": "RETRIEVAL_DOCUMENT",
}
_UNSPECIFIED_TASK = "TASK_TYPE_UNSPECIFIED"  # Gemini's enum zero: the same as none
_GEMINI_ACTIONS = ("batchEmbedContents", "embedContent")
# Parts of one Gemini content are embedded as one text; a newline keeps words apart.
_PART_SEPARATOR = "\n"
_BIG_ENDIAN = sys.byteorder == "big"


# --------------------------------------------------------------------------------------------
# small helpers


def _missing(param: str) -> InvalidRequest:
    return InvalidRequest(f"`{param}` is required", param=param, code="missing_required_parameter")


def _wrong_type(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param, code="invalid_type")


def _positive_int(value: Any, param: str) -> int:
    if not is_int(value):
        raise _wrong_type(f"`{param}` must be an integer", param)
    if value < 1:
        raise InvalidRequest(f"`{param}` must be at least 1, got {value}", param=param)
    if value > MAX_DIMENSIONS:
        raise InvalidRequest(
            f"`{param}` must be at most {MAX_DIMENSIONS}, got {value}", param=param
        )
    return int(value)


def normalise_task_type(value: Any, param: str) -> str | None:
    """A Gemini taskType name from any accepted spelling (case-insensitive, aliases);
    None for Gemini's TASK_TYPE_UNSPECIFIED. Raises InvalidRequest naming `param`."""
    if not isinstance(value, str):
        raise _wrong_type(f"`{param}` must be a string", param)
    name = value.strip().upper().replace("-", "_")
    name = _TASK_ALIASES.get(name, name)
    if name == _UNSPECIFIED_TASK:
        return None
    if name not in TASK_TYPES:
        raise InvalidRequest(
            f"`{param}` must be one of {sorted(TASK_TYPES)} (or query, document, passage), "
            f"got {value!r}",
            param=param,
        )
    return name


def _model_resource(upstream_model: str) -> str:
    """The `models/<id>` resource name Gemini wants inside a batch entry."""
    if upstream_model.startswith(("models/", "tunedModels/")):
        return upstream_model
    return f"models/{upstream_model}"


def encode_base64_vector(values: list[float]) -> str:
    """base64 of the vector as little-endian float32, as OpenAI sends `encoding_format: base64`."""
    packed = array("f", values)
    if _BIG_ENDIAN:  # array uses the host's byte order; the wire is little-endian
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")


def decode_base64_vector(text: str) -> list[float]:
    """The inverse of encode_base64_vector; ValueError when it is not such a vector."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"embedding is not valid base64: {exc}") from None
    if not raw or len(raw) % 4:
        raise ValueError(f"base64 embedding is {len(raw)} bytes, not a whole float32 vector")
    values = array("f")
    values.frombytes(raw)
    if _BIG_ENDIAN:
        values.byteswap()
    return values.tolist()


def _float_vector(value: Any, where: str) -> list[float]:
    """An upstream's vector as floats; ValueError when it is missing, empty or not numbers."""
    if isinstance(value, str):
        return decode_base64_vector(value)
    if not isinstance(value, list) or not value:
        raise ValueError(f"{where} must be a non-empty array of numbers")
    for number in value:
        if not is_number(number) or not math.isfinite(number):
            raise ValueError(f"{where} holds {number!r}, not a finite number")
    return [float(number) for number in value]


# --------------------------------------------------------------------------------------------
# OpenAI client surface -> canonical


def _token_array(value: list, param: str) -> list[int]:
    if not value:
        raise InvalidRequest(f"`{param}` must not be an empty token array", param=param)
    for j, token in enumerate(value):
        if not is_int(token) or token < 0:
            at = f"{param}[{j}]"
            raise _wrong_type(f"`{at}` must be a non-negative integer token id", at)
    return list(value)


def _validate_input(value: Any) -> list[str] | list[list[int]]:
    if value is None:
        raise _missing("input")
    if isinstance(value, str):
        if not value:
            raise InvalidRequest("`input` must not be an empty string", param="input")
        return [value]
    if not isinstance(value, list):
        raise _wrong_type(
            "`input` must be a string, an array of strings, or an array of token arrays", "input"
        )
    if not value:
        raise InvalidRequest("`input` must not be an empty array", param="input")
    if len(value) > MAX_INPUTS:
        raise InvalidRequest(
            f"`input` may hold at most {MAX_INPUTS} items, got {len(value)}", param="input"
        )
    first = value[0]
    if is_int(first):  # one flat token array
        return [_token_array(value, "input")]
    if isinstance(first, str):
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise _wrong_type(
                    f"`input[{i}]` must be a string like the other items", f"input[{i}]"
                )
            if not item:
                raise InvalidRequest(
                    f"`input[{i}]` must not be an empty string", param=f"input[{i}]"
                )
        return list(value)
    if isinstance(first, list):
        arrays: list[list[int]] = []
        for i, item in enumerate(value):
            if not isinstance(item, list):
                raise _wrong_type(
                    f"`input[{i}]` must be a token array like the other items", f"input[{i}]"
                )
            arrays.append(_token_array(item, f"input[{i}]"))
        return arrays
    raise _wrong_type("`input[0]` must be a string, a token id or a token array", "input[0]")


def validate_embeddings_request(body: object) -> dict[str, Any]:
    """The canonical request from an OpenAI `/v1/embeddings` body; InvalidRequest naming the
    first bad field. Fields it does not know are kept, for OpenAI-compatible upstreams."""
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object", param=None, code="invalid_type")
    model = body.get("model")
    if model is None:
        raise _missing("model")
    if not isinstance(model, str) or not model.strip():
        raise _wrong_type("`model` must be a non-empty string", "model")
    request: dict[str, Any] = {"model": model.strip(), "input": _validate_input(body.get("input"))}
    encoding = body.get("encoding_format")
    if encoding is None:
        encoding = "float"
    elif encoding not in ENCODING_FORMATS:
        raise InvalidRequest(
            f"`encoding_format` must be 'float' or 'base64', got {encoding!r}",
            param="encoding_format",
        )
    request["encoding_format"] = encoding
    if body.get("dimensions") is not None:
        request["dimensions"] = _positive_int(body["dimensions"], "dimensions")
    user = body.get("user")
    if user is not None:
        if not isinstance(user, str):
            raise _wrong_type("`user` must be a string", "user")
        request["user"] = user
    # Orca's task_type wins over OpenRouter's input_type when a client sends both.
    for name in ("task_type", "input_type"):
        if body.get(name) is not None:
            task = normalise_task_type(body[name], name)
            if task is not None:
                request["task_type"] = task
            break
    for key, value in body.items():
        if key not in request and key not in ("task_type", "input_type", "dimensions", "user"):
            request[key] = value
    return request


def most_input_tokens(request: dict[str, Any]) -> tuple[int, int]:
    """(the most tokens the input can be under any byte-level tokenizer: its UTF-8 bytes, token
    arrays as they are; the most of any one input). What is reserved, and what a model's
    context must hold per input."""
    items = request.get("input")
    items = [items] if isinstance(items, str) else items if isinstance(items, list) else []
    if items and all(is_int(item) for item in items):
        return len(items), len(items)  # one flat token array
    sizes = [
        len(item.encode("utf-8", "replace")) if isinstance(item, str) else len(item)
        for item in items
        if isinstance(item, str | list)
    ]
    return sum(sizes), max(sizes, default=0)


def estimate_input_tokens(request: dict[str, Any]) -> int:
    """Input tokens: text counted by the model's tokenizer (routing/wire/tokens.py; at least
    1 an item), token arrays exactly. What Gemini embeddings are billed on."""
    return tokens.estimate_embeddings_input(request)


# --------------------------------------------------------------------------------------------
# canonical <-> OpenAI-compatible upstream


def to_openai_upstream(request: dict[str, Any], upstream_model: str) -> dict[str, Any]:
    """The body for an OpenAI-compatible `/embeddings`: floats always (the gateway renders
    base64 itself), and no `task_type`, which OpenAI does not know."""
    body = {key: value for key, value in request.items() if key != "task_type"}
    body["model"] = upstream_model
    body["encoding_format"] = "float"
    return body


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _usage(value: Any) -> dict[str, Any] | None:
    """The upstream's usage with a usable prompt count, else None (the caller estimates)."""
    if not isinstance(value, dict):
        return None
    prompt = _count(value.get("prompt_tokens"))
    if prompt is None:
        return None
    usage = dict(value)
    if _count(usage.get("total_tokens")) is None:
        usage["total_tokens"] = prompt
    return usage


def openai_upstream_response(data: object, model: str) -> dict[str, Any]:
    """An upstream's OpenAI reply as the canonical response, vectors as floats and in index
    order. `usage` is left out when the upstream sent none worth reading. `model` stands in
    when the reply names none. ValueError when the reply is malformed."""
    if not isinstance(data, dict):
        raise ValueError("embeddings reply is not a JSON object")
    items = data.get("data")
    if not isinstance(items, list) or not items:
        raise ValueError("embeddings reply has no `data` array of embeddings")
    by_index: dict[int, list[float]] = {}
    for position, item in enumerate(items):
        where = f"data[{position}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where} is not an object")
        index = item.get("index", position)
        if not is_int(index) or not 0 <= index < len(items) or index in by_index:
            raise ValueError(f"{where}.index is {index!r}: not a unique index into `data`")
        by_index[index] = _float_vector(item.get("embedding"), f"{where}.embedding")
    named = data.get("model")
    answer: dict[str, Any] = {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": by_index[i]} for i in range(len(items))
        ],
        "model": named if isinstance(named, str) and named else model,
    }
    usage = _usage(data.get("usage"))
    if usage is not None:
        answer["usage"] = usage
    return answer


# --------------------------------------------------------------------------------------------
# canonical <-> Gemini upstream


def to_gemini_batch(request: dict[str, Any], upstream_model: str) -> dict[str, Any]:
    """The `batchEmbedContents` body for a canonical request: one entry per input."""
    inputs = request["input"]
    if any(not isinstance(item, str) for item in inputs):
        raise InvalidRequest(
            "Gemini embedding models accept text only; send `input` as strings, not token arrays",
            param="input",
        )
    name = _model_resource(upstream_model)
    options: dict[str, Any] = {}
    if request.get("task_type"):
        options["taskType"] = request["task_type"]
    if request.get("dimensions"):
        options["outputDimensionality"] = request["dimensions"]
    return {
        "requests": [
            {"model": name, "content": {"parts": [{"text": text}]}, **options} for text in inputs
        ]
    }


def gemini_batch_response(
    data: object, model: str, prompt_tokens: int, *, expected: int | None = None
) -> dict[str, Any]:
    """A Gemini `{"embeddings": [{"values": [...]}]}` reply as the canonical response, in
    request order. Gemini reports no usage: `prompt_tokens` is the caller's estimate.
    ValueError when malformed, or when `expected` is given and the count differs."""
    if not isinstance(data, dict):
        raise ValueError("batchEmbedContents reply is not a JSON object")
    embeddings = data.get("embeddings")
    if not isinstance(embeddings, list) or not embeddings:
        raise ValueError("batchEmbedContents reply has no `embeddings` array")
    if expected is not None and len(embeddings) != expected:
        raise ValueError(f"batchEmbedContents returned {len(embeddings)} embeddings for {expected}")
    vectors: list[dict[str, Any]] = []
    for i, embedding in enumerate(embeddings):
        if not isinstance(embedding, dict):
            raise ValueError(f"embeddings[{i}] is not an object")
        values = _float_vector(embedding.get("values"), f"embeddings[{i}].values")
        vectors.append({"object": "embedding", "index": i, "embedding": values})
    return {
        "object": "list",
        "data": vectors,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


# --------------------------------------------------------------------------------------------
# Gemini client surface (what google-genai sends) -> canonical, and its pass-through body


def _field(obj: dict, camel: str) -> tuple[str, Any]:
    """(the spelling obj uses, its value) for a camelCase field the REST API also takes in
    snake_case; the camelCase name and None when obj has neither."""
    if camel in obj:
        return camel, obj[camel]
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    if snake in obj:
        return snake, obj[snake]
    return camel, None


def _content_text(content: Any, where: str) -> str:
    if content is None:
        raise _missing(where)
    if not isinstance(content, dict):
        raise _wrong_type(f"`{where}` must be a Content object", where)
    parts = content.get("parts")
    if not isinstance(parts, list) or not parts:
        raise InvalidRequest(
            f"`{where}.parts` must be a non-empty array of parts", param=f"{where}.parts"
        )
    texts: list[str] = []
    for j, part in enumerate(parts):
        at = f"{where}.parts[{j}]"
        if not isinstance(part, dict):
            raise _wrong_type(f"`{at}` must be a Part object", at)
        text = part.get("text")
        if text is None:
            raise InvalidRequest(f"`{at}` has no text; only text parts can be embedded", param=at)
        if not isinstance(text, str):
            raise _wrong_type(f"`{at}.text` must be a string", f"{at}.text")
        texts.append(text)
    joined = _PART_SEPARATOR.join(text for text in texts if text)
    if not joined:
        raise InvalidRequest(f"`{where}.parts` hold no text to embed", param=f"{where}.parts")
    return joined


def _entries(body: object, action: str) -> list[tuple[str, dict]]:
    """(param prefix, entry) for each content to embed; the prefix is "" for embedContent."""
    if action not in _GEMINI_ACTIONS:
        raise InvalidRequest(
            f"unknown embeddings method {action!r}; use batchEmbedContents or embedContent",
            param=None,
        )
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object", param=None, code="invalid_type")
    if action == "embedContent":
        return [("", body)]
    requests = body.get("requests")
    if requests is None:
        raise _missing("requests")
    if not isinstance(requests, list):
        raise _wrong_type("`requests` must be an array", "requests")
    if not requests:
        raise InvalidRequest("`requests` must not be empty", param="requests")
    if len(requests) > MAX_INPUTS:
        raise InvalidRequest(
            f"`requests` may hold at most {MAX_INPUTS} items, got {len(requests)}",
            param="requests",
        )
    entries: list[tuple[str, dict]] = []
    for i, entry in enumerate(requests):
        if not isinstance(entry, dict):
            raise _wrong_type(f"`requests[{i}]` must be an object", f"requests[{i}]")
        entries.append((f"requests[{i}].", entry))
    return entries


def validate_gemini_embed_request(body: object, action: str, model: str) -> dict[str, Any]:
    """The canonical request from a Gemini `batchEmbedContents` / `embedContent` body sent to
    `models/{model}:{action}`; InvalidRequest naming the first bad field. A batch is served
    with one taskType and one outputDimensionality, so entries that differ are refused."""
    entries = _entries(body, action)
    path_names = {model, _model_resource(model)}
    texts: list[str] = []
    settings: dict[str, tuple[str, Any]] = {}  # canonical name -> (param, value) of entry 0
    for prefix, entry in entries:
        named = entry.get("model")
        if named is not None and (not isinstance(named, str) or named not in path_names):
            param = f"{prefix}model"
            raise InvalidRequest(
                f"`{param}` is {named!r} but the URL asks for models/{model}; they must match",
                param=param,
            )
        key, content = _field(entry, "content")
        texts.append(_content_text(content, f"{prefix}{key}"))
        key, task = _field(entry, "taskType")
        task_param = f"{prefix}{key}"
        task = None if task is None else normalise_task_type(task, task_param)
        key, dims = _field(entry, "outputDimensionality")
        dims_param = f"{prefix}{key}"
        if isinstance(dims, float) and dims.is_integer():
            dims = int(dims)  # protobuf's JSON mapping takes 8.0 for an int field, as Gemini does
        dims = None if dims is None else _positive_int(dims, dims_param)
        for name, param, value in (
            ("task_type", task_param, task),
            ("dimensions", dims_param, dims),
        ):
            first = settings.setdefault(name, (param, value))
            if first[1] != value:
                raise InvalidRequest(
                    f"`{param}` is {value!r} but `{first[0]}` is {first[1]!r}; every request "
                    "in a batch must use the same value",
                    param=param,
                )
    request: dict[str, Any] = {"model": model, "input": texts, "encoding_format": "float"}
    if settings["dimensions"][1] is not None:
        request["dimensions"] = settings["dimensions"][1]
    if settings["task_type"][1] is not None:
        request["task_type"] = settings["task_type"][1]
    return request


def gemini_native_body(body: dict[str, Any], action: str, upstream_model: str) -> dict[str, Any]:
    """The client's own (validated) body for a Gemini upstream, always in the batch form: each
    entry names `models/<upstream>` (Gemini refuses one that differs from the URL's model)."""
    name = _model_resource(upstream_model)
    extra: dict[str, Any] = {}
    if action == "embedContent":
        # Every embedContent field (content, taskType, title, ...) is a batch entry field.
        requests = [{key: value for key, value in body.items() if key != "model"}]
    else:
        requests = [entry for entry in body.get("requests") or [] if isinstance(entry, dict)]
        extra = {key: value for key, value in body.items() if key != "requests"}
    # More than GEMINI_BATCH_LIMIT entries go up as several batches (providers/gemini).
    return {**extra, "requests": [{**entry, "model": name} for entry in requests]}


# --------------------------------------------------------------------------------------------
# canonical -> client answers


def render_gemini_embed_response(response: dict[str, Any], action: str) -> dict[str, Any]:
    """The canonical response as Gemini answers `action` (no usage: Gemini sends none)."""
    vectors = [{"values": item["embedding"]} for item in response["data"]]
    if action == "embedContent":
        if len(vectors) != 1:
            raise ValueError(f"embedContent answers one embedding, not {len(vectors)}")
        return {"embedding": vectors[0]}
    return {"embeddings": vectors}


def render_openai_embeddings(response: dict[str, Any], encoding_format: str) -> dict[str, Any]:
    """The canonical response as the OpenAI answer in the client's `encoding_format`."""
    if encoding_format != "base64":
        return response
    data = [
        {**item, "embedding": encode_base64_vector(item["embedding"])} for item in response["data"]
    ]
    return {**response, "data": data}
