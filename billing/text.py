"""Text made storable: PostgreSQL refuses NUL in text and jsonb, and no database takes a
lone surrogate (it has no UTF-8 form). A client can put either into anything it sends or
makes a model echo, so every text Orca stores from a call goes through here first."""

import json
import re

REPLACEMENT = "\ufffd"
# NUL and the surrogate range: the only code points a Python str can hold that a UTF-8
# text column cannot.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# The JSON escapes jsonb refuses for the same reasons (\u0000, \ud800-\udfff).
_JSON_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


def storable(text: str) -> str:
    """`text` with NUL and lone surrogates replaced by U+FFFD; the same object if clean."""
    if _UNSTORABLE.search(text) is None:
        return text
    return _UNSTORABLE.sub(REPLACEMENT, text)


def storable_data(value):
    """A JSON-able value (dicts, lists, strings...) with every string, keys included, made
    storable; clean values come back unchanged."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable_data(k): storable_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable_data(v) for v in value]
    return value


def storable_json(text: str) -> str:
    """JSON text that a jsonb column will take: unstorable characters and their escapes are
    replaced. A paired surrogate escape (an emoji, say) is valid and decodes fine, but
    telling it apart costs a parse, which only text holding such an escape pays."""
    text = storable(text)
    if "\\u" not in text or _JSON_ESCAPE.search(text) is None:
        return text
    try:
        return json.dumps(storable_data(json.loads(text)), ensure_ascii=False)
    except ValueError:  # not JSON after all: the column would refuse it anyway
        return json.dumps(text)
