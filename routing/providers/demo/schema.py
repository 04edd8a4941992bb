"""JSON Schema -> one plausible value that validates against it, for the demo model's tool
arguments and structured outputs. Covers what tool and output schemas use in practice: types
(also as lists), nested objects, arrays (`items`, `prefixItems`, `minItems`/`maxItems`),
`enum`, `const`, `default`, `anyOf`/`oneOf` (first non-null branch), `allOf`, local `$ref`s,
numeric bounds and `multipleOf`, string lengths and common `format`s. Not `pattern`."""

import math
from typing import Any

_MAX_DEPTH = 16
# What one answer may hold, whatever the schema asks (`minItems: 10**6` nested, `minLength:
# 10**8`): the demo runs on the event loop, so an answer is kept small even if the schema's
# lower bounds then go unmet.
_MAX_VALUES = 2_000
_MAX_TEXT = 4_096
_OPTIONAL_DEPTH = 4  # optional properties are filled this deep, not further (recursive schemas)
# format -> a value for variant n (array items differ, for uniqueItems)
_FORMATS = {
    "date-time": lambda n: f"2025-01-{n % 28 + 1:02d}T00:00:00Z",
    "date": lambda n: f"2025-01-{n % 28 + 1:02d}",
    "time": lambda n: f"00:{n % 60:02d}:00Z",
    "duration": lambda n: f"P{n + 1}D",
    "email": lambda n: f"demo{n or ''}@example.com",
    "idn-email": lambda n: f"demo{n or ''}@example.com",
    "hostname": lambda n: f"demo{n or ''}.example.com",
    "idn-hostname": lambda n: f"demo{n or ''}.example.com",
    "ipv4": lambda n: f"127.0.{n // 250}.{n % 250 + 1}",
    "ipv6": lambda n: f"::{n + 1:x}",
    "uri": lambda n: f"https://example.com/{n or ''}",
    "url": lambda n: f"https://example.com/{n or ''}",
    "iri": lambda n: f"https://example.com/{n or ''}",
    "uri-reference": lambda n: f"https://example.com/{n or ''}",
    "uuid": lambda n: f"00000000-0000-4000-8000-{n:012x}",
    "regex": lambda n: ".*" if n == 0 else f"(demo){{{n}}}",
}
# Property names that get a less surprising string than "demo" (a shell runs "echo demo").
_BY_NAME = {"command": "echo demo", "cmd": "echo demo"}
_BASIC = {"string", "integer", "number", "boolean", "array", "object", "null"}


def example_for(schema: Any, *, optional: bool = False) -> Any:
    """A value valid against `schema`. Objects get their required properties; with
    `optional`, every property they list."""
    return _Generator(schema, optional).value(schema, name=None, variant=0, depth=0)


class _Generator:
    def __init__(self, root: Any, optional: bool) -> None:
        self.root = root
        self.optional = optional
        self.left = _MAX_VALUES  # values this answer may still hold

    def resolve(self, ref: str) -> Any:
        if not ref.startswith("#"):
            return {}
        node = self.root
        for raw in ref[1:].split("/")[1:] if ref != "#" else []:
            key = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and key in node:
                node = node[key]
            elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            else:
                return {}
        return node

    def flatten(self, schema: Any, depth: int) -> dict:
        """`$ref`, `allOf` and the chosen `anyOf`/`oneOf` branch merged into one schema
        (`depth` counts the hops, against reference cycles)."""
        if not isinstance(schema, dict):
            return {}
        out = dict(schema)
        if isinstance(ref := out.pop("$ref", None), str) and depth < _MAX_DEPTH:
            out = _merge(self.flatten(self.resolve(ref), depth + 1), out)
        for part in out.pop("allOf", None) or []:
            out = _merge(out, self.flatten(part, depth + 1))
        for key in ("anyOf", "oneOf"):
            branches = [b for b in out.pop(key, None) or [] if isinstance(b, dict)]
            if branches:
                usable = [b for b in branches if _types(self.flatten(b, depth + 1)) != ["null"]]
                out = _merge(out, self.flatten((usable or branches)[0], depth + 1))
        return out

    def value(self, schema: Any, *, name: str | None, variant: int, depth: int) -> Any:
        if schema is False:
            return None  # nothing validates; the caller should not have asked
        self.left -= 1
        flat = self.flatten(schema, 0)
        if "const" in flat:
            return flat["const"]
        enum = flat.get("enum")
        if isinstance(enum, list) and enum:  # distinct values only, 1 and True apart
            enum = list({(type(v).__name__, repr(v)): v for v in enum}.values())
        else:
            enum = None
        if "default" in flat and (enum is None or flat["default"] in enum) and variant == 0:
            return flat["default"]
        if enum is not None:
            return enum[variant % len(enum)]
        kind = _kind(flat)
        if depth >= _MAX_DEPTH:
            return {"object": {}, "array": [], "null": None}.get(kind, "demo")
        if kind == "object":
            return self.object(flat, variant, depth)
        if kind == "array":
            return self.array(flat, name, depth)
        if kind in ("integer", "number"):
            return _number(flat, integer=kind == "integer", variant=variant)
        if kind == "boolean":
            return variant % 2 == 0
        if kind == "null":
            return None
        return _string(flat, name, variant)

    def object(self, schema: dict, variant: int, depth: int) -> dict:
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        required = schema.get("required")
        names = [str(n) for n in required] if isinstance(required, list) else []
        if self.optional and depth < _OPTIONAL_DEPTH:
            names += [n for n in properties if n not in names]
        extra = schema.get("additionalProperties", True)
        minimum = schema.get("minProperties")
        if isinstance(minimum, int) and len(names) < minimum:
            names += [n for n in properties if n not in names][: minimum - len(names)]
            if extra is not False:
                names += [f"key{i}" for i in range(1, minimum - len(names) + 1)]
        out = {}
        for key in dict.fromkeys(names):
            sub = properties.get(key, extra if isinstance(extra, dict) else {})
            out[key] = self.value(sub, name=key, variant=variant, depth=depth + 1)
        return out

    def array(self, schema: dict, name: str | None, depth: int) -> list:
        prefix = schema.get("prefixItems")
        prefix = prefix if isinstance(prefix, list) else []
        items = schema.get("items")
        if isinstance(items, list):  # draft 4-7 tuple form
            prefix, items = items, schema.get("additionalItems", {})
        low = schema.get("minItems")
        high = schema.get("maxItems")
        count = max(low if isinstance(low, int) else 0, len(prefix), 1)
        if isinstance(high, int):
            count = min(count, high)
        count = min(count, max(self.left, 0))
        if items is False:
            count = min(count, len(prefix))
        out = []
        for i in range(count):
            sub = prefix[i] if i < len(prefix) else items
            out.append(self.value(sub, name=name, variant=i, depth=depth + 1))
        return out


def _merge(base: dict, extra: dict) -> dict:
    out = {**base}
    for key, value in extra.items():
        if key == "properties" and isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key] = {**out[key], **value}
        elif key == "required" and isinstance(out.get(key), list) and isinstance(value, list):
            out[key] = [*out[key], *(n for n in value if n not in out[key])]
        elif key == "type" and key in out:
            common = [t for t in _types(out) if t in _types({"type": value})]
            out[key] = common or value
        else:
            out[key] = value
    return out


def _types(schema: dict) -> list[str]:
    kind = schema.get("type")
    if isinstance(kind, str):
        return [kind]
    if isinstance(kind, list):
        return [k for k in kind if isinstance(k, str)]
    return []


def _kind(schema: dict) -> str:
    types = [t for t in _types(schema) if t in _BASIC]
    usable = [t for t in types if t != "null"]
    if usable or types:
        return (usable or types)[0]
    if any(k in schema for k in ("properties", "required", "additionalProperties")):
        return "object"
    if any(k in schema for k in ("items", "prefixItems", "minItems", "maxItems")):
        return "array"
    if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "multipleOf")):
        return "number"
    return "string"


def _string(schema: dict, name: str | None, variant: int) -> str:
    fmt = schema.get("format")
    formatted = _FORMATS.get(fmt) if isinstance(fmt, str) else None
    text = formatted(variant) if formatted is not None else None
    if text is None:
        text = _BY_NAME.get(name or "", "demo")
        if variant:
            text = f"{text}{variant + 1}"
    low, high = schema.get("minLength"), schema.get("maxLength")
    if isinstance(low, int) and len(text) < low:
        text += "x" * (min(low, _MAX_TEXT) - len(text))
    if isinstance(high, int) and len(text) > high:
        text = text[:high]
    return text


def _bound(schema: dict, inclusive: str, exclusive: str) -> tuple[float | None, bool]:
    """(bound, is it exclusive) from draft 6+ numbers or draft 4 boolean flags."""
    value, flag = _as_number(schema.get(inclusive)), schema.get(exclusive)
    limit = _as_number(flag)
    if limit is not None:
        if value is not None and value != limit:  # both given: the tighter one
            tighter = max(value, limit) if inclusive == "minimum" else min(value, limit)
            return tighter, tighter == limit
        return limit, True
    return (value, flag is True) if value is not None else (None, False)


def _as_number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return None


def _number(schema: dict, *, integer: bool, variant: int) -> int | float:
    low, low_open = _bound(schema, "minimum", "exclusiveMinimum")
    high, high_open = _bound(schema, "maximum", "exclusiveMaximum")
    step = _as_number(schema.get("multipleOf"))
    if step is None or step <= 0:
        step = 1 if integer else None

    def fits(v: float) -> bool:
        above = low is None or (v > low if low_open else v >= low)
        below = high is None or (v < high if high_open else v <= high)
        return above and below

    if step is None:
        candidates: list[float | None] = [1]
        if low is not None:
            candidates += [low + 1, None if low_open else low]
        if high is not None:
            candidates += [high - 1, None if high_open else high]
        if low is not None and high is not None:
            candidates.append((low + high) / 2)
        first = next((v for v in candidates if v is not None and fits(v)), 1.0)
        if not variant:
            return _tidy(first)
        # the variant-th value: further from the bound it has room away from
        stepped = first - variant if low is None and high is not None else first + variant
        if fits(stepped):
            return _tidy(stepped)
        if low is not None and high is not None:
            return _tidy(low + (high - low) * (variant + 1) / (variant + 2))
        return _tidy(first)
    # the variant-th multiple of `step` from the one nearest 1, inside the bounds
    k = math.ceil(1 / step)
    if low is not None:
        lowest = math.ceil(low / step)
        k = max(k, lowest + 1 if low_open and lowest * step == low else lowest)
    k += variant
    if high is not None:
        highest = math.floor(high / step)
        k = min(k, highest - 1 if high_open and highest * step == high else highest)
    return _tidy(k * step)


def _tidy(value: float) -> int | float:
    value = round(value, 12)
    return int(value) if float(value).is_integer() else value
