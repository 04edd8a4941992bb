"""What the kinds' adapters share: a call that is one JSON POST, or an answer made here."""

from collections.abc import Mapping

from ..catalog.snapshot import ModelRoute
from . import http
from .base import Timeouts, UpstreamResponse


class JsonPost:
    """An adapter whose upstream call is one JSON POST: the kind says where (`url`) and how
    it authenticates (`headers`; an OpenAI-style bearer unless it says otherwise)."""

    def url(self, route: ModelRoute, stream: bool) -> str:
        raise NotImplementedError

    def headers(self, route: ModelRoute, stream: bool) -> dict[str, str]:
        return http.bearer_headers(route.provider.credential, stream)

    async def send(
        self,
        route: ModelRoute,
        body: dict,
        *,
        stream: bool,
        timeouts: Timeouts,
        extra_headers: Mapping[str, str] | None = None,
    ) -> UpstreamResponse:
        headers = self.headers(route, stream)
        return await http.post_json(self.url(route, stream), body, headers, timeouts, extra_headers)


class LocalAnswer:
    """An adapter that answers in this process (the demo kind): no upstream, no headers."""

    def answer(self, route: ModelRoute, body: dict) -> UpstreamResponse:
        raise NotImplementedError

    async def send(
        self,
        route: ModelRoute,
        body: dict,
        *,
        stream: bool,
        timeouts: Timeouts,
        extra_headers: Mapping[str, str] | None = None,
    ) -> UpstreamResponse:
        return self.answer(route, body)
