"""Orca -> client, streamed: canonical chat chunks as the Responses event stream.

ResponsesStreamEncoder is the event state machine (one open output item at a time, sequence
numbers, terminal completed / incomplete / failed events). It assembles its Response objects
from the same helpers as the non-streaming answer in response.py.

A tool call streams as the item of the tool the client declared (tools.py): a function_call
with function_call_arguments.* events, a custom_tool_call with custom_tool_call_input.*
events (its text decoded from the canonical `{"input": ...}` arguments as they arrive). The
calls whose item holds structured fields only (local_shell_call, shell_call and its
shell_call_command.* events, apply_patch_call) are sent whole when their arguments are
complete: output_item.added, then output_item.done.

Web search: a delta's `annotations` (chat's nested url_citation) become flat ones on the
output_text part they cite, each with a response.output_text.annotation.added event. The
searches the upstream ran are only known from the usage chunk (x_orca_tool_calls), which
ends the stream: their web_search_call items (output_item.added,
response.web_search_call.in_progress / searching / completed, output_item.done) are sent
when the stream finishes, after the answer's items; the non-stream answer (response.py) puts
them first.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..openai_chat import SEARCHES_PER_ANSWER, cites_the_web
from ..tools import InputDecoder
from .response import (
    _CallIds,
    _fallback_call_id,
    _item_id,
    _response_object,
    _status,
    responses_usage,
)
from .search import flat_annotations, search_count, search_item, search_query
from .tool_items import call_item
from .tools import ITEM_PREFIXES, ClientTool, ToolMap, client_tools

_SENT_WHOLE = frozenset({"local_shell", "shell", "apply_patch"})  # no argument deltas

# Response.error.code is an enum in the spec; the `error` event's code is free-form.
RESPONSE_ERROR_CODES = frozenset(
    {
        "server_error",
        "rate_limit_exceeded",
        "invalid_prompt",
        "invalid_image",
        "invalid_image_format",
        "invalid_base64_image",
        "invalid_image_url",
        "image_too_large",
        "image_too_small",
        "image_parse_error",
        "image_content_policy_violation",
        "unsupported_image_media_type",
        "failed_to_download_image",
    }
)


def _failure_code(code: str | None) -> str:
    if code in RESPONSE_ERROR_CODES:
        return code
    if code and "rate_limit" in code:
        return "rate_limit_exceeded"
    return "server_error"


# --- stream: canonical chunks -> Responses events --------------------------------------------


class ResponsesStreamEncoder:
    """Canonical chat chunks -> the Responses event stream.

    At most one output item is open at a time: a reasoning item (one summary part), a message
    item (output_text / refusal parts), or a tool call item. A delta of another kind
    closes the open item and opens a new one at the next output index. Each event is written
    as `event: <type>` + `data: <json>` and carries a sequence_number counting from 0."""

    def __init__(self, *, response_id: str, model: str, request: dict, created_at: int) -> None:
        self._response_id = response_id
        self._model = model
        self._request = request
        self._created_at = created_at
        self._seq = 0
        self._started = False
        self._ended = False
        self._output: list[dict] = []
        self._open: dict | None = None  # the open output item
        self._open_index = -1
        self._part: dict | None = None  # the open content part of a message item
        self._buffer: list[str] = []  # text of the open part / summary / arguments
        self._tools: dict[int, dict] = {}  # chat tool-call index -> its output item
        self._tool_map = ToolMap(client_tools(request))
        self._tool_of: dict[str, ClientTool] = {}  # item id -> the client tool it calls
        self._args: dict[str, str] = {}  # item id -> the canonical arguments so far
        self._decoder: InputDecoder | None = None  # the open custom_tool_call's input
        self._call_ids = _CallIds()
        self._chat_id = ""
        self._finish_reason: str | None = None
        self._usage: dict | None = None
        self._final: dict | None = None
        self._pending_annotations: list[dict] = []  # citations that came before their text
        self._cited = False  # whether the answer cited the web (searched, counted or not)

    # -- public ----------------------------------------------------------------------------

    def start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        response = self._response("in_progress")
        return self._event("response.created", response=response) + self._event(
            "response.in_progress", response=response
        )

    def feed(self, chunk: dict) -> bytes:
        if self._ended:
            return b""
        out = [self.start()]
        self._chat_id = self._chat_id or chunk.get("id") or ""
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self._usage = usage
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue  # Responses has no n; only the first choice is rendered
            delta = choice.get("delta") or {}
            if delta.get("reasoning_content"):
                out.append(self._reasoning(delta["reasoning_content"]))
            if delta.get("content"):
                out.append(self._text("output_text", delta["content"]))
            if delta.get("refusal"):
                out.append(self._text("refusal", delta["refusal"]))
            if delta.get("annotations"):
                self._cited = self._cited or cites_the_web(delta["annotations"])
                out.append(self._annotate(flat_annotations(delta["annotations"])))
            for call in delta.get("tool_calls") or []:
                out.append(self._tool_call(call))
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]
        return b"".join(out)

    def finish(self) -> bytes:
        if self._ended:
            return b""
        out = [self.start()]
        status, incomplete = _status(self._finish_reason)
        out.append(self._close(final_status="incomplete" if incomplete else "completed"))
        out.append(self._searches())
        response = self._response(status)
        response["incomplete_details"] = incomplete
        response["output"] = self._output
        response["usage"] = responses_usage(self._usage)
        kind = "response.incomplete" if incomplete else "response.completed"
        out.append(self._event(kind, response=response))
        self._ended = True
        self._final = response
        return b"".join(out)

    def error(self, message: str, code: str | None = None) -> bytes:
        """An `error` event then `response.failed`; the stream is over after this."""
        if self._ended:
            return b""
        out = [self.start()]
        out.append(self._event("error", code=code, message=message, param=None))
        self._settle_open("incomplete")
        response = self._response("failed")
        response["error"] = {"code": _failure_code(code), "message": message}
        response["output"] = self._output
        response["usage"] = responses_usage(self._usage) if self._usage else None
        out.append(self._event("response.failed", response=response))
        self._ended = True
        return b"".join(out)

    @property
    def final_response(self) -> dict | None:
        """The Response object sent in the terminal event, once finish() ran."""
        return self._final

    # -- internals -------------------------------------------------------------------------

    def _event(self, type_: str, **fields: Any) -> bytes:
        payload = {"type": type_, "sequence_number": self._seq, **fields}
        self._seq += 1
        return b"event: " + type_.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"

    def _response(self, status: str) -> dict:
        return _response_object(
            response_id=self._response_id,
            model=self._model,
            request=self._request,
            created_at=self._created_at,
            status=status,
        )

    def _open_item(self, item: dict, *, announce: bool = True) -> bytes:
        self._open_index = len(self._output)
        self._output.append(item)
        self._open = item
        self._buffer = []
        if not announce:
            return b""
        return self._event("response.output_item.added", output_index=self._open_index, item=item)

    def _where(self) -> dict[str, Any]:
        assert self._open is not None
        return {"item_id": self._open["id"], "output_index": self._open_index}

    def _reasoning(self, delta: str) -> bytes:
        out = []
        if self._open is None or self._open["type"] != "reasoning":
            out.append(self._close())
            index = len(self._output)
            item = {
                "id": _item_id("rs", self._response_id, index),
                "type": "reasoning",
                "summary": [],
            }
            out.append(self._open_item(item))
            out.append(
                self._event(
                    "response.reasoning_summary_part.added",
                    **self._where(),
                    summary_index=0,
                    part={"type": "summary_text", "text": ""},
                )
            )
        self._buffer.append(delta)
        out.append(
            self._event(
                "response.reasoning_summary_text.delta",
                **self._where(),
                summary_index=0,
                delta=delta,
            )
        )
        return b"".join(out)

    def _text(self, kind: str, delta: str) -> bytes:
        """kind: output_text or refusal, both parts of a message item."""
        out = []
        if self._open is None or self._open["type"] != "message":
            out.append(self._close())
            index = len(self._output)
            item = {
                "id": _item_id("msg", self._response_id, index),
                "type": "message",
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            }
            out.append(self._open_item(item))
        assert self._open is not None
        if self._part is None or self._part["type"] != kind:
            out.append(self._close_part())
            self._part = (
                {"type": "output_text", "text": "", "annotations": []}
                if kind == "output_text"
                else {"type": "refusal", "refusal": ""}
            )
            out.append(
                self._event(
                    "response.content_part.added",
                    **self._where(),
                    content_index=len(self._open["content"]),
                    part=self._part,
                )
            )
        self._buffer.append(delta)
        pending = self._pending_annotations if kind == "output_text" else []
        where = {**self._where(), "content_index": len(self._open["content"])}
        if kind == "output_text":
            out.append(self._event("response.output_text.delta", **where, delta=delta, logprobs=[]))
        else:
            out.append(self._event("response.refusal.delta", **where, delta=delta))
        if pending:
            self._pending_annotations = []
            out.append(self._annotate(pending))
        return b"".join(out)

    def _annotate(self, annotations: list[dict]) -> bytes:
        """Flat citations onto the output_text part they cite: the open one, else the last
        one sent; kept for the first part to open when there is none yet."""
        if not annotations:
            return b""
        if self._part is not None and self._part["type"] == "output_text":
            assert self._open is not None
            part = self._part
            where = {**self._where(), "content_index": len(self._open["content"])}
        else:
            found = self._last_text_part()
            if found is None:
                self._pending_annotations.extend(annotations)
                return b""
            part, where = found
        out = []
        for annotation in annotations:
            out.append(
                self._event(
                    "response.output_text.annotation.added",
                    **where,
                    annotation_index=len(part["annotations"]),
                    annotation=annotation,
                )
            )
            part["annotations"].append(annotation)
        return b"".join(out)

    def _last_text_part(self) -> tuple[dict, dict[str, Any]] | None:
        for index in range(len(self._output) - 1, -1, -1):
            item = self._output[index]
            if item["type"] != "message":
                continue
            for content_index in range(len(item["content"]) - 1, -1, -1):
                part = item["content"][content_index]
                if part["type"] == "output_text":
                    where = {"item_id": item["id"], "output_index": index}
                    return part, {**where, "content_index": content_index}
        return None

    def _searches(self) -> bytes:
        """The web_search_call items of the searches the usage counts (nothing is open)."""
        count = search_count(self._usage) or (SEARCHES_PER_ANSWER if self._cited else 0)
        if not count:
            return b""
        query = search_query(self._request)
        out = []
        for _ in range(count):
            index = len(self._output)
            item = search_item(_item_id("ws", self._response_id, index), query, "in_progress")
            out.append(self._open_item(item))
            for phase in ("in_progress", "searching", "completed"):
                out.append(self._event(f"response.web_search_call.{phase}", **self._where()))
            item["status"] = "completed"
            out.append(self._event("response.output_item.done", output_index=index, item=item))
            self._open = None
        return b"".join(out)

    def _tool_call(self, call: dict) -> bytes:
        index = call.get("index", 0)
        function = call.get("function") or {}
        arguments = function.get("arguments") or ""
        item = self._tools.get(index)
        out = []
        if item is None:
            out.append(self._close())
            position = len(self._output)
            tool = self._tool_map.client(function.get("name") or "")
            item = call_item(
                tool,
                item_id=_item_id(ITEM_PREFIXES[tool.kind], self._response_id, position),
                call_id=self._call_ids.visible(
                    call.get("id"), _fallback_call_id(self._chat_id, len(self._tools))
                ),
                arguments="",
                status="in_progress",
            )
            if tool.kind == "function":
                item["arguments"] = ""
            self._tools[index] = item
            self._tool_of[item["id"]] = tool
            self._args[item["id"]] = ""
            self._decoder = InputDecoder() if tool.kind == "custom" else None
            out.append(self._open_item(item, announce=tool.kind not in _SENT_WHOLE))
        if not arguments:
            return b"".join(out)
        self._args[item["id"]] += arguments
        tool = self._tool_of[item["id"]]
        if item is not self._open:
            # a late fragment for a call already closed: it still reaches the final output
            self._complete(item, item["status"])
        elif tool.kind == "function":
            out.append(
                self._event(
                    "response.function_call_arguments.delta", **self._where(), delta=arguments
                )
            )
        elif tool.kind == "custom" and self._decoder is not None:
            text = self._decoder.feed(arguments)
            if text:
                out.append(
                    self._event(
                        "response.custom_tool_call_input.delta", **self._where(), delta=text
                    )
                )
        return b"".join(out)

    def _input_delta(self, text: str) -> bytes:
        return self._event("response.custom_tool_call_input.delta", **self._where(), delta=text)

    def _complete(self, item: dict, status: str) -> None:
        """Fill a tool call item from its whole arguments."""
        tool = self._tool_of[item["id"]]
        complete = call_item(
            tool,
            item_id=item["id"],
            call_id=item["call_id"],
            arguments=self._args[item["id"]],
            status=status,
        )
        item.clear()
        item.update(complete)

    def _close_call(self, item: dict, final_status: str) -> bytes:
        """The *.done events of the open tool call item (and, for one sent whole, its
        output_item.added)."""
        tool = self._tool_of[item["id"]]
        arguments = self._args[item["id"]]
        out = []
        if tool.kind == "function":
            if not arguments:
                arguments = self._args[item["id"]] = "{}"  # still an (empty) object
                out.append(
                    self._event(
                        "response.function_call_arguments.delta", **self._where(), delta=arguments
                    )
                )
            self._complete(item, final_status)
            out.append(
                self._event(
                    "response.function_call_arguments.done",
                    **self._where(),
                    name=item["name"],
                    arguments=arguments,
                )
            )
        elif tool.kind == "custom":
            rest, whole = (self._decoder or InputDecoder()).finish(arguments)
            if rest:
                out.append(
                    self._event(
                        "response.custom_tool_call_input.delta", **self._where(), delta=rest
                    )
                )
            self._complete(item, final_status)
            out.append(
                self._event("response.custom_tool_call_input.done", **self._where(), input=whole)
            )
        else:
            self._complete(item, "in_progress")
            commands = item["action"]["commands"] if tool.kind == "shell" else []
            if commands:
                item["action"] = {**item["action"], "commands": []}
            out.append(
                self._event("response.output_item.added", output_index=self._open_index, item=item)
            )
            for n, command in enumerate(commands):
                where = {"output_index": self._open_index, "command_index": n}
                out.append(self._event("response.shell_call_command.added", **where, command=""))
                out.append(self._event("response.shell_call_command.delta", **where, delta=command))
                out.append(
                    self._event("response.shell_call_command.done", **where, command=command)
                )
            self._complete(item, final_status)
        self._decoder = None
        return b"".join(out)

    def _close_part(self) -> bytes:
        """Close the open content part of the open message item."""
        part = self._part
        if part is None or self._open is None:
            return b""
        text = "".join(self._buffer)
        self._buffer = []
        self._part = None
        where = {**self._where(), "content_index": len(self._open["content"])}
        if part["type"] == "output_text":
            part = {**part, "text": text}
            done = self._event("response.output_text.done", **where, text=text, logprobs=[])
        else:
            part = {**part, "refusal": text}
            done = self._event("response.refusal.done", **where, refusal=text)
        self._open["content"].append(part)
        return done + self._event("response.content_part.done", **where, part=part)

    def _close(self, final_status: str = "completed") -> bytes:
        """Close the open item with its *.done events and output_item.done."""
        item = self._open
        if item is None:
            return b""
        out = []
        if item["type"] == "message":
            out.append(self._close_part())
            item["status"] = final_status
        elif item["type"] == "reasoning":
            text = "".join(self._buffer)
            part = {"type": "summary_text", "text": text}
            out.append(
                self._event(
                    "response.reasoning_summary_text.done",
                    **self._where(),
                    summary_index=0,
                    text=text,
                )
            )
            out.append(
                self._event(
                    "response.reasoning_summary_part.done",
                    **self._where(),
                    summary_index=0,
                    part=part,
                )
            )
            item["summary"] = [part]
        else:
            out.append(self._close_call(item, final_status))
        out.append(
            self._event("response.output_item.done", output_index=self._open_index, item=item)
        )
        self._open = None
        self._buffer = []
        return b"".join(out)

    def _settle_open(self, status: str) -> None:
        """Fold the open item's buffered text into it without sending events (on failure)."""
        item = self._open
        if item is None:
            return
        text = "".join(self._buffer)
        if item["type"] == "message":
            if self._part is not None:
                key = "text" if self._part["type"] == "output_text" else "refusal"
                item["content"].append({**self._part, key: text})
            item["status"] = status
        elif item["type"] == "reasoning":
            item["summary"] = [{"type": "summary_text", "text": text}]
        else:
            self._complete(item, status)
        self._decoder = None
        self._open = None
        self._part = None
        self._buffer = []
