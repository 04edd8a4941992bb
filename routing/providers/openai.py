"""OpenAI and every OpenAI-compatible server (vLLM, Ollama, DeepSeek, xAI, ...)."""

import asyncio
from collections.abc import AsyncIterator, Mapping

import aiohttp
import orjson

from ..catalog.snapshot import ModelRoute
from . import http
from .base import Deadline, Timeouts, UpstreamFailure, UpstreamTimeout


class AiohttpUpstreamResponse:
    __slots__ = ("_deadline", "_finished", "_response", "_timeouts", "headers", "status")

    def __init__(
        self, response: aiohttp.ClientResponse, timeouts: Timeouts, deadline: Deadline
    ) -> None:
        self._response = response
        self._timeouts = timeouts
        self._deadline = deadline
        self._finished = False
        self.status: int = response.status
        self.headers: Mapping[str, str] = response.headers

    async def chunks(self) -> AsyncIterator[bytes]:
        content = self._response.content
        try:
            while True:
                wait, blame = self._deadline.budget(self._timeouts.idle)
                try:
                    async with asyncio.timeout(wait):
                        chunk = await content.readany()
                except TimeoutError:
                    raise UpstreamTimeout(blame or "idle") from None
                if not chunk:
                    break
                yield chunk
        except aiohttp.ClientError as exc:
            raise UpstreamFailure(f"upstream connection broke: {type(exc).__name__}") from None
        self._finished = True
        self._response.release()

    async def read(self) -> bytes:
        parts = [chunk async for chunk in self.chunks()]
        return b"".join(parts)

    def close(self) -> None:
        if not self._finished:
            self._response.close()


async def send_openai_chat(
    route: ModelRoute, body: dict, timeouts: Timeouts
) -> AiohttpUpstreamResponse:
    provider = route.provider
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if provider.credential:
        headers["Authorization"] = f"Bearer {provider.credential}"
    deadline = Deadline(timeouts.total)
    wait, blame = deadline.budget(timeouts.first_byte)
    try:
        async with asyncio.timeout(wait):
            response = await http.session().post(
                f"{provider.base_url}/chat/completions",
                data=orjson.dumps(body),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=None, connect=timeouts.connect),
            )
    except aiohttp.ConnectionTimeoutError:
        raise UpstreamTimeout("connect") from None
    except TimeoutError:
        raise UpstreamTimeout(blame or "first byte") from None
    except aiohttp.ClientError as exc:
        raise UpstreamFailure(f"upstream unreachable: {type(exc).__name__}") from None
    return AiohttpUpstreamResponse(response, timeouts, deadline)
