"""A static OpenAI-compatible upstream for the benchmark (raw aiohttp, loopback only).

POST /v1/chat/completions answers a fixed JSON body with usage, or with "stream": true an
SSE stream: a few content chunks (BENCH_CHUNK_DELAY_MS apart, default 0), a usage chunk and
[DONE]. With "bench-stamp-<ms>" as `user` or as the first message's text, the content
chunks go <ms> apart and each carries the wall-clock time it was written ("t=<ns>"), so a
client can time every chunk's trip. With "bench-hold-<ms>" instead, the stream is held
open: a stamped chunk every <ms> until the client leaves (or HOLD_MAX_SECONDS), written by
one ticker for all held streams (the stream-load scenario, bench/streamload.py).
POST /v1/responses answers a fixed Response object (the same text and token counts), or with
"stream": true the Responses event sequence (`event:` + `data:` framing, sequence_number
on each; the text in as many deltas as the chat stream, events BENCH_CHUNK_DELAY_MS apart).
Run: python -m bench.mock_upstream --port N
"""

import argparse
import asyncio
import json
import os
import time

from aiohttp import web

MODEL = "mock-model"
USAGE = {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21}
PARTS = ["Hello", " from", " the", " mock", " upstream", "."]
BODY = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(PARTS)},
                "finish_reason": "stop",
            }
        ],
        "usage": USAGE,
    }
).encode()


def _chunk(delta: dict, finish=None, usage=None) -> bytes:
    choices = [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}]
    data = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": MODEL,
        "choices": choices,
    }
    if usage:
        data["usage"] = usage
    return b"data: " + json.dumps(data).encode() + b"\n\n"


CHUNKS = (
    [_chunk({"role": "assistant", "content": ""})]
    + [_chunk({"content": p}) for p in PARTS]
    + [_chunk({}, finish="stop"), _chunk({}, usage=USAGE), b"data: [DONE]\n\n"]
)


async def chat(request: web.Request) -> web.StreamResponse:
    raw = await request.read()
    try:
        data = json.loads(raw or b"{}")
        stream = bool(data.get("stream"))
    except ValueError:
        return web.json_response({"error": {"message": "bad json"}}, status=400)
    if not stream:
        return web.Response(body=BODY, content_type="application/json")
    hold = _marker(data, "bench-hold-")
    if hold is not None:
        return await held(request, hold)
    gap = _stamp_gap(data)
    if gap is not None:
        return await stamped(request, gap)
    delay = float(os.environ.get("BENCH_CHUNK_DELAY_MS", "0") or 0) / 1000
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    for i, chunk in enumerate(CHUNKS):
        if delay and i:
            await asyncio.sleep(delay)
        await resp.write(chunk)
    await resp.write_eof()
    return resp


# --- Responses (POST /v1/responses): the same text, tokens and deltas as the chat stream ---
RESPONSE_ID = "resp_bench"  # bench.run tells a pass-through from a translated answer by it
MESSAGE_ID = "msg_bench"
RESPONSES_USAGE = {
    "input_tokens": USAGE["prompt_tokens"],
    "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},  # (snapshot) field
    "output_tokens": USAGE["completion_tokens"],
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": USAGE["total_tokens"],
}
TEXT = "".join(PARTS)


def _text_part(text: str) -> dict:
    return {"type": "output_text", "text": text, "annotations": []}


def _message_item(status: str, content: list) -> dict:
    return {
        "type": "message",
        "id": MESSAGE_ID,
        "status": status,
        "role": "assistant",
        "content": content,
    }


def _response(status: str, output: list, usage: dict | None) -> dict:
    return {
        "id": RESPONSE_ID,
        "object": "response",
        "created_at": 1700000000,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": MODEL,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "metadata": {},
    }


DONE_ITEM = _message_item("completed", [_text_part(TEXT)])
RESPONSE_BODY = json.dumps(_response("completed", [DONE_ITEM], RESPONSES_USAGE)).encode()


def _responses_events() -> list[bytes]:
    where = {"item_id": MESSAGE_ID, "output_index": 0, "content_index": 0}
    events: list[dict] = [
        {"type": "response.created", "response": _response("in_progress", [], None)},
        {"type": "response.in_progress", "response": _response("in_progress", [], None)},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": _message_item("in_progress", []),
        },
        {"type": "response.content_part.added", **where, "part": _text_part("")},
    ]
    events += [
        {"type": "response.output_text.delta", **where, "delta": p, "logprobs": []} for p in PARTS
    ]
    events += [
        {"type": "response.output_text.done", **where, "text": TEXT, "logprobs": []},
        {"type": "response.content_part.done", **where, "part": _text_part(TEXT)},
        {"type": "response.output_item.done", "output_index": 0, "item": DONE_ITEM},
        {
            "type": "response.completed",
            "response": _response("completed", [DONE_ITEM], RESPONSES_USAGE),
        },
    ]
    out = []
    for seq, event in enumerate(events):
        event = {"type": event["type"], "sequence_number": seq} | event
        data = json.dumps(event).encode()
        out.append(b"event: " + event["type"].encode() + b"\ndata: " + data + b"\n\n")
    return out


RESPONSES_EVENTS = _responses_events()


async def responses(request: web.Request) -> web.StreamResponse:
    raw = await request.read()
    try:
        data = json.loads(raw or b"{}")
        stream = bool(data.get("stream"))
    except ValueError:
        return web.json_response({"error": {"message": "bad json"}}, status=400)
    if not stream:
        return web.Response(body=RESPONSE_BODY, content_type="application/json")
    delay = float(os.environ.get("BENCH_CHUNK_DELAY_MS", "0") or 0) / 1000
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    for i, event in enumerate(RESPONSES_EVENTS):
        if delay and i:
            await asyncio.sleep(delay)
        await resp.write(event)
    await resp.write_eof()
    return resp


def _marker(data: dict, prefix: str) -> int | None:
    """The <ms> of "<prefix><ms>" given as the `user` field or as the first message's text
    (some proxies drop `user`)."""
    messages = data.get("messages") or [{}]
    first = messages[0] if isinstance(messages[0], dict) else {}
    for marker in (data.get("user"), first.get("content")):
        if isinstance(marker, str) and marker.startswith(prefix):
            return int(marker.rsplit("-", 1)[1])
    return None


def _stamp_gap(data: dict) -> float | None:
    """Seconds between stamped chunks when the request asks for them ("bench-stamp-<ms>")."""
    ms = _marker(data, "bench-stamp-")
    return None if ms is None else ms / 1000


async def stamped(request: web.Request, delay: float) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    await resp.write(CHUNKS[0])
    for _ in range(STAMPED_CHUNKS):
        await asyncio.sleep(delay)
        await resp.write(_chunk({"content": f"t={letter_stamp(time.time_ns())} "}))
    for chunk in CHUNKS[-3:]:
        await resp.write(chunk)
    await resp.write_eof()
    return resp


def letter_stamp(ns: int) -> str:
    """The time as letters (hex digits 0-f written a-p) ending in a space: text no guardrail
    detector takes for a number, complete within its chunk, so a guarded stream releases it
    at once and the probe times the screening, not a held-back tail."""
    return f"{ns:x}".translate(_HEX_TO_LETTERS)


_HEX_TO_LETTERS = str.maketrans("0123456789abcdef", "abcdefghijklmnop")
STAMPED_CHUNKS = 10
HOLD_MAX_SECONDS = 600.0
# A stamped chunk cut around its stamp, so the ticker only formats an integer per write.
_HOLD_HEAD, _HOLD_TAIL = _chunk({"content": "t=\0"}).split(b"\\u0000")


class _Wheel:
    """Every held stream of one gap (ms), spread over `gap` one-millisecond slots so the
    writes come evenly (50 per ms for 1,000 streams 20 ms apart), not as one burst per gap.
    One ticker writes each slot's chunks straight to the transports: per-stream sleeps
    and awaited writes cost the mock more CPU than the relay it is measuring."""

    def __init__(self, gap_ms: int) -> None:
        self.slots: list[dict] = [{} for _ in range(max(1, gap_ms))]
        self.added = 0
        self.task: asyncio.Task | None = None

    def add(self, transport, gone: asyncio.Future) -> None:
        self.slots[self.added % len(self.slots)][transport] = gone
        self.added += 1
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._tick())

    def remove(self, transport) -> None:
        for slot in self.slots:
            slot.pop(transport, None)

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        index = 0
        head, tail = _HOLD_HEAD, _HOLD_TAIL
        while any(self.slots):
            due += 0.001
            await asyncio.sleep(max(0.0, due - loop.time()))
            slot = self.slots[index]
            index = (index + 1) % len(self.slots)
            for transport, gone in list(slot.items()):
                if transport.is_closing():
                    del slot[transport]
                    if not gone.done():
                        gone.set_result(None)
                    continue
                body = head + b"%d" % time.time_ns() + tail
                transport.write(b"%x\r\n%s\r\n" % (len(body), body))
        self.task = None


_WHEELS: dict[int, _Wheel] = {}


async def held(request: web.Request, gap_ms: int) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    await resp.write(CHUNKS[0])  # headers and the first chunk out through aiohttp
    wheel = _WHEELS.setdefault(gap_ms, _Wheel(gap_ms))
    transport = request.transport
    gone = asyncio.get_running_loop().create_future()
    wheel.add(transport, gone)
    try:
        await asyncio.wait_for(gone, HOLD_MAX_SECONDS)
    except TimeoutError:
        pass
    finally:
        wheel.remove(transport)
    if not transport.is_closing():
        for chunk in CHUNKS[-3:]:
            await resp.write(chunk)
        await resp.write_eof()
    return resp


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/chat/completions", chat)
    app.router.add_post("/v1/responses", responses)
    app.router.add_post("/responses", responses)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
