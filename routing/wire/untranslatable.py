"""What a client asked for that has no canonical form, set aside until a translation needs it.

A same-format call sends the client's own body (pass-through), so a field or block Orca
cannot translate (an Anthropic server tool, `mcp_servers`, a `search_result` block...) must
not refuse it: the provider judges what it accepts. The client surface therefore leaves such
parts out of the canonical request and records the first of them under `KEY`; every
translation out of the canonical form to another dialect calls `refuse`, which raises it as
the InvalidRequest it would have been (a 400 naming the field, before any upstream call).

The canonical request is what guardrails, prompts and the token estimate read, so the value
is plain JSON: `{"message", "param", "code"}`.
"""

from typing import Any

from .errors import InvalidRequest

KEY = "untranslatable"


def record(request: dict[str, Any], error: InvalidRequest) -> None:
    """Keep `error` on the canonical request, unless an earlier part already set one."""
    request.setdefault(KEY, {"message": error.message, "param": error.param, "code": error.code})


def refuse(request: dict[str, Any]) -> None:
    """Raise the recorded InvalidRequest: this request cannot be translated faithfully."""
    pending = request.get(KEY)
    if isinstance(pending, dict):
        raise InvalidRequest(
            str(pending.get("message") or "the request cannot be translated for this model"),
            param=pending.get("param"),
            code=str(pending.get("code") or "unsupported_parameter"),
        )
