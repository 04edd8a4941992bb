"""What the Anthropic translation modules share: a constant and the small helpers for ids,
lenient token counts, Chat text and tool arguments, and `_blocks_to_chat`, which reads
Anthropic content blocks both in a client's request and in an upstream's answer.

Here rather than in one direction module so request, response and stream need not import
each other for these.
"""

import re
import uuid
from typing import Any

from ..canonical import InvalidRequest
from ..common import assistant_message, dumps, is_number, parse_object, text_of

MIN_THINKING_BUDGET = 1024

_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]")


# --- small helpers ---------------------------------------------------------------------------


def _count(value: Any) -> int:
    """A token count read leniently: anything that is not a number counts as 0."""
    if is_number(value):
        return max(int(value), 0)
    return 0


def _new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:24]


def _arguments_object(raw: Any) -> dict:
    """Chat's JSON-string arguments as the object Anthropic wants ({} when unusable)."""
    value = parse_object(raw)
    return value if value is not None else {}


def _text_of(content: Any) -> str:
    """The text of a Chat content value (a string, or parts of which the text ones count)."""
    return text_of(content, ("text", "refusal"), strings_only=True)


def _unsupported(what: str, param: str) -> InvalidRequest:
    return InvalidRequest(
        f"{what} cannot be translated for this model", param=param, code="unsupported_parameter"
    )


def _blocks_to_chat(
    content: Any, where: str | None, gaps: list[InvalidRequest] | None = None
) -> dict:
    """Anthropic content blocks as one canonical assistant message.

    With `where` (a client's request, already validated) blocks are taken as they are, and one
    with no Chat form is left out and noted in `gaps`, naming `where` (refused at once when no
    list is given); `mid_conv_system` blocks are the caller's (client_request.py). Without it
    (an upstream's answer) non-objects, server tool blocks and citations are left out, and a
    tool_use lacking an id or a name gets a fresh id or "". Either way web search's blocks
    (`server_tool_use` named web_search, `web_search_tool_result`) are no content and no gap
    (response.py and stream.py read the citations and the search count).
    """
    texts: list[str] = []
    calls: list[dict] = []
    reasoning: list[str] = []
    blocks: list[dict] = []
    for j, block in enumerate(content or ()):
        if where is None and not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "tool_use":
            call_id, name = block.get("id"), block.get("name")
            if where is None:
                call_id, name = call_id or _new_id("toolu_"), name or ""
            calls.append(
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": dumps(block.get("input") or {})},
                }
            )
        elif kind == "thinking":
            reasoning.append(block.get("thinking") or "")
            blocks.append(
                {
                    "type": "thinking",
                    "thinking": block.get("thinking") or "",
                    "signature": block.get("signature") or "",
                }
            )
        elif kind == "redacted_thinking":
            blocks.append({"type": "redacted_thinking", "data": block.get("data") or ""})
        elif kind == "web_search_tool_result" or (
            kind == "server_tool_use" and block.get("name") == "web_search"
        ):
            continue  # a search's bookkeeping, not content (search.py)
        elif where is not None and kind != "mid_conv_system":
            gap = _unsupported(f"a {kind!r} content block", f"{where}.content[{j}]")
            if gaps is None:
                raise gap
            gaps.append(gap)
    message = assistant_message(texts, calls, reasoning)
    if blocks:
        message["thinking_blocks"] = blocks
    return message
