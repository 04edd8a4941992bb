"""A static OpenAI-compatible upstream for the benchmark (raw aiohttp, loopback only).

POST /v1/chat/completions answers a fixed JSON body with usage, or with "stream": true an
SSE stream: a few content chunks (BENCH_CHUNK_DELAY_MS apart, default 0), a usage chunk and
[DONE]. With "bench-stamp-<ms>" as `user` or as the first message's text, the content
chunks go <ms> apart and each carries the wall-clock time it was written ("t=<ns>"), so a
client can time every chunk's trip. With "bench-hold-<ms>" instead, the stream is held
open: a stamped chunk every <ms> until the client leaves (or HOLD_MAX_SECONDS), written by
one ticker for all held streams (the stream-load scenario, bench/streamload.py).
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
        await resp.write(_chunk({"content": f"t={time.time_ns()}"}))
    for chunk in CHUNKS[-3:]:
        await resp.write(chunk)
    await resp.write_eof()
    return resp


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
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
