"""Checks on a client's generateContent body before it is translated.

`validate_generate_request` raises InvalidRequest naming the first bad field (in the spelling,
camelCase or snake_case, that the client used) and changes nothing; `wants_thoughts` reads the
includeThoughts switch, which has no canonical field. Kept apart from request.py so both stay
a readable size.
"""

from typing import Any

from ..canonical import InvalidRequest
from ..common import is_number
from .shared import _as_int, _get, _snake

_CONTENT_ROLES = frozenset({"user", "model", "function"})


def _key(obj: dict, name: str) -> str:
    """The spelling of `name` (camelCase) that obj uses; camelCase when it has neither."""
    if name in obj:
        return name
    snake = _snake(name)
    return snake if snake in obj else name


# --------------------------------------------------------------------------------------------
# validation (client surface)


def _fail_type(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param, code="invalid_type")


def _check_number(config: dict, name: str, where: str, low: float, high: float | None) -> None:
    key = _key(config, name)
    value = config.get(key)
    if value is None:
        return
    param = f"{where}.{key}"
    if not is_number(value):
        raise _fail_type(f"`{param}` must be a number", param)
    if value < low or (high is not None and value > high):
        bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise InvalidRequest(f"`{param}` must be {bound}, got {value}", param=param)


def _check_int(config: dict, name: str, where: str, low: int) -> None:
    key = _key(config, name)
    value = config.get(key)
    if value is None:
        return
    param = f"{where}.{key}"
    number = _as_int(value)
    if number is None:
        raise _fail_type(f"`{param}` must be an integer", param)
    if number < low:
        raise InvalidRequest(f"`{param}` must be at least {low}, got {value}", param=param)


def _check_parts(parts: Any, where: str) -> None:
    if not isinstance(parts, list):
        raise _fail_type(f"`{where}` must be an array of parts", where)
    for j, part in enumerate(parts):
        at = f"{where}[{j}]"
        if not isinstance(part, dict) or not part:
            raise _fail_type(f"`{at}` must be a non-empty object", at)
        text = part.get("text")
        if text is not None and not isinstance(text, str):
            raise _fail_type(f"`{at}.text` must be a string", f"{at}.text")
        for name, required in (
            ("inlineData", ("mimeType", "data")),
            ("fileData", ("fileUri",)),
            ("functionCall", ("name",)),
            ("functionResponse", ("name",)),
        ):
            key = _key(part, name)
            if key not in part:
                continue
            value = part[key]
            if not isinstance(value, dict):
                raise _fail_type(f"`{at}.{key}` must be an object", f"{at}.{key}")
            for field in required:
                if not isinstance(_get(value, field), str):
                    param = f"{at}.{key}.{_key(value, field)}"
                    raise InvalidRequest(
                        f"`{param}` is required", param=param, code="missing_required_parameter"
                    )
        args = _get(_get(part, "functionCall"), "args")
        if args is not None and not isinstance(args, dict):
            param = f"{at}.{_key(part, 'functionCall')}.args"
            raise _fail_type(f"`{param}` must be an object", param)


def _check_generation_config(config: Any, where: str) -> None:
    if not isinstance(config, dict):
        raise _fail_type(f"`{where}` must be an object", where)
    _check_number(config, "temperature", where, 0, 2)
    _check_number(config, "topP", where, 0, 1)
    _check_int(config, "topK", where, 1)
    _check_int(config, "maxOutputTokens", where, 1)
    _check_int(config, "candidateCount", where, 1)
    _check_number(config, "presencePenalty", where, -2, 2)
    _check_number(config, "frequencyPenalty", where, -2, 2)
    seed = _get(config, "seed")
    if seed is not None and _as_int(seed) is None:
        param = f"{where}.{_key(config, 'seed')}"
        raise _fail_type(f"`{param}` must be an integer", param)
    key = _key(config, "stopSequences")
    stop = config.get(key)
    if stop is not None:
        param = f"{where}.{key}"
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise _fail_type(f"`{param}` must be an array of strings", param)
        if len(stop) > 5:
            raise InvalidRequest(f"`{param}` allows at most 5 sequences", param=param)
    mime = _get(config, "responseMimeType")
    if mime is not None and not isinstance(mime, str):
        param = f"{where}.{_key(config, 'responseMimeType')}"
        raise _fail_type(f"`{param}` must be a string", param)
    key = _key(config, "thinkingConfig")
    thinking = config.get(key)
    if thinking is not None:
        param = f"{where}.{key}"
        if not isinstance(thinking, dict):
            raise _fail_type(f"`{param}` must be an object", param)
        budget = _get(thinking, "thinkingBudget")
        if budget is not None and (_as_int(budget) is None or budget < -1):
            sub = f"{param}.{_key(thinking, 'thinkingBudget')}"
            raise InvalidRequest(f"`{sub}` must be an integer >= -1", param=sub)
        level = _get(thinking, "thinkingLevel")
        if level is not None and not isinstance(level, str):
            sub = f"{param}.{_key(thinking, 'thinkingLevel')}"
            raise _fail_type(f"`{sub}` must be a string", sub)
        if budget is not None and level is not None:
            raise InvalidRequest(
                f"`{param}` cannot set both thinkingBudget and thinkingLevel", param=param
            )


def _check_search_tool(tool: dict, where: str) -> None:
    """googleSearch / googleSearchRetrieval (grounding.py): an object; excludeDomains strings."""
    for name in ("googleSearch", "googleSearchRetrieval"):
        key = _key(tool, name)
        value = tool.get(key)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise _fail_type(f"`{where}.{key}` must be an object", f"{where}.{key}")
        dkey = _key(value, "excludeDomains")
        domains = value.get(dkey)
        if domains is not None and (
            not isinstance(domains, list) or not all(isinstance(d, str) for d in domains)
        ):
            param = f"{where}.{key}.{dkey}"
            raise _fail_type(f"`{param}` must be an array of strings", param)


def validate_generate_request(body: Any) -> None:
    """Check a parsed generateContent body; raise InvalidRequest naming the first bad field."""
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object", param=None, code="invalid_type")
    contents = body.get("contents")
    if contents is None:
        raise InvalidRequest(
            "`contents` is required", param="contents", code="missing_required_parameter"
        )
    if not isinstance(contents, list):
        raise _fail_type("`contents` must be an array", "contents")
    if not contents:
        raise InvalidRequest("`contents` must not be empty", param="contents")
    for i, content in enumerate(contents):
        where = f"contents[{i}]"
        if not isinstance(content, dict):
            raise _fail_type(f"`{where}` must be an object", where)
        role = content.get("role")
        if role is not None and role not in _CONTENT_ROLES:
            raise InvalidRequest(
                f"`{where}.role` must be one of {sorted(_CONTENT_ROLES)}, got {role!r}",
                param=f"{where}.role",
            )
        parts = content.get("parts")
        if parts is None:
            raise InvalidRequest(
                f"`{where}.parts` is required",
                param=f"{where}.parts",
                code="missing_required_parameter",
            )
        if isinstance(parts, list) and not parts:
            raise InvalidRequest(f"`{where}.parts` must not be empty", param=f"{where}.parts")
        _check_parts(parts, f"{where}.parts")

    key = _key(body, "systemInstruction")
    system = body.get(key)
    if system is not None and not isinstance(system, str):
        if not isinstance(system, dict):
            raise _fail_type(f"`{key}` must be an object with `parts`", key)
        if not isinstance(system.get("parts"), list):
            raise InvalidRequest(
                f"`{key}.parts` is required",
                param=f"{key}.parts",
                code="missing_required_parameter",
            )
        _check_parts(system["parts"], f"{key}.parts")

    key = _key(body, "generationConfig")
    if body.get(key) is not None:
        _check_generation_config(body[key], key)

    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise _fail_type("`tools` must be an array", "tools")
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict):
                raise _fail_type(f"`tools[{i}]` must be an object", f"tools[{i}]")
            _check_search_tool(tool, f"tools[{i}]")
            fkey = _key(tool, "functionDeclarations")
            declarations = tool.get(fkey)
            if declarations is None:
                continue
            where = f"tools[{i}].{fkey}"
            if not isinstance(declarations, list):
                raise _fail_type(f"`{where}` must be an array", where)
            for j, declaration in enumerate(declarations):
                if not isinstance(declaration, dict) or not isinstance(
                    declaration.get("name"), str
                ):
                    param = f"{where}[{j}].name"
                    raise InvalidRequest(
                        f"`{param}` is required", param=param, code="missing_required_parameter"
                    )

    key = _key(body, "toolConfig")
    tool_config = body.get(key)
    if tool_config is not None:
        if not isinstance(tool_config, dict):
            raise _fail_type(f"`{key}` must be an object", key)
        ckey = _key(tool_config, "functionCallingConfig")
        calling = tool_config.get(ckey)
        if calling is not None and not isinstance(calling, dict):
            raise _fail_type(f"`{key}.{ckey}` must be an object", f"{key}.{ckey}")


def wants_thoughts(body: dict) -> bool:
    """Whether a Gemini client asked to see thought summaries (thinkingConfig.includeThoughts)."""
    thinking = _get(_get(body, "generationConfig"), "thinkingConfig")
    return _get(thinking, "includeThoughts") is True


def validate_count_tokens_request(body: Any) -> dict:
    """Check a countTokens body (`contents`, or a whole `generateContentRequest`) and return
    the generateContent request whose tokens it counts."""
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object", param=None, code="invalid_type")
    key = _key(body, "generateContentRequest")
    inner = body.get(key)
    if inner is None:
        validate_generate_request({"contents": body.get("contents")})
        return {"contents": body["contents"]}
    if _get(body, "contents") is not None:
        raise InvalidRequest(
            f"`contents` and `{key}` cannot both be given", param=key, code="invalid_value"
        )
    if not isinstance(inner, dict):
        raise _fail_type(f"`{key}` must be an object", key)
    try:
        validate_generate_request(inner)
    except InvalidRequest as exc:
        param = f"{key}.{exc.param}" if exc.param else key
        raise InvalidRequest(f"in `{key}`: {exc.message}", param=param, code=exc.code) from None
    return inner
