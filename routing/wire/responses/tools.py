"""Responses tools <-> canonical function tools, both ways.

Every tool the client runs itself becomes a canonical function tool:
  * `function`: as is.
  * `namespace` {name, description, tools: [function | custom]}: each inner tool flattened to
    one function named `<namespace>__<name>` (underscores around the joint trimmed: Codex's
    ToolName::canonical_flat_name, so `mcp__calendar__` + `create_event` is
    `mcp__calendar__create_event`). Its calls go back as the real API sends them: the inner
    `name` with the `namespace` field beside it.
  * `custom` {name, description, format}: a function taking its text as one string argument
    (routing/wire/tools.py); calls go back as `custom_tool_call` {call_id, name, input}.
  * `local_shell`: a function `local_shell` {command: string[], workdir?, timeout_ms?, env?};
    calls go back as `local_shell_call` {call_id, action: {type: exec, command, env,
    timeout_ms, working_directory, user}, status}.
  * `shell` (a local environment; a hosted container is left out): a function `shell`
    {commands: string[], timeout_ms?, max_output_length?}; calls go back as `shell_call`
    {call_id, action: {commands, timeout_ms, max_output_length}, status, environment}.
  * `apply_patch`: a function `apply_patch` {operation, path, diff?}; calls go back as
    `apply_patch_call` {call_id, operation: {type, path, diff}, status}.
Names Orca makes up (namespaced and built-in ones) are made safe for every upstream (letters,
digits, `_` and `-`, at most 64 characters) and never taken from a function of the client.
A web search tool (web_search, web_search_preview) is kept apart (ToolMap.search): the
request becomes canonical `web_search_options` (search.py). Every other tool (hosted:
file_search, mcp, code_interpreter, image_generation, computer use, tool_search, ...) is left
out and listed (see routing/wire/tools.py).

ToolMap is built from the client's `tools` alone, so the request translation and both
renderers (response.py, stream.py: they get the client's body) agree on every name. The
matching input items (custom_tool_call, local_shell_call, shell_call, apply_patch_call and
their outputs) become canonical tool calls and tool results; items of hosted tools are
dropped, as nothing can replay them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from ..common import dumps
from ..errors import InvalidRequest
from ..tools import custom_arguments, custom_function, tool_label
from .search import is_search_tool

BUILTIN_KINDS = ("local_shell", "shell", "apply_patch")
# input items of the client-run tools: calls, and the outputs handled in tool_output()
CALL_ITEMS = frozenset(
    {"function_call", "custom_tool_call", "local_shell_call", "shell_call", "apply_patch_call"}
)
OUTPUT_ITEMS = frozenset(
    {"local_shell_call_output", "shell_call_output", "apply_patch_call_output"}
)
# items of hosted tools: accepted and dropped (they replay nothing)
HOSTED_ITEMS = frozenset(
    {
        "web_search_call",
        "file_search_call",
        "computer_call",
        "computer_call_output",
        "code_interpreter_call",
        "image_generation_call",
        "mcp_call",
        "mcp_list_tools",
        "mcp_approval_request",
        "mcp_approval_response",
        "tool_search_call",
    }
)
# items that make more tools available from where they stand (client_tools() adds them)
TOOL_LIST_ITEMS = frozenset({"additional_tools", "tool_search_output"})
ITEM_PREFIXES = {
    "function": "fc",
    "custom": "ctc",
    "local_shell": "lsh",
    "shell": "sh",
    "apply_patch": "apc",
}
_CUSTOM_FORMATS = frozenset({"text", "grammar"})
PATCH_OPERATIONS = ("create_file", "update_file", "delete_file")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
MAX_NAME = 64

_BUILTIN_FUNCTIONS: dict[str, dict[str, Any]] = {
    "local_shell": {
        "description": (
            "Run a command on the user's machine and return its output. `command` is the "
            'program and its arguments, e.g. ["bash", "-lc", "ls -la"].'
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "command": {"type": "array", "items": {"type": "string"}},
                "workdir": {"type": "string", "description": "The working directory."},
                "timeout_ms": {"type": "integer", "description": "A time limit in ms."},
                "env": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "Environment variables to set.",
                },
            },
            "required": ["command"],
        },
    },
    "shell": {
        "description": (
            "Run shell commands on the user's machine and return their output; each entry "
            "of `commands` is one command line."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "commands": {"type": "array", "items": {"type": "string"}},
                "timeout_ms": {"type": "integer", "description": "A time limit in ms."},
                "max_output_length": {
                    "type": "integer",
                    "description": "The most characters of output to return per command.",
                },
            },
            "required": ["commands"],
        },
    },
    "apply_patch": {
        "description": (
            "Create, update or delete a file on the user's machine. `diff` is a V4A diff: "
            "for create_file every line of the new file prefixed with '+', for update_file "
            "sections opened by '@@' with lines prefixed by ' ', '-' or '+'; delete_file "
            "takes none."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "operation": {"type": "string", "enum": list(PATCH_OPERATIONS)},
                "path": {"type": "string"},
                "diff": {"type": "string"},
            },
            "required": ["operation", "path"],
        },
    },
}


# --- validation ------------------------------------------------------------------------------


def _bad(message: str, param: str | None, code: str = "invalid_value") -> InvalidRequest:
    return InvalidRequest(message, param=param, code=code)


def _need_str(container: dict, name: str, where: str) -> None:
    value = container.get(name)
    if value is None:
        raise _bad(f"`{where}` is required", where, "missing_required_parameter")
    if not isinstance(value, str) or not value:
        raise _bad(f"`{where}` must be a non-empty string", where, "invalid_type")


def _maybe(container: dict, name: str, kind: type | tuple[type, ...], what: str, where: str):
    value = container.get(name)
    if value is not None and not isinstance(value, kind):
        raise _bad(f"`{where}` must be {what}", where, "invalid_type")


def _need(container: dict, name: str, kind: type, what: str, where: str) -> Any:
    value = container.get(name)
    if not isinstance(value, kind):
        code = "missing_required_parameter" if value is None else "invalid_type"
        raise _bad(f"`{where}` must be {what}", where, code)
    return value


def _strings(value: Any, where: str) -> None:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        code = "missing_required_parameter" if value is None else "invalid_type"
        raise _bad(f"`{where}` must be an array of strings", where, code)


def _validate_function(tool: dict, where: str) -> None:
    _need_str(tool, "name", f"{where}.name")
    _maybe(tool, "description", str, "a string", f"{where}.description")
    _maybe(tool, "parameters", dict, "an object", f"{where}.parameters")
    _maybe(tool, "strict", bool, "a boolean", f"{where}.strict")


def _validate_custom(tool: dict, where: str) -> None:
    _need_str(tool, "name", f"{where}.name")
    _maybe(tool, "description", str, "a string", f"{where}.description")
    fmt = tool.get("format")
    if fmt is None:
        return
    if not isinstance(fmt, dict) or fmt.get("type") not in _CUSTOM_FORMATS:
        raise _bad(f"`{where}.format.type` must be one of {sorted(_CUSTOM_FORMATS)}", where)
    if fmt["type"] == "grammar":
        _need_str(fmt, "definition", f"{where}.format.definition")
        if fmt.get("syntax") not in ("lark", "regex"):
            raise _bad(f"`{where}.format.syntax` must be 'lark' or 'regex'", f"{where}.format")


def _validate_tool_list(tools: Any, at: str) -> None:
    if tools is not None:
        if not isinstance(tools, list):
            raise _bad(f"`{at}` must be an array", at, "invalid_type")
        for i, tool in enumerate(tools):
            where = f"{at}[{i}]"
            if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
                raise _bad(f"`{where}` must be an object with a `type`", where, "invalid_type")
            if tool["type"] == "function":
                _validate_function(tool, where)
            elif tool["type"] == "custom":
                _validate_custom(tool, where)
            elif tool["type"] == "namespace":
                _need_str(tool, "name", f"{where}.name")
                _maybe(tool, "description", str, "a string", f"{where}.description")
                inner = _need(tool, "tools", list, "an array of tools", f"{where}.tools")
                if not inner:
                    raise _bad(f"`{where}.tools` must not be empty", f"{where}.tools")
                for j, member in enumerate(inner):
                    at = f"{where}.tools[{j}]"
                    kind = member.get("type") if isinstance(member, dict) else None
                    if kind == "function":
                        _validate_function(member, at)
                    elif kind == "custom":
                        _validate_custom(member, at)
                    else:
                        raise _bad(f"`{at}.type` must be 'function' or 'custom'", f"{at}.type")


def validate_tools(body: dict) -> None:
    """`tools` and `tool_choice`: the shapes the API itself checks. A tool of a type Orca
    cannot translate is not an error here (see module docstring)."""
    _validate_tool_list(body.get("tools"), "tools")
    choice = body.get("tool_choice")
    if choice is None:
        return
    if isinstance(choice, str):
        if choice in ("none", "auto", "required"):
            return
        raise _bad(
            f"`tool_choice` must be one of ['auto', 'none', 'required'] or an object, "
            f"got {choice!r}",
            "tool_choice",
        )
    if not isinstance(choice, dict) or not isinstance(choice.get("type"), str):
        raise _bad("`tool_choice` must be a string or an object with a `type`", "tool_choice")
    if choice["type"] in ("function", "custom"):
        _need_str(choice, "name", "tool_choice.name")
    elif choice["type"] == "mcp":
        _need_str(choice, "server_label", "tool_choice.server_label")
    elif choice["type"] == "allowed_tools":
        if choice.get("mode") not in ("auto", "required"):
            raise _bad("`tool_choice.mode` must be 'auto' or 'required'", "tool_choice.mode")
        entries = _need(choice, "tools", list, "an array of tools", "tool_choice.tools")
        for j, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
                where = f"tool_choice.tools[{j}]"
                raise _bad(f"`{where}` must be an object with a `type`", where, "invalid_type")


def validate_tool_item(item: dict, kind: str, where: str) -> None:
    """An input item of a client-run tool other than function_call(_output); hosted tools'
    items are not checked (they are dropped)."""
    if kind == "custom_tool_call":
        _need_str(item, "call_id", f"{where}.call_id")
        _need_str(item, "name", f"{where}.name")
        _need(item, "input", str, "a string", f"{where}.input")
        _maybe(item, "namespace", str, "a string", f"{where}.namespace")
    elif kind in ("local_shell_call", "local_shell_call_output"):
        # the spec's local_shell_call_output names its call by `id`; Codex sends `call_id`
        name = "call_id" if item.get("call_id") is not None or kind.endswith("call") else "id"
        _need_str(item, name, f"{where}.{name}")
        if kind == "local_shell_call":
            action = _need(item, "action", dict, "an object", f"{where}.action")
            _strings(action.get("command"), f"{where}.action.command")
        else:
            _need(item, "output", str, "a string", f"{where}.output")
    elif kind == "shell_call":
        _need_str(item, "call_id", f"{where}.call_id")
        action = _need(item, "action", dict, "an object", f"{where}.action")
        _strings(action.get("commands"), f"{where}.action.commands")
    elif kind == "shell_call_output":
        _need_str(item, "call_id", f"{where}.call_id")
        _need(item, "output", list, "an array", f"{where}.output")
    elif kind == "apply_patch_call":
        _need_str(item, "call_id", f"{where}.call_id")
        operation = _need(item, "operation", dict, "an object", f"{where}.operation")
        if operation.get("type") not in PATCH_OPERATIONS:
            where_type = f"{where}.operation.type"
            raise _bad(f"`{where_type}` must be one of {list(PATCH_OPERATIONS)}", where_type)
        _need_str(operation, "path", f"{where}.operation.path")
    elif kind == "apply_patch_call_output":
        _need_str(item, "call_id", f"{where}.call_id")
        if item.get("status") not in ("completed", "failed"):
            raise _bad(f"`{where}.status` must be 'completed' or 'failed'", f"{where}.status")
        _maybe(item, "output", str, "a string", f"{where}.output")
    elif kind in TOOL_LIST_ITEMS:
        _need(item, "tools", list, "an array of tools", f"{where}.tools")
        _validate_tool_list(item["tools"], f"{where}.tools")


def client_tools(body: dict) -> list:
    """Every tool the client offers: `tools`, then those of the input items that add some
    (additional_tools, tool_search_output), in order."""
    tools = list(body.get("tools") or ())
    items = body.get("input")
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict) and item.get("type") in TOOL_LIST_ITEMS:
            tools.extend(item.get("tools") or ())
    return tools


# --- the name map ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientTool:
    """What a canonical function stands for: the kind of client tool and its names."""

    kind: str  # function | custom | local_shell | shell | apply_patch
    name: str  # as the client declared it (the inner name in a namespace)
    namespace: str | None = None
    environment: Any = None  # a shell tool's environment, echoed on its calls


def flat_name(namespace: str, name: str) -> str:
    return f"{namespace.rstrip('_')}__{name.lstrip('_')}"


def _safe(name: str) -> str:
    name = _UNSAFE.sub("_", name) or "tool"
    if len(name) > MAX_NAME:
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        name = f"{name[: MAX_NAME - 9]}_{digest}"
    return name


def _shell_is_local(tool: dict) -> bool:
    environment = tool.get("environment")
    return environment is None or (
        isinstance(environment, dict) and environment.get("type") == "local"
    )


class ToolMap:
    """The client's Responses tools as canonical function tools, and back.

    `functions` are the canonical tool definitions (request order), `dropped` the labels of
    the tools left out, `search` the client's web search tool (or None). client() tells what
    a canonical function name stands for; name() gives the canonical name of a client tool."""

    def __init__(self, tools: Any) -> None:
        self.functions: list[dict] = []
        self.dropped: list[str] = []
        self.search: dict | None = None
        self._clients: dict[str, ClientTool] = {}
        self._names: dict[tuple[str, str | None, str], str] = {}
        self._declared: set[str] = set()
        tools = [t for t in tools if isinstance(t, dict)] if isinstance(tools, list) else []
        # the client's own names first, so that made-up names never take one of them
        for tool in tools:
            if tool.get("type") in ("function", "custom") and isinstance(tool.get("name"), str):
                self._claim(ClientTool(tool["type"], tool["name"]), tool["name"])
        for tool in tools:
            kind = tool.get("type")
            if kind in ("function", "custom"):
                if isinstance(tool.get("name"), str):
                    self._declare(tool, ClientTool(kind, tool["name"]))
            elif kind == "namespace" and isinstance(tool.get("name"), str):
                space = tool["name"]
                for member in tool.get("tools") or ():
                    if not isinstance(member, dict) or not isinstance(member.get("name"), str):
                        continue
                    member_kind = "custom" if member.get("type") == "custom" else "function"
                    client = ClientTool(member_kind, member["name"], space)
                    self._claim(client, _safe(flat_name(space, member["name"])))
                    self._declare(member, client, fallback=tool.get("description"))
            elif kind in BUILTIN_KINDS and (kind != "shell" or _shell_is_local(tool)):
                client = ClientTool(kind, kind, environment=tool.get("environment"))
                self._claim(client, kind)
                self._declare(_BUILTIN_FUNCTIONS[kind], client)
            elif is_search_tool(tool):
                self.search = self.search or tool
            else:
                self.dropped.append(tool_label(tool))

    def _claim(self, client: ClientTool, wanted: str) -> None:
        key = (client.kind, client.namespace, client.name)
        if key in self._names:
            return
        name, n = wanted, 1
        while name in self._clients:
            n += 1
            tail = f"_{n}"
            name = wanted[: MAX_NAME - len(tail)] + tail
        self._clients[name] = client
        self._names[key] = name

    def _declare(self, tool: dict, client: ClientTool, fallback: Any = None) -> None:
        name = self._names[(client.kind, client.namespace, client.name)]
        if self.declared(name):
            return  # the same tool again (say, in an additional_tools item)
        description = tool.get("description") or fallback
        self._declared.add(name)
        if client.kind == "custom":
            self.functions.append(custom_function(name, description, tool.get("format")))
            return
        function: dict[str, Any] = {"name": name}
        if description:
            function["description"] = description
        for key in ("parameters", "strict"):
            if tool.get(key) is not None:
                function[key] = tool[key]
        self.functions.append({"type": "function", "function": function})

    def client(self, name: str) -> ClientTool:
        """What the canonical function `name` stands for (a plain function if unknown)."""
        return self._clients.get(name) or ClientTool("function", name)

    def name(self, kind: str, name: str, namespace: str | None = None) -> str:
        """The canonical function name of a client tool (also one not declared any more)."""
        known = self._names.get((kind, namespace, name))
        if known is not None:
            return known
        if namespace:
            return _safe(flat_name(namespace, name))
        if kind in ("function", "custom"):
            # a name alone that only a namespace member has
            members = [v for (k, ns, n), v in self._names.items() if k == kind and n == name]
            return members[0] if len(members) == 1 else name
        return kind

    def declared(self, name: str) -> bool:
        return name in self._declared

    def entry_names(self, entry: dict) -> list[str] | None:
        """The canonical names an allowed_tools entry allows, or None for a left-out tool."""
        kind = entry.get("type")
        if kind in ("function", "custom"):
            ns = entry.get("namespace") if isinstance(entry.get("namespace"), str) else None
            return [self.name(kind, str(entry.get("name")), ns)]
        if kind == "namespace":
            return [v for (_, ns, _), v in self._names.items() if ns == entry.get("name")]
        if kind in BUILTIN_KINDS:
            name = self.name(kind, kind)
            return [name] if self.declared(name) else None
        if is_search_tool(entry) and self.search is not None:
            return []  # allowed, and no function: the search stays on
        return None


def chat_tools(body: dict, tools: ToolMap) -> tuple[list[dict], Any, str | None]:
    """(canonical tools, canonical tool_choice or None, the left-out tool it forces)."""
    functions = tools.functions
    choice = body.get("tool_choice")
    if choice is None or isinstance(choice, str):
        if choice == "required" and not functions and tools.dropped and tools.search is None:
            return functions, None, tools.dropped[0]
        return functions, choice, None
    kind = choice["type"]
    if kind in ("function", "custom"):
        name = tools.name(kind, choice["name"])
        return functions, {"type": "function", "function": {"name": name}}, None
    if kind in BUILTIN_KINDS:
        name = tools.name(kind, kind)
        if not tools.declared(name) and kind in tools.dropped:
            return functions, None, kind
        return functions, {"type": "function", "function": {"name": name}}, None
    if kind == "allowed_tools":
        # Chat has no portable equivalent: offer only the allowed tools instead.
        allowed: list[str] = []
        left_out: list[str] = []
        for entry in choice["tools"]:
            names = tools.entry_names(entry)
            if names is None:
                left_out.append(tool_label(entry))
            else:
                allowed.extend(names)
        narrowed = [t for t in functions if t["function"]["name"] in allowed]
        if not narrowed and left_out:
            forced = left_out[0] if choice["mode"] == "required" else None
            return [], None, forced
        return narrowed, choice["mode"], None
    if is_search_tool(choice) and tools.search is not None:
        return functions, None, None  # the search is on: canonical has no way to force it
    return functions, None, tool_label(choice)  # a hosted tool


# --- input items -> canonical calls and results ----------------------------------------------


def _with(arguments: dict, name: str, value: Any) -> None:
    if value is not None:
        arguments[name] = value


def item_call(item: dict, kind: str, tools: ToolMap) -> dict:
    """A client-run tool's call item as a canonical tool call."""
    if kind == "function_call":
        name = tools.name("function", item["name"], item.get("namespace"))
        arguments = item["arguments"] or "{}"
    elif kind == "custom_tool_call":
        name = tools.name("custom", item["name"], item.get("namespace"))
        arguments = custom_arguments(item["input"])
    elif kind == "local_shell_call":
        action = item["action"]
        args: dict[str, Any] = {"command": action["command"]}
        _with(args, "workdir", action.get("working_directory"))
        _with(args, "timeout_ms", action.get("timeout_ms"))
        _with(args, "env", action.get("env") or None)
        name, arguments = tools.name("local_shell", "local_shell"), dumps(args)
    elif kind == "shell_call":
        action = item["action"]
        args = {"commands": action["commands"]}
        _with(args, "timeout_ms", action.get("timeout_ms"))
        _with(args, "max_output_length", action.get("max_output_length"))
        name, arguments = tools.name("shell", "shell"), dumps(args)
    else:  # apply_patch_call
        operation = item["operation"]
        args = {"operation": operation["type"], "path": operation["path"]}
        _with(args, "diff", operation.get("diff"))
        name, arguments = tools.name("apply_patch", "apply_patch"), dumps(args)
    call_id = item.get("call_id") or item.get("id")
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def tool_output(item: dict, kind: str) -> tuple[str, str]:
    """(call_id, text) of a local_shell / shell / apply_patch call's output item."""
    if kind == "local_shell_call_output":
        return item.get("call_id") or item["id"], item["output"]
    if kind == "shell_call_output":
        return item["call_id"], dumps(item["output"])
    status, output = item["status"], item.get("output")
    if not output:
        return item["call_id"], status
    return item["call_id"], (f"{status}: {output}" if status == "failed" else output)
