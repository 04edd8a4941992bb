"""Orca -> client: a canonical chat.completion rendered as a Responses object.

Also the pieces the event stream (stream.py) builds the same Response from, so that a stream
and its final object agree: item ids, client-facing call_ids, status, the settings echo and
usage. A tool call comes back as the item of the tool the client declared (function_call with
its namespace, custom_tool_call, local_shell_call, shell_call, apply_patch_call: tools.py),
found from the client's `tools` in `request`. history_after() lives here too because it must
apply the very call_id rewrite that chat_to_responses_response() showed the client, so stored
conversations join with the client's function_call_output items. Web searches the upstream
ran come first as web_search_call items, and chat's citations as flat url_citation
annotations on the output_text (search.py).
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..common import text_of
from ..openai_chat import SEARCHES_PER_ANSWER, cites_the_web
from .search import flat_annotations, search_count, search_item, search_query
from .tool_items import call_item
from .tools import ITEM_PREFIXES, ToolMap, client_tools

MAX_CALL_ID = 64


# --- response: canonical chat -> Response object --------------------------------------------


def _suffix(response_id: str) -> str:
    return response_id.removeprefix("resp_")


def _item_id(prefix: str, response_id: str, index: int) -> str:
    return f"{prefix}_{_suffix(response_id)}_{index}"


def _fallback_call_id(chat_id: Any, n: int) -> str:
    """A call_id for the n-th tool call of a completion whose upstream gave none; derived from
    the completion id so that history_after() mints the same one."""
    return f"call_{chat_id}_{n}" if chat_id else f"call_{n}"


class _CallIds:
    """Client-facing call_ids: unique within a response, at most 64 characters, and the
    same for the same sequence of upstream ids (so stored history matches)."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def visible(self, upstream_id: str | None, fallback: str) -> str:
        call_id = upstream_id or fallback
        if len(call_id) > MAX_CALL_ID:
            digest = hashlib.sha256(call_id.encode()).hexdigest()[:16]
            call_id = f"{call_id[: MAX_CALL_ID - 17]}_{digest}"
        base, n = call_id, 1
        while call_id in self._seen:
            tail = f"_{n}"
            call_id = base[: MAX_CALL_ID - len(tail)] + tail
            n += 1
        self._seen.add(call_id)
        return call_id


def _text_of(content: Any) -> str:
    return text_of(content, ("text", "output_text"))


def _reasoning_text(message: dict) -> str:
    text = message.get("reasoning_content")
    if isinstance(text, str) and text:
        return text
    blocks = message.get("thinking_blocks") or []
    return "".join(
        block.get("thinking") or ""
        for block in blocks
        if isinstance(block, dict) and block.get("type") == "thinking"
    )


def responses_usage(usage: Any) -> dict[str, Any]:
    """Canonical chat usage -> Responses usage; zeros when the upstream reported none."""
    usage = usage if isinstance(usage, dict) else {}
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    input_tokens = int(usage.get("prompt_tokens") or 0)
    output_tokens = int(usage.get("completion_tokens") or 0)
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {
            "cached_tokens": int(prompt_details.get("cached_tokens") or 0),
            "cache_write_tokens": int(prompt_details.get("cache_write_tokens") or 0),
        },
        "output_tokens": output_tokens,
        "output_tokens_details": {
            "reasoning_tokens": int(completion_details.get("reasoning_tokens") or 0)
        },
        "total_tokens": input_tokens + output_tokens,
    }


def _status(finish_reason: Any) -> tuple[str, dict | None]:
    if finish_reason == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if finish_reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def _response_object(
    *, response_id: str, model: str, request: dict, created_at: int, status: str
) -> dict[str, Any]:
    """A Response object with the request's settings echoed and no output yet."""
    reasoning = (
        given_reasoning if isinstance(given_reasoning := request.get("reasoning"), dict) else {}
    )
    text = given_text if isinstance(given_text := request.get("text"), dict) else {}
    echoed_text: dict[str, Any] = {"format": text.get("format") or {"type": "text"}}
    if text.get("verbosity") is not None:
        echoed_text["verbosity"] = text["verbosity"]
    parallel = request.get("parallel_tool_calls")
    response: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "model": model,
        "output": [],
        "parallel_tool_calls": parallel if isinstance(parallel, bool) else True,
        "previous_response_id": request.get("previous_response_id"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "temperature": request.get("temperature"),
        "text": echoed_text,
        "tool_choice": request.get("tool_choice") or "auto",
        "tools": list(request.get("tools") or []),
        "top_p": request.get("top_p"),
        "metadata": request.get("metadata") or {},
        "usage": None,
    }
    if request.get("user") is not None:
        response["user"] = request["user"]
    return response


def chat_to_responses_response(
    chat: dict, *, response_id: str, model: str, request: dict, created_at: int
) -> dict:
    """A canonical chat.completion as a Response object."""
    choices = chat.get("choices") or [{}]
    choice = choices[0] or {}
    message = choice.get("message") or {}
    status, incomplete = _status(choice.get("finish_reason"))
    output: list[dict] = []

    reasoning = _reasoning_text(message)
    if reasoning:
        output.append(
            {
                "id": _item_id("rs", response_id, len(output)),
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": reasoning}],
            }
        )
    # the searches the upstream ran (usage.x_orca_tool_calls.web_search), before the answer;
    # an answer citing the web searched at least once, counted or not (openai_chat.py)
    searches = search_count(chat.get("usage"))
    if not searches and cites_the_web(message.get("annotations")):
        searches = SEARCHES_PER_ANSWER
    query = search_query(request) if searches else ""
    for _ in range(searches):
        output.append(search_item(_item_id("ws", response_id, len(output)), query))
    content: list[dict] = []
    text = _text_of(message.get("content"))
    if text:
        annotations = flat_annotations(message.get("annotations"))
        content.append({"type": "output_text", "text": text, "annotations": annotations})
    if isinstance(message.get("refusal"), str) and message["refusal"]:
        content.append({"type": "refusal", "refusal": message["refusal"]})
    if content:
        output.append(
            {
                "id": _item_id("msg", response_id, len(output)),
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": content,
            }
        )
    ids = _CallIds()
    tools = ToolMap(client_tools(request))
    for n, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") or {}
        tool = tools.client(function.get("name") or "")
        output.append(
            call_item(
                tool,
                item_id=_item_id(ITEM_PREFIXES[tool.kind], response_id, len(output)),
                call_id=ids.visible(call.get("id"), _fallback_call_id(chat.get("id"), n)),
                arguments=function.get("arguments"),
                status="completed",
            )
        )
    if status == "incomplete" and output and output[-1]["type"] != "reasoning":
        # the cut-off item is the last one (an apply_patch_call has no incomplete status)
        cut = output[-1]
        cut["status"] = "in_progress" if cut["type"] == "apply_patch_call" else "incomplete"

    response = _response_object(
        response_id=response_id,
        model=model,
        request=request,
        created_at=created_at,
        status=status,
    )
    response["incomplete_details"] = incomplete
    response["output"] = output
    response["usage"] = responses_usage(chat.get("usage"))
    return response


# --- stored conversations --------------------------------------------------------------------


def history_after(chat_request: dict, chat_completion: dict) -> list[dict]:
    """The canonical conversation to keep for a later previous_response_id: the request's
    messages without system/developer ones (instructions are not inherited), then the
    assistant's answer with the same call_ids the client was shown."""
    history = [
        message
        for message in chat_request.get("messages") or []
        if message.get("role") not in ("system", "developer")
    ]
    choices = chat_completion.get("choices") or [{}]
    message = (choices[0] or {}).get("message") or {}
    assistant: dict[str, Any] = {"role": "assistant", "content": _text_of(message.get("content"))}
    calls = message.get("tool_calls") or []
    if calls:
        ids = _CallIds()
        assistant["tool_calls"] = []
        for n, call in enumerate(calls):
            visible = ids.visible(call.get("id"), _fallback_call_id(chat_completion.get("id"), n))
            function = call.get("function") or {}
            stored = {
                **call,
                "id": visible,
                "type": "function",
                "function": {
                    "name": function.get("name") or "",
                    "arguments": function.get("arguments") or "{}",
                },
            }
            stored.pop("index", None)
            assistant["tool_calls"].append(stored)
        if not assistant["content"]:
            assistant["content"] = None
    history.append(assistant)
    return history
