"""Tools that are not plain functions, on their way through the canonical form.

Canonical tools are Chat Completions function tools. A client dialect may offer more:
  * tools the client runs itself but that are not functions: Responses `custom` (free text),
    `namespace` (a group of functions), `local_shell`, `shell`, `apply_patch`; Chat's
    `custom`. These become function tools in canonical form (a custom tool takes one string
    argument, CUSTOM_PARAMETERS), and the answer's calls are rendered back as the item or
    tool call the client declared (responses/tools.py, and custom_input() here).
  * web search, which the provider runs: canonical form has it as chat's
    `web_search_options` (+ the extension `x_orca_search`, canonical.py), which every
    translator maps to its provider's search tool (Responses' web_search, Anthropic's
    web_search, Gemini's googleSearch); a Responses `web_search` / `web_search_preview` tool
    becomes it (responses/search.py), so it is neither left out nor refused when forced.
  * the other tools the provider runs (hosted): file_search, code_interpreter,
    image_generation, mcp, computer_use_preview, tool_search, ... Nothing in the canonical
    form can run them, so a translation leaves them out of the canonical request and lists
    them, in request order, under the extension DROPPED (their `type`, and
    `mcp:<server_label>` for an MCP server). When `tool_choice` forces one of them, the
    translation drops the tool_choice and names the tool under the extension FORCED.

A translation never raises for a tool merely because it cannot be translated: a same-format
upstream (pass-through) receives the client's own body and may well serve it. The pipeline
reads dropped_tools() on a translated call: the dropped tools become the
`X-Orca-Dropped-Tools` response header, a forced one a 400 naming it, before any upstream
call.

function_tools() is what the native translators (anthropic, gemini) call first: a Chat
client's canonical request is its own body (sent unchanged to an OpenAI-kind upstream), so its
custom tools only become functions on the way to another kind.
"""

from __future__ import annotations

import json
from typing import Any

DROPPED = "x_orca_dropped_tools"
FORCED = "x_orca_forced_tool"

CUSTOM_ARGUMENT = "input"
CUSTOM_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {CUSTOM_ARGUMENT: {"type": "string"}},
    "required": [CUSTOM_ARGUMENT],
}
# canonical tool types: function, and chat's custom (which function_tools() converts)
_CANONICAL_TYPES = frozenset({"function", "custom"})


def tool_label(tool: Any) -> str:
    """How a left-out tool (or a tool_choice naming one) is named in DROPPED / FORCED."""
    if not isinstance(tool, dict):
        return "unknown"
    kind = tool.get("type")
    kind = kind if isinstance(kind, str) and kind else "unknown"
    label = tool.get("server_label")
    if kind == "mcp" and isinstance(label, str) and label:
        return f"mcp:{label}"
    return kind


def dropped_tools(canonical: dict) -> tuple[list[str], str | None]:
    """(the tools a translation left out, in request order; the left-out tool that
    tool_choice forces, or None). Pure: reads the canonical request only.

    Besides what a client surface recorded (DROPPED / FORCED), canonical tools of a type
    no translation handles (a Chat client's body is its canonical request) count as left
    out, and a tool_choice naming such a type as forcing one."""
    recorded = canonical.get(DROPPED)
    dropped = [str(name) for name in recorded] if isinstance(recorded, list) else []
    for tool in canonical.get("tools") or ():
        if isinstance(tool, dict) and tool.get("type") not in _CANONICAL_TYPES:
            dropped.append(tool_label(tool))
    forced = canonical.get(FORCED)
    if not isinstance(forced, str) or not forced:
        forced = None
        choice = canonical.get("tool_choice")
        if isinstance(choice, dict) and choice.get("type") not in (
            *_CANONICAL_TYPES,
            "allowed_tools",
            None,
        ):
            forced = tool_label(choice)
    return dropped, forced


# --- custom (free-text) tools as functions ------------------------------------------------


def _grammar(fmt: Any) -> tuple[str, str] | None:
    """(syntax, definition) of a custom tool's grammar format, in the Responses shape
    ({type: grammar, syntax, definition}) or the Chat one ({type: grammar, grammar: {...}})."""
    if not isinstance(fmt, dict) or fmt.get("type") != "grammar":
        return None
    grammar = fmt["grammar"] if isinstance(fmt.get("grammar"), dict) else fmt
    definition, syntax = grammar.get("definition"), grammar.get("syntax")
    if not isinstance(definition, str) or not definition:
        return None
    return (syntax if isinstance(syntax, str) else "lark"), definition


def custom_function(name: Any, description: Any, fmt: Any) -> dict:
    """A custom tool as a canonical function tool taking its text as one string argument.
    A grammar the text must follow goes in that argument's description."""
    argument: dict[str, Any] = {"type": "string", "description": "The raw text input."}
    grammar = _grammar(fmt)
    if grammar is not None:
        syntax, definition = grammar
        argument["description"] = (
            f"The raw text input. It must match this {syntax} grammar:\n{definition}"
        )
    function: dict[str, Any] = {
        "name": name,
        "parameters": {**CUSTOM_PARAMETERS, "properties": {CUSTOM_ARGUMENT: argument}},
    }
    if isinstance(description, str) and description:
        function["description"] = description
    return {"type": "function", "function": function}


def custom_arguments(text: str) -> str:
    """A custom tool call's input as the arguments of its canonical function call."""
    return json.dumps({CUSTOM_ARGUMENT: text}, ensure_ascii=False, separators=(",", ":"))


def custom_input(arguments: Any) -> str:
    """The text of a custom tool call from its canonical function arguments. Lenient: a
    model that wrote other JSON, or no JSON at all, still gets its text passed on."""
    if not isinstance(arguments, str) or not arguments:
        return ""
    try:
        value = json.loads(arguments)
    except ValueError:
        return arguments
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        text = value.get(CUSTOM_ARGUMENT)
        if isinstance(text, str):
            return text
        if len(value) == 1:
            (only,) = value.values()
            if isinstance(only, str):
                return only
    return arguments


class InputDecoder:
    """Streams a custom tool call's text out of the argument fragments of its canonical
    function call (`{"input": "..."}`), decoding the JSON string as it arrives. Arguments of
    another shape yield nothing until finish(), which always settles the whole input."""

    __slots__ = ("_pos", "_raw", "_sent", "_state")

    _TOKENS = ("{", '"' + CUSTOM_ARGUMENT + '"', ":", '"')

    def __init__(self) -> None:
        self._raw = ""
        self._pos = 0  # how far _raw is consumed
        self._state = "prefix"  # prefix -> string -> closed, or other
        self._sent: list[str] = []

    def feed(self, fragment: str) -> str:
        """The newly decoded text for one argument fragment ("" if none yet)."""
        self._raw += fragment
        if self._state == "prefix":
            start = self._prefix_end()
            if start is None:
                return ""
            if start < 0:
                self._state = "other"
                return ""
            self._pos, self._state = start, "string"
        if self._state != "string":
            return ""
        end, closed = self._safe_end()
        try:
            text = json.loads('"' + self._raw[self._pos : end] + '"', strict=False)
        except ValueError:
            self._state = "other"
            return ""
        self._pos = end
        if closed:
            self._state = "closed"
        if text:
            self._sent.append(text)
        return text

    def finish(self, arguments: str) -> tuple[str, str]:
        """(the text not streamed yet, the whole input) once the arguments are complete."""
        whole = custom_input(arguments)
        sent = "".join(self._sent)
        rest = whole[len(sent) :] if whole.startswith(sent) else ""
        return rest, whole

    def _prefix_end(self) -> int | None:
        """Where the string value of "input" starts; None while the arguments so far could
        still be `{"input": "`, -1 once they cannot."""
        raw, i = self._raw, 0
        for token in self._TOKENS:
            while i < len(raw) and raw[i] in " \t\r\n":
                i += 1
            head = raw[i : i + len(token)]
            if head != token[: len(head)]:
                return -1
            if len(head) < len(token):
                return None
            i += len(token)
        return i

    def _safe_end(self) -> tuple[int, bool]:
        """(the end of the string content that can be decoded now, whether the string's
        closing quote was reached): never inside an escape, nor between surrogate halves."""
        raw, i, n = self._raw, self._pos, len(self._raw)
        while i < n:
            c = raw[i]
            if c == '"':
                return i, True
            if c != "\\":
                i += 1
                continue
            if i + 1 >= n:
                return i, False
            if raw[i + 1] != "u":
                i += 2
                continue
            if i + 6 > n:
                return i, False
            try:
                code = int(raw[i + 2 : i + 6], 16)
            except ValueError:
                return i + 6, False  # invalid: json.loads will say so
            if 0xD800 <= code < 0xDC00 and raw[i + 6 : i + 8] in ("\\u", "\\", ""):
                if i + 12 > n:
                    return i, False  # wait for the low half
                i += 12
                continue
            i += 6
        return n, False


# --- a canonical request's tools as functions only (for the native translators) ------------


def _object(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _custom_call_as_function(call: Any) -> Any:
    if not isinstance(call, dict) or call.get("type") != "custom":
        return call
    custom = _object(call.get("custom"))
    converted = {k: v for k, v in call.items() if k != "custom"}
    converted["type"] = "function"
    text = custom.get("input")
    converted["function"] = {
        "name": custom.get("name") or "",
        "arguments": custom_arguments(text if isinstance(text, str) else ""),
    }
    return converted


def _named(entry: Any) -> Any:
    """A tool_choice / allowed_tools entry naming a custom tool, as naming its function."""
    if isinstance(entry, dict) and entry.get("type") == "custom":
        custom = _object(entry.get("custom"))
        return {"type": "function", "function": {"name": custom.get("name") or entry.get("name")}}
    return entry


def _needs_conversion(chat: dict) -> bool:
    tools, choice = chat.get("tools"), chat.get("tool_choice")
    if isinstance(tools, list) and any(
        not isinstance(t, dict) or t.get("type") != "function" for t in tools
    ):
        return True
    if isinstance(choice, dict) and choice.get("type") != "function":
        return True
    return any(
        isinstance(call, dict) and call.get("type") == "custom"
        for message in chat.get("messages") or ()
        if isinstance(message, dict)
        for call in message.get("tool_calls") or ()
    )


def function_tools(chat: dict) -> dict:
    """`chat` with function tools only, for a translator to another kind: custom tools as
    functions of one string argument (and calls to them in the history as function calls),
    tool_choice naming a custom tool as naming its function, and tools of any other type
    left out (dropped_tools() reports them; a tool_choice forcing one is left out too).
    Returns `chat` itself when there is nothing to convert."""
    if not _needs_conversion(chat):
        return chat
    out = dict(chat)
    tools = chat.get("tools")
    if isinstance(tools, list):
        converted = []
        for tool in tools:
            if not isinstance(tool, dict):
                continue
            if tool.get("type") == "function":
                converted.append(tool)
            elif tool.get("type") == "custom":
                spec = _object(tool.get("custom"))
                function = custom_function(
                    spec.get("name"), spec.get("description"), spec.get("format")
                )
                if "cache_control" in tool:
                    function["cache_control"] = tool["cache_control"]
                converted.append(function)
        out["tools"] = converted
    choice = chat.get("tool_choice")
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind == "custom":
            out["tool_choice"] = _named(choice)
        elif kind == "allowed_tools" and isinstance(choice.get("allowed_tools"), dict):
            allowed = choice["allowed_tools"]
            entries = allowed.get("tools")
            if isinstance(entries, list):
                allowed = {**allowed, "tools": [_named(entry) for entry in entries]}
            out["tool_choice"] = {**choice, "allowed_tools": allowed}
        elif kind != "function":
            out.pop("tool_choice")
    messages = chat.get("messages")
    if isinstance(messages, list):
        out["messages"] = [
            {**m, "tool_calls": [_custom_call_as_function(c) for c in m["tool_calls"]]}
            if isinstance(m, dict) and isinstance(m.get("tool_calls"), list)
            else m
            for m in messages
        ]
    return out


def custom_tool_names(tools: Any) -> frozenset[str]:
    """The names of a Chat request's custom tools ({type: "custom", custom: {name}})."""
    return frozenset(
        tool["custom"]["name"]
        for tool in (tools if isinstance(tools, list) else ())
        if isinstance(tool, dict)
        and tool.get("type") == "custom"
        and isinstance(tool.get("custom"), dict)
        and isinstance(tool["custom"].get("name"), str)
    )


def custom_calls_for_chat(completion: dict, tools: Any) -> dict:
    """A canonical chat.completion for a Chat client whose `tools` (its request's) hold custom
    tools: calls of their functions (function_tools() made them) as the custom tool calls the
    real API returns, {id, type: "custom", custom: {name, input}}. The chat surface applies it
    to translated non-stream answers; CustomCallChunks does the same for streams."""
    names = custom_tool_names(tools)
    if not names:
        return completion
    choices = []
    for choice in completion.get("choices") or ():
        message = _object(choice.get("message") if isinstance(choice, dict) else None)
        calls = message.get("tool_calls")
        if isinstance(calls, list):
            converted = []
            for call in calls:
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict) and function.get("name") in names:
                    rest = {k: v for k, v in call.items() if k not in ("function", "type")}
                    custom = {
                        "name": function["name"],
                        "input": custom_input(function.get("arguments")),
                    }
                    call = {**rest, "type": "custom", "custom": custom}
                converted.append(call)
            choice = {**choice, "message": {**message, "tool_calls": converted}}
        choices.append(choice)
    return {**completion, "choices": choices}


class CustomCallChunks:
    """Canonical chat chunks for a Chat client with custom tools: a streamed call of one of
    them comes as the custom tool call delta OpenAI streams, never as function deltas. Its
    first delta is {index, id, type: "custom", custom: {name, input: ""}}, then
    {index, custom: {input}} deltas carry the text as InputDecoder frees it from the canonical
    JSON arguments; the choice's finishing chunk carries what is left, so the streamed input
    is what custom_calls_for_chat answers without a stream."""

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names
        # (choice, call index) -> the call's decoder and argument fragments so far
        self.open: dict[tuple[int, int], tuple[InputDecoder, list[str]]] = {}

    def chunk(self, chunk: dict) -> dict:
        choices = chunk.get("choices")
        if not isinstance(choices, list) or not choices:
            return chunk
        return {**chunk, "choices": [self._choice(c) for c in choices]}

    def _choice(self, choice: Any) -> Any:
        if not isinstance(choice, dict):
            return choice
        position = choice.get("index", 0)
        delta = _object(choice.get("delta"))
        calls = delta.get("tool_calls")
        out: list = []
        for call in calls if isinstance(calls, list) else ():
            out.extend(self._call(position, call))
        if choice.get("finish_reason") is not None:
            out.extend(self._close(position))
        if not isinstance(calls, list) and not out:
            return choice
        delta = {k: v for k, v in delta.items() if k != "tool_calls"}
        if out:
            delta["tool_calls"] = out
        return {**choice, "delta": delta}

    def _call(self, position: int, call: Any) -> list:
        if not isinstance(call, dict):
            return [call]
        index = call.get("index", 0)
        key = (position, index)
        function = _object(call.get("function"))
        arguments = function.get("arguments")
        fragment = arguments if isinstance(arguments, str) else ""
        out = []
        if key not in self.open:
            name = function.get("name")
            if name not in self.names:
                return [call]
            self.open[key] = (InputDecoder(), [])
            rest = {k: v for k, v in call.items() if k not in ("function", "type")}
            out.append({**rest, "type": "custom", "custom": {"name": name, "input": ""}})
        decoder, fragments = self.open[key]
        fragments.append(fragment)
        text = decoder.feed(fragment) if fragment else ""
        if text:
            out.append({"index": index, "custom": {"input": text}})
        return out

    def _close(self, position: int) -> list:
        out = []
        for key in [k for k in self.open if k[0] == position]:
            decoder, fragments = self.open.pop(key)
            rest, _ = decoder.finish("".join(fragments))
            if rest:
                out.append({"index": key[1], "custom": {"input": rest}})
        return out
