"""A relay request's JSON body, parsed without holding up the event loop.

orjson parses at ~13 ms per MiB of small objects (a 27 MiB body of 925,000 messages: 0.4 s)
and holds the GIL throughout, so a worker thread would stall the loop just the same. Bodies
up to ORCA_JSON_INLINE_BYTES (the usual call) are parsed inline by orjson. Larger ones go to a
worker thread and the standard library's pure-Python decoder, which gives the GIL back every
switch interval (5 ms): the loop keeps serving other calls while it works. It is several
times slower on object-heavy bodies, and as fast on what large bodies mostly are, long
strings (base64 images, documents), whose scanning is one regular-expression match.

What the loop does with the parsed body afterwards (validation, translation, the token
estimate) is linear in its items, so a large body may hold at most ORCA_MAX_JSON_ITEMS array
items in all (100,000 by default, the number of messages Anthropic allows in one request):
counted in the same thread, refused with 413 before the loop sees it."""

import asyncio
import json
import json.decoder
import json.scanner

import orjson
from django.conf import settings

from .errors import GatewayError


def parse_json_body(body: bytes) -> object:
    if not body:
        raise GatewayError(400, "request body is empty; send a JSON object", code="invalid_json")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise GatewayError(
            400, f"request body is not valid JSON: {exc}", code="invalid_json"
        ) from None


async def read_json_body(body: bytes) -> object:
    """parse_json_body, off the event loop for a body over ORCA_JSON_INLINE_BYTES."""
    if len(body) <= settings.ORCA_JSON_INLINE_BYTES:
        return parse_json_body(body)
    return await asyncio.to_thread(_parse_yielding, body)


def _too_many_items(value: object, limit: int) -> bool:
    """Whether `value` holds more than `limit` array items, at any depth."""
    stack, count = [value], 0
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            count += len(item)
            if count > limit:
                return True
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
    return False


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def _decoder() -> json.JSONDecoder:
    decoder = json.JSONDecoder(parse_constant=_no_constant)  # NaN, Infinity: as orjson
    decoder.parse_string = json.decoder.py_scanstring  # type: ignore[attr-defined]
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]
    return decoder


_DECODER = _decoder()


def _parse_yielding(body: bytes) -> object:
    try:
        text = body.decode()
    except UnicodeDecodeError as exc:
        raise GatewayError(
            400, f"request body is not valid UTF-8: {exc.reason} at byte {exc.start}",
            code="invalid_json",
        ) from None  # fmt: skip
    try:
        value = _DECODER.decode(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise GatewayError(
            400, f"request body is not valid JSON: {exc}", code="invalid_json"
        ) from None
    limit = settings.ORCA_MAX_JSON_ITEMS
    if _too_many_items(value, limit):
        raise GatewayError(
            413, f"request body holds more than {limit} array items (messages, parts, tools)",
            code="request_too_large",
        )  # fmt: skip
    return value
