"""Prompt templating: `{{name}}` substitution and nothing else (pure: no Django).

The sandbox is the grammar. Only `{{name}}` or `{{ name }}` with a plain identifier is a
placeholder; there is no expression language to escape from: no attribute access
(`{{ x.__class__ }}`), no filters (`{{x|upper}}`), no tags (`{% %}`), no inheritance or
includes. Anything else between braces is left exactly as written. Substitution is one
pass over the original text, so a value that itself contains `{{y}}` stays literal.

Variables are declared on a version as a JSON list (`parse_variables` checks it). A name
used in the text but not declared counts as declared: a required string with no default,
so the editor can be driven by `variables_in` alone. Values are checked before anything is
substituted: a missing required one, an unknown one, or one of the wrong type is a
`PromptError` naming `prompt_variables.<name>` (the relay answers it as a 400).
"""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
# The one placeholder form; compiled once (rendering runs on every bound call).
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}")
TYPES = ("string", "number", "integer", "boolean")
MAX_VARIABLES = 100
MAX_DESCRIPTION = 500
_FIELDS = {"name", "type", "default", "required", "description"}


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    type: str = "string"
    default: Any = None
    required: bool = False
    description: str = ""


class PromptError(ValueError):
    """Bad variables or values; `field` is what a 400 names (e.g. `prompt_variables.x`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@lru_cache(maxsize=4096)
def _parsed(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The text split at its placeholders: (pieces, names) with len(pieces) == len(names) + 1,
    so rendering is one join. Cached per text: a version's texts are the same str objects
    call after call, and a str caches its own hash, so a hit costs a dict lookup."""
    parts = PLACEHOLDER.split(text)
    return tuple(parts[0::2]), tuple(parts[1::2])


@lru_cache(maxsize=4096)
def _names(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_parsed(text)[1]))


def variables_in(*texts: str) -> list[str]:
    """The names used as placeholders in `texts`, in first-seen order, each once."""
    seen: dict[str, None] = {}
    for text in texts:
        if text:
            for name in _names(text):
                seen.setdefault(name, None)
    return list(seen)


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool):  # bool is an int subclass; never a number here
        return False
    if kind == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    return isinstance(value, int | float) and value == value and abs(value) != float("inf")


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _article(kind: str) -> str:
    return "an" if kind[0] in "aeiou" else "a"


def parse_variables(raw: Any, where: str = "variables") -> tuple[Variable, ...]:
    """The declared variables of a version, from their JSON list; PromptError naming the
    bad entry (`variables[1].type`)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise PromptError(where, "a JSON list of variables")
    if len(raw) > MAX_VARIABLES:
        raise PromptError(where, f"at most {MAX_VARIABLES} variables")
    out: list[Variable] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        at = f"{where}[{index}]"
        if not isinstance(item, dict):
            raise PromptError(at, 'an object like {"name": "customer", "type": "string"}')
        for key in item:
            if key not in _FIELDS:
                raise PromptError(
                    f"{at}.{key}", f"not a field (one of {', '.join(sorted(_FIELDS))})"
                )
        name = item.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise PromptError(
                f"{at}.name", "a name of letters, digits and _ (1-64, not a digit first)"
            )
        if name in seen:
            raise PromptError(f"{at}.name", f"{name} is declared twice")
        seen.add(name)
        kind = item.get("type", "string")
        if kind not in TYPES:
            raise PromptError(f"{at}.type", f"one of {', '.join(TYPES)}")
        required = item.get("required", False)
        if not isinstance(required, bool):
            raise PromptError(f"{at}.required", "true or false")
        default = item.get("default")
        if default is not None:
            if required:
                raise PromptError(f"{at}.default", "a required variable takes no default")
            if not _type_ok(kind, default):
                raise PromptError(f"{at}.default", f"{_article(kind)} {kind}")
        description = item.get("description", "")
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
            raise PromptError(
                f"{at}.description", f"a string of at most {MAX_DESCRIPTION} characters"
            )
        out.append(Variable(name, kind, default, required, description))
    return tuple(out)


def _text_of(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return json.dumps(value)


def _resolve(
    used: list[str],
    variables: tuple[Variable, ...],
    values: Mapping[str, Any] | None,
    ref: str,
) -> dict[str, str]:
    """The text for every name in `used`, after checking `values` against the declared
    variables plus the undeclared-but-used ones (required strings)."""
    if values is None:
        values = {}
    elif type(values) is not dict and not isinstance(values, Mapping):  # the ABC check is slow
        raise PromptError("prompt_variables", "an object of variable names to values")
    declared = {v.name: v for v in variables}
    for name in used:
        if name not in declared:
            declared[name] = Variable(name, required=True)
    for name in values:
        if name not in declared:
            raise PromptError(f"prompt_variables.{name}", f"{name} is not a variable of {ref}")
    out: dict[str, str] = {}
    for name, var in declared.items():
        value = values.get(name)
        if value is None:  # JSON null counts as not sent
            if var.required:
                raise PromptError(f"prompt_variables.{name}", f"{ref} needs variable {name}")
            value = var.default
            if value is None:
                out[name] = ""
                continue
        elif not _type_ok(var.type, value):
            got = _type_name(value)
            raise PromptError(
                f"prompt_variables.{name}",
                f"{name} must be {_article(var.type)} {var.type}, not {_article(got)} {got}",
            )
        out[name] = _text_of(value)
    return out


def _substitute(text: str, texts: Mapping[str, str]) -> str:
    if "{{" not in text:
        return text
    pieces, names = _parsed(text)
    if not names:
        return text
    out = [pieces[0]]
    for name, piece in zip(names, pieces[1:], strict=True):
        out.append(texts[name])
        out.append(piece)
    return "".join(out)


def render(text: str, variables: tuple[Variable, ...], values: Mapping[str, Any], ref: str) -> str:
    """One text with its placeholders filled (values checked first, defaults applied)."""
    return _substitute(text, _resolve(variables_in(text), variables, values, ref))


def render_all(
    system: str,
    messages: list[dict],
    variables: tuple[Variable, ...],
    values: Mapping[str, Any] | None,
    ref: str,
) -> tuple[str, list[dict]]:
    """A version's system text and messages filled. Values are checked against every text
    at once (a variable used only in a message still counts), then each is substituted;
    the message dicts are copies, other keys kept."""
    contents = [m.get("content") for m in messages]
    used = variables_in(system, *(c for c in contents if isinstance(c, str)))
    texts = _resolve(used, variables, values, ref)
    rendered = [
        {**m, "content": _substitute(c, texts)} if isinstance(c, str) else dict(m)
        for m, c in zip(messages, contents, strict=True)
    ]
    return _substitute(system, texts), rendered
