"""Token counts for estimates (reservations, context fit, count_tokens). Pure: no Django, no I/O.

Text is counted with OpenAI's byte-pair encodings through toktok-rs, whose o200k_base and
cl100k_base vocabularies are compiled into its wheel: nothing is read from disk or fetched at
run time. Its counts are tiktoken's (checked on 3,000+ strings, ASCII, CJK, emoji and random
Unicode, when it was chosen: docs/dependencies.md). When the package is missing, its vocabulary
fails to load or it cannot count a string (toktok-rs 0.3 refuses lone surrogates), that text
is counted at four characters a token, the rule Orca used before.

Which encoding (`encoding_for`), kept small on purpose:
- cl100k_base: OpenAI's older models, `gpt-4` and `gpt-4-*` (turbo, 32k, dated), `gpt-3.5*`,
  and the `text-embedding-*` models (ada-002, 3-small, 3-large).
- o200k_base: everything else: gpt-4o, gpt-4.1, gpt-4.5, gpt-5, o1/o3/o4, and other vendors'
  models, for which it is an approximation (Claude, Gemini, Llama, Mistral... have vocabularies
  of their own, none shipped for offline use; o200k is the nearest modern multilingual BPE).

Cost of estimate_chat_prompt() for one message, measured on the 2-core dev machine (toktok-rs
0.3.0; the rule it replaces, four characters a token of the messages' JSON, in the last row):
    message       100 B    1 KB     10 KB      100 KB    1 MB
    English       1.7 µs   3.7 µs   25-39 µs   0.17 ms   0.19 ms
    code          2.0 µs   4.4 µs   24 µs      0.31 ms   0.31 ms
    Chinese       5.3 µs   30 µs    0.27 ms    2.1 ms    1.8 ms    (characters, not bytes)
    len(JSON)/4   0.4 µs   0.4 µs   1.4 µs     5 µs      38 µs
(tiktoken itself: 35-57 µs for 1 KB of English or code, 240 µs for 1,000 Chinese characters.)
So a typical request's text is counted exactly, and two bounds keep a huge body from stalling
the event loop: a text over EXACT_MAX_CHARS is sampled (SAMPLE_WINDOWS windows spread over it,
extrapolated: 0.9% mean and 5.7% worst error on mixed English/code/JSON/CJK/base64 texts of
100 KB-1 MB, where counting a prefix was 9% and 34% off), and once a request has had
REQUEST_EXACT_CHARS counted, its further texts go at the tokens per character seen so far.
Loading a vocabulary takes 0.6 s (o200k, +64 MB) or 0.25 s (cl100k, +37 MB), once per process:
`preload()` does it at start-up so that no request pays it; otherwise the first count does.

The four-characters rule is off by a factor on anything but English: o200k tokens for 10,000
characters are 2,389 of English prose (the rule says 2,500), 2,184 of Python, 2,825 of JSON
schemas, 3,391 of Russian, 6,488 of Chinese, 7,557 of Japanese, 6,788 of base64.
"""

import functools
import logging
import math
import threading
from collections.abc import Callable
from typing import Any

import orjson

__all__ = [
    "CL100K",
    "EXACT_MAX_CHARS",
    "IMAGE_TOKENS",
    "IMAGE_TOKENS_LOW",
    "MEDIA_TOKENS",
    "MESSAGE_TOKENS",
    "NAME_TOKENS",
    "O200K",
    "REPLY_TOKENS",
    "REQUEST_EXACT_CHARS",
    "SAMPLE_WINDOWS",
    "count_text",
    "encoding_for",
    "estimate_chat_prompt",
    "estimate_embeddings_input",
    "exact",
    "fallback_count",
    "preload",
]

log = logging.getLogger(__name__)

O200K = "o200k_base"
CL100K = "cl100k_base"
_CL100K_PREFIXES = ("gpt-4-", "gpt-3.5", "text-embedding-")

# A text longer than this is sampled: SAMPLE_WINDOWS windows of EXACT_MAX_CHARS /
# SAMPLE_WINDOWS characters, evenly spread from its start to its end, are counted and the
# whole extrapolated at their tokens per character. At most ~0.2 ms of English, ~2 ms of CJK.
EXACT_MAX_CHARS = 64 * 1024
SAMPLE_WINDOWS = 64
# After this many characters counted for one request, its other texts are estimated at the
# tokens per character counted so far: at most ~0.7 ms of English, ~8 ms of CJK a request.
REQUEST_EXACT_CHARS = 256 * 1024
# What the relay counts exactly for a call's reservation before estimating the rest at the
# density seen: the reservation runs on every call, and an agent's 100 KB prompt counted in
# full would cost about as much CPU as the whole relay does (~0.2 ms); 4 Ki characters cost
# ~15 us of English (~0.1 ms of CJK). The upstream's own count is what gets billed.
RESERVATION_EXACT_CHARS = 4 * 1024

# Chat framing, as OpenAI's cookbook counts it (its example gives 124 tokens with o200k and
# 129 with cl100k, as OpenAI's API does): each message costs 3 tokens and its role (one token,
# whichever role), a `name` its tokens and 1 more, and every reply is primed with 3.
MESSAGE_TOKENS = 4
NAME_TOKENS = 1
REPLY_TOKENS = 3
# Images are not decoded to be sized: one counts what OpenAI bills a 1024x1024 image at high
# detail (85 base + 4 tiles of 170), or 85 at "low" detail. (Anthropic bills width*height/750,
# ~1,400 for 1024x1024; Gemini 258 a 768x768 tile.)
IMAGE_TOKENS = 765
IMAGE_TOKENS_LOW = 85
# Any other part that is not text (input_audio, file, ...) counts as an image does.
MEDIA_TOKENS = IMAGE_TOKENS

_NO_LIMIT = 1 << 62
_counters: dict[str, Callable[[str], int] | None] = {}  # encoding -> counter, None: fallback
_loading = threading.Lock()


@functools.lru_cache(maxsize=1024)  # model ids repeat: one lookup a call, not string work
def encoding_for(model: str | None) -> str:
    """The encoding that counts for `model` (a vendor prefix such as `openai/` is ignored)."""
    if not model:
        return O200K
    name = model.rsplit("/", 1)[-1].lower()
    if name == "gpt-4" or name.startswith(_CL100K_PREFIXES):
        return CL100K
    return O200K


def fallback_count(text: str) -> int:
    """Four characters a token: the rule when no tokenizer can count."""
    return math.ceil(len(text) / 4)


def count_text(text: str, model: str | None = None) -> int:
    """Tokens of `text` for `model`: its encoding's BPE (a text over EXACT_MAX_CHARS sampled),
    else four characters a token."""
    return _count(text, encoding_for(model))


def exact(model: str | None = None) -> bool:
    """Whether counts for `model` come from its tokenizer (False: four characters a token)."""
    encoding = encoding_for(model)
    counter = _counters[encoding] if encoding in _counters else _load(encoding)
    return counter is not None


def preload(*encodings: str) -> None:
    """Load vocabularies now (default o200k_base and cl100k_base), e.g. as a worker starts, so
    that no request pays the 0.25-0.6 s. A failure is logged and leaves the fallback."""
    for encoding in encodings or (O200K, CL100K):
        if encoding not in _counters:
            _load(encoding)


def _count(text: str, encoding: str) -> int:
    if not text:
        return 0
    counter = _counters[encoding] if encoding in _counters else _load(encoding)
    if counter is None:
        return fallback_count(text)
    try:
        if len(text) <= EXACT_MAX_CHARS:
            return counter(text)
        return _sampled(text, counter)
    except Exception:  # e.g. a lone surrogate, which has no UTF-8: this text only
        return fallback_count(text)


def _sampled(text: str, counter: Callable[[str], int]) -> int:
    width = EXACT_MAX_CHARS // SAMPLE_WINDOWS
    step = (len(text) - width) / (SAMPLE_WINDOWS - 1)
    tokens = 0
    for i in range(SAMPLE_WINDOWS):
        start = int(i * step)
        tokens += counter(text[start : start + width])
    return math.ceil(len(text) * tokens / (width * SAMPLE_WINDOWS))


def _load(encoding: str) -> Callable[[str], int] | None:
    with _loading:
        if encoding in _counters:
            return _counters[encoding]
        counter: Callable[[str], int] | None
        try:
            counter = _toktok_counter(encoding)
            # The package must still count as it did when chosen: an upgrade that changed its
            # interface or vocabulary falls back rather than counting wrong.
            if counter("hello world") != 2 or counter("tiktoken is great!") != 6:
                raise RuntimeError("toktok's counts differ from OpenAI's tokenizer")
        except Exception as exc:
            log.warning("token counts for %s fall back to 4 characters a token: %r", encoding, exc)
            counter = None
        _counters[encoding] = counter
        return counter


def _toktok_counter(encoding: str) -> Callable[[str], int]:
    import toktok

    # The tokenizer object's count() is the fast path (~0.5 µs a call, no thread pool); its
    # accessor is outside toktok's documented API, so the documented truncate() stands in.
    loader = getattr(toktok, "_encoding", None)
    if loader is not None:
        try:
            count: Callable[[str], int] = loader(encoding).count
            count("")
            return count
        except (AttributeError, TypeError):
            pass

    def counted(text: str) -> int:
        return int(toktok.truncate(text, _NO_LIMIT, encoding)[1])

    counted("")
    return counted


class _Tally:
    """One request's texts: counted exactly until `budget` characters, then at the density
    seen so far (a text that crosses the line has its head counted and its tail estimated)."""

    __slots__ = ("budget", "chars", "encoding", "tokens")

    def __init__(self, encoding: str, budget: int = REQUEST_EXACT_CHARS) -> None:
        self.encoding = encoding
        self.budget = budget
        self.chars = 0
        self.tokens = 0

    def __call__(self, text: str) -> int:
        room = self.budget - self.chars
        if room <= 0 and self.tokens:
            return math.ceil(len(text) * self.tokens / self.chars)
        if 0 < room < len(text):
            head = _count(text[:room], self.encoding)
            self.chars += room
            self.tokens += head
            if self.tokens:
                return head + math.ceil((len(text) - room) * self.tokens / self.chars)
            return head + fallback_count(text[room:])
        counted = _count(text, self.encoding)
        self.chars += len(text)
        self.tokens += counted
        return counted


# --------------------------------------------------------------------------------------------
# requests


def estimate_chat_prompt(
    request: dict[str, Any], model: str | None = None, *, budget: int = REQUEST_EXACT_CHARS
) -> int:
    """Input tokens of a canonical chat request (routing/wire/canonical.py), for `model`
    (default: the request's own `model`): each message's text parts, name, tool calls (name
    and arguments) and framing, images and other media at a fixed amount, the tool
    definitions and a json_schema response format as their JSON, plus the reply's priming.
    Reasoning text and thinking blocks of earlier turns are not counted (upstreams drop
    them from the context). `budget`: how many characters are counted exactly before the
    rest is estimated at the density seen (the relay's reservation passes a small one)."""
    count = _Tally(encoding_for(model if model is not None else _model_of(request)), budget)
    messages = request.get("messages")
    total = 0
    if isinstance(messages, list) and messages:
        total = REPLY_TOKENS
        for message in messages:
            if isinstance(message, dict):
                total += _message_tokens(message, count)
    tools = request.get("tools")
    if tools:
        total += count(orjson.dumps(tools).decode())
    response_format = request.get("response_format")
    if isinstance(response_format, dict) and response_format.get("json_schema"):
        total += count(orjson.dumps(response_format["json_schema"]).decode())
    return total


def _model_of(request: dict[str, Any]) -> str | None:
    model = request.get("model")
    return model if isinstance(model, str) else None


def _message_tokens(message: dict[str, Any], count: _Tally) -> int:
    total = MESSAGE_TOKENS
    name = message.get("name")
    if isinstance(name, str) and name:
        total += NAME_TOKENS + count(name)
    content = message.get("content")
    if isinstance(content, str):
        total += count(content)
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, dict):
                total += _part_tokens(part, count)
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            for field in ("name", "arguments"):
                value = function.get(field)
                if isinstance(value, str):
                    total += count(value)
    return total


def _part_tokens(part: dict[str, Any], count: _Tally) -> int:
    for field in ("text", "refusal"):
        value = part.get(field)
        if isinstance(value, str):
            return count(value)
    if part.get("type") == "image_url":
        image = part.get("image_url")
        low = isinstance(image, dict) and image.get("detail") == "low"
        return IMAGE_TOKENS_LOW if low else IMAGE_TOKENS
    return MEDIA_TOKENS


def estimate_embeddings_input(request: dict[str, Any], model: str | None = None) -> int:
    """Input tokens of an embeddings request's `input` (a string, strings, one token array or
    token arrays), for `model` (default: the request's): text counted, at least 1 an item;
    token arrays count exactly, one a token."""
    count = _Tally(encoding_for(model if model is not None else _model_of(request)))
    items = request.get("input")
    if isinstance(items, str):
        return max(1, count(items))
    if not isinstance(items, list):
        return 0
    if items and all(isinstance(item, int) for item in items):
        return len(items)  # one flat token array
    total = 0
    for item in items:
        if isinstance(item, str):
            total += max(1, count(item))
        elif isinstance(item, list):
            total += len(item)
    return total
