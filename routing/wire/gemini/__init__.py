"""Gemini generateContent, both as a client surface and as an upstream kind.

Client surface (`/v1beta/models/{model}:generateContent` and `:streamGenerateContent`):
  validate_generate_request, generate_to_chat (request in), chat_to_generate_response and
  GenerateStreamEncoder (responses out), error_envelope.
Upstream kind:
  chat_to_gemini_request (request out), gemini_to_chat_response and GeminiStreamDecoder
  (responses back in).

What lives where (the modules import each other, never this package):
  * validation.py: validate_generate_request checks a client's body (and
    validate_count_tokens_request a countTokens body); wants_thoughts reads its
    includeThoughts switch.
  * request.py: generate_to_chat (client request in) and chat_to_gemini_request (upstream
    request out): the conversation's turns and parts, with SKIP_SIGNATURE.
  * options.py: the request's tools, toolConfig and generationConfig both ways, for
    request.py, with THINKING_BUDGETS.
  * response.py: chat_to_generate_response (response out), gemini_to_chat_response (upstream
    response back in), the finish-reason and usage mappings, error_envelope.
  * stream.py: GenerateStreamEncoder (stream out) and GeminiStreamDecoder (upstream stream
    back in, SSE or the JSON-array form sent without alt=sse).
  * grounding.py: web search both ways: googleSearch (and the legacy googleSearchRetrieval)
    <-> canonical `web_search_options` / `x_orca_search`, groundingMetadata <-> url_citation
    annotations (UTF-8 byte offsets <-> character offsets), the searches counted into usage
    `x_orca_tool_calls.web_search` (len(webSearchQueries) per candidate; see its docstring).
  * models.py: `models.list` / `models.get` answers (`models/<id>` objects, paged).
  * shared.py: small helpers more than one of those use.

Input is read in camelCase or snake_case at every level: google-genai itself mixes them
(`inlineData: {mime_type}`, `thinkingConfig: {thinking_budget}`), REST users send either.
Output is always camelCase.

Choices made where the canonical contract is silent:
* reasoning_effort -> thinkingBudget (none 0, minimal 512, low 1024, medium 8192, high/xhigh/
  max 24576: all legal on every Gemini 2.5 model except none on Pro, and Gemini 3 still
  accepts thinkingBudget), with includeThoughts unless the budget is 0; an exact
  reasoning_budget_tokens wins. thinkingLevel is never sent. thinkingBudget -> effort uses
  the same buckets as Anthropic budgets: <=1024 low, <=8192 medium, above high; 0 -> minimal
  (with reasoning_budget_tokens 0, i.e. "off"), -1 (dynamic) -> medium without a budget.
* Tool-call ids minted for Gemini calls without an id: "call_<n>" inside one request (unique
  within the conversation being translated); "call_<random>" in responses, so that ids
  from different turns never collide (Anthropic rejects duplicate tool_use ids).
* Ids are not sent to a Gemini upstream (Vertex rejects `functionCall.id`); Gemini pairs
  calls and responses by name and order.
* A Gemini answer's signed call also carries its thoughtSignature in its id
  (`orcats_<n>_<signature>_<id>`, signed_ids.py), for clients that keep only the id (Claude
  Code, Codex, most chat agents); a replayed call takes its signature from extra_content, else
  from its id.
* A replayed assistant turn whose calls carry no thoughtSignature (history produced by another
  provider) gets Google's documented validator-skip sentinel on its first call, which Gemini 3
  requires; see SKIP_SIGNATURE.
* Non-JSON-object tool arguments going to Gemini become {} (empty) or {"arguments": raw};
  a tool result that is not a JSON object becomes {"result": text}.
* The stream encoder sends a functionCall as soon as its buffered arguments parse as a JSON
  object (a complete object cannot grow into another one), else at the finish.
* RECITATION, LANGUAGE and IMAGE_* finish reasons -> content_filter; the malformed/unexpected
  tool-call reasons and OTHER -> stop.
* executableCode / codeExecutionResult parts (code execution tool) become fenced text in the
  content; inline media in a model's output is dropped (Chat has no place for it).
* fileData of any mime type becomes an image_url part with the URI; a non-image inlineData
  becomes an OpenAI `file` part with a data: URL; audio becomes input_audio.
* includeThoughts has no canonical field: `wants_thoughts(body)` reads it, and the renderers
  take `include_thoughts` to hide reasoning from a client that did not ask for it.
"""

from .grounding import has_search_tool
from .models import model_list, model_object
from .options import THINKING_BUDGETS
from .request import SKIP_SIGNATURE, chat_to_gemini_request, generate_to_chat
from .response import chat_to_generate_response, error_envelope, gemini_to_chat_response
from .stream import GeminiStreamDecoder, GenerateStreamEncoder
from .validation import validate_count_tokens_request, validate_generate_request, wants_thoughts

__all__ = [
    "SKIP_SIGNATURE",
    "THINKING_BUDGETS",
    "GeminiStreamDecoder",
    "GenerateStreamEncoder",
    "chat_to_gemini_request",
    "chat_to_generate_response",
    "error_envelope",
    "gemini_to_chat_response",
    "generate_to_chat",
    "has_search_tool",
    "model_list",
    "model_object",
    "validate_count_tokens_request",
    "validate_generate_request",
    "wants_thoughts",
]
