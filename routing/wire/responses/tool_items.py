"""Canonical calls of the client's own tools as the Responses output items the real API
returns: custom_tool_call, local_shell_call, shell_call, apply_patch_call, function_call (with
its namespace). The tools and their name map are in tools.py."""

from __future__ import annotations

import json
from typing import Any

from ..common import is_int, parse_object
from ..tools import custom_input
from .tools import PATCH_OPERATIONS, ClientTool


def _int_or_none(value: Any) -> int | None:
    return value if is_int(value) else None


def _string_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [v if isinstance(v, str) else json.dumps(v) for v in value]
    return [value] if isinstance(value, str) and value else []


def local_shell_action(arguments: Any) -> dict:
    args = parse_object(arguments) or {}
    command = args.get("command")
    env = args["env"] if isinstance(args.get("env"), dict) else {}
    workdir = args.get("workdir") or args.get("working_directory")
    return {
        "type": "exec",
        # a model that wrote one command line gets it run by a shell
        "command": ["bash", "-lc", command] if isinstance(command, str) else _string_list(command),
        "env": {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in env.items()},
        "timeout_ms": _int_or_none(args.get("timeout_ms")),
        "working_directory": workdir if isinstance(workdir, str) else None,
        "user": None,
    }


def shell_action(arguments: Any) -> dict:
    args = parse_object(arguments) or {}
    return {
        "commands": _string_list(args.get("commands") or args.get("command")),
        "timeout_ms": _int_or_none(args.get("timeout_ms")),
        "max_output_length": _int_or_none(args.get("max_output_length")),
    }


def patch_operation(arguments: Any) -> dict:
    args = parse_object(arguments) or {}
    kind = args.get("operation") or args.get("type")
    kind = kind if kind in PATCH_OPERATIONS else "update_file"
    path = args.get("path")
    operation = {"type": kind, "path": path if isinstance(path, str) else ""}
    if kind != "delete_file":
        diff = args.get("diff")
        operation["diff"] = diff if isinstance(diff, str) else ""
    return operation


def call_item(tool: ClientTool, *, item_id: str, call_id: str, arguments: Any, status: str):
    """The output item of a call to `tool`, complete (arguments as the canonical call's)."""
    item: dict[str, Any] = {"id": item_id}
    if tool.kind == "custom":
        item.update(type="custom_tool_call", status=status, call_id=call_id, name=tool.name)
        item["input"] = custom_input(arguments)
    elif tool.kind == "local_shell":
        item.update(type="local_shell_call", status=status, call_id=call_id)
        item["action"] = local_shell_action(arguments)
    elif tool.kind == "shell":
        item.update(type="shell_call", status=status, call_id=call_id)
        item["action"] = shell_action(arguments)
        item["environment"] = tool.environment
    elif tool.kind == "apply_patch":
        # its status is in_progress or completed only
        item.update(type="apply_patch_call", call_id=call_id)
        item["status"] = "completed" if status == "completed" else "in_progress"
        item["operation"] = patch_operation(arguments)
    else:
        item.update(type="function_call", status=status, call_id=call_id, name=tool.name)
        item["arguments"] = arguments or "{}"
    if tool.namespace is not None:
        item["namespace"] = tool.namespace
    return item
