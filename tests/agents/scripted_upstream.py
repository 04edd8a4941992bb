"""A recording, scripted fake model upstream for real coding agents (Claude Code, Codex CLI).

It speaks both agent dialects on one port, records every request it gets, and plays a fixed
two-turn plan:

* Anthropic Messages (Claude Code): ``POST /v1/messages`` (any query, e.g. ``?beta=true``),
  streamed as Messages SSE or answered as JSON; ``POST /v1/messages/count_tokens``.
* OpenAI Responses (Codex CLI): ``POST /v1/responses`` (also ``/responses``), streamed as
  Responses SSE or answered as JSON.
* ``GET /v1/models`` (both list shapes in one body), ``HEAD``/``GET /``: 200. Anything else: 404,
  recorded all the same, so a capture shows every endpoint an agent tried.

The plan (``mode="script"``, the default), decided from each request alone, so it holds however
many side requests (titles, quota probes, summaries) an agent sends between the real turns:

* turn 1 -- the request offers the agent's own shell tool and its conversation holds no tool result
  yet: answer with one call of that tool running ``echo orca-agent-ok`` (Claude Code: ``Bash`` with
  ``{"command": ..., "description": ...}``; Codex: ``exec_command`` ``{"cmd": ...}``, or
  ``shell_command``/``shell`` shaped from the tool's own parameter schema).
* turn 2 -- the conversation holds a tool result: answer with text holding ``DONE_MARKER`` and, if
  the result contained ``orca-agent-ok``, ``SEEN_MARKER`` (proof the agent really ran the command
  and sent its output back).
* any other request (no shell tool offered, e.g. a title or quota call): a short plain text.

``mode="record"`` answers every model request with the plain text only (no tool call): enough to
capture what an agent's first request looks like.

Run standalone (logs one JSON object per request to ``--log``, prints ``PORT <n>`` once listening)::

    .venv/bin/python tests/agents/scripted_upstream.py --port 0 --log /tmp/capture.jsonl

or in-process: ``with ScriptedUpstream() as up: ... up.base_url, up.requests``.

``--proxy-port`` also starts a refusing HTTP(S) proxy that logs every ``CONNECT host:port`` or
absolute-URL request: point ``HTTPS_PROXY``/``HTTP_PROXY`` at it (with ``NO_PROXY=127.0.0.1``)
to see any traffic an agent tries to send anywhere but its model server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
import uuid
from typing import Any

from aiohttp import web

DONE_MARKER = "ORCA-AGENT-DONE"
SEEN_MARKER = "saw:orca-agent-ok"
TOOL_COMMAND = "echo orca-agent-ok"
TOOL_OUTPUT = "orca-agent-ok"
PLAIN_TEXT = "orca fake upstream: plain answer"

SECRET_HEADERS = {"authorization", "x-api-key", "cookie", "proxy-authorization", "openai-api-key"}
CODEX_SHELL_TOOLS = ("exec_command", "shell_command", "shell", "container.exec")

JSON = dict[str, Any]


# --------------------------------------------------------------------------- recording


def sanitize_headers(headers: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.items():
        low = name.lower()
        if low in SECRET_HEADERS:
            scheme = value.split(" ", 1)[0] if " " in value else ""
            out[low] = f"<redacted {scheme} len={len(value)}>".replace("  ", " ")
        else:
            out[low] = value
    return out


# --------------------------------------------------------------------------- the plan


def _anthropic_has_tool_result(body: JSON) -> str | None:
    """The text of the last tool_result in the conversation, or None when there is none."""
    found: str | None = None
    for message in body.get("messages") or []:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for block in content:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                inner = block.get("content")
                if isinstance(inner, list):
                    inner = " ".join(str(p.get("text", "")) for p in inner if isinstance(p, dict))
                found = str(inner or "")
    return found


def _responses_has_tool_result(body: JSON) -> str | None:
    found: str | None = None
    items = body.get("input")
    if not isinstance(items, list):
        return None
    for item in items:
        if isinstance(item, dict) and item.get("type") in (
            "function_call_output",
            "custom_tool_call_output",
            "local_shell_call_output",
        ):
            output = item.get("output")
            if isinstance(output, list):
                output = " ".join(str(p.get("text", "")) for p in output if isinstance(p, dict))
            elif isinstance(output, dict):
                output = json.dumps(output)
            found = str(output or "")
    return found


def final_text(tool_result: str) -> str:
    seen = f" {SEEN_MARKER}" if TOOL_OUTPUT in tool_result else " tool output not seen"
    return f"{DONE_MARKER}{seen}"


def plan_anthropic(body: JSON, mode: str) -> JSON:
    """{'text': str} or {'tool': name, 'input': dict} for one Messages request."""
    if mode == "script":
        result = _anthropic_has_tool_result(body)
        if result is not None:
            return {"text": final_text(result)}
        names = [t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)]
        if "Bash" in names:
            return {
                "tool": "Bash",
                "input": {"command": TOOL_COMMAND, "description": "Print a marker"},
            }
    return {"text": PLAIN_TEXT}


def _codex_shell_args(tool: JSON) -> JSON:
    params = tool.get("parameters") or {}
    props = params.get("properties") or {}
    if "cmd" in props:
        return {"cmd": TOOL_COMMAND}
    command = props.get("command") or {}
    if command.get("type") == "array":
        return {"command": ["bash", "-lc", TOOL_COMMAND]}
    return {"command": TOOL_COMMAND}


def plan_responses(body: JSON, mode: str) -> JSON:
    if mode == "script":
        result = _responses_has_tool_result(body)
        if result is not None:
            return {"text": final_text(result)}
        tools = {
            t.get("name"): t
            for t in body.get("tools") or []
            if isinstance(t, dict) and t.get("type") == "function"
        }
        for name in CODEX_SHELL_TOOLS:
            if name in tools:
                return {"tool": name, "input": _codex_shell_args(tools[name])}
    return {"text": PLAIN_TEXT}


# --------------------------------------------------------------------------- Anthropic wire


def _sse(event: str, data: JSON) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def anthropic_message(model: str, plan: JSON) -> JSON:
    if "tool" in plan:
        content = [
            {
                "type": "tool_use",
                "id": "toolu_" + uuid.uuid4().hex[:20],
                "name": plan["tool"],
                "input": plan["input"],
            }
        ]
        stop = "tool_use"
    else:
        content = [{"type": "text", "text": plan["text"]}]
        stop = "end_turn"
    return {
        "id": "msg_" + uuid.uuid4().hex[:20],
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 12,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 7,
        },
    }


def anthropic_events(model: str, plan: JSON) -> list[bytes]:
    msg = anthropic_message(model, plan)
    start = dict(msg, content=[], stop_reason=None, usage=dict(msg["usage"], output_tokens=1))
    out = [_sse("message_start", {"type": "message_start", "message": start})]
    block = msg["content"][0]
    if block["type"] == "text":
        out.append(
            _sse(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            )
        )
        out.append(_sse("ping", {"type": "ping"}))
        out.append(
            _sse(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": block["text"]},
                },
            )
        )
    else:
        opened = dict(block, input={})
        out.append(
            _sse(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": opened},
            )
        )
        out.append(_sse("ping", {"type": "ping"}))
        for part in ("", json.dumps(block["input"])):
            out.append(
                _sse(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "input_json_delta", "partial_json": part},
                    },
                )
            )
    out.append(_sse("content_block_stop", {"type": "content_block_stop", "index": 0}))
    out.append(
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": msg["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": msg["usage"]["output_tokens"]},
            },
        )
    )
    out.append(_sse("message_stop", {"type": "message_stop"}))
    return out


# --------------------------------------------------------------------------- Responses wire


def responses_output_item(plan: JSON) -> JSON:
    if "tool" in plan:
        return {
            "type": "function_call",
            "id": "fc_" + uuid.uuid4().hex[:20],
            "call_id": "call_" + uuid.uuid4().hex[:20],
            "name": plan["tool"],
            "arguments": json.dumps(plan["input"]),
            "status": "completed",
        }
    return {
        "type": "message",
        "id": "msg_" + uuid.uuid4().hex[:20],
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": plan["text"], "annotations": []}],
    }


def responses_object(body: JSON, status: str, output: list[JSON], usage: JSON | None) -> JSON:
    return {
        "id": body.get("_resp_id") or "resp_" + uuid.uuid4().hex[:20],
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": body.get("model") or "fake",
        "output": output,
        "parallel_tool_calls": bool(body.get("parallel_tool_calls", True)),
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": body.get("tools") or [],
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "temperature": body.get("temperature"),
        "top_p": body.get("top_p"),
        "max_output_tokens": body.get("max_output_tokens"),
        "metadata": body.get("metadata") or {},
        "reasoning": body.get("reasoning"),
        "text": body.get("text") or {"format": {"type": "text"}},
        "usage": usage,
    }


USAGE_RESPONSES = {
    "input_tokens": 12,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 7,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 19,
}


def responses_events(body: JSON, plan: JSON) -> list[bytes]:
    body = dict(body, _resp_id="resp_" + uuid.uuid4().hex[:20])
    item = responses_output_item(plan)
    seq = iter(range(1000))
    out: list[bytes] = []

    def ev(kind: str, **data: Any) -> None:
        out.append(_sse(kind, {"type": kind, "sequence_number": next(seq), **data}))

    ev("response.created", response=responses_object(body, "in_progress", [], None))
    ev("response.in_progress", response=responses_object(body, "in_progress", [], None))
    if item["type"] == "message":
        text = item["content"][0]["text"]
        ev(
            "response.output_item.added",
            output_index=0,
            item=dict(item, status="in_progress", content=[]),
        )
        part = {"type": "output_text", "text": "", "annotations": []}
        ev(
            "response.content_part.added",
            item_id=item["id"],
            output_index=0,
            content_index=0,
            part=part,
        )
        ev(
            "response.output_text.delta",
            item_id=item["id"],
            output_index=0,
            content_index=0,
            delta=text,
            logprobs=[],
        )
        ev(
            "response.output_text.done",
            item_id=item["id"],
            output_index=0,
            content_index=0,
            text=text,
            logprobs=[],
        )
        ev(
            "response.content_part.done",
            item_id=item["id"],
            output_index=0,
            content_index=0,
            part=dict(part, text=text),
        )
    else:
        ev(
            "response.output_item.added",
            output_index=0,
            item=dict(item, arguments="", status="in_progress"),
        )
        ev(
            "response.function_call_arguments.delta",
            item_id=item["id"],
            output_index=0,
            delta=item["arguments"],
        )
        ev(
            "response.function_call_arguments.done",
            item_id=item["id"],
            output_index=0,
            name=item["name"],
            arguments=item["arguments"],
        )
    ev("response.output_item.done", output_index=0, item=item)
    ev("response.completed", response=responses_object(body, "completed", [item], USAGE_RESPONSES))
    return out


# --------------------------------------------------------------------------- the server


class ScriptedUpstream:
    """The fake, on 127.0.0.1:<port> (0: a free one), served by its own loop in a daemon thread."""

    def __init__(
        self,
        port: int = 0,
        mode: str = "script",
        log_path: str | None = None,
        proxy_port: int | None = None,
    ) -> None:
        self.port = port
        self.mode = mode
        self.log_path = log_path
        self.proxy_port = proxy_port
        self.requests: list[JSON] = []
        self.proxy_attempts: list[str] = []
        self.base_url = ""
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._proxy: asyncio.AbstractServer | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # ---- recording

    def _record(self, entry: JSON) -> None:
        with self._lock:
            entry["seq"] = len(self.requests)
            self.requests.append(entry)
            if self.log_path:
                with open(self.log_path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(entry) + "\n")

    def model_requests(self) -> list[JSON]:
        with self._lock:
            return [r for r in self.requests if r["path"].endswith(("/messages", "/responses"))]

    # ---- handlers

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = request.path
        entry: JSON = {
            "method": request.method,
            "path": path,
            "query": request.query_string,
            "headers": sanitize_headers(request.headers),
            "body": body
            if body is not None
            else (raw[:2000].decode("utf-8", "replace") if raw else None),
        }
        if request.method == "POST" and path.endswith("/messages/count_tokens"):
            entry["answer"] = "count_tokens"
            self._record(entry)
            return web.json_response({"input_tokens": 12})
        if request.method == "POST" and path.endswith("/messages") and isinstance(body, dict):
            plan = plan_anthropic(body, self.mode)
            entry["answer"] = plan
            self._record(entry)
            model = str(body.get("model") or "fake")
            if body.get("stream"):
                return await self._stream(request, anthropic_events(model, plan))
            return web.json_response(anthropic_message(model, plan))
        if request.method == "POST" and path.endswith("/responses") and isinstance(body, dict):
            plan = plan_responses(body, self.mode)
            entry["answer"] = plan
            self._record(entry)
            if body.get("stream"):
                return await self._stream(request, responses_events(body, plan))
            rid = "resp_" + uuid.uuid4().hex[:20]
            item = responses_output_item(plan)
            return web.json_response(
                responses_object(dict(body, _resp_id=rid), "completed", [item], USAGE_RESPONSES)
            )
        if request.method == "GET" and path.endswith("/models"):
            entry["answer"] = "models"
            self._record(entry)
            now = int(time.time())
            names = ["fake-agent-model"]
            return web.json_response(
                {
                    "object": "list",
                    "data": [
                        {
                            "id": n,
                            "object": "model",
                            "created": now,
                            "owned_by": "orca-fake",
                            "type": "model",
                            "display_name": n,
                            "created_at": "2026-01-01T00:00:00Z",
                        }
                        for n in names
                    ],
                    "has_more": False,
                    "first_id": names[0],
                    "last_id": names[-1],
                    "models": [],
                }
            )
        if path in ("/", ""):
            entry["answer"] = "root"
            self._record(entry)
            return web.Response(text="ok")
        entry["answer"] = 404
        self._record(entry)
        return web.json_response(
            {"error": {"type": "not_found_error", "message": f"no route {request.method} {path}"}},
            status=404,
        )

    async def _stream(self, request: web.Request, events: list[bytes]) -> web.StreamResponse:
        resp = web.StreamResponse(
            status=200,
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"},
        )
        await resp.prepare(request)
        for chunk in events:
            await resp.write(chunk)
        await resp.write_eof()
        return resp

    async def _proxy_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            with self._lock:
                self.proxy_attempts.append(line.decode("latin-1").strip())
            target = line.decode("latin-1").strip()
            self._record(
                {
                    "method": "PROXY",
                    "path": target,
                    "query": "",
                    "headers": {},
                    "body": None,
                    "answer": 403,
                }
            )
            writer.write(
                b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            await writer.drain()
        except Exception:
            pass
        finally:
            writer.close()

    # ---- lifecycle

    async def _start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{self.port}"
        if self.proxy_port is not None:
            self._proxy = await asyncio.start_server(self._proxy_conn, "127.0.0.1", self.proxy_port)
            self.proxy_port = self._proxy.sockets[0].getsockname()[1]

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._start())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self._runner.cleanup())  # type: ignore[union-attr]
        if self._proxy:
            self._proxy.close()
        loop.close()

    def start(self) -> ScriptedUpstream:
        self._thread = threading.Thread(target=self._run, name="scripted-upstream", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error:
            raise RuntimeError(f"scripted upstream failed to start: {self._error}")
        return self

    def stop(self) -> None:
        if self._loop:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(10)

    def __enter__(self) -> ScriptedUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mode", choices=("script", "record"), default="script")
    parser.add_argument("--log", default=None, help="append one JSON object per request here")
    parser.add_argument(
        "--proxy-port", type=int, default=None, help="also run a refusing logging proxy"
    )
    args = parser.parse_args()
    up = ScriptedUpstream(args.port, args.mode, args.log, args.proxy_port).start()
    print(f"PORT {up.port}", flush=True)
    if up.proxy_port is not None:
        print(f"PROXY {up.proxy_port}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        up.stop()


if __name__ == "__main__":
    main()
