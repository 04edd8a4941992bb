"""The canonical conversation model every translation goes through.

Canonical = OpenAI Chat Completions JSON (plain dicts), plus a few documented extension
fields for what Chat cannot express. Every client surface translates its request INTO a
canonical chat request and renders canonical responses / stream chunks OUT to its dialect;
every upstream kind translates a canonical request OUT to its API and its responses / stream
events back IN to canonical. Same-format calls skip all of this (byte pass-through).

Canonical request (dict), as OpenAI Chat Completions:
  model, messages, stream, stream_options, temperature, top_p, max_tokens (the canonical
  name; `max_completion_tokens` is read as a synonym), stop (list[str]), n, tools
  ([{type:"function", function:{name, description, parameters}}]), tool_choice ("auto" |
  "none" | "required" | {type:"function", function:{name}}), parallel_tool_calls,
  response_format ({type:"text"|"json_object"|"json_schema", json_schema:{name, schema,
  strict}}), reasoning_effort ("minimal"|"low"|"medium"|"high"), seed, user, metadata.
  Messages: role system | developer | user | assistant | tool.
    content: str, or a list of parts {type:"text", text} | {type:"image_url",
      image_url:{url}} (url may be a data: URL with base64) | {type:"input_audio", ...}.
    assistant: content (str | None), tool_calls [{id, type:"function", function:{name,
      arguments (JSON string)}}].
    tool: tool_call_id, content.
  Extensions (never sent to an OpenAI-kind upstream; strip_extensions() removes them):
    request["reasoning_budget_tokens"]: int — an exact thinking budget given by an Anthropic
      (thinking.budget_tokens) or Gemini (thinkingConfig.thinkingBudget) client; wins over
      reasoning_effort when translating to a native kind.
    request["top_k"]: int — Anthropic/Gemini sampling parameter.
    assistant message["reasoning_content"]: str — the model's visible reasoning text.
    assistant message["thinking_blocks"]: [{type:"thinking", thinking, signature} |
      {type:"redacted_thinking", data}] — Anthropic thinking blocks, kept verbatim so that
      signatures survive across turns.
    tool_call["extra_content"] = {"google": {"thought_signature": str}} — Gemini's
      thoughtSignature for a functionCall part (the same field Gemini's own OpenAI-compatible
      endpoint uses), so it round-trips.

Canonical response: a `chat.completion` dict:
  {id, object:"chat.completion", created, model, choices:[{index, message:{role:"assistant",
   content, tool_calls?, reasoning_content?, thinking_blocks?}, finish_reason}], usage}
  finish_reason: "stop" | "length" | "tool_calls" | "content_filter".
  usage: {prompt_tokens (ALL input incl. cache reads and writes), completion_tokens (ALL
   output incl. reasoning), total_tokens, prompt_tokens_details:{cached_tokens,
   cache_write_tokens}, completion_tokens_details:{reasoning_tokens}}.
  Also usage["stop_sequence"] is NOT used; a matched stop sequence is carried as the
  extension choice["stop_sequence"]: str when known (Anthropic reports it).

Canonical stream: a sequence of `chat.completion.chunk` dicts, exactly as OpenAI sends them
(first delta of a choice carries role; the first delta of each tool call carries index, id,
type, function.name and "" arguments; later deltas carry index + argument fragments only),
with the extension delta fields `reasoning_content` (str) and `thinking_signature` (str, the
signature that closes the current Anthropic thinking block), and finally one chunk with
`choices: []` and `usage`. Decoders always produce that usage chunk (from whatever the
upstream reported); encoders decide whether the client sees it.

Errors raised by translation: `InvalidRequest(message, param=..., code=...)` for a request
that cannot be served faithfully (e.g. n>1 to Anthropic), `StreamError(message, type_)` for
an error event inside an upstream stream.
"""

from typing import Any

from .errors import InvalidRequest, StreamError

__all__ = [
    "EXTENSION_FIELDS",
    "InvalidRequest",
    "StreamError",
    "empty_usage",
    "strip_extensions",
]

# x_orca_dropped_tools: the tools a translation left out (routing/wire/tools.py)
# x_orca_forced_tool: the left-out tool a tool_choice forces (a translated call is a 400)
# x_orca_tool_calls: inside `usage` of a canonical chat.completion and of the usage-only stream
#   chunk, never on a request: the hosted tools the upstream ran, e.g. {"web_search": 2}
#   (routing/wire/responses/upstream.py: one per `*_call` output item but function calls)
# x_orca_search: beside chat's `web_search_options` on a request, the knobs chat has no field
#   for: {"max_uses": int, "allowed_domains": [...], "blocked_domains": [...]}, each optional
EXTENSION_FIELDS = (
    "reasoning_budget_tokens",
    "top_k",
    "x_orca_dropped_tools",
    "x_orca_forced_tool",
    "x_orca_search",
    "x_orca_tool_calls",
)
_MESSAGE_EXTENSIONS = ("reasoning_content", "thinking_blocks")


def empty_usage() -> dict[str, Any]:
    return {
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "total_tokens": 0,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def strip_extensions(request: dict[str, Any]) -> dict[str, Any]:
    """A canonical request made safe for an OpenAI-kind upstream."""
    out = {k: v for k, v in request.items() if k not in EXTENSION_FIELDS}
    messages = []
    for message in out.get("messages", []):
        if any(k in message for k in _MESSAGE_EXTENSIONS):
            message = {k: v for k, v in message.items() if k not in _MESSAGE_EXTENSIONS}
        if message.get("tool_calls"):
            message = {
                **message,
                "tool_calls": [
                    {k: v for k, v in call.items() if k != "extra_content"}
                    for call in message["tool_calls"]
                ],
            }
        messages.append(message)
    if "messages" in out:
        out["messages"] = messages
    return out


class ChunkAccumulator:
    """Rebuilds a canonical chat.completion (choice 0) from canonical stream chunks."""

    def __init__(self) -> None:
        self.id = ""
        self.model = ""
        self.created = 0
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None

    def feed(self, chunk: dict[str, Any]) -> None:
        self.id = self.id or chunk.get("id", "")
        self.model = self.model or chunk.get("model", "")
        self.created = self.created or chunk.get("created", 0)
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("content"):
                self.content.append(delta["content"])
            if delta.get("reasoning_content"):
                self.reasoning.append(delta["reasoning_content"])
            for call in delta.get("tool_calls") or ():
                slot = self.tool_calls.setdefault(
                    call.get("index", 0),
                    {"id": "", "type": "function", "function": {"name": "", "arguments": ""}},
                )
                if call.get("id"):
                    slot["id"] = call["id"]
                function = call.get("function") or {}
                if function.get("name"):
                    slot["function"]["name"] = function["name"]
                slot["function"]["arguments"] += function.get("arguments") or ""
                if call.get("extra_content"):
                    slot["extra_content"] = call["extra_content"]
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]

    @property
    def has_output(self) -> bool:
        return bool(self.content or self.tool_calls)

    def completion(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.content) or None}
        if self.tool_calls:
            message["tool_calls"] = [self.tool_calls[i] for i in sorted(self.tool_calls)]
        if self.reasoning:
            message["reasoning_content"] = "".join(self.reasoning)
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason}],
            "usage": self.usage or empty_usage(),
        }
