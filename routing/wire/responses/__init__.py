"""OpenAI Responses (`POST /v1/responses`): the client surface, and the upstream kind.

As a client surface, a request is validated here, turned into a canonical chat request (see
canonical.py), and the canonical answer is rendered back as a Response object or as the
Responses event stream. As an upstream kind (OpenAI, xAI), a canonical chat request is sent as
a Responses request and the Response or its event stream is read back as canonical chat.

Choices made where the Responses API and Chat differ:
  * Reasoning input items are dropped (nothing in them can be replayed faithfully: we never
    hand out encrypted reasoning state). Built-in tools, `item_reference`, `conversation`,
    file ids and file URLs cannot be served and are rejected with a 400.
  * Function call outputs are moved to sit straight after the assistant message that made the
    call; an output with no call, or a call with no output, is a 400 (as OpenAI does).
  * `call_id`s handed to the client are unique within a response and at most 64 characters;
    longer or repeated upstream ids are rewritten deterministically, and history_after()
    applies the same rewrite so stored conversations join with the client's outputs.
  * Item ids are derived from the response id and the output index, so a stream and its
    final Response agree.

Where things live (this module only re-exports):
  * request.py  - validate_responses_request(), responses_to_chat(): request -> chat.
  * response.py - chat_to_responses_response(), responses_usage(), history_after(), and the
    item-id / call_id / Response-skeleton helpers the stream shares.
  * stream.py   - ResponsesStreamEncoder: chat chunks -> Responses events.
  * search.py   - the web search tool <-> canonical web_search_options, web_search_call
    items and flat url_citation annotations (is_search_tool()).
  * upstream.py - chat_to_responses_request(): canonical chat -> a Responses request for a
    Responses-kind upstream (OpenAI, xAI).
  * upstream_response.py - responses_to_chat_response(), ResponsesStreamDecoder: that
    upstream's Response and event stream -> canonical chat (re-exported by upstream.py).
"""

from ..openai_chat import InvalidRequest
from .request import responses_to_chat, validate_responses_request
from .response import chat_to_responses_response, history_after, responses_usage
from .search import is_search_tool
from .stream import ResponsesStreamEncoder
from .upstream import (
    ResponsesStreamDecoder,
    chat_to_responses_request,
    responses_to_chat_response,
)
from .upstream_response import ResponsesStreamMeter

__all__ = [
    "InvalidRequest",
    "ResponsesStreamDecoder",
    "ResponsesStreamEncoder",
    "ResponsesStreamMeter",
    "chat_to_responses_request",
    "chat_to_responses_response",
    "history_after",
    "is_search_tool",
    "responses_to_chat",
    "responses_to_chat_response",
    "responses_usage",
    "validate_responses_request",
]
