"""The demo kind's answers (routing/providers/demo): call ids unique per turn and stable
within a response, the tool policy an agent loop needs (call on a fresh request, text after
a tool result), structured output, and the schema-to-example generator, checked against a
small JSON Schema validator written here (the venv has no jsonschema)."""

import asyncio
import datetime
import ipaddress
import json
import math
import re
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.providers.demo import chat as demo_chat
from routing.providers.demo.answer import call_id, conversation_digest, decide
from routing.providers.demo.schema import example_for

# --- a small JSON Schema validator (drafts 4 to 2020-12, the keywords tool schemas use) ----


def _is_type(value: Any, kind: str) -> bool:
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    return True


def _format_ok(value: str, fmt: str) -> bool:
    try:
        if fmt == "date-time":
            datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        elif fmt == "date":
            datetime.date.fromisoformat(value)
        elif fmt == "uuid":
            uuid.UUID(value)
        elif fmt in ("ipv4", "ipv6"):
            ipaddress.ip_address(value)
        elif fmt in ("email", "idn-email"):
            return re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value) is not None
        elif fmt in ("uri", "url"):
            return re.match(r"[a-z][a-z0-9+.-]*://", value) is not None
    except ValueError:
        return False
    return True


def errors(value: Any, schema: Any, root: Any = None, at: str = "$") -> list[str]:
    """Where `value` breaks `schema`; empty when it validates."""
    root = schema if root is None else root
    if schema is True or schema == {}:
        return []
    if schema is False:
        return [f"{at}: nothing validates against false"]
    out: list[str] = []
    if "$ref" in schema:
        node = root
        for key in schema["$ref"].lstrip("#").strip("/").split("/"):
            if key:
                node = node[key.replace("~1", "/").replace("~0", "~")]
        out += errors(value, node, root, at)
    for sub in schema.get("allOf", []):
        out += errors(value, sub, root, at)
    if "anyOf" in schema and not any(not errors(value, s, root, at) for s in schema["anyOf"]):
        out.append(f"{at}: matches no anyOf branch")
    if "oneOf" in schema:
        matched = sum(not errors(value, s, root, at) for s in schema["oneOf"])
        if matched != 1:
            out.append(f"{at}: matches {matched} oneOf branches")
    if "not" in schema and not errors(value, schema["not"], root, at):
        out.append(f"{at}: matches `not`")
    if "const" in schema and value != schema["const"]:
        out.append(f"{at}: {value!r} is not the const {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{at}: {value!r} not in enum")
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_is_type(value, k) for k in kinds):
            return [*out, f"{at}: {value!r} is not of type {kinds}"]
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                out.append(f"{at}: missing required {name!r}")
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                out += errors(item, properties[name], root, f"{at}.{name}")
            elif extra is False:
                out.append(f"{at}: unexpected property {name!r}")
            elif isinstance(extra, dict):
                out += errors(item, extra, root, f"{at}.{name}")
        if len(value) < schema.get("minProperties", 0):
            out.append(f"{at}: fewer than minProperties")
        if len(value) > schema.get("maxProperties", math.inf):
            out.append(f"{at}: more than maxProperties")
    if isinstance(value, list):
        prefix = schema.get("prefixItems", [])
        items = schema.get("items", {})
        if isinstance(items, list):
            prefix, items = items, schema.get("additionalItems", {})
        for i, item in enumerate(value):
            out += errors(item, prefix[i] if i < len(prefix) else items, root, f"{at}[{i}]")
        if len(value) < schema.get("minItems", 0):
            out.append(f"{at}: fewer than minItems")
        if len(value) > schema.get("maxItems", math.inf):
            out.append(f"{at}: more than maxItems")
        if schema.get("uniqueItems") and len({json.dumps(v, sort_keys=True) for v in value}) < len(
            value
        ):
            out.append(f"{at}: items are not unique")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get(
            "maxLength", math.inf
        ):
            out.append(f"{at}: length {len(value)} out of bounds")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append(f"{at}: does not match the pattern")
        if "format" in schema and not _format_ok(value, schema["format"]):
            out.append(f"{at}: not a {schema['format']}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        low, high = schema.get("minimum"), schema.get("maximum")
        xlow, xhigh = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
        if xlow is True:
            xlow, low = low, None
        if xhigh is True:
            xhigh, high = high, None
        if isinstance(low, int | float) and not isinstance(low, bool) and value < low:
            out.append(f"{at}: {value} < minimum {low}")
        if isinstance(high, int | float) and not isinstance(high, bool) and value > high:
            out.append(f"{at}: {value} > maximum {high}")
        if isinstance(xlow, int | float) and not isinstance(xlow, bool) and value <= xlow:
            out.append(f"{at}: {value} <= exclusiveMinimum {xlow}")
        if isinstance(xhigh, int | float) and not isinstance(xhigh, bool) and value >= xhigh:
            out.append(f"{at}: {value} >= exclusiveMaximum {xhigh}")
        step = schema.get("multipleOf")
        if step and not math.isclose(value / step, round(value / step), abs_tol=1e-9):
            out.append(f"{at}: {value} is not a multiple of {step}")
    return out


def test_the_validator_refuses_what_it_should():
    assert errors({"a": 1}, {"type": "object", "required": ["b"]})
    assert errors([1, 1], {"type": "array", "uniqueItems": True})
    assert errors(3, {"type": "integer", "exclusiveMaximum": 3})
    assert errors(3, {"maximum": 3, "exclusiveMaximum": True})
    assert errors("x", {"enum": ["y"]})
    assert errors(True, {"type": "integer"})
    assert errors(1, {"oneOf": [{"type": "integer"}, {"type": "number"}]})
    assert errors(
        {"n": "x"},
        {"$defs": {"i": {"type": "integer"}}, "properties": {"n": {"$ref": "#/$defs/i"}}},
    )
    assert not errors({"a": [1, 2]}, {"properties": {"a": {"items": {"type": "integer"}}}})


# --- the schema-to-example generator ---------------------------------------------------------


SCHEMAS = {
    "string": {"type": "string"},
    "number": {"type": "number"},
    "integer": {"type": "integer"},
    "boolean": {"type": "boolean"},
    "null": {"type": "null"},
    "nullable string": {"type": ["null", "string"]},
    "empty": {},
    "enum": {"enum": ["celsius", "fahrenheit"]},
    "typed enum": {"type": "integer", "enum": [3, 5, 8]},
    "const": {"const": "fixed"},
    "default": {"type": "string", "default": "chosen"},
    "default outside the enum": {"enum": ["a", "b"], "default": "z"},
    "anyOf": {"anyOf": [{"type": "integer", "minimum": 10}, {"type": "string"}]},
    "anyOf null first": {"anyOf": [{"type": "null"}, {"type": "string", "minLength": 3}]},
    "oneOf": {"oneOf": [{"type": "string", "format": "email"}, {"type": "integer"}]},
    "allOf": {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"type": "integer"}}, "required": ["b"]},
        ]
    },
    "bounds": {"type": "integer", "minimum": 5, "maximum": 7},
    "exclusive bounds": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    "draft 4 exclusive": {
        "type": "integer",
        "minimum": 1,
        "maximum": 2,
        "exclusiveMinimum": True,
    },
    "negative": {"type": "integer", "maximum": -3},
    "multipleOf": {"type": "integer", "minimum": 11, "multipleOf": 5},
    "decimal multipleOf": {"type": "number", "multipleOf": 0.25, "minimum": 1.1},
    "min length": {"type": "string", "minLength": 12},
    "max length": {"type": "string", "maxLength": 2},
    "formats": {
        "type": "object",
        "properties": {
            f: {"type": "string", "format": f}
            for f in ("date-time", "date", "email", "uri", "uuid", "ipv4", "ipv6")
        },
        "required": ["date-time", "date", "email", "uri", "uuid", "ipv4", "ipv6"],
    },
    "array": {"type": "array", "items": {"type": "string"}},
    "min items unique": {
        "type": "array",
        "items": {"type": "integer"},
        "minItems": 3,
        "uniqueItems": True,
    },
    "unique strings": {
        "type": "array",
        "items": {"type": "string"},
        "minItems": 4,
        "uniqueItems": True,
    },
    "unique objects": {
        "type": "array",
        "minItems": 2,
        "uniqueItems": True,
        "items": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]},
    },
    "max items zero": {"type": "array", "maxItems": 0},
    "prefixItems": {
        "type": "array",
        "prefixItems": [{"type": "string"}, {"type": "boolean"}],
        "items": False,
    },
    "tuple items (draft 7)": {"type": "array", "items": [{"type": "integer"}, {"const": "x"}]},
    "nested": {
        "type": "object",
        "properties": {
            "user": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "tags": {"type": "array", "items": {"enum": ["x", "y"]}, "minItems": 2},
                    "address": {
                        "type": "object",
                        "properties": {"zip": {"type": "string", "minLength": 5}},
                        "required": ["zip"],
                        "additionalProperties": False,
                    },
                },
                "required": ["name", "tags", "address"],
                "additionalProperties": False,
            }
        },
        "required": ["user"],
        "additionalProperties": False,
    },
    "refs": {
        "$defs": {
            "Point": {
                "type": "object",
                "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
                "required": ["x", "y"],
            }
        },
        "type": "object",
        "properties": {"points": {"type": "array", "items": {"$ref": "#/$defs/Point"}}},
        "required": ["points"],
    },
    "recursive ref": {
        "definitions": {
            "node": {
                "type": "object",
                "properties": {
                    "value": {"type": "integer"},
                    "children": {"type": "array", "items": {"$ref": "#/definitions/node"}},
                },
                "required": ["value"],
            }
        },
        "$ref": "#/definitions/node",
    },
    "min properties": {"type": "object", "minProperties": 2},
    "no type, properties": {"properties": {"a": {"type": "integer"}}, "required": ["a"]},
    "additionalProperties schema": {
        "type": "object",
        "additionalProperties": {"type": "integer"},
        "required": ["count"],
    },
}


@pytest.mark.parametrize("optional", [False, True], ids=["required", "all"])
@pytest.mark.parametrize("schema", SCHEMAS.values(), ids=SCHEMAS.keys())
def test_examples_validate(schema, optional):
    value = example_for(schema, optional=optional)
    assert errors(value, schema) == [], value
    json.dumps(value)  # plain JSON


def test_examples_are_plausible_values_of_each_kind():
    assert example_for({"type": "string"}) == "demo"
    assert example_for({"type": "integer"}) == 1
    assert example_for({"type": "boolean"}) is True
    assert example_for({"enum": ["celsius", "fahrenheit"]}) == "celsius"
    assert example_for({"type": "string", "default": "chosen"}) == "chosen"
    assert example_for({"anyOf": [{"type": "null"}, {"type": "integer"}]}) == 1
    assert example_for({"type": "array", "items": {"type": "string"}}) == ["demo"]
    assert example_for({"type": "array", "items": {"type": "integer"}, "minItems": 3}) == [1, 2, 3]
    schema = {
        "type": "object",
        "properties": {"q": {"type": "string"}, "limit": {"type": "integer"}},
        "required": ["q"],
    }
    assert example_for(schema) == {"q": "demo"}  # tool arguments: the required ones
    assert example_for(schema, optional=True) == {"q": "demo", "limit": 1}
    # a shell runs something harmless
    bash = {
        "type": "object",
        "properties": {"command": {"type": "string"}},
        "required": ["command"],
    }
    assert example_for(bash) == {"command": "echo demo"}


AGENT_TOOLS = {
    # shaped like Claude Code's and Codex CLI's own tools
    "Bash": {
        "type": "object",
        "properties": {
            "command": {"type": "string", "description": "The command to execute"},
            "timeout": {"type": "number", "maximum": 600000},
            "description": {"type": "string"},
            "run_in_background": {"type": "boolean"},
        },
        "required": ["command"],
        "additionalProperties": False,
        "$schema": "http://json-schema.org/draft-07/schema#",
    },
    "Edit": {
        "type": "object",
        "properties": {
            "file_path": {"type": "string"},
            "old_string": {"type": "string"},
            "new_string": {"type": "string"},
            "replace_all": {"type": "boolean", "default": False},
        },
        "required": ["file_path", "old_string", "new_string"],
        "additionalProperties": False,
    },
    "TodoWrite": {
        "type": "object",
        "properties": {
            "todos": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "content": {"type": "string", "minLength": 1},
                        "status": {
                            "type": "string",
                            "enum": ["pending", "in_progress", "completed"],
                        },
                        "activeForm": {"type": "string", "minLength": 1},
                    },
                    "required": ["content", "status", "activeForm"],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["todos"],
    },
    "shell": {
        "type": "object",
        "properties": {
            "command": {"type": "array", "items": {"type": "string"}},
            "workdir": {"type": "string"},
            "timeout_ms": {"type": "number"},
        },
        "required": ["command"],
        "additionalProperties": False,
    },
    "update_plan": {
        "type": "object",
        "properties": {
            "explanation": {"type": "string"},
            "plan": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"step": {"type": "string"}, "status": {"type": "string"}},
                    "required": ["step", "status"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["plan"],
        "additionalProperties": False,
    },
}


@pytest.mark.parametrize("schema", AGENT_TOOLS.values(), ids=AGENT_TOOLS.keys())
def test_agent_tool_arguments_validate(schema):
    tool = {"type": "function", "function": {"name": "t", "parameters": schema}}
    answer = decide({"messages": [{"role": "user", "content": "go"}], "tools": [tool]})
    assert answer.tool == "t"
    assert errors(json.loads(answer.arguments), schema) == []


# random schemas: every one the generator is given must yield a valid example
_leaf = st.one_of(
    st.builds(lambda: {"type": "string"}),
    st.builds(lambda n: {"type": "string", "minLength": n}, st.integers(0, 20)),
    st.builds(lambda n: {"type": "string", "maxLength": n}, st.integers(0, 3)),
    st.builds(lambda: {"type": "boolean"}),
    st.builds(lambda: {"type": "null"}),
    st.builds(
        lambda lo, span, kind: {"type": kind, "minimum": lo, "maximum": lo + span},
        st.integers(-50, 50),
        st.integers(0, 10),
        st.sampled_from(["integer", "number"]),
    ),
    st.builds(
        lambda lo, step: {"type": "integer", "minimum": lo, "multipleOf": step},
        st.integers(-20, 20),
        st.integers(1, 7),
    ),
    st.builds(
        lambda lo, span: {"type": "number", "exclusiveMinimum": lo, "exclusiveMaximum": lo + span},
        st.integers(-5, 5),
        st.sampled_from([0.5, 1, 2, 100]),
    ),
    st.builds(
        lambda v: {"enum": v}, st.lists(st.integers() | st.text(max_size=5), min_size=1, max_size=4)
    ),
    st.builds(lambda v: {"const": v}, st.integers() | st.text(max_size=5) | st.booleans()),
    st.builds(
        lambda f: {"type": "string", "format": f},
        st.sampled_from(["date-time", "date", "email", "uri", "uuid", "ipv4"]),
    ),
)


def _extend(children):
    names = st.text(alphabet="abcdefgh_", min_size=1, max_size=6)
    return st.one_of(
        st.builds(
            lambda props, data: {
                "type": "object",
                "properties": props,
                "required": [n for n in props if data.draw(st.booleans())],
                "additionalProperties": data.draw(st.booleans()),
            },
            st.dictionaries(names, children, max_size=4),
            st.data(),
        ),
        st.builds(
            lambda items, low, unique: {
                "type": "array",
                "items": items,
                "minItems": low,
                **({"uniqueItems": True} if unique else {}),
            },
            children,
            st.integers(0, 3),
            st.booleans(),
        ),
        st.builds(lambda branches: {"anyOf": branches}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda kind: {"type": [kind, "null"]}, st.sampled_from(["string", "integer"])),
    )


def _satisfiable(schema: Any) -> bool:
    """Unique arrays of something with fewer values than items cannot exist; skip those."""
    if not isinstance(schema, dict):
        return True
    if schema.get("uniqueItems") and schema.get("minItems", 0) > 1:
        items = schema["items"]
        if (
            "const" in items
            or items.get("type") == "null"
            or ("enum" in items and len(set(map(json.dumps, items["enum"]))) < schema["minItems"])
        ):
            return False
        if items.get("type") == "boolean" and schema["minItems"] > 2:
            return False
        if items.get("type") in ("integer", "number", "string") and (
            "maximum" in items or "maxLength" in items or "exclusiveMaximum" in items
        ):
            return False
        if items.get("type") in ("object", "array") or "anyOf" in items:
            return False
    return all(
        _satisfiable(v) for key in ("properties",) for v in (schema.get(key) or {}).values()
    ) and all(_satisfiable(v) for v in [schema.get("items"), *schema.get("anyOf", [])] if v)


@settings(max_examples=300, deadline=None)
@given(st.recursive(_leaf, _extend, max_leaves=12), st.booleans())
def test_random_schemas_yield_valid_examples(schema, optional):
    if not _satisfiable(schema):
        return
    value = example_for(schema, optional=optional)
    assert errors(value, schema) == [], (schema, value)


# --- what it answers -----------------------------------------------------------------------


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
            "required": ["city", "unit"],
        },
    },
}
CLOCK = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
USER = {"role": "user", "content": "Weather in Paris?"}


def _turn(call_id_: str = "call_x", result: str = "Sunny, 21C") -> list[dict]:
    return [
        USER,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id_,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call_id_, "content": result},
    ]


def test_a_fresh_request_with_tools_calls_the_first():
    answer = decide({"messages": [USER], "tools": [WEATHER, CLOCK]})
    assert (answer.text, answer.tool) == (None, "get_weather")
    assert json.loads(answer.arguments) == {"city": "demo", "unit": "c"}


def test_after_a_tool_result_it_answers_in_text_quoting_the_result():
    answer = decide({"messages": _turn(), "tools": [WEATHER]})
    assert (answer.tool, answer.text) == (None, "The tool returned: Sunny, 21C")
    long = decide({"messages": _turn(result="x" * 500), "tools": [WEATHER]})
    assert long.text == "The tool returned: " + "x" * 200
    empty = decide({"messages": _turn(result=""), "tools": [WEATHER]})
    assert empty.text == "The tool returned nothing."
    parts = _turn()
    parts[-1]["content"] = [{"type": "text", "text": "from parts"}]
    assert decide({"messages": parts, "tools": [WEATHER]}).text == "The tool returned: from parts"


def test_tool_results_followed_by_user_text_are_still_a_follow_up():
    """Anthropic's tool_result blocks and Gemini's functionResponses arrive as tool messages
    followed by the user text that came with them."""
    messages = [*_turn(), {"role": "user", "content": "<system-reminder>x</system-reminder>"}]
    answer = decide({"messages": messages, "tools": [WEATHER]})
    assert answer.tool is None and answer.text == "The tool returned: Sunny, 21C"


def test_a_new_user_message_after_a_text_answer_calls_again():
    messages = [*_turn(), {"role": "assistant", "content": "It is sunny."}, USER]
    assert decide({"messages": messages, "tools": [WEATHER]}).tool == "get_weather"


@pytest.mark.parametrize(
    ("choice", "tool"),
    [
        ("auto", "get_weather"),
        (None, "get_weather"),
        ("none", None),
        ("required", "get_weather"),
        ({"type": "function", "function": {"name": "get_time"}}, "get_time"),
        ({"type": "function", "function": {"name": "missing"}}, None),
        (
            {
                "type": "allowed_tools",
                "allowed_tools": {
                    "mode": "auto",
                    "tools": [{"type": "function", "function": {"name": "get_time"}}],
                },
            },
            "get_time",
        ),
    ],
)
def test_tool_choice_on_a_fresh_request(choice, tool):
    body: dict[str, Any] = {"messages": [USER], "tools": [WEATHER, CLOCK]}
    if choice is not None:
        body["tool_choice"] = choice
    assert decide(body).tool == tool


@pytest.mark.parametrize(
    ("choice", "tool"),
    [
        ("auto", None),
        ("none", None),
        ("required", "get_weather"),
        ({"type": "function", "function": {"name": "get_time"}}, "get_time"),
        (
            {
                "type": "allowed_tools",
                "allowed_tools": {
                    "mode": "required",
                    "tools": [{"type": "function", "name": "get_time"}],
                },
            },
            "get_time",
        ),
    ],
)
def test_only_a_forcing_tool_choice_calls_after_a_tool_result(choice, tool):
    assert (
        decide({"messages": _turn(), "tools": [WEATHER, CLOCK], "tool_choice": choice}).tool == tool
    )


def test_without_tools_or_a_user_message_it_says_hello():
    assert (
        decide({"messages": [USER]}).text
        == "Hello from Orca's demo model. You said: Weather in Paris?"
    )
    assert (
        decide({"messages": [{"role": "system", "content": "x"}]}).text
        == "Hello from Orca's demo model."
    )
    # a non-function tool is not one it can call
    assert (
        decide({"messages": [USER], "tools": [{"type": "custom", "custom": {"name": "x"}}]}).tool
        is None
    )


SHAPE = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "temperature": {"type": "number", "minimum": -90, "maximum": 60},
        "conditions": {"type": "array", "items": {"enum": ["sun", "rain"]}, "minItems": 1},
        "alert": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
    "required": ["city", "temperature", "conditions", "alert"],
    "additionalProperties": False,
}


@pytest.mark.parametrize("messages", [[USER], _turn()], ids=["fresh", "after a tool result"])
def test_structured_output(messages):
    fmt = {"type": "json_schema", "json_schema": {"name": "w", "schema": SHAPE, "strict": True}}
    answer = decide({"messages": messages, "response_format": fmt})
    assert errors(json.loads(answer.text), SHAPE) == []
    loose = decide({"messages": messages, "response_format": {"type": "json_object"}})
    assert isinstance(json.loads(loose.text), dict)
    assert decide({"messages": messages, "response_format": {"type": "text"}}).text.startswith(
        ("Hello", "The tool")
    )


# --- ids, streamed and not -----------------------------------------------------------------


ROUTE: Any = SimpleNamespace(upstream_name="orca-demo")


def _run(body: dict) -> bytes:
    return asyncio.run(demo_chat.DemoResponse(body, ROUTE).read())


def _streamed(body: dict) -> dict:
    """A streamed answer reassembled into a completion's choices."""
    raw = _run({**body, "stream": True})
    choices: dict[int, dict] = {}
    finish = {}
    for line in raw.decode().splitlines():
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        for choice in json.loads(line[6:])["choices"]:
            message = choices.setdefault(choice["index"], {"content": "", "tool_calls": {}})
            delta = choice["delta"]
            message["content"] += delta.get("content") or ""
            for call in delta.get("tool_calls") or []:
                slot = message["tool_calls"].setdefault(call["index"], {"arguments": ""})
                if "id" in call:
                    slot["id"] = call["id"]
                    slot["name"] = call["function"]["name"]
                slot["arguments"] += call["function"].get("arguments") or ""
            if choice.get("finish_reason"):
                finish[choice["index"]] = choice["finish_reason"]
    assert raw.endswith(b"data: [DONE]\n\n")
    return {"choices": choices, "finish": finish}


@pytest.fixture(autouse=True)
def no_pause(monkeypatch):
    monkeypatch.setattr(demo_chat, "_CHUNK_PAUSE", 0)


def _ids(body: dict) -> list[str]:
    completion = json.loads(_run(body))
    return [c["message"]["tool_calls"][0]["id"] for c in completion["choices"]]


def test_call_ids_are_new_on_every_turn_of_a_conversation():
    body = {"messages": [USER], "tools": [WEATHER]}
    (first,) = _ids(body)
    assert first.startswith("call_demo_") and first != "call_demo_0"
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", first)  # what Anthropic accepts as a tool id
    assert _ids(body) == [first]  # the same request: the same id
    turn3 = [
        *_turn(first),
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "And Rome?"},
    ]
    (third,) = _ids({"messages": turn3, "tools": [WEATHER]})
    assert third != first
    again = [
        *turn3,
        *_turn(third)[1:],
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "And Rome?"},
    ]
    (fifth,) = _ids({"messages": again, "tools": [WEATHER]})
    assert len({first, third, fifth}) == 3
    # n choices: one id each
    two = _ids({"messages": [USER], "tools": [WEATHER], "n": 2})
    assert len(set(two)) == 2 and two[0] == first


def test_the_id_helpers():
    digest = conversation_digest([USER])
    assert digest == conversation_digest([dict(reversed(list(USER.items())))])  # key order
    assert call_id(digest, 0, 0, "a") != call_id(digest, 1, 0, "a") != call_id(digest, 0, 0, "b")
    assert call_id(digest, 0, 0, "a") == call_id(digest, 0, 0, "a")


@pytest.mark.parametrize("n", [1, 2])
def test_a_streamed_tool_call_equals_the_unstreamed_one(n):
    body = {
        "messages": [USER],
        "tools": [WEATHER],
        "n": n,
        "stream_options": {"include_usage": True},
    }
    completion = json.loads(_run(body))
    streamed = _streamed(body)
    for choice in completion["choices"]:
        call = choice["message"]["tool_calls"][0]
        got = streamed["choices"][choice["index"]]["tool_calls"][0]
        assert got == {
            "id": call["id"],
            "name": "get_weather",
            "arguments": call["function"]["arguments"],
        }
        assert choice["finish_reason"] == streamed["finish"][choice["index"]] == "tool_calls"


@pytest.mark.parametrize(
    "body",
    [
        {"messages": [USER]},
        {"messages": _turn(result="a long tool result " * 20), "tools": [WEATHER]},
        {
            "messages": [USER],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "w", "schema": SHAPE},
            },
        },
    ],
    ids=["hello", "tool summary", "structured"],
)
def test_streamed_text_equals_the_unstreamed_text(body):
    completion = json.loads(_run(body))
    streamed = _streamed(body)
    assert streamed["choices"][0]["content"] == completion["choices"][0]["message"]["content"]
    assert streamed["finish"][0] == completion["choices"][0]["finish_reason"] == "stop"
    raw = _run({**body, "stream": True})
    assert raw.count(b'"content":') > 3  # it really streams, in pieces
