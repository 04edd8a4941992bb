"""Web search both ways: Gemini's Google Search grounding <-> the canonical search contract.

Canonical contract (OpenAI chat plus extensions):
  * request: `web_search_options` (a dict) asks for a search; the extension `x_orca_search`
    ({"max_uses", "allowed_domains", "blocked_domains"}) carries knobs other dialects have;
  * answer: `message.annotations` (`delta.annotations` in a stream), each
    `{"type": "url_citation", "url_citation": {url, title, start_index, end_index}}` with
    character (code point) indexes into the message content; the number of searches is
    `usage["x_orca_tool_calls"]["web_search"]`, which the pipeline bills per search.

Gemini:
  * request: `tools: [{"googleSearch": {}}]` (`google_search`), or the legacy
    `googleSearchRetrieval` of the 1.5 models;
  * answer: `candidates[].groundingMetadata` = {webSearchQueries, searchEntryPoint,
    groundingChunks: [{web: {uri, title}}], groundingSupports: [{segment: {partIndex?,
    startIndex, endIndex, text}, groundingChunkIndices, confidenceScores}]}. Segment indexes
    are byte offsets into the UTF-8 text of the part (google-genai's Segment: "measured in
    bytes"); without partIndex (the usual case, and always in streams) they are taken over
    the candidate's whole text, which is also how Google's own samples read them.

Choices:
  * Client knobs: Gemini's `googleSearch.excludeDomains` -> x_orca_search.blocked_domains; the
    other way it is dropped (google-genai: "not supported in Gemini API", and the Gemini
    API is this kind's upstream). search_context_size / user_location / max_uses /
    allowed_domains have no Gemini form and are dropped.
  * One url_citation per groundingSupport x chunk index (web chunks only). When the
    converted offsets do not frame the segment's own text, the text is looked for in the
    content and its position used (a segment is never silently misplaced).
  * Searches billed: len(webSearchQueries) per candidate, or 1 for a candidate grounded with
    chunks but no queries listed. Gemini 3 bills per search query, so this is exact there;
    Gemini 2.x bills per grounded prompt, so a 2.x model's per-search price should be set
    as its per-prompt price (a prompt that ran several queries then counts more than once:
    over- rather than under-billing).
  * Canonical -> Gemini answer: chunks deduplicated by url, one support per distinct
    (start, end) span with the indexes of all its chunks, offsets in UTF-8 bytes of the text
    part, no partIndex; webSearchQueries and searchEntryPoint are omitted (the canonical
    answer does not carry them).
"""

from typing import Any

from .shared import _code_text, _get

SEARCH_TOOLS = ("googleSearch", "googleSearchRetrieval")
SEARCH_OPTIONS = "web_search_options"
SEARCH_KNOBS = "x_orca_search"  # canonical extension (canonical.EXTENSION_FIELDS)
HOSTED_TOOL_CALLS = "x_orca_tool_calls"  # inside canonical usage
WEB_SEARCH = "web_search"


# --------------------------------------------------------------------------------------------
# requests


def search_request(tools: Any) -> tuple[dict | None, dict | None]:
    """A generateContent `tools` list -> (web_search_options, x_orca_search), each None when
    there is nothing to set."""
    asked = False
    blocked: list[str] = []
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict):
            continue
        for name in SEARCH_TOOLS:
            value = _get(tool, name)
            if value is None:
                continue
            asked = True
            excluded = _get(value, "excludeDomains")
            if isinstance(excluded, list):
                blocked.extend(d for d in excluded if isinstance(d, str) and d not in blocked)
    if not asked:
        return None, None
    return {}, ({"blocked_domains": blocked} if blocked else None)


def has_search_tool(tools: Any) -> bool:
    """Whether a generateContent `tools` list asks for Google Search grounding."""
    return search_request(tools)[0] is not None


def wants_search(chat: dict) -> bool:
    return isinstance(chat.get(SEARCH_OPTIONS), dict)


# --------------------------------------------------------------------------------------------
# Gemini answers -> canonical


def _char_offset(text: str, byte_offset: Any) -> int | None:
    if not isinstance(byte_offset, int) or isinstance(byte_offset, bool) or byte_offset < 0:
        return None
    raw = text.encode()
    if byte_offset >= len(raw):
        return len(text)
    return len(raw[:byte_offset].decode(errors="ignore"))


def _segment_span(
    segment: Any, content: str, parts: dict[int, tuple[int, str]]
) -> tuple[int, int] | None:
    """The (start, end) character span a segment covers in `content`; `parts` maps a part index
    to (its character offset in content, its text)."""
    if not isinstance(segment, dict):
        return None
    part_index = _get(segment, "partIndex")
    base, text = (
        parts.get(part_index, (0, content)) if isinstance(part_index, int) else (0, content)
    )
    start = _char_offset(text, _get(segment, "startIndex", 0))
    end = _char_offset(text, _get(segment, "endIndex"))
    quoted = _get(segment, "text")
    if start is not None and end is not None and end >= start:
        start, end = base + start, base + end
        if not isinstance(quoted, str) or not quoted or content[start:end] == quoted:
            return start, end
    if isinstance(quoted, str) and quoted:
        found = content.find(quoted, max(0, (start or 0) - len(quoted)))
        if found < 0:
            found = content.find(quoted)
        if found >= 0:
            return found, found + len(quoted)
    if start is not None and end is not None and end >= start:
        return min(start, len(content)), min(end, len(content))
    return None


def grounding_annotations(
    meta: Any, content: str, parts: dict[int, tuple[int, str]] | None = None
) -> list[dict]:
    """A candidate's groundingMetadata -> canonical url_citation annotations into `content`."""
    if not isinstance(meta, dict):
        return []
    chunks = _get(meta, "groundingChunks") or []
    out: list[dict] = []
    for support in _get(meta, "groundingSupports") or []:
        if not isinstance(support, dict):
            continue
        span = _segment_span(_get(support, "segment"), content, parts or {})
        if span is None:
            continue
        for i in _get(support, "groundingChunkIndices") or []:
            if not isinstance(i, int) or not 0 <= i < len(chunks):
                continue
            web = _get(chunks[i], "web")
            if not isinstance(_get(web, "uri"), str):
                continue
            out.append(
                {
                    "type": "url_citation",
                    "url_citation": {
                        "url": _get(web, "uri"),
                        "title": str(_get(web, "title") or ""),
                        "start_index": span[0],
                        "end_index": span[1],
                    },
                }
            )
    return out


def search_count(meta: Any) -> int:
    """The searches one candidate's groundingMetadata records (see the module's choices)."""
    if not isinstance(meta, dict):
        return 0
    queries = _get(meta, "webSearchQueries")
    if isinstance(queries, list) and queries:
        return len(queries)
    return 1 if _get(meta, "groundingChunks") else 0


def add_search_usage(usage: dict, searches: int) -> dict:
    """Record `searches` in a canonical usage object (nothing when 0)."""
    if searches > 0:
        hosted = usage.setdefault(HOSTED_TOOL_CALLS, {})
        hosted[WEB_SEARCH] = hosted.get(WEB_SEARCH, 0) + searches
    return usage


def text_parts(parts: Any) -> tuple[str, dict[int, tuple[int, str]]]:
    """A model turn's content text (as shared._model_message joins it) and, per part index of a
    non-thought text part, (its character offset in that text, its text)."""
    texts: list[str] = []
    where: dict[int, tuple[int, str]] = {}
    length = 0
    for index, part in enumerate(parts if isinstance(parts, list) else []):
        if not isinstance(part, dict):
            continue
        text = part.get("text")
        if isinstance(text, str):
            if part.get("thought") is True:
                continue
            where[index] = (length, text)
        else:
            text = _code_text(part) if _get(part, "functionCall") is None else None
            if text is None:
                continue
        texts.append(text)
        length += len(text)
    return "".join(texts), where


# --------------------------------------------------------------------------------------------
# canonical answers -> Gemini


def _byte_offset(text: str, char_offset: int) -> int:
    return len(text[: max(0, char_offset)].encode())


def grounding_metadata(annotations: Any, content: str) -> dict | None:
    """Canonical url_citation annotations on `content` -> a groundingMetadata (None: none)."""
    chunks: list[dict] = []
    chunk_index: dict[str, int] = {}
    spans: dict[tuple[int, int], list[int]] = {}
    for annotation in annotations if isinstance(annotations, list) else []:
        if not isinstance(annotation, dict) or annotation.get("type") != "url_citation":
            continue
        citation = annotation.get("url_citation")
        citation = citation if isinstance(citation, dict) else annotation  # flat, leniently
        url = citation.get("url")
        if not isinstance(url, str) or not url:
            continue
        if url not in chunk_index:
            chunk_index[url] = len(chunks)
            web = {"uri": url}
            if isinstance(citation.get("title"), str) and citation["title"]:
                web["title"] = citation["title"]
            chunks.append({"web": web})
        start, end = citation.get("start_index"), citation.get("end_index")
        if not isinstance(start, int) or not isinstance(end, int) or end < start:
            continue
        indices = spans.setdefault((start, end), [])
        if chunk_index[url] not in indices:
            indices.append(chunk_index[url])
    if not chunks:
        return None
    supports = [
        {
            "segment": {
                "startIndex": _byte_offset(content, start),
                "endIndex": _byte_offset(content, end),
                "text": content[start:end],
            },
            "groundingChunkIndices": indices,
        }
        for (start, end), indices in sorted(spans.items())
    ]
    meta: dict[str, Any] = {"groundingChunks": chunks}
    if supports:
        meta["groundingSupports"] = supports
    return meta
