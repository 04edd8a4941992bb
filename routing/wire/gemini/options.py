"""Request options both ways: a Gemini generateContent body's tools, toolConfig and
generationConfig <-> a canonical chat request's tools, tool_choice and sampling, output
format and reasoning fields (options_to_chat, options_to_gemini), with Gemini's
OpenAPI-subset schemas normalised to JSON Schema.

Both directions live together because they mirror each other field by field and share
BUILTIN_TOOLS. The conversation itself (system instruction, turns, parts) is translated in
request.py, which calls these two.
"""

from functools import lru_cache
from typing import Any

from ..common import effort_for_budget, is_int
from .grounding import SEARCH_KNOBS, SEARCH_OPTIONS, search_request, wants_search
from .shared import _as_int, _get

# reasoning_effort -> thinkingBudget. 512..24576 is inside every 2.5 model's range
# (Pro 128-32768, Flash 0-24576, Flash-Lite 0 or 512-24576); "none" turns thinking off
# (Pro cannot, and will say so).
THINKING_BUDGETS = {
    "none": 0,
    "minimal": 512,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
    "xhigh": 24576,
    "max": 24576,
}

BUILTIN_TOOLS = ("googleSearch", "codeExecution", "urlContext")
# googleSearch / googleSearchRetrieval also set the canonical `web_search_options` (grounding.py);
# the reserved function name googleSearch is still listed in `tools`, as before, for callers
# that relied on it (OrcaRouter's convention, orcarouter.md 5.3).

# OpenAPI-subset Schema fields that hold sub-schemas.
_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_SINGLE = ("items", "additionalProperties", "not")


@lru_cache(maxsize=256)
def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


# --------------------------------------------------------------------------------------------
# schemas


def _normalise_schema(schema: Any) -> Any:
    """Gemini's OpenAPI-subset Schema -> JSON Schema: lower-case types, nullable -> "null"."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    nullable = False
    for raw_key, value in schema.items():
        key = _camel(raw_key) if "_" in raw_key and not raw_key.startswith("$") else raw_key
        if key == "type":
            if isinstance(value, str):
                lowered = value.lower()
                if lowered != "type_unspecified":
                    out["type"] = lowered
            elif isinstance(value, list):
                out["type"] = [v.lower() if isinstance(v, str) else v for v in value]
        elif key == "nullable":
            nullable = value is True
        elif key == "propertyOrdering":
            continue
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _normalise_schema(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [_normalise_schema(sub) for sub in value]
        elif key in _SCHEMA_SINGLE:
            if isinstance(value, list):
                out[key] = [_normalise_schema(sub) for sub in value]
            else:
                out[key] = _normalise_schema(value)
        else:
            out[key] = value
    if nullable:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        elif isinstance(kind, list) and "null" not in kind:
            out["type"] = [*kind, "null"]
    return out


# --------------------------------------------------------------------------------------------
# client surface: Gemini request -> canonical


def options_to_chat(body: dict, chat: dict) -> None:
    """A validated generateContent body's tools, toolConfig and generationConfig -> the
    canonical chat request's fields, set on `chat`."""
    tools = _chat_tools(body.get("tools"))
    choice, tools = _tool_choice(_get(body, "toolConfig"), tools)
    if tools:
        chat["tools"] = tools
        if choice is not None:
            chat["tool_choice"] = choice
    search, knobs = search_request(body.get("tools"))
    if search is not None:
        chat[SEARCH_OPTIONS] = search
        if knobs is not None:
            chat[SEARCH_KNOBS] = knobs
    _apply_generation_config(_get(body, "generationConfig"), chat)


def _chat_tools(tools: Any) -> list[dict]:
    out: list[dict] = []
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict):
            continue
        for declaration in _get(tool, "functionDeclarations") or []:
            if not isinstance(declaration, dict):
                continue
            function: dict[str, Any] = {"name": declaration.get("name")}
            if isinstance(declaration.get("description"), str):
                function["description"] = declaration["description"]
            json_schema = _get(declaration, "parametersJsonSchema")
            parameters = _get(declaration, "parameters")
            if json_schema is not None:
                function["parameters"] = json_schema
            elif parameters is not None:
                function["parameters"] = _normalise_schema(parameters)
            out.append({"type": "function", "function": function})
        for builtin in BUILTIN_TOOLS:
            # googleSearch is the canonical web_search_options (grounding.py), not a function.
            if builtin != "googleSearch" and _get(tool, builtin) is not None:
                out.append({"type": "function", "function": {"name": builtin}})
    return out


def _tool_choice(tool_config: Any, tools: list[dict]) -> tuple[Any, list[dict]]:
    calling = _get(tool_config, "functionCallingConfig")
    if not isinstance(calling, dict):
        return None, tools
    mode = str(calling.get("mode") or "").upper()
    allowed = _get(calling, "allowedFunctionNames")
    if mode == "NONE":
        return "none", tools
    if mode == "ANY":
        if isinstance(allowed, list) and len(allowed) == 1:
            return {"type": "function", "function": {"name": allowed[0]}}, tools
        if isinstance(allowed, list) and allowed:
            names = set(allowed)
            return "required", [t for t in tools if t["function"]["name"] in names]
        return "required", tools
    if mode in ("AUTO", "VALIDATED"):
        return "auto", tools
    return None, tools


def _apply_generation_config(config: Any, chat: dict) -> None:
    if not isinstance(config, dict):
        return
    for name, target in (
        ("temperature", "temperature"),
        ("topP", "top_p"),
        ("presencePenalty", "presence_penalty"),
        ("frequencyPenalty", "frequency_penalty"),
    ):
        value = _get(config, name)
        if value is not None:
            chat[target] = value
    for name, target in (
        ("topK", "top_k"),
        ("maxOutputTokens", "max_tokens"),
        ("candidateCount", "n"),
        ("seed", "seed"),
        ("logprobs", "top_logprobs"),
    ):
        value = _as_int(_get(config, name))
        if value is not None:
            chat[target] = value
    if _get(config, "responseLogprobs") is True:
        chat["logprobs"] = True
    stop = _get(config, "stopSequences")
    if isinstance(stop, list) and stop:
        chat["stop"] = list(stop)

    mime = _get(config, "responseMimeType")
    json_schema = _get(config, "responseJsonSchema")
    schema = _get(config, "responseSchema")
    if json_schema is None and schema is not None:
        json_schema = _normalise_schema(schema)
    if mime == "application/json" or (mime is None and json_schema is not None):
        if json_schema is not None:
            chat["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "response", "schema": json_schema},
            }
        else:
            chat["response_format"] = {"type": "json_object"}

    thinking = _get(config, "thinkingConfig")
    if isinstance(thinking, dict):
        budget = _as_int(_get(thinking, "thinkingBudget"))
        level = _get(thinking, "thinkingLevel")
        if budget is not None:
            if budget >= 0:
                chat["reasoning_budget_tokens"] = budget
            chat["reasoning_effort"] = effort_for_budget(budget)
        elif isinstance(level, str) and level.lower() in ("minimal", "low", "medium", "high"):
            chat["reasoning_effort"] = level.lower()


# --------------------------------------------------------------------------------------------
# upstream kind: canonical -> Gemini request


def options_to_gemini(chat: dict) -> dict:
    """A canonical chat request's tools, tool_choice and generation fields -> the
    GenerateContentRequest's tools, toolConfig and generationConfig (each only if set)."""
    options: dict[str, Any] = {}
    tools, declared = _gemini_tools(chat.get("tools"))
    if wants_search(chat) and not any("googleSearch" in tool for tool in tools):
        # search_context_size, user_location and x_orca_search have no Gemini API form
        tools.append({"googleSearch": {}})
    if tools:
        options["tools"] = tools
        calling = _function_calling_config(chat.get("tool_choice"), declared)
        if calling is not None and declared:
            options["toolConfig"] = {"functionCallingConfig": calling}
    config = _generation_config(chat)
    if config:
        options["generationConfig"] = config
    return options


def _gemini_tools(tools: Any) -> tuple[list[dict], set[str]]:
    declarations: list[dict] = []
    builtins: list[dict] = []
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict) or tool.get("type") != "function":
            continue
        function = tool.get("function") or {}
        name = function.get("name")
        if not isinstance(name, str):
            continue
        if name in BUILTIN_TOOLS:
            builtins.append({name: {}})
            continue
        declaration: dict[str, Any] = {"name": name}
        if function.get("description"):
            declaration["description"] = function["description"]
        if function.get("parameters") is not None:
            declaration["parametersJsonSchema"] = function["parameters"]
        declarations.append(declaration)
    out = [{"functionDeclarations": declarations}] if declarations else []
    return out + builtins, {d["name"] for d in declarations}


def _function_calling_config(choice: Any, declared: set[str]) -> dict | None:
    if choice == "auto":
        return {"mode": "AUTO"}
    if choice == "none":
        return {"mode": "NONE"}
    if choice == "required":
        return {"mode": "ANY"}
    if isinstance(choice, dict):
        if choice.get("type") == "function":
            name = (choice.get("function") or {}).get("name")
            if name in declared:
                return {"mode": "ANY", "allowedFunctionNames": [name]}
            return {"mode": "AUTO"} if name in BUILTIN_TOOLS else None
        if choice.get("type") == "allowed_tools":
            allowed = choice.get("allowed_tools") or {}
            names = [
                (tool.get("function") or {}).get("name")
                for tool in allowed.get("tools") or []
                if isinstance(tool, dict)
            ]
            names = [name for name in names if name in declared]
            if allowed.get("mode") == "required":
                return {"mode": "ANY", "allowedFunctionNames": names}
            return {"mode": "AUTO"}
    return None


def _generation_config(chat: dict) -> dict:
    config: dict[str, Any] = {}
    for source, target in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("top_k", "topK"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ):
        if chat.get(source) is not None:
            config[target] = chat[source]
    max_tokens = chat.get("max_tokens")
    if max_tokens is None:
        max_tokens = chat.get("max_completion_tokens")
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    stop = chat.get("stop")
    if isinstance(stop, str):
        config["stopSequences"] = [stop]
    elif isinstance(stop, list) and stop:
        config["stopSequences"] = list(stop)
    if isinstance(chat.get("n"), int) and chat["n"] > 1:
        config["candidateCount"] = chat["n"]
    if chat.get("logprobs") is True:
        config["responseLogprobs"] = True
        if chat.get("top_logprobs") is not None:
            config["logprobs"] = chat["top_logprobs"]

    response_format = chat.get("response_format")
    if isinstance(response_format, dict):
        kind = response_format.get("type")
        if kind == "json_schema":
            config["responseMimeType"] = "application/json"
            schema = (response_format.get("json_schema") or {}).get("schema")
            if schema is not None:
                config["responseJsonSchema"] = schema
        elif kind == "json_object":
            config["responseMimeType"] = "application/json"

    budget = chat.get("reasoning_budget_tokens")
    if not is_int(budget):
        effort = chat.get("reasoning_effort")
        budget = THINKING_BUDGETS.get(effort) if isinstance(effort, str) else None
    if budget is not None:
        thinking: dict[str, Any] = {"thinkingBudget": budget}
        if budget != 0:
            thinking["includeThoughts"] = True
        config["thinkingConfig"] = thinking
    return config
