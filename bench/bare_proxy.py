"""The ceiling: a raw ASGI app relaying POST /v1/chat/completions to BENCH_UPSTREAM with
one pooled aiohttp session. Run: uvicorn bench.bare_proxy:app"""

import os

import aiohttp

UPSTREAM = os.environ.get("BENCH_UPSTREAM", "http://127.0.0.1:9/v1/chat/completions")
session: aiohttp.ClientSession | None = None


async def app(scope, receive, send) -> None:
    global session
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if scope["method"] != "POST" or scope["path"] != "/v1/chat/completions":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    headers = {"Content-Type": "application/json"}
    async with session.post(UPSTREAM, data=body, headers=headers) as resp:
        ctype = resp.headers.get("Content-Type", "application/json").encode()
        start = {"type": "http.response.start", "status": resp.status}
        await send(start | {"headers": [(b"content-type", ctype)]})
        async for chunk in resp.content.iter_any():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})
