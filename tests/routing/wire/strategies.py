"""Hypothesis strategies for the wire property tests: one abstract conversation or answer, drawn
once, then written out in each dialect, so every dialect is checked against the same content."""

import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
from hypothesis import strategies as st

from routing.catalog.snapshot import ModelRoute, ProviderRoute

TOOL_NAMES = ("get_weather", "search_docs", "lookup_user")
UPSTREAM_MODEL = "up-model"

# Text with no leading or trailing whitespace: Anthropic strips a prefill's trailing space and
# refuses blank text, which valid requests never carry. Letters, digits, punctuation, symbols
# (emoji) and inner spaces, across scripts.
_CHARS = st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs"))
texts = st.text(_CHARS, min_size=1, max_size=24).map(str.strip).filter(bool)


def route(kind: str = "openai") -> ModelRoute:
    provider = ProviderRoute(slug=f"p-{kind}", kind=kind, base_url="", credential="")
    return ModelRoute(
        public_id=f"{kind}/{UPSTREAM_MODEL}",
        upstream_name=UPSTREAM_MODEL,
        provider=provider,
        input_price=Decimal(0),
        output_price=Decimal(0),
        cached_input_price=None,
        context_length=200_000,
        max_output_tokens=8192,
        capabilities=("tools",),
        endpoint_types=("chat",),
        created=0,
    )


@dataclass
class Call:
    id: str
    name: str
    args: dict[str, Any]
    result: str


@dataclass
class Turn:
    """One user turn, optionally followed by the assistant's answer (text and/or tool calls,
    each call answered by a tool result before the next turn)."""

    user: list[str]
    reply: str | None = None
    calls: list[Call] = field(default_factory=list)


@dataclass
class Conversation:
    system: list[str]
    turns: list[Turn]
    tools: list[str]
    tool_choice: str | None  # "auto" | "none" | "required" | a tool name
    temperature: float | None
    top_p: float | None
    top_k: int | None
    max_tokens: int | None
    stop: list[str]
    stream: bool
    n: int | None
    shapes: random.Random  # seeded by hypothesis: per-dialect choices of form (string or parts)

    def user_texts(self) -> list[str]:
        return [t for turn in self.turns for t in turn.user]

    def all_texts(self) -> list[str]:
        out = [*self.system, *self.user_texts()]
        for turn in self.turns:
            out.extend([turn.reply] if turn.reply else [])
            out.extend(call.result for call in turn.calls)
        return out


_args = st.dictionaries(st.sampled_from(("q", "city", "limit")), texts, min_size=1, max_size=2)


@st.composite
def conversations(draw: st.DrawFn) -> Conversation:
    tools = draw(st.lists(st.sampled_from(TOOL_NAMES), unique=True, max_size=3))
    turns = []
    call_number = 0
    for position in range(draw(st.integers(1, 3))):
        turn = Turn(user=draw(st.lists(texts, min_size=1, max_size=3)))
        last = position == 2
        if not last and draw(st.booleans()):
            turn.reply = draw(st.none() | texts)
            if tools:
                for _ in range(draw(st.integers(0, 2))):
                    call_number += 1
                    name = draw(st.sampled_from(tools))
                    turn.calls.append(Call(f"call_{call_number}", name, draw(_args), draw(texts)))
            if turn.reply is None and not turn.calls:
                turn.reply = draw(texts)
        turns.append(turn)
    # Some conversations end on tool results: the model is asked to go on after its calls.
    if tools and draw(st.booleans()):
        name = draw(st.sampled_from(tools))
        call_number += 1
        turns[-1].reply = draw(st.none() | texts)
        turns[-1].calls = [Call(f"call_{call_number}", name, draw(_args), draw(texts))]
    choice = (
        draw(st.none() | st.sampled_from(["auto", "none", "required", *tools])) if tools else None
    )
    return Conversation(
        system=draw(st.lists(texts, max_size=2)),
        turns=turns,
        tools=tools,
        tool_choice=choice,
        temperature=draw(st.none() | st.floats(0, 1, allow_nan=False)),
        top_p=draw(st.none() | st.floats(0, 1, allow_nan=False)),
        top_k=draw(st.none() | st.integers(1, 100)),
        max_tokens=draw(st.none() | st.integers(1, 8192)),
        stop=draw(st.lists(texts, max_size=4, unique=True)),
        stream=draw(st.booleans()),
        n=draw(st.sampled_from([None, 1, 2])),
        shapes=draw(st.randoms(use_true_random=False)),
    )


def _schema(name: str) -> dict:
    return {
        "type": "object",
        "properties": {"q": {"type": "string"}, "city": {"type": "string"}},
        "required": [],
        "description": f"arguments of {name}",
    }


def _pick(c: Conversation, *options: Any) -> Any:
    return c.shapes.choice(options)


def _args_json(call: Call) -> str:
    return orjson.dumps(call.args).decode()


# --- the conversation written in each client dialect -----------------------------------------


def as_chat(c: Conversation) -> dict:
    messages: list[dict] = []
    for text in c.system:
        messages.append({"role": _pick(c, "system", "developer"), "content": text})
    for turn in c.turns:
        if _pick(c, "string", "parts") == "string":
            messages.append({"role": "user", "content": "\n".join(turn.user)})
        else:
            parts = [{"type": "text", "text": t} for t in turn.user]
            messages.append({"role": "user", "content": parts})
        if turn.reply is None and not turn.calls:
            continue
        message: dict[str, Any] = {"role": "assistant", "content": turn.reply}
        if turn.calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": _args_json(call)},
                }
                for call in turn.calls
            ]
        messages.append(message)
        for call in turn.calls:
            messages.append({"role": "tool", "tool_call_id": call.id, "content": call.result})
    body: dict[str, Any] = {"model": "client/model", "messages": messages}
    if c.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {"name": n, "description": f"{n} tool", "parameters": _schema(n)},
            }
            for n in c.tools
        ]
    if c.tool_choice in ("auto", "none", "required"):
        body["tool_choice"] = c.tool_choice
    elif c.tool_choice:
        body["tool_choice"] = {"type": "function", "function": {"name": c.tool_choice}}
    if c.temperature is not None:
        body["temperature"] = c.temperature
    if c.top_p is not None:
        body["top_p"] = c.top_p
    if c.max_tokens is not None:
        body[_pick(c, "max_tokens", "max_completion_tokens")] = c.max_tokens
    if c.stop:
        body["stop"] = c.stop[0] if len(c.stop) == 1 and _pick(c, True, False) else c.stop
    if c.n is not None:
        body["n"] = c.n
    if c.stream:
        body["stream"] = True
    return body


def as_messages(c: Conversation) -> dict:
    messages: list[dict] = []
    pending_results: list[dict] = []
    for turn in c.turns:
        user: list[dict] = [*pending_results, *({"type": "text", "text": t} for t in turn.user)]
        pending_results = []
        if len(user) == 1 and _pick(c, "string", "blocks") == "string":
            messages.append({"role": "user", "content": turn.user[0]})
        else:
            messages.append({"role": "user", "content": user})
        if turn.reply is None and not turn.calls:
            continue
        blocks: list[dict] = [{"type": "text", "text": turn.reply}] if turn.reply else []
        blocks += [
            {"type": "tool_use", "id": call.id, "name": call.name, "input": call.args}
            for call in turn.calls
        ]
        messages.append({"role": "assistant", "content": blocks})
        pending_results = [
            {"type": "tool_result", "tool_use_id": call.id, "content": call.result}
            for call in turn.calls
        ]
    if pending_results:
        messages.append({"role": "user", "content": pending_results})
    body: dict[str, Any] = {
        "model": "client/model",
        "max_tokens": c.max_tokens or 1024,
        "messages": messages,
    }
    if c.system:
        if len(c.system) == 1 and _pick(c, "string", "blocks") == "string":
            body["system"] = c.system[0]
        else:
            body["system"] = [{"type": "text", "text": t} for t in c.system]
    if c.tools:
        body["tools"] = [
            {"name": n, "description": f"{n} tool", "input_schema": _schema(n)} for n in c.tools
        ]
    if c.tool_choice in ("auto", "none"):
        body["tool_choice"] = {"type": c.tool_choice}
    elif c.tool_choice == "required":
        body["tool_choice"] = {"type": "any"}
    elif c.tool_choice:
        body["tool_choice"] = {"type": "tool", "name": c.tool_choice}
    for name, value in (("temperature", c.temperature), ("top_p", c.top_p), ("top_k", c.top_k)):
        if value is not None:
            body[name] = value
    if c.stop:
        body["stop_sequences"] = c.stop
    if c.stream:
        body["stream"] = True
    return body


def as_generate(c: Conversation) -> dict:
    contents: list[dict] = []
    pending: list[dict] = []
    for turn in c.turns:
        contents.append({"role": "user", "parts": [*pending, *({"text": t} for t in turn.user)]})
        pending = []
        if turn.reply is None and not turn.calls:
            continue
        parts: list[dict] = [{"text": turn.reply}] if turn.reply else []
        parts += [{"functionCall": {"name": call.name, "args": call.args}} for call in turn.calls]
        contents.append({"role": "model", "parts": parts})
        pending = [
            {"functionResponse": {"name": call.name, "response": {"result": call.result}}}
            for call in turn.calls
        ]
    if pending:
        contents.append({"role": "user", "parts": pending})
    body: dict[str, Any] = {"contents": contents}
    if c.system:
        body["systemInstruction"] = {"parts": [{"text": t} for t in c.system]}
    if c.tools:
        declarations = [
            {"name": n, "description": f"{n} tool", "parameters": _schema(n)} for n in c.tools
        ]
        body["tools"] = [{"functionDeclarations": declarations}]
    if c.tool_choice:
        mode = {"auto": "AUTO", "none": "NONE"}.get(c.tool_choice, "ANY")
        calling: dict[str, Any] = {"mode": mode}
        if c.tool_choice not in ("auto", "none", "required"):
            calling["allowedFunctionNames"] = [c.tool_choice]
        body["toolConfig"] = {"functionCallingConfig": calling}
    config: dict[str, Any] = {}
    for name, value in (
        ("temperature", c.temperature),
        ("topP", c.top_p),
        ("topK", c.top_k),
        ("maxOutputTokens", c.max_tokens),
    ):
        if value is not None:
            config[name] = value
    if c.stop:
        config["stopSequences"] = c.stop
    if c.n is not None:
        config["candidateCount"] = c.n
    if config:
        body["generationConfig"] = config
    return body


def as_responses(c: Conversation) -> dict:
    items: list[dict] = []
    for turn in c.turns:
        if _pick(c, "string", "parts") == "string":
            content: Any = "\n".join(turn.user)
        else:
            content = [{"type": "input_text", "text": t} for t in turn.user]
        items.append({"type": "message", "role": "user", "content": content})
        if turn.reply:
            items.append(
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": turn.reply}],
                }
            )
        for call in turn.calls:
            items.append(
                {
                    "type": "function_call",
                    "call_id": call.id,
                    "name": call.name,
                    "arguments": _args_json(call),
                }
            )
        for call in turn.calls:
            items.append(
                {"type": "function_call_output", "call_id": call.id, "output": call.result}
            )
    body: dict[str, Any] = {"model": "client/model", "input": items}
    if c.system:
        body["instructions"] = "\n".join(c.system)
    if c.tools:
        body["tools"] = [
            {"type": "function", "name": n, "description": f"{n} tool", "parameters": _schema(n)}
            for n in c.tools
        ]
    if c.tool_choice in ("auto", "none", "required"):
        body["tool_choice"] = c.tool_choice
    elif c.tool_choice:
        body["tool_choice"] = {"type": "function", "name": c.tool_choice}
    if c.temperature is not None:
        body["temperature"] = c.temperature
    if c.top_p is not None:
        body["top_p"] = c.top_p
    if c.max_tokens is not None:
        body["max_output_tokens"] = c.max_tokens
    if c.stream:
        body["stream"] = True
    return body


# --- an upstream's answer ---------------------------------------------------------------------


@dataclass
class Answer:
    pieces: list[str]  # the text, as the upstream cut it (joined, it is the whole text)
    calls: list[tuple[str, str, dict]]  # (id, name, arguments)
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int

    @property
    def text(self) -> str:
        return "".join(self.pieces)


@st.composite
def answers(draw: st.DrawFn) -> Answer:
    pieces = draw(st.lists(st.text(_CHARS, min_size=1, max_size=12), max_size=4))
    names = draw(st.lists(st.sampled_from(TOOL_NAMES), max_size=3))
    calls = [(f"call_{i}", name, draw(_args)) for i, name in enumerate(names)]
    if not pieces and not calls:
        pieces = [draw(texts)]
    input_tokens = draw(st.integers(0, 100_000))
    output_tokens = draw(st.integers(0, 50_000))
    return Answer(
        pieces=pieces,
        calls=calls,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_tokens=draw(st.integers(0, input_tokens)),
        reasoning_tokens=draw(st.integers(0, output_tokens)),
    )


def openai_response(a: Answer) -> dict:
    message: dict[str, Any] = {"role": "assistant", "content": a.text or None}
    if a.calls:
        message["tool_calls"] = [
            {
                "id": id_,
                "type": "function",
                "function": {"name": name, "arguments": orjson.dumps(args).decode()},
            }
            for id_, name, args in a.calls
        ]
    return {
        "id": "chatcmpl-up",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": UPSTREAM_MODEL,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if a.calls else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": a.input_tokens,
            "completion_tokens": a.output_tokens,
            "total_tokens": a.input_tokens + a.output_tokens,
            "prompt_tokens_details": {"cached_tokens": a.cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": a.reasoning_tokens},
        },
    }


def anthropic_response(a: Answer) -> dict:
    content: list[dict] = [{"type": "text", "text": p} for p in a.pieces]
    content += [
        {"type": "tool_use", "id": f"toolu_{id_}", "name": name, "input": args}
        for id_, name, args in a.calls
    ]
    return {
        "id": "msg_up",
        "type": "message",
        "role": "assistant",
        "model": UPSTREAM_MODEL,
        "content": content,
        "stop_reason": "tool_use" if a.calls else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": a.input_tokens - a.cached_tokens,
            "output_tokens": a.output_tokens,
            "cache_read_input_tokens": a.cached_tokens,
            "cache_creation_input_tokens": 0,
        },
    }


def gemini_usage(a: Answer) -> dict:
    meta = {
        "promptTokenCount": a.input_tokens,
        "candidatesTokenCount": a.output_tokens - a.reasoning_tokens,
        "totalTokenCount": a.input_tokens + a.output_tokens,
    }
    if a.reasoning_tokens:
        meta["thoughtsTokenCount"] = a.reasoning_tokens
    if a.cached_tokens:
        meta["cachedContentTokenCount"] = a.cached_tokens
    return meta


def gemini_response(a: Answer) -> dict:
    parts: list[dict] = [{"text": p} for p in a.pieces]
    parts += [{"functionCall": {"name": name, "args": args}} for _, name, args in a.calls]
    return {
        "candidates": [
            {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": gemini_usage(a),
        "modelVersion": UPSTREAM_MODEL,
        "responseId": "up-response",
    }


# --- the same answer as each upstream's event stream -----------------------------------------


def _sse(payload: dict, event: str | None = None) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + orjson.dumps(payload) + b"\n\n"


def _halves(text: str) -> list[str]:
    """Argument JSON in two fragments, as upstreams stream it."""
    middle = len(text) // 2
    return [text[:middle], text[middle:]]


def openai_stream(a: Answer) -> bytes:
    def chunk(delta: dict, finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return _sse(
            {
                "id": "chatcmpl-up",
                "object": "chat.completion.chunk",
                "created": 1_700_000_000,
                "model": UPSTREAM_MODEL,
                "choices": [choice],
            }
        )

    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"content": p}) for p in a.pieces]
    for index, (id_, name, args) in enumerate(a.calls):
        first = {"index": index, "id": id_, "type": "function"}
        out.append(chunk({"tool_calls": [{**first, "function": {"name": name, "arguments": ""}}]}))
        for fragment in _halves(orjson.dumps(args).decode()):
            call = {"index": index, "function": {"arguments": fragment}}
            out.append(chunk({"tool_calls": [call]}))
    out.append(chunk({}, "tool_calls" if a.calls else "stop"))
    usage = openai_response(a)["usage"]
    out.append(
        _sse(
            {
                "id": "chatcmpl-up",
                "object": "chat.completion.chunk",
                "created": 1_700_000_000,
                "model": UPSTREAM_MODEL,
                "choices": [],
                "usage": usage,
            }
        )
    )
    return b"".join(out) + b"data: [DONE]\n\n"


def anthropic_stream(a: Answer) -> bytes:
    usage = anthropic_response(a)["usage"]
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_up",
            "type": "message",
            "role": "assistant",
            "model": UPSTREAM_MODEL,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            # Anthropic's counts are cumulative: the start's never exceeds the final one.
            "usage": {**usage, "output_tokens": min(1, a.output_tokens)},
        },
    }
    out = [_sse(start, "message_start"), b'event: ping\ndata: {"type": "ping"}\n\n']
    index = 0
    if a.pieces:
        block = {"type": "text", "text": ""}
        out.append(_sse({"type": "content_block_start", "index": index, "content_block": block}))
        for piece in a.pieces:
            delta = {"type": "text_delta", "text": piece}
            out.append(_sse({"type": "content_block_delta", "index": index, "delta": delta}))
        out.append(_sse({"type": "content_block_stop", "index": index}))
        index += 1
    for id_, name, args in a.calls:
        block = {"type": "tool_use", "id": f"toolu_{id_}", "name": name, "input": {}}
        out.append(_sse({"type": "content_block_start", "index": index, "content_block": block}))
        for fragment in _halves(orjson.dumps(args).decode()):
            delta = {"type": "input_json_delta", "partial_json": fragment}
            out.append(_sse({"type": "content_block_delta", "index": index, "delta": delta}))
        out.append(_sse({"type": "content_block_stop", "index": index}))
        index += 1
    stop = "tool_use" if a.calls else "end_turn"
    end = {
        "type": "message_delta",
        "delta": {"stop_reason": stop, "stop_sequence": None},
        "usage": {"output_tokens": a.output_tokens},
    }
    out += [_sse(end, "message_delta"), _sse({"type": "message_stop"}, "message_stop")]
    return b"".join(out)


def gemini_stream(a: Answer) -> bytes:
    def event(parts: list[dict], last: bool) -> bytes:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        payload: dict[str, Any] = {
            "candidates": [candidate],
            "modelVersion": UPSTREAM_MODEL,
            "responseId": "up-response",
        }
        if last:
            candidate["finishReason"] = "STOP"
            payload["usageMetadata"] = gemini_usage(a)
        return _sse(payload)

    parts = [[{"text": p}] for p in a.pieces]
    parts += [[{"functionCall": {"name": name, "args": args}}] for _, name, args in a.calls]
    return b"".join(event(p, i == len(parts) - 1) for i, p in enumerate(parts))
