"""Requests whose path or query string no view can serve are answered 400 before any view.

The rule: once percent-decoded, the path and the query string are UTF-8 with no control
character (NUL above all: PostgreSQL refuses it in text, so a NUL that reached a query
was a 500). The relay consumers apply the same rule (`scope_problem`) in their dispatch.
"""

import re
from inspect import iscoroutinefunction
from urllib.parse import unquote_to_bytes

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.utils.decorators import sync_and_async_middleware
from django.utils.deprecation import MiddlewareMixin

API_PREFIX = "/api/"
OPENROUTER_PREFIX = "/api/v1/"  # OpenRouter's base URL: its clients read its error envelope
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")
_CLOSER_LOOK = re.compile(rb"[\x00-\x1f\x7f-\xff%]")  # a control, a non-ASCII byte or an escape


def _problem(name: str, decoded: bytes) -> str | None:
    if _CONTROL.search(decoded):
        return f"the {name} contains a NUL or another control character"
    if not decoded.isascii():
        try:
            decoded.decode()
        except UnicodeDecodeError:
            return f"the {name} is not valid UTF-8"
    return None


def url_problem(path: bytes, query: bytes) -> str | None:
    """What is wrong with a request's percent-decoded path and raw query string, or None."""
    if query:
        query = unquote_to_bytes(query.replace(b"+", b" ")) if b"%" in query else query
    return _problem("path", path) or (_problem("query string", query) if query else None)


def scope_problem(scope) -> str | None:
    """url_problem for an ASGI request: the path as the client sent it, when the server
    passes it on (`raw_path`), since the decoded `path` has invalid UTF-8 replaced."""
    raw = scope.get("raw_path")
    query = scope.get("query_string") or b""
    if isinstance(query, str):  # Django's AsyncClient passes text
        query = query.encode("latin-1", "replace")
    if raw and not _CLOSER_LOOK.search(raw) and not (query and _CLOSER_LOOK.search(query)):
        return None  # the usual call: plain ASCII, nothing to decode
    if raw:
        path = unquote_to_bytes(raw) if b"%" in raw else raw
    else:
        path = scope["path"].encode("utf-8", "surrogateescape")
    return url_problem(path, query)


def request_problem(request) -> str | None:
    scope = getattr(request, "scope", None)
    if scope is not None:
        return scope_problem(scope)
    # WSGI (the test client): PATH_INFO holds the path's bytes as latin-1, decoded, except
    # for bytes that are not UTF-8, which Django's test client leaves percent-encoded.
    environ = request.META
    path = environ.get("PATH_INFO", "").encode("latin-1", "replace")
    path = unquote_to_bytes(path) if b"%" in path else path
    return url_problem(path, environ.get("QUERY_STRING", "").encode("latin-1", "replace"))


def _bad_request(request, problem: str) -> HttpResponse:
    if request.path.startswith(OPENROUTER_PREFIX):
        body = {"error": {"code": 400, "message": f"Bad Request: {problem}"}}
        return JsonResponse(body, status=400)
    if request.path.startswith(API_PREFIX):  # the management API answers JSON, as DRF would
        return JsonResponse({"detail": f"Bad Request: {problem}"}, status=400)
    return HttpResponseBadRequest(f"Bad Request: {problem}\n", content_type="text/plain")


@sync_and_async_middleware
def reject_unservable_urls(get_response):
    if iscoroutinefunction(get_response):

        async def middleware(request):
            problem = request_problem(request)
            if problem:
                return _bad_request(request, problem)
            return await get_response(request)

    else:

        def middleware(request):
            problem = request_problem(request)
            if problem:
                return _bad_request(request, problem)
            return get_response(request)

    return middleware


class AnswerDatabaseOutages(MiddlewareMixin):
    """A view that needs PostgreSQL while it is out of reach answers 503 (retry shortly),
    in JSON under /api/ and as text elsewhere, instead of a 500 (the relay consumers do the
    same: routing/proxy/errors.py DATABASE_UNAVAILABLE)."""

    def process_exception(self, request, exception):
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        message = "the database is unavailable; try again shortly"
        if request.path.startswith(OPENROUTER_PREFIX):
            response: HttpResponse = JsonResponse(
                {"error": {"code": 503, "message": message}}, status=503
            )
        elif request.path.startswith(API_PREFIX):
            response = JsonResponse({"detail": message}, status=503)
        else:
            response = HttpResponse(f"{message}\n", status=503, content_type="text/plain")
        response["Retry-After"] = "2"
        return response
