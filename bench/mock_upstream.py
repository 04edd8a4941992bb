"""A static OpenAI-compatible upstream for the benchmark (raw aiohttp, loopback only).

POST /v1/chat/completions answers a fixed JSON body with usage, or with "stream": true an
SSE stream: a few content chunks (BENCH_CHUNK_DELAY_MS apart, default 0), a usage chunk and
[DONE]. With "bench-stamp-<ms>" as `user` or as the first message's text, the content
chunks go <ms> apart and each carries the wall-clock time it was written ("t=<ns>"), so a
client can time every chunk's trip.
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


def _stamp_gap(data: dict) -> float | None:
    """Seconds between stamped chunks when the request asks for them: "bench-stamp-<ms>" as
    the `user` field or as the first message's text (some proxies drop `user`)."""
    messages = data.get("messages") or [{}]
    first = messages[0] if isinstance(messages[0], dict) else {}
    for marker in (data.get("user"), first.get("content")):
        if isinstance(marker, str) and marker.startswith("bench-stamp-"):
            return int(marker.rsplit("-", 1)[1]) / 1000
    return None


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
