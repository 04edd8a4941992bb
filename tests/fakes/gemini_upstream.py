"""A fake Gemini (Generative Language API) upstream for the test-suite.

It speaks the real ``generateContent`` wire format: JSON responses, ``streamGenerateContent``
as SSE (``?alt=sse``) or as a streamed JSON array (no ``alt``), ``countTokens``, Google-style error
envelopes. It records every request, checks requests about as strictly as the real API does for
the things a translating gateway can get wrong, and fails on demand. Routes:
``POST /{v1beta|v1}/models/{model}:{generateContent|streamGenerateContent|countTokens}`` and
``...:{batchEmbedContents|embedContent}`` (google-genai >= 3 defaults to ``v1``, and its
``embed_content`` always calls ``batchEmbedContents``). Behaviour is chosen by the model in the URL:

* ``gemini-fake`` and any unknown name: success; a ``gemini-3…`` (or later) name also
  refuses a current-turn functionCall step without its ``thoughtSignature``, as Gemini 3
  does. A thought part first when
  ``thinkingConfig.includeThoughts`` is set; two parallel ``functionCall`` parts (with
  ``thoughtSignature``) when function declarations are given (unless the mode is ``NONE``);
  otherwise one text part (``{"answer": "fake"}`` when ``responseMimeType`` is JSON).
* Google Search grounding: when ``tools`` offers ``googleSearch`` (or the legacy
  ``googleSearchRetrieval``), no function declarations, and the last user text contains
  "search", the text is ``SEARCH_TEXT`` and the candidate carries ``SEARCH_GROUNDING`` (one
  query, one web chunk, one support whose segment offsets are UTF-8 byte offsets, as the
  real API's: the text has a non-ASCII character before the segment). Streamed, the
  grounding rides on the last chunk, with the finish reason. ``googleSearch`` accepts only
  what the Gemini API does (``timeRangeFilter``, ``searchTypes``); Vertex-only fields such
  as ``excludeDomains`` are unknown fields.
* ``gemini-error-500`` / ``-429`` (``retry-after: 7`` and a ``RetryInfo`` detail) / ``-400``:
  that status with a Google error envelope.
* ``gemini-midstream-error``: two chunks, then ``data: {"error": {... UNAVAILABLE}}`` and the end
  of the stream. ``generateContent`` answers 503.
* ``gemini-slow-stream``: 200 chunks, 50 ms apart.

Any model also plays the fault a valid request names with ``orca-fault:<name>`` (see
``faults.py``); streamed faults are SSE (``alt=sse``, what Orca sends), so a fault asked of
an array stream is refused with 400 ``FAILED_PRECONDITION``.

``countTokens`` answers ``{"totalTokens": N}`` (words of text in ``contents`` plus 3); its body
holds ``contents`` or a whole ``generateContentRequest``, which must name its ``model``
(``models/...``), as the real API requires.

Embeddings: ``batchEmbedContents`` answers ``{"embeddings": [{"values": [...]}]}`` in request
order, ``embedContent`` ``{"embedding": {"values": [...]}}``, with no usage (as the real API).
A vector is a deterministic function of the content's text (``embedding_values``) whose first
``outputDimensionality`` values are returned (8 by default), so a shorter vector is a prefix of
a longer one, as Gemini truncates. Refused with 400 ``INVALID_ARGUMENT``: no or empty
``requests``, more than 100 of them, a batch entry without ``model`` or naming another model
than the URL, no ``content``, empty ``parts``, a part without text, an unknown ``taskType``, an
``outputDimensionality`` outside 1..3072, unknown fields. The error models (``-500``, ``-429``,
``-400``) and the ``orca-fault:`` markers (non-stream forms) apply as for ``generateContent``.

Authentication: ``x-goog-api-key`` header (or ``?key=``). A wrong key is 400 ``INVALID_ARGUMENT``
with reason ``API_KEY_INVALID``; no key at all is 403 ``PERMISSION_DENIED`` (both as the real API).

Requests failing validation get 400 ``INVALID_ARGUMENT`` naming the problem. Besides unknown
fields (top level, ``generationConfig``, parts, tools, schemas) this covers the function-calling
turn rules the real API enforces (call turn after a user turn, response turn right after the call
turn with as many ``functionResponse`` parts as there were calls, response names matching calls),
``functionResponse.response`` being an object, base64 ``inlineData``, a string
``systemInstruction`` and ``thinkingBudget`` together with ``thinkingLevel``. Both camelCase and
snake_case field names are accepted, as the REST API does.

Every streamed response records ``("stream_completed", model)``, ``("stream_aborted", model)`` or
``("stream_errored", model)`` in ``events``; every refused request records
``("invalid_request", model)`` and appends its message to ``rejections``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import uuid
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from . import faults
from .base import FAULT, ValidatingFakeUpstream, scripted, words
from .base import Recorded as Recorded  # re-exported for code that imports it from here

JSONDict = dict[str, Any]

REPLY_TEXT = "Hello from the fake Gemini upstream."
JSON_REPLY = '{"answer": "fake"}'
THOUGHT_TEXT = "Thinking it over."
THOUGHT_SIGNATURE = "c2lnLWZha2U="  # base64 of "sig-fake"
CALL_ARGS: tuple[JSONDict, ...] = ({"city": "Paris"}, {"city": "Tokyo"})
PROMPT_TOKENS = 9
CANDIDATES_TOKENS = 6
THOUGHTS_TOKENS = 2
CACHED_TOKENS = 3
SLOW_STREAM_CHUNKS = 200
SLOW_STREAM_DELAY = 0.05
EMBEDDING_DIMENSIONS = 8  # values returned when a request sets no outputDimensionality
MAX_EMBEDDING_DIMENSIONS = 3072  # gemini-embedding-001's full size
EMBED_BATCH_LIMIT = 100
EMBED_TASK_TYPES = frozenset(
    {
        "TASK_TYPE_UNSPECIFIED",
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

# (code, status, message, extra headers, details)
_ERRORS: dict[str, tuple[int, str, str, dict[str, str], list[JSONDict]]] = {
    "gemini-error-500": (
        500,
        "INTERNAL",
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting",
        {},
        [],
    ),
    "gemini-error-429": (
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
        {"retry-after": "7"},
        [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}],
    ),
    "gemini-error-400": (400, "INVALID_ARGUMENT", "temperature: upstream says no", {}, []),
}
SEARCH_TEXT = "Per the café guide, orcas swim fast."
SEARCH_SEGMENT = "orcas swim fast."
SEARCH_QUERY = "how fast do orcas swim"
SEARCH_URI = "https://vertexaisearch.cloud.google.com/grounding-api-redirect/fake-orcas"
SEARCH_TITLE = "orcas.example"
_SEGMENT_START = len(SEARCH_TEXT[: SEARCH_TEXT.index(SEARCH_SEGMENT)].encode())
SEARCH_GROUNDING: JSONDict = {
    "searchEntryPoint": {"renderedContent": '<div class="container">orcas</div>'},
    "groundingChunks": [{"web": {"uri": SEARCH_URI, "title": SEARCH_TITLE}}],
    "groundingSupports": [
        {
            "segment": {
                "startIndex": _SEGMENT_START,
                "endIndex": _SEGMENT_START + len(SEARCH_SEGMENT.encode()),
                "text": SEARCH_SEGMENT,
            },
            "groundingChunkIndices": [0],
            "confidenceScores": [0.93],
        }
    ],
    "webSearchQueries": [SEARCH_QUERY],
}
_OVERLOADED = {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _both(names: Iterable[str]) -> frozenset[str]:
    """The camelCase names plus their snake_case spellings (the REST API accepts both)."""
    names = list(names)
    return frozenset(names) | {_snake(n) for n in names}


def _get(obj: JSONDict, camel: str, default: Any = None) -> Any:
    if camel in obj:
        return obj[camel]
    return obj.get(_snake(camel), default)


def _has(obj: JSONDict, camel: str) -> bool:
    return camel in obj or _snake(camel) in obj


_REQUEST_FIELDS = _both(
    [
        "contents",
        "systemInstruction",
        "tools",
        "toolConfig",
        "generationConfig",
        "safetySettings",
        "cachedContent",
        "labels",
    ]
)
_GENERATION_CONFIG_FIELDS = _both(
    [
        "temperature",
        "topP",
        "topK",
        "candidateCount",
        "maxOutputTokens",
        "stopSequences",
        "responseMimeType",
        "responseSchema",
        "responseJsonSchema",
        "presencePenalty",
        "frequencyPenalty",
        "seed",
        "responseLogprobs",
        "logprobs",
        "thinkingConfig",
        "responseModalities",
        "speechConfig",
        "mediaResolution",
    ]
)
_THINKING_CONFIG_FIELDS = _both(["includeThoughts", "thinkingBudget", "thinkingLevel"])
_PART_DATA_FIELDS = _both(
    [
        "text",
        "inlineData",
        "fileData",
        "functionCall",
        "functionResponse",
        "executableCode",
        "codeExecutionResult",
    ]
)
_PART_FIELDS = _PART_DATA_FIELDS | _both(
    ["thought", "thoughtSignature", "videoMetadata", "partMetadata", "mediaResolution"]
)
_TOOL_FIELDS = _both(
    [
        "functionDeclarations",
        "googleSearch",
        "googleSearchRetrieval",
        "codeExecution",
        "urlContext",
        "computerUse",
        "fileSearch",
        "googleMaps",
        "mcpServers",
    ]
)
_SEARCH_TOOL_FIELDS = {
    "googleSearch": _both(["timeRangeFilter", "searchTypes"]),
    "googleSearchRetrieval": _both(["dynamicRetrievalConfig"]),
}
_FUNCTION_DECLARATION_FIELDS = _both(
    ["name", "description", "parameters", "parametersJsonSchema", "response", "responseJsonSchema"]
) | _both(["behavior"])
# The OpenAPI-3.0 subset that ``parameters`` / ``responseSchema`` (the Schema message) accepts.
_SCHEMA_FIELDS = _both(
    [
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "maxItems",
        "minItems",
        "properties",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "anyOf",
        "propertyOrdering",
        "default",
        "items",
        "minimum",
        "maximum",
    ]
)
_SCHEMA_TYPES = frozenset(
    {"TYPE_UNSPECIFIED", "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}
)
_CALLING_MODES = frozenset({"MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"})
_THRESHOLDS = frozenset(
    {
        "HARM_BLOCK_THRESHOLD_UNSPECIFIED",
        "BLOCK_LOW_AND_ABOVE",
        "BLOCK_MEDIUM_AND_ABOVE",
        "BLOCK_ONLY_HIGH",
        "BLOCK_NONE",
        "OFF",
    }
)
_FUNCTION_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_.:-]{0,127}$")


class RequestInvalid(Exception):
    """A request the real API would refuse with 400 INVALID_ARGUMENT."""


def _error_body(
    code: int, status: str, message: str, details: list[JSONDict] | None = None
) -> JSONDict:
    error: JSONDict = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


def _error_response(
    code: int,
    status: str,
    message: str,
    *,
    details: list[JSONDict] | None = None,
    headers: dict[str, str] | None = None,
    as_array: bool = False,
) -> web.Response:
    """A Google error envelope; ``as_array`` wraps it the way a non-SSE stream reports errors."""
    body: Any = _error_body(code, status, message, details)
    if as_array:
        body = [body]
    return web.json_response(body, status=code, headers=headers)


def _sse(payload: JSONDict) -> bytes:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _unknown(name: str, where: str | None = None) -> RequestInvalid:
    at = f" at '{where}'" if where else ""
    return RequestInvalid(
        f'Invalid JSON payload received. Unknown name "{name}"{at}: Cannot find field.'
    )


# ---------------------------------------------------------------------------------- validation


def validate_request(body: Any, model: str | None = None) -> None:
    """Raise ``RequestInvalid`` naming the first problem the real API would report (for
    `model`, where the rules differ by model: Gemini 3's thought signatures)."""
    if not isinstance(body, dict):
        raise RequestInvalid("Invalid JSON payload received. Expected an object.")
    for key in body:
        if key not in _REQUEST_FIELDS:
            raise _unknown(key)
    _validate_contents(_get(body, "contents"))
    if model is not None and _GEMINI_3.match(model):
        _validate_signatures(_get(body, "contents"))
    if _has(body, "systemInstruction"):
        _validate_system_instruction(_get(body, "systemInstruction"))
    declared = _validate_tools(_get(body, "tools"))
    if _has(body, "toolConfig"):
        _validate_tool_config(_get(body, "toolConfig"), declared)
    if _has(body, "generationConfig"):
        _validate_generation_config(_get(body, "generationConfig"))
    if _has(body, "safetySettings"):
        _validate_safety_settings(_get(body, "safetySettings"))
    if _has(body, "cachedContent") and not isinstance(_get(body, "cachedContent"), str):
        raise RequestInvalid("Invalid value at 'cached_content' (TYPE_STRING)")


def _validate_contents(contents: Any) -> None:
    if contents is None or contents == []:
        raise RequestInvalid("* GenerateContentRequest.contents: contents is not specified")
    if not isinstance(contents, list):
        raise RequestInvalid("Invalid value at 'contents': expected a list of Content objects")
    for i, content in enumerate(contents):
        where = f"contents[{i}]"
        if not isinstance(content, dict):
            raise RequestInvalid(f"Invalid value at '{where}': expected a Content object")
        for key in content:
            if key not in ("role", "parts"):
                raise _unknown(key, where)
        if content.get("role") not in ("user", "model"):
            raise RequestInvalid(
                f"Please use a valid role: user, model. ({where}.role is {content.get('role')!r})"
            )
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            raise RequestInvalid(
                f"* GenerateContentRequest.{where}.parts: contents.parts must not be empty."
            )
        for j, part in enumerate(parts):
            _validate_part(part, f"{where}.parts[{j}]", content["role"])
    _validate_function_turns(contents)


def _validate_part(part: Any, where: str, role: str) -> None:
    if not isinstance(part, dict):
        raise RequestInvalid(f"Invalid value at '{where}': expected a Part object")
    for key in part:
        if key not in _PART_FIELDS:
            raise _unknown(key, where)
    data = [key for key in part if key in _PART_DATA_FIELDS]
    if not data:
        raise RequestInvalid(
            f"* GenerateContentRequest.{where}.data: required oneof field 'data' must have one "
            "initialized field"
        )
    if len(data) > 1:
        raise RequestInvalid(
            f"Invalid JSON payload received. Oneof field 'data' is already set. Cannot set "
            f"'{data[1]}' at '{where}'"
        )
    if _has(part, "text") and not isinstance(_get(part, "text"), str):
        raise RequestInvalid(f"Invalid value at '{where}.text' (TYPE_STRING)")
    if _has(part, "thought") and not isinstance(_get(part, "thought"), bool):
        raise RequestInvalid(f"Invalid value at '{where}.thought' (TYPE_BOOL)")
    if _has(part, "thoughtSignature"):
        _check_base64(_get(part, "thoughtSignature"), f"{where}.thought_signature")
    if _has(part, "inlineData"):
        blob = _get(part, "inlineData")
        if not isinstance(blob, dict) or not isinstance(_get(blob, "mimeType"), str):
            raise RequestInvalid(
                f"* GenerateContentRequest.{where}.inline_data.mime_type: required"
            )
        for key in blob:
            if key not in _both(["mimeType", "data", "displayName"]):
                raise _unknown(key, f"{where}.inline_data")
        _check_base64(_get(blob, "data"), f"{where}.inline_data.data")
    if _has(part, "fileData"):
        file_data = _get(part, "fileData")
        if not isinstance(file_data, dict) or not isinstance(_get(file_data, "fileUri"), str):
            raise RequestInvalid(f"* GenerateContentRequest.{where}.file_data.file_uri: required")
    if _has(part, "functionCall"):
        call = _get(part, "functionCall")
        if role != "model":
            raise RequestInvalid(f"{where}: functionCall parts may only appear in model turns")
        if not isinstance(call, dict) or not isinstance(call.get("name"), str) or not call["name"]:
            raise RequestInvalid(f"* GenerateContentRequest.{where}.function_call.name: required")
        for key in call:
            if key not in ("name", "args", "id"):
                raise _unknown(key, f"{where}.function_call")
        if "args" in call and not isinstance(call["args"], dict):
            raise RequestInvalid(
                f"Invalid value at '{where}.function_call.args' "
                "(type.googleapis.com/google.protobuf.Struct): expected an object"
            )
    if _has(part, "functionResponse"):
        response = _get(part, "functionResponse")
        if role != "user":
            raise RequestInvalid(f"{where}: functionResponse parts may only appear in user turns")
        if not isinstance(response, dict) or not isinstance(response.get("name"), str):
            raise RequestInvalid(
                f"* GenerateContentRequest.{where}.function_response.name: required"
            )
        for key in response:
            if key not in _both(["name", "response", "id", "parts", "willContinue", "scheduling"]):
                raise _unknown(key, f"{where}.function_response")
        if not isinstance(response.get("response"), dict):
            raise RequestInvalid(
                f"Invalid value at '{where}.function_response.response' "
                "(type.googleapis.com/google.protobuf.Struct): expected an object"
            )


def _check_base64(value: Any, where: str) -> None:
    """Proto ``bytes`` fields take standard or URL-safe base64 (padding optional)."""
    try:
        if not isinstance(value, str):
            raise ValueError
        normalised = value.replace("-", "+").replace("_", "/")
        base64.b64decode(normalised + "=" * (-len(normalised) % 4), validate=True)
    except (ValueError, binascii.Error):
        raise RequestInvalid(
            f"Invalid value at '{where}' (TYPE_BYTES), Base64 decoding failed"
        ) from None


def _function_parts(content: JSONDict, camel: str) -> list[JSONDict]:
    return [_get(p, camel) for p in content["parts"] if _has(p, camel)]


_GEMINI_3 = re.compile(r"^gemini-(?:[3-9]|\d{2,})")


def _validate_signatures(contents: list[JSONDict]) -> None:
    """Gemini 3 (ai.google.dev/gemini-api/docs/thought-signatures): in the current turn (the
    contents after the last user text), the first functionCall part of every model step
    must carry its thoughtSignature (parallel calls: only the first has one). Earlier turns
    are not checked; the documented dummy value passes like a real signature."""
    start = 0
    for i, content in enumerate(contents):
        parts = _get(content, "parts") or []
        if _get(content, "role", "user") == "user" and any(_has(p, "text") for p in parts):
            start = i + 1
    for i in range(start, len(contents)):
        content = contents[i]
        if _get(content, "role") != "model":
            continue
        calls = [p for p in _get(content, "parts") or [] if _has(p, "functionCall")]
        if calls and not _get(calls[0], "thoughtSignature"):
            name = _get(_get(calls[0], "functionCall"), "name")
            raise RequestInvalid(
                f"Function call `{name}` in the `{i}.` content block is missing a "
                "`thought_signature`. Learn more: "
                "https://ai.google.dev/gemini-api/docs/thought-signatures"
            )


def _validate_function_turns(contents: list[JSONDict]) -> None:
    called: set[str] = set()
    for i, content in enumerate(contents):
        calls = _function_parts(content, "functionCall")
        responses = _function_parts(content, "functionResponse")
        previous = contents[i - 1] if i else None
        if calls and (previous is None or previous["role"] != "user"):
            raise RequestInvalid(
                "Please ensure that function call turn comes immediately after a user turn or "
                f"after a function response turn. (contents[{i}])"
            )
        if responses:
            previous_calls = _function_parts(previous, "functionCall") if previous else []
            if not previous_calls:
                raise RequestInvalid(
                    "Please ensure that function response turn comes immediately after a "
                    f"function call turn. (contents[{i}])"
                )
            for response in responses:
                if response["name"] not in called:
                    raise RequestInvalid(
                        f"contents[{i}]: functionResponse {response['name']!r} does not match "
                        "the name of any earlier functionCall"
                    )
        if previous is not None:
            previous_calls = _function_parts(previous, "functionCall")
            if previous_calls and len(responses) != len(previous_calls):
                raise RequestInvalid(
                    "Please ensure that the number of function response parts is equal to the "
                    f"number of function call parts of the function call turn. (contents[{i}])"
                )
        called |= {call["name"] for call in calls}


def _validate_system_instruction(instruction: Any) -> None:
    if not isinstance(instruction, dict):
        raise RequestInvalid(
            "Invalid value at 'system_instruction' "
            "(type.googleapis.com/google.ai.generativelanguage.v1beta.Content): expected a "
            "Content object with parts"
        )
    for key in instruction:
        if key not in ("role", "parts"):
            raise _unknown(key, "system_instruction")
    parts = instruction.get("parts")
    if not isinstance(parts, list) or not parts:
        raise RequestInvalid("* GenerateContentRequest.system_instruction.parts: must not be empty")
    for j, part in enumerate(parts):
        _validate_part(part, f"system_instruction.parts[{j}]", "user")


def _validate_tools(tools: Any) -> list[str]:
    """Check ``tools``; return the declared function names."""
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise RequestInvalid("Invalid value at 'tools': expected a list of Tool objects")
    names: list[str] = []
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise RequestInvalid(f"Invalid value at '{where}': expected a Tool object")
        for key in tool:
            if key not in _TOOL_FIELDS:
                raise _unknown(key, where)
        for name, fields in _SEARCH_TOOL_FIELDS.items():
            search = _get(tool, name)
            if search is None:
                continue
            if not isinstance(search, dict):
                raise RequestInvalid(f"Invalid value at '{where}.{_snake(name)}'")
            for key in search:
                if key not in fields:
                    raise _unknown(key, f"{where}.{_snake(name)}")
        declarations = _get(tool, "functionDeclarations")
        if declarations is None:
            continue
        if not isinstance(declarations, list):
            raise RequestInvalid(f"Invalid value at '{where}.function_declarations'")
        for j, declaration in enumerate(declarations):
            names.append(_validate_declaration(declaration, f"{where}.function_declarations[{j}]"))
    return names


def _validate_declaration(declaration: Any, where: str) -> str:
    if not isinstance(declaration, dict):
        raise RequestInvalid(f"Invalid value at '{where}': expected a FunctionDeclaration")
    for key in declaration:
        if key not in _FUNCTION_DECLARATION_FIELDS:
            raise _unknown(key, where)
    name = declaration.get("name")
    if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
        raise RequestInvalid(
            f"* GenerateContentRequest.{where}.name: Invalid function name. Must start with a "
            "letter or an underscore. Must be alphameric (a-z, A-Z, 0-9), underscores (_), dots "
            "(.), colons (:), or dashes (-), with a maximum length of 128."
        )
    if _has(declaration, "parameters") and _has(declaration, "parametersJsonSchema"):
        raise RequestInvalid(
            f"{where}: parameters and parameters_json_schema are mutually exclusive"
        )
    if _has(declaration, "parameters"):
        _validate_schema(_get(declaration, "parameters"), f"{where}.parameters")
    if _has(declaration, "parametersJsonSchema") and not isinstance(
        _get(declaration, "parametersJsonSchema"), dict
    ):
        raise RequestInvalid(f"Invalid value at '{where}.parameters_json_schema'")
    return name


def _validate_schema(schema: Any, where: str) -> None:
    """The OpenAPI-subset Schema message: other keywords (additionalProperties, $ref...) fail."""
    if not isinstance(schema, dict):
        raise RequestInvalid(f"Invalid value at '{where}': expected a Schema object")
    for key in schema:
        if key not in _SCHEMA_FIELDS:
            raise _unknown(key, where)
    if "type" in schema:
        kind = schema["type"]
        if not isinstance(kind, str) or kind.upper() not in _SCHEMA_TYPES:
            raise RequestInvalid(
                f"Invalid value at '{where}.type' (type.googleapis.com/"
                f"google.ai.generativelanguage.v1beta.Type), {json.dumps(kind)}"
            )
    properties = schema.get("properties")
    if properties is not None:
        if not isinstance(properties, dict):
            raise RequestInvalid(f"Invalid value at '{where}.properties'")
        for name, sub in properties.items():
            _validate_schema(sub, f"{where}.properties[{name}]")
    if "items" in schema:
        _validate_schema(schema["items"], f"{where}.items")
    any_of = _get(schema, "anyOf")
    if any_of is not None:
        if not isinstance(any_of, list):
            raise RequestInvalid(f"Invalid value at '{where}.any_of'")
        for k, sub in enumerate(any_of):
            _validate_schema(sub, f"{where}.any_of[{k}]")


def _validate_tool_config(config: Any, declared: list[str]) -> None:
    if not isinstance(config, dict):
        raise RequestInvalid("Invalid value at 'tool_config'")
    for key in config:
        if key not in _both(["functionCallingConfig", "retrievalConfig"]):
            raise _unknown(key, "tool_config")
    calling = _get(config, "functionCallingConfig")
    if calling is None:
        return
    if not isinstance(calling, dict):
        raise RequestInvalid("Invalid value at 'tool_config.function_calling_config'")
    for key in calling:
        if key not in _both(["mode", "allowedFunctionNames"]):
            raise _unknown(key, "tool_config.function_calling_config")
    mode = calling.get("mode", "MODE_UNSPECIFIED")
    if mode not in _CALLING_MODES:
        raise RequestInvalid(
            "Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.com/"
            f"google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), {json.dumps(mode)}"
        )
    allowed = _get(calling, "allowedFunctionNames")
    if allowed is not None:
        if mode not in ("ANY", "VALIDATED"):
            raise RequestInvalid(
                "* GenerateContentRequest.tool_config.function_calling_config."
                "allowed_function_names: allowed_function_names may be set only when the mode "
                "is ANY or VALIDATED"
            )
        for name in allowed if isinstance(allowed, list) else [allowed]:
            if name not in declared:
                raise RequestInvalid(
                    f"tool_config.function_calling_config.allowed_function_names: {name!r} is "
                    "not a declared function"
                )


def _validate_generation_config(config: Any) -> None:
    if not isinstance(config, dict):
        raise RequestInvalid("Invalid value at 'generation_config'")
    for key in config:
        if key not in _GENERATION_CONFIG_FIELDS:
            raise _unknown(key, "generation_config")
    temperature = _get(config, "temperature")
    if temperature is not None and (not _is_number(temperature) or not 0 <= temperature <= 2):
        raise RequestInvalid(
            "* GenerateContentRequest.generation_config.temperature: must be between 0 and 2"
        )
    top_p = _get(config, "topP")
    if top_p is not None and (not _is_number(top_p) or not 0 <= top_p <= 1):
        raise RequestInvalid("* GenerateContentRequest.generation_config.top_p: must be in [0, 1]")
    for name in ("topK", "candidateCount", "maxOutputTokens", "seed", "logprobs"):
        value = _get(config, name)
        # Protobuf's JSON mapping accepts integral floats (7.0) for int fields, as the real
        # API does; google-genai sends topK that way.
        integral = _is_int(value) or (_is_number(value) and float(value).is_integer())
        if value is not None and not integral:
            raise RequestInvalid(
                f"Invalid value at 'generation_config.{_snake(name)}' (TYPE_INT32), "
                f"{json.dumps(value)}"
            )
    stops = _get(config, "stopSequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise RequestInvalid("Invalid value at 'generation_config.stop_sequences'")
        if len(stops) > 5:
            raise RequestInvalid(
                "* GenerateContentRequest.generation_config.stop_sequences: at most 5 stop "
                "sequences are supported"
            )
    if _has(config, "responseSchema") and _has(config, "responseJsonSchema"):
        raise RequestInvalid(
            "generation_config: response_schema and response_json_schema are mutually exclusive"
        )
    if _has(config, "responseSchema"):
        _validate_schema(_get(config, "responseSchema"), "generation_config.response_schema")
    thinking = _get(config, "thinkingConfig")
    if thinking is not None:
        if not isinstance(thinking, dict):
            raise RequestInvalid("Invalid value at 'generation_config.thinking_config'")
        for key in thinking:
            if key not in _THINKING_CONFIG_FIELDS:
                raise _unknown(key, "generation_config.thinking_config")
        if _has(thinking, "thinkingBudget") and _has(thinking, "thinkingLevel"):
            raise RequestInvalid("You can only set only one of thinking budget and thinking level.")
        budget = _get(thinking, "thinkingBudget")
        if budget is not None and not _is_int(budget):
            raise RequestInvalid(
                "Invalid value at 'generation_config.thinking_config.thinking_budget'"
            )


def _validate_safety_settings(settings: Any) -> None:
    if not isinstance(settings, list):
        raise RequestInvalid("Invalid value at 'safety_settings'")
    for i, setting in enumerate(settings):
        where = f"safety_settings[{i}]"
        if not isinstance(setting, dict):
            raise RequestInvalid(f"Invalid value at '{where}'")
        for key in setting:
            if key not in ("category", "threshold", "method"):
                raise _unknown(key, where)
        category = setting.get("category")
        if not isinstance(category, str) or not category.startswith("HARM_CATEGORY_"):
            raise RequestInvalid(f"Invalid value at '{where}.category', {json.dumps(category)}")
        if setting.get("threshold") not in _THRESHOLDS:
            raise RequestInvalid(
                f"Invalid value at '{where}.threshold', {json.dumps(setting.get('threshold'))}"
            )


def validate_count_tokens(body: Any) -> None:
    if not isinstance(body, dict):
        raise RequestInvalid("Invalid JSON payload received. Expected an object.")
    for key in body:
        if key not in _both(["contents", "generateContentRequest"]):
            raise _unknown(key)
    if _has(body, "generateContentRequest"):
        if _has(body, "contents"):
            raise RequestInvalid("contents and generate_content_request are mutually exclusive")
        inner = dict(_get(body, "generateContentRequest") or {})
        model = inner.pop("model", None)
        if not isinstance(model, str) or not model.startswith(("models/", "tunedModels/")):
            raise RequestInvalid(
                "* CountTokensRequest.generate_content_request.model: model is required "
                "(models/{model})"
            )
        validate_request(inner)
    else:
        _validate_contents(_get(body, "contents"))


# ---------------------------------------------------------------------------------- embeddings

_EMBED_ENTRY_FIELDS = _both(["model", "content", "taskType", "title", "outputDimensionality"])


def embedding_values(text: str, size: int) -> list[float]:
    """The fake's vector for a content's text (its parts joined by newlines), ``size`` long.
    Every size is a prefix of the same stream of values, as Gemini truncates a full vector."""
    values: list[float] = []
    block = 0
    while len(values) < size:
        digest = hashlib.sha256(text.encode() + block.to_bytes(4, "big")).digest()
        values += [round((byte - 127.5) / 127.5, 6) for byte in digest]
        block += 1
    return values[:size]


def _embed_text(entry: JSONDict, where: str, rpc: str) -> str:
    content = _get(entry, "content")
    if content is None:
        raise RequestInvalid(f"* {rpc}.{where}content: content is not specified")
    if not isinstance(content, dict):
        raise RequestInvalid(f"Invalid value at '{where}content': expected a Content object")
    for key in content:
        if key not in ("role", "parts"):
            raise _unknown(key, f"{where}content")
    parts = content.get("parts")
    if not isinstance(parts, list) or not parts:
        raise RequestInvalid(f"* {rpc}.{where}content.parts: contents.parts must not be empty.")
    texts = []
    for j, part in enumerate(parts):
        at = f"{where}content.parts[{j}]"
        if not isinstance(part, dict) or not isinstance(part.get("text"), str):
            raise RequestInvalid(
                f"* {rpc}.{at}.data: required oneof field 'data' must have one initialized field"
            )
        texts.append(part["text"])
    return "\n".join(texts)


def _embed_size(entry: JSONDict, where: str) -> int:
    size = _get(entry, "outputDimensionality")
    if size is None:
        return EMBEDDING_DIMENSIONS
    if not (_is_int(size) or (_is_number(size) and float(size).is_integer())):
        raise RequestInvalid(
            f"Invalid value at '{where}output_dimensionality' (TYPE_INT32), {json.dumps(size)}"
        )
    if not 1 <= size <= MAX_EMBEDDING_DIMENSIONS:
        raise RequestInvalid(
            f"* {where}output_dimensionality: Output dimensionality must be between 1 and "
            f"{MAX_EMBEDDING_DIMENSIONS}, got {size}"
        )
    return int(size)


def embed_entries(body: Any, model: str, method: str) -> list[tuple[str, int]]:
    """(text, size) per content to embed; ``RequestInvalid`` for what the real API refuses."""
    if not isinstance(body, dict):
        raise RequestInvalid("Invalid JSON payload received. Expected an object.")
    if method == "embedContent":
        rpc, entries, prefixes = "EmbedContentRequest", [body], [""]
    else:
        rpc = "BatchEmbedContentsRequest"
        for key in body:
            if key != "requests":
                raise _unknown(key)
        entries = body.get("requests")
        if not isinstance(entries, list) or not entries:
            raise RequestInvalid(f"* {rpc}.requests: requests is not specified")
        if len(entries) > EMBED_BATCH_LIMIT:
            raise RequestInvalid(
                f"* {rpc}.requests: at most {EMBED_BATCH_LIMIT} requests can be in one batch"
            )
        prefixes = [f"requests[{i}]." for i in range(len(entries))]
    planned = []
    for entry, where in zip(entries, prefixes, strict=True):
        if not isinstance(entry, dict):
            raise RequestInvalid(f"Invalid value at '{where.rstrip('.')}': expected an object")
        for key in entry:
            if key not in _EMBED_ENTRY_FIELDS:
                raise _unknown(key, where.rstrip(".") or None)
        named = entry.get("model")
        # In a batch every entry names its model, and it must be the URL's.
        if (method != "embedContent" or named is not None) and named != f"models/{model}":
            raise RequestInvalid(
                f"* {rpc}.{where}model: the model {named!r} does not match the model in the "
                f"URL, models/{model}"
            )
        task = _get(entry, "taskType")
        # Accepted in any case: google-genai forwards task_type as the caller spelled it.
        if task is not None and (not isinstance(task, str) or task.upper() not in EMBED_TASK_TYPES):
            raise RequestInvalid(
                f"Invalid value at '{where}task_type' "
                f"(type.googleapis.com/google.ai.generativelanguage.v1beta.TaskType), "
                f"{json.dumps(task)}"
            )
        title = _get(entry, "title")
        if title is not None and not isinstance(title, str):
            raise RequestInvalid(f"Invalid value at '{where}title' (TYPE_STRING)")
        planned.append((_embed_text(entry, where, rpc), _embed_size(entry, where)))
    return planned


def _embed_answer(planned: list[tuple[str, int]], method: str) -> JSONDict:
    vectors = [{"values": embedding_values(text, size)} for text, size in planned]
    return {"embedding": vectors[0]} if method == "embedContent" else {"embeddings": vectors}


# ---------------------------------------------------------------------------------- planning


def _thinking_on(body: JSONDict) -> bool:
    thinking = _get(_get(body, "generationConfig") or {}, "thinkingConfig") or {}
    return _get(thinking, "includeThoughts") is True


def _plan_parts(body: JSONDict) -> list[JSONDict]:
    parts: list[JSONDict] = []
    if _thinking_on(body):
        parts.append({"text": THOUGHT_TEXT, "thought": True})
    names = [
        declaration["name"]
        for tool in _get(body, "tools") or []
        for declaration in _get(tool, "functionDeclarations") or []
    ]
    calling = _get(_get(body, "toolConfig") or {}, "functionCallingConfig") or {}
    if names and calling.get("mode") != "NONE":
        for args in CALL_ARGS:
            parts.append(
                {
                    "functionCall": {"name": names[0], "args": args},
                    "thoughtSignature": THOUGHT_SIGNATURE,
                }
            )
        return parts
    if _searches(body):
        parts.append({"text": SEARCH_TEXT})
        return parts
    config = _get(body, "generationConfig") or {}
    json_wanted = _get(config, "responseMimeType") == "application/json"
    said = scripted(" ".join(_all_text(_get(body, "contents"))))
    parts.append({"text": JSON_REPLY if json_wanted else said or REPLY_TEXT})
    return parts


def _searches(body: JSONDict) -> bool:
    """Whether the answer is grounded: a search tool offered and "search" in the last user text."""
    offered = any(
        _get(tool, name) is not None
        for tool in _get(body, "tools") or []
        for name in _SEARCH_TOOL_FIELDS
    )
    if not offered:
        return False
    users = [c for c in _get(body, "contents") or [] if c.get("role", "user") == "user"]
    return bool(users) and "search" in " ".join(_all_text(users[-1:])).lower()


def _grounding(parts: list[JSONDict]) -> JSONDict | None:
    return SEARCH_GROUNDING if parts and parts[-1].get("text") == SEARCH_TEXT else None


def _usage(thinking: bool) -> JSONDict:
    usage: JSONDict = {
        "promptTokenCount": PROMPT_TOKENS,
        "candidatesTokenCount": CANDIDATES_TOKENS,
        "totalTokenCount": PROMPT_TOKENS + CANDIDATES_TOKENS + (THOUGHTS_TOKENS if thinking else 0),
        "cachedContentTokenCount": CACHED_TOKENS,
    }
    if thinking:
        usage["thoughtsTokenCount"] = THOUGHTS_TOKENS
    return usage


def _early_usage() -> JSONDict:
    """What the API attaches to chunks before the last: the prompt side only, cumulative."""
    return {
        "promptTokenCount": PROMPT_TOKENS,
        "totalTokenCount": PROMPT_TOKENS,
        "cachedContentTokenCount": CACHED_TOKENS,
    }


def _response(model: str, parts: list[JSONDict], thinking: bool) -> JSONDict:
    candidate: JSONDict = {
        "content": {"role": "model", "parts": parts},
        "finishReason": "STOP",
        "index": 0,
    }
    if (grounding := _grounding(parts)) is not None:
        candidate["groundingMetadata"] = grounding
    return {
        "candidates": [candidate],
        "usageMetadata": _usage(thinking),
        "modelVersion": model,
        "responseId": f"fake-{uuid.uuid4().hex[:20]}",
    }


def _stream_chunks(model: str, parts: list[JSONDict], thinking: bool) -> list[JSONDict]:
    """Text split into one chunk per word, each functionCall whole in its own chunk."""
    grounding = _grounding(parts)
    pieces: list[JSONDict] = []
    for part in parts:
        if "text" in part:
            pieces += [{**part, "text": word} for word in words(part["text"])]
        else:
            pieces.append(part)
    response_id = f"fake-{uuid.uuid4().hex[:20]}"
    chunks = []
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        candidate: JSONDict = {"content": {"role": "model", "parts": [piece]}, "index": 0}
        if last:
            candidate["finishReason"] = "STOP"
            if grounding is not None:
                candidate["groundingMetadata"] = grounding
        chunks.append(
            {
                "candidates": [candidate],
                "usageMetadata": _usage(thinking) if last else _early_usage(),
                "modelVersion": model,
                "responseId": response_id,
            }
        )
    return chunks


def _all_text(contents: Any) -> list[str]:
    texts: list[str] = []
    for content in contents or []:
        for part in content.get("parts") or []:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
    return texts


_FAULT_STATUSES = {400: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED"}


class _FaultDialect(faults.Dialect):
    """The generateContent pieces the shared faults are made of (streams as SSE)."""

    def error(self, status: int, message: str, headers: dict[str, str]) -> web.Response:
        name = _FAULT_STATUSES.get(status, "INTERNAL")
        return _error_response(status, name, message, headers=headers)

    def body(self, text: str) -> bytes:
        return json.dumps(_response(self.model, [{"text": text}], thinking=False)).encode()

    def stream_parts(self, pieces: list[str]) -> faults.StreamParts:
        response_id = f"fake-{uuid.uuid4().hex[:20]}"

        def chunk(text: str, last: bool) -> bytes:
            candidate: JSONDict = {
                "content": {"role": "model", "parts": [{"text": text}]},
                "index": 0,
            }
            if last:
                candidate["finishReason"] = "STOP"
            usage = _usage(thinking=False) if last else _early_usage()
            return _sse(
                {
                    "candidates": [candidate],
                    "usageMetadata": usage,
                    "modelVersion": self.model,
                    "responseId": response_id,
                }
            )

        # The last chunk carries the finish reason and the full usage, as the API sends it.
        return faults.StreamParts(
            head=[], content=[chunk(p, last=False) for p in pieces], tail=[chunk("", last=True)]
        )

    def stream_error(self, message: str) -> bytes:
        return _sse({"error": {"code": 500, "message": message, "status": "INTERNAL"}})


# ---------------------------------------------------------------------------------- the server


class _EmbedFaultDialect(_FaultDialect):
    """Faults on the embeddings methods: an embeddings body for the success forms."""

    def __init__(self, model: str, method: str) -> None:
        super().__init__(model, stream=False)
        self.method = method

    def body(self, text: str) -> bytes:
        return json.dumps(_embed_answer([(text, EMBEDDING_DIMENSIONS)], self.method)).encode()


class FakeGeminiUpstream(ValidatingFakeUpstream):
    default_api_key = "gemini-upstream-credential"
    label = "Gemini"

    def _add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/{version:v1beta|v1}/models/{target}", self._dispatch)

    def _authenticate(self, request: web.Request) -> web.Response | None:
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if not key:
            return _error_response(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to call "
                "this API.",
            )
        if key != self.api_key:
            details = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                }
            ]
            return _error_response(
                400,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                details=details,
            )
        return None

    def _invalid(self, message: str, model: str, *, as_array: bool = False) -> web.Response:
        self._reject(message, model)
        return _error_response(400, "INVALID_ARGUMENT", message, as_array=as_array)

    # ------------------------------------------------------------------ routes

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        model, _, method = request.match_info["target"].rpartition(":")
        if model and method in ("batchEmbedContents", "embedContent"):
            return await self._embed(request, model, method)
        if not model or method not in ("generateContent", "streamGenerateContent", "countTokens"):
            return _error_response(
                404, "NOT_FOUND", f"Method not found: {request.match_info['target']}"
            )
        sse = request.query.get("alt") == "sse"
        as_array = method == "streamGenerateContent" and not sse
        try:
            body = json.loads(await request.read())
        except ValueError:
            return self._invalid("Invalid JSON payload received.", model, as_array=as_array)
        try:
            if method == "countTokens":
                validate_count_tokens(body)
            else:
                validate_request(body, model)
        except RequestInvalid as exc:
            return self._invalid(str(exc), model, as_array=as_array)

        fault = request[FAULT]
        if fault and method != "countTokens":
            if as_array:
                return _error_response(
                    400, "FAILED_PRECONDITION", "the fake plays faults on alt=sse streams only"
                )
            dialect = _FaultDialect(model, method == "streamGenerateContent")
            return await faults.serve(self, request, fault, dialect)
        if model in _ERRORS:
            code, status, message, headers, details = _ERRORS[model]
            return _error_response(
                code, status, message, details=details, headers=headers, as_array=as_array
            )
        if method == "countTokens":
            inner = _get(body, "generateContentRequest") or body
            words = sum(len(t.split()) for t in _all_text(_get(inner, "contents")))
            return web.json_response({"totalTokens": words + 3})

        thinking = _thinking_on(body)
        if method == "generateContent":
            if model == "gemini-midstream-error":
                return _error_response(503, "UNAVAILABLE", _OVERLOADED["message"])
            return web.json_response(_response(model, _plan_parts(body), thinking))

        delay = self.chunk_delay
        final_event = "stream_completed"
        if model == "gemini-slow-stream":
            text = " ".join(f"tick{k}" for k in range(SLOW_STREAM_CHUNKS))
            chunks = _stream_chunks(model, [{"text": text}], thinking=False)
            delay = SLOW_STREAM_DELAY
        elif model == "gemini-midstream-error":
            chunks = _stream_chunks(model, [{"text": REPLY_TEXT}], thinking=False)[:2]
            chunks.append({"error": dict(_OVERLOADED)})
            final_event = "stream_errored"
        else:
            chunks = _stream_chunks(model, _plan_parts(body), thinking)
        return await self._send_stream(
            request, model, chunks, sse=sse, delay=delay, final_event=final_event
        )

    async def _embed(self, request: web.Request, model: str, method: str) -> web.StreamResponse:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return self._invalid("Invalid JSON payload received.", model)
        try:
            planned = embed_entries(body, model, method)
        except RequestInvalid as exc:
            return self._invalid(str(exc), model)
        if request[FAULT]:
            dialect = _EmbedFaultDialect(model, method)
            return await faults.serve(self, request, request[FAULT], dialect)
        if model in _ERRORS:
            code, status, message, headers, details = _ERRORS[model]
            return _error_response(code, status, message, details=details, headers=headers)
        return web.json_response(_embed_answer(planned, method))

    # ------------------------------------------------------------------ streaming

    async def _send_stream(
        self,
        request: web.Request,
        model: str,
        chunks: list[JSONDict],
        *,
        sse: bool,
        delay: float,
        final_event: str,
    ) -> web.StreamResponse:
        """SSE events, or (without ``alt=sse``) a JSON array written one element at a time."""
        if sse:
            pieces = [_sse(chunk) for chunk in chunks]
            content_type = "text/event-stream"
        else:
            # The real API pretty-prints each element and separates them with ",\r\n".
            pieces = [
                ("[" if i == 0 else ",\r\n").encode() + json.dumps(chunk, indent=2).encode()
                for i, chunk in enumerate(chunks)
            ]
            pieces.append(b"]" if pieces else b"[]")
            content_type = "application/json; charset=UTF-8"
        resp = web.StreamResponse(
            headers={"Content-Type": content_type, "Cache-Control": "no-cache"}
        )
        await resp.prepare(request)
        if await self._write_events(request, resp, model, pieces, delay=delay):
            await self._complete_stream(resp, model, final_event)
        return resp
