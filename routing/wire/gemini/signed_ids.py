"""Gemini thought signatures carried in tool call ids, so that they survive clients that
keep nothing but the id.

Gemini 2.5 and 3 put a `thoughtSignature` on the first functionCall part of each step, and
Gemini 3 answers 400 when a call of the current turn comes back without it. A Gemini answer
translated for another dialect keeps the signature beside the call (canonical
`extra_content.google.thought_signature`, which OpenAI SDK clients echo), but Claude Code's
tool_use blocks, a Responses function_call and most chat agents keep only the call's id,
which every client must send back verbatim to pair the tool result with it. So the id of a
signed call (Gemini answers only) becomes

    orcats_<n>_<the signature, unpadded URL-safe base64, n characters>_<the original id>

which fits Anthropic's tool id pattern `^[A-Za-z0-9_-]+$`, decodes without any store on the
way back to a Gemini upstream (which never sees the ids), and is bounded: a signature over
MAX_SIGNATURE characters stays in extra_content only (the turn then falls back to the
documented skip_thought_signature_validator value, SKIP_SIGNATURE in request.py). Decoding
gives the same bytes in standard padded base64, Gemini's JSON form of a bytes field.
"""

import base64
import binascii

PREFIX = "orcats_"
MAX_SIGNATURE = 4096  # characters of encoded signature an id may carry


def signed_call_id(call_id: str, signature: str) -> str:
    """`call_id` carrying `signature`; the id as it is when the signature is not base64 or
    too long to carry."""
    try:
        normal = signature.replace("-", "+").replace("_", "/")
        raw = base64.b64decode(normal + "=" * (-len(normal) % 4), validate=True)
    except (ValueError, binascii.Error):
        return call_id
    token = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
    if not token or len(token) > MAX_SIGNATURE:
        return call_id
    return f"{PREFIX}{len(token)}_{token}_{call_id}"


def id_signature(call_id: object) -> str | None:
    """The thought signature a tool call id carries (standard base64), or None."""
    if not isinstance(call_id, str) or not call_id.startswith(PREFIX):
        return None
    size, sep, rest = call_id[len(PREFIX) :].partition("_")
    if not sep or not size.isdigit() or not 0 < int(size) <= MAX_SIGNATURE:
        return None
    token = rest[: int(size)]
    if len(token) != int(size) or rest[int(size) : int(size) + 1] != "_":
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, binascii.Error):
        return None
    return base64.b64encode(raw).decode("ascii")
