"""Anthropic Messages, both as a client surface (POST /v1/messages) and as an upstream kind.

What lives where (the modules import each other, never this package):
  * validation.py: `validate_messages_request` checks a client's body (only what Orca must
    understand to translate, meter or bill it: the provider judges the rest).
  * client_request.py: `messages_to_chat` turns it into a canonical chat request.
  * request.py: `chat_to_anthropic_request` builds the Messages body for a canonical request.
  * models.py: the model list and model objects of `GET /v1/models` in Anthropic's shape.
  * response.py: `chat_to_messages_response` renders a canonical answer as an Anthropic
    Message, `anthropic_to_chat_response` reads one back, `usage_to_canonical` converts the
    usage object, `error_envelope` shapes errors.
  * stream.py: `MessagesStreamEncoder` renders canonical chunks as named SSE events,
    `AnthropicStreamDecoder` reads an upstream's events back into canonical chunks.
  * search.py: web search both ways (the web_search server tool <-> `web_search_options` +
    `x_orca_search`, citations <-> url_citation annotations, server_tool_use blocks and
    usage.server_tool_use <-> usage x_orca_tool_calls.web_search).
  * shared.py: small helpers more than one of those use.

Policies where the reference leaves a choice (kept the same everywhere in this package):
  * Anthropic -> Chat keeps mid-conversation system turns (`{"role": "system"}` messages and
    `mid_conv_system` blocks) as system messages where they are.
  * Chat -> Anthropic hoists every system/developer message, wherever it sits, into the
    top-level `system` blocks, in order (in-place system turns are accepted by few models).
  * Tool-call arguments that are empty, not JSON or not a JSON object become `{}`.
  * Tool ids outside `^[a-zA-Z0-9_-]+$` are rewritten by one deterministic function, applied
    to `tool_use` ids and `tool_result` references alike, so pairs stay matched.
  * Thinking is switched off (rather than failing upstream) when the tool choice forces a
    tool, or when the last assistant tool turn carries no thinking block to replay.
  * Things that cannot be expressed on the other side (server tools, MCP servers, PDF URLs,
    audio, provider file ids, n > 1) raise InvalidRequest instead of being dropped silently;
    sampling knobs Anthropic lacks (penalties, seed, logprobs, ...) are dropped. Coming from
    an Anthropic client, the refusal waits for a translation (routing.wire.untranslatable):
    a same-format call sends the client's body as it is. Anthropic-only service fields
    (`context_management`, `container`, `cache_control`, `speed`, ...) are dropped when
    translating.
"""

from .client_request import messages_to_chat
from .models import model_list, model_object
from .request import chat_to_anthropic_request, takes_adaptive_thinking
from .response import (
    anthropic_to_chat_response,
    chat_to_messages_response,
    error_envelope,
    usage_to_canonical,
)
from .search import SEARCH_TOOL_NAME, SEARCH_TOOL_TYPE, is_search_tool
from .stream import AnthropicStreamDecoder, MessagesStreamEncoder
from .validation import validate_messages_request

__all__ = [
    "SEARCH_TOOL_NAME",
    "SEARCH_TOOL_TYPE",
    "AnthropicStreamDecoder",
    "MessagesStreamEncoder",
    "anthropic_to_chat_response",
    "chat_to_anthropic_request",
    "chat_to_messages_response",
    "error_envelope",
    "is_search_tool",
    "messages_to_chat",
    "model_list",
    "model_object",
    "takes_adaptive_thinking",
    "usage_to_canonical",
    "validate_messages_request",
]
