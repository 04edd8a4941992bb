"""Raw HTTP calls on each client surface, and what a test needs to know of the answer: the
error in the surface's own shape (envelope or in-stream event), whether a stream ended
cleanly, and the text actually delivered."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

SURFACES = ("chat", "responses", "messages", "generate")

# The error vocabulary of the two non-OpenAI dialects, by HTTP status (their public docs).
ANTHROPIC_TYPES = {
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    504: "timeout_error",
}
GEMINI_STATUSES = {
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


@dataclass
class Outcome:
    surface: str
    model: str
    stream: bool
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    elapsed: float = 0.0
    request_id: str = ""
    error: dict[str, Any] | None = None  # the error object, whichever way it came
    in_stream: bool = False  # the error came as an event after a 200
    clean_end: bool = False  # the stream's own success end (or a 200 non-stream answer)
    text: str = ""  # the output text delivered
    pieces: int = 0  # how many content events delivered it
    transport_error: str = ""  # the client saw a broken transfer instead of an answer

    def describe(self) -> str:
        return f"{self.surface} {self.model} stream={self.stream}"


def request_for(surface: str, model: str, prompt: str, stream: bool, key: str):
    """(path, JSON body, headers) of one call."""
    if surface == "chat":
        body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": prompt}]}
        headers = {"Authorization": f"Bearer {key}"}
        path = "/v1/chat/completions"
    elif surface == "responses":
        body = {"model": model, "input": prompt}
        headers = {"Authorization": f"Bearer {key}"}
        path = "/v1/responses"
    elif surface == "messages":
        body = {
            "model": model,
            "max_tokens": 256,
            "messages": [{"role": "user", "content": prompt}],
        }
        headers = {"x-api-key": key}
        path = "/v1/messages"
    else:
        body = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
        headers = {"x-goog-api-key": key}
        action = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"/v1beta/models/{model}:{action}", body, headers
    if stream:
        body["stream"] = True
    return path, body, headers


def call(
    base_url: str,
    key: str,
    surface: str,
    model: str,
    prompt: str,
    stream: bool,
    *,
    timeout: float = 30,
    extra: dict[str, Any] | None = None,
) -> Outcome:
    path, body, headers = request_for(surface, model, prompt, stream, key)
    body.update(extra or {})
    outcome = Outcome(surface, model, stream)
    started = time.monotonic()
    raw = b""
    try:
        with (
            httpx.Client(timeout=timeout) as client,
            client.stream("POST", base_url + path, json=body, headers=headers) as response,
        ):
            outcome.status = response.status_code
            outcome.headers = {k.lower(): v for k, v in response.headers.items()}
            for chunk in response.iter_bytes():
                raw += chunk
    except httpx.TransportError as exc:
        outcome.transport_error = f"{type(exc).__name__}: {exc}"
    outcome.elapsed = time.monotonic() - started
    outcome.body = raw.decode("utf-8", "replace")
    outcome.request_id = outcome.headers.get("x-orca-request-id", "")
    if outcome.headers.get("content-type", "").startswith("text/event-stream"):
        _read_stream(outcome)
    else:
        _read_json(outcome)
    return outcome


def _read_json(outcome: Outcome) -> None:
    try:
        data = json.loads(outcome.body)
    except ValueError:
        return
    if outcome.status != 200:
        outcome.error = error_of(outcome.surface, data)
        return
    outcome.clean_end = True
    outcome.text = text_of(outcome.surface, data)


def error_of(surface: str, data: Any) -> dict[str, Any] | None:
    """The error object of an envelope in the surface's shape, else None."""
    if not isinstance(data, dict) or not isinstance(data.get("error"), dict):
        return None
    if surface == "messages" and data.get("type") != "error":
        return None
    return data["error"]


def text_of(surface: str, data: dict[str, Any]) -> str:
    if surface == "chat":
        return data["choices"][0]["message"]["content"] or ""
    if surface == "responses":
        return "".join(
            part.get("text", "")
            for item in data["output"]
            if item.get("type") == "message"
            for part in item["content"]
        )
    if surface == "messages":
        return "".join(block.get("text", "") for block in data["content"])
    return "".join(part.get("text", "") for part in data["candidates"][0]["content"]["parts"])


def sse_events(raw: str) -> list[tuple[str | None, str]]:
    """(event name, data) of each SSE event."""
    events = []
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
        if data or name:
            events.append((name, "\n".join(data)))
    return events


def _read_stream(outcome: Outcome) -> None:
    texts: list[str] = []
    last_kind = ""
    for name, data in sse_events(outcome.body):
        if data == "[DONE]":
            last_kind = "done"
            continue
        try:
            payload = json.loads(data)
        except ValueError:
            last_kind = "undecodable"  # a client cannot read this event
            continue
        kind, piece, error = _classify(outcome.surface, name, payload)
        if error is not None and outcome.error is None:
            outcome.error, outcome.in_stream = error, True
        if piece:
            texts.append(piece)
        last_kind = kind
    outcome.text = "".join(texts)
    outcome.pieces = len(texts)
    ended = {"chat": "done", "responses": "completed", "messages": "stop", "generate": "finish"}
    outcome.clean_end = (
        outcome.error is None
        and not outcome.transport_error
        and last_kind == ended[outcome.surface]
    )


def _classify(surface: str, name: str | None, payload: Any) -> tuple[str, str, dict | None]:
    """(what the event is, the text it delivers, the error it carries)."""
    if not isinstance(payload, dict):
        return "other", "", None
    if surface == "chat":
        if isinstance(payload.get("error"), dict):
            return "error", "", payload["error"]
        deltas = [c.get("delta") or {} for c in payload.get("choices") or []]
        return "chunk", "".join(d.get("content") or "" for d in deltas), None
    if surface == "responses":
        kind = payload.get("type") or name
        if kind == "error":
            return "error", "", payload
        if kind == "response.failed":
            return "failed", "", payload["response"].get("error") or {"code": None}
        if kind == "response.output_text.delta":
            return "delta", payload.get("delta") or "", None
        return "completed" if kind == "response.completed" else "other", "", None
    if surface == "messages":
        kind = payload.get("type") or name
        if kind == "error":
            return "error", "", payload.get("error") or {}
        if kind == "content_block_delta" and payload["delta"].get("type") == "text_delta":
            return "delta", payload["delta"]["text"], None
        return "stop" if kind == "message_stop" else "other", "", None
    if isinstance(payload.get("error"), dict):
        return "error", "", payload["error"]
    candidates = payload.get("candidates") or [{}]
    parts = (candidates[0].get("content") or {}).get("parts") or []
    piece = "".join(p.get("text") or "" for p in parts if not p.get("thought"))
    return "finish" if candidates[0].get("finishReason") else "chunk", piece, None


def error_status(surface: str, error: dict[str, Any]) -> tuple[str, Any]:
    """What identifies an error's kind in its dialect: (field, value)."""
    if surface in ("chat", "responses"):
        return "code", error.get("code")
    if surface == "messages":
        return "type", error.get("type")
    return "code", error.get("code")
