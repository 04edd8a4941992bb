"""Property tests of the wire translators: any valid request in any client dialect reaches every
upstream dialect as a body that upstream accepts, with its text intact; any valid upstream
answer, whole or streamed in any chunking, reaches every client dialect with its text, tool
calls and usage intact."""

import random
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing.providers import family_adapters
from routing.wire import anthropic, gemini, openai_chat, responses
from routing.wire.canonical import EXTENSION_FIELDS, ChunkAccumulator, InvalidRequest
from routing.wire.sse import EventSplitter
from tests.fakes import anthropic_upstream, gemini_upstream
from tests.routing.wire import strategies as ws

FAST = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


# --- requests: client dialect -> canonical -------------------------------------------------


def chat_in(body: dict) -> dict:
    openai_chat.validate_chat_request(body)
    return body  # canonical is Chat itself


def messages_in(body: dict) -> dict:
    anthropic.validate_messages_request(body)
    return anthropic.messages_to_chat(body)


def generate_in(body: dict) -> dict:
    gemini.validate_generate_request(body)
    return gemini.generate_to_chat(body, model="client/model", stream=False)


def responses_in(body: dict) -> dict:
    responses.validate_responses_request(body)
    return responses.responses_to_chat(body, history=None)


CLIENTS: dict[str, tuple[Callable[[ws.Conversation], dict], Callable[[dict], dict]]] = {
    "chat": (ws.as_chat, chat_in),
    "messages": (ws.as_messages, messages_in),
    "generate": (ws.as_generate, generate_in),
    "responses": (ws.as_responses, responses_in),
}


# --- requests: what each upstream accepts ----------------------------------------------------


def openai_accepts(body: dict) -> None:
    assert body["model"] == ws.UPSTREAM_MODEL
    openai_chat.validate_chat_request(body)
    assert not set(body) & set(EXTENSION_FIELDS), "canonical extensions reach OpenAI"
    for message in body["messages"]:
        assert "reasoning_content" not in message and "thinking_blocks" not in message
    if body.get("stream"):
        assert body["stream_options"] == {"include_usage": True}


def anthropic_accepts(body: dict) -> None:
    assert body["model"] == ws.UPSTREAM_MODEL
    anthropic_upstream.validate_request(body)


def gemini_accepts(body: dict) -> None:
    gemini_upstream.validate_request(body)


UPSTREAMS = {"openai": openai_accepts, "anthropic": anthropic_accepts, "gemini": gemini_accepts}


def strings_in(value: Any) -> list[str]:
    """Every string value anywhere in a JSON-like structure."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


def kind_of(name: str):
    """The chat adapter of a provider kind."""
    return family_adapters("chat")[name]


def missing_texts(expected: list[str], body: dict) -> list[str]:
    found = strings_in(body)
    # A tool result may travel as JSON text ({"result": ...}), where it is escaped.
    forms = {text: (text, orjson.dumps(text).decode()[1:-1]) for text in expected}
    return [t for t in expected if not any(f in s for s in found for f in forms[t])]


def allowed_refusal(client: str, upstream: str, convo: ws.Conversation, exc: InvalidRequest):
    """The refusals the README documents for requests that cannot be served faithfully."""
    # `n` > 1 (Gemini's candidateCount) has no Anthropic equivalent (README, "The API").
    asks_n = client in ("chat", "generate") and convo.n == 2
    return upstream == "anthropic" and asks_n and exc.param == "n"


@pytest.mark.parametrize("upstream", sorted(UPSTREAMS))
@pytest.mark.parametrize("client", sorted(CLIENTS))
@FAST
@given(convo=ws.conversations())
def test_any_valid_request_reaches_every_upstream_intact(client, upstream, convo):
    render, to_canonical = CLIENTS[client]
    body = render(convo)
    chat = to_canonical(body)
    route = ws.route(upstream)
    try:
        out = kind_of(upstream).from_canonical(chat, route)
    except InvalidRequest as exc:
        assert allowed_refusal(client, upstream, convo, exc), f"{exc.param}: {exc.message}"
        return
    UPSTREAMS[upstream](out)
    assert missing_texts(convo.all_texts(), out) == []
    called = {call.name for turn in convo.turns for call in turn.calls}
    assert called <= set(strings_in(out)), "a tool call's name is lost"


@FAST
@given(convo=ws.conversations())
def test_user_texts_survive_every_client_dialect_into_canonical(convo):
    for render, to_canonical in CLIENTS.values():
        chat = to_canonical(render(convo))
        user = [m for m in chat["messages"] if m["role"] == "user"]
        assert missing_texts(convo.user_texts(), {"m": user}) == []


# --- responses: upstream answer -> canonical -> client dialect ----------------------------


UPSTREAM_ANSWERS: dict[str, Callable[[ws.Answer], dict]] = {
    "openai": ws.openai_response,
    "anthropic": ws.anthropic_response,
    "gemini": ws.gemini_response,
}


def chat_out(completion: dict) -> tuple[str, list[tuple[str, dict]], tuple[int, int, int]]:
    message = completion["choices"][0]["message"]
    calls = [
        (c["function"]["name"], orjson.loads(c["function"]["arguments"]))
        for c in message.get("tool_calls") or []
    ]
    usage = completion["usage"]
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
    return (
        message["content"] or "",
        calls,
        (
            usage["prompt_tokens"],
            usage["completion_tokens"],
            cached,
        ),
    )


def messages_out(completion: dict):
    body = anthropic.chat_to_messages_response(completion, model="client/model")
    text = "".join(b["text"] for b in body["content"] if b["type"] == "text")
    calls = [(b["name"], b["input"]) for b in body["content"] if b["type"] == "tool_use"]
    assert all(b["id"] for b in body["content"] if b["type"] == "tool_use")
    usage = body["usage"]
    prompt = (
        usage["input_tokens"]
        + usage["cache_read_input_tokens"]
        + usage["cache_creation_input_tokens"]
    )
    return text, calls, (prompt, usage["output_tokens"], usage["cache_read_input_tokens"])


def generate_out(completion: dict):
    body = gemini.chat_to_generate_response(completion, model="client/model")
    parts = body["candidates"][0]["content"]["parts"]
    text = "".join(p["text"] for p in parts if "text" in p and not p.get("thought"))
    calls = [
        (p["functionCall"]["name"], p["functionCall"]["args"]) for p in parts if "functionCall" in p
    ]
    meta = body["usageMetadata"]
    output = meta["candidatesTokenCount"] + meta.get("thoughtsTokenCount", 0)
    return text, calls, (meta["promptTokenCount"], output, meta.get("cachedContentTokenCount", 0))


def responses_out(completion: dict):
    body = responses.chat_to_responses_response(
        completion,
        response_id="resp_" + "0" * 48,
        model="client/model",
        request={"model": "client/model", "input": "hi"},
        created_at=1_700_000_000,
    )
    text = "".join(
        part["text"]
        for item in body["output"]
        if item["type"] == "message"
        for part in item["content"]
        if part["type"] == "output_text"
    )
    calls = [
        (item["name"], orjson.loads(item["arguments"]))
        for item in body["output"]
        if item["type"] == "function_call"
    ]
    call_ids = [item["call_id"] for item in body["output"] if item["type"] == "function_call"]
    assert len(set(call_ids)) == len(call_ids) and all(0 < len(i) <= 64 for i in call_ids)
    usage = body["usage"]
    cached = usage["input_tokens_details"]["cached_tokens"]
    return text, calls, (usage["input_tokens"], usage["output_tokens"], cached)


CLIENT_RENDERERS = {
    "chat": chat_out,
    "messages": messages_out,
    "generate": generate_out,
    "responses": responses_out,
}


def expected(answer: ws.Answer):
    calls = [(name, args) for _, name, args in answer.calls]
    usage = (answer.input_tokens, answer.output_tokens, answer.cached_tokens)
    return answer.text, calls, usage


@pytest.mark.parametrize("client", sorted(CLIENT_RENDERERS))
@pytest.mark.parametrize("upstream", sorted(UPSTREAM_ANSWERS))
@FAST
@given(answer=ws.answers())
def test_any_upstream_answer_reaches_every_client_intact(upstream, client, answer):
    raw = orjson.dumps(UPSTREAM_ANSWERS[upstream](answer))
    completion = kind_of(upstream).canonical_response(raw, ws.route(upstream))
    assert CLIENT_RENDERERS[client](completion) == expected(answer)


# --- streams: any chunking of a valid upstream stream decodes the same ------------------------


UPSTREAM_STREAMS: dict[str, Callable[[ws.Answer], bytes]] = {
    "openai": ws.openai_stream,
    "anthropic": ws.anthropic_stream,
    "gemini": ws.gemini_stream,
}


def cut(data: bytes, points: list[int]) -> list[bytes]:
    bounds = [0, *sorted({p % (len(data) + 1) for p in points}), len(data)]
    return [data[a:b] for a, b in pairwise(bounds)]


def decode(upstream: str, chunks: list[bytes]) -> list[dict]:
    decoder = kind_of(upstream).stream_decoder(ws.route(upstream))
    splitter = EventSplitter()
    out: list[dict] = []
    for chunk in chunks:
        for event in splitter.feed(chunk):
            out.extend(decoder.feed(event))
    assert decoder.done, "a complete stream must leave the decoder done"
    out.extend(decoder.finish())
    return out


def comparable(chunks: list[dict]) -> list[dict]:
    """Chunks without what differs between two decoders by design: the clock and fresh ids."""
    ids: dict[str, str] = {}

    def norm(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: norm(v, k) for k, v in value.items() if k != "created"}
        if isinstance(value, list):
            return [norm(v) for v in value]
        if key == "id" and isinstance(value, str):
            return ids.setdefault(value, f"id-{len(ids)}")
        return value

    return [norm(chunk) for chunk in chunks]


@pytest.mark.parametrize("upstream", sorted(UPSTREAM_STREAMS))
@FAST
@given(
    answer=ws.answers(), points=st.lists(st.integers(0, 10_000), max_size=12), crlf=st.booleans()
)
def test_stream_decoders_are_blind_to_chunking(upstream, answer, points, crlf):
    stream = UPSTREAM_STREAMS[upstream](answer)
    if crlf:
        stream = stream.replace(b"\n", b"\r\n")
    whole = decode(upstream, [stream])
    assert comparable(decode(upstream, cut(stream, points))) == comparable(whole)
    byte_by_byte = [stream[i : i + 1] for i in range(len(stream))]
    assert comparable(decode(upstream, byte_by_byte)) == comparable(whole)

    collected = ChunkAccumulator()
    for chunk in whole:
        collected.feed(chunk)
    assert chat_out(collected.completion()) == expected(answer)


# --- plain regressions and sanity for the strategies ---------------------------------------


def test_the_strategies_draw_every_feature():
    """Guards the generators: a sample holds tools, calls, stops, system prompts, multi-turn."""
    seen: set[str] = set()

    @settings(max_examples=200, deadline=None, derandomize=True)
    @given(convo=ws.conversations())
    def look(convo: ws.Conversation) -> None:
        calls = [call for turn in convo.turns for call in turn.calls]
        for name, present in (
            ("tools", bool(convo.tools)),
            ("calls", bool(calls)),
            ("stop", bool(convo.stop)),
            ("system", bool(convo.system)),
            ("multi-turn", len(convo.turns) > 1),
            ("sampling", convo.temperature is not None and convo.top_p is not None),
        ):
            if present:
                seen.add(name)

    look()
    assert seen == {"tools", "calls", "stop", "system", "multi-turn", "sampling"}


def test_cut_covers_the_whole_stream():
    data = bytes(range(50))
    rng = random.Random(7)
    for _ in range(20):
        points = [rng.randrange(0, 200) for _ in range(rng.randrange(0, 8))]
        assert b"".join(cut(data, points)) == data
