"""Web search in the Anthropic dialect, both ways (media-video-search.md §7.3, §7.7).

Canonical form (OpenAI chat plus extensions): a search is asked for by `web_search_options`
(chat's own field: `search_context_size`, `user_location` in OpenAI's nested shape) and the
extension SEARCH_KEY (`{"max_uses", "allowed_domains", "blocked_domains"}`); citations are
chat's `message.annotations` (`url_citation` with indexes into the message content, streamed
as `delta.annotations`); the searches the upstream ran are `usage[TOOL_CALLS]["web_search"]`.

Anthropic form: the `web_search_20250305` server tool (or a newer dated variant), answered by
`server_tool_use` + `web_search_tool_result` blocks, text blocks carrying `citations` of type
`web_search_result_location`, and `usage.server_tool_use.web_search_requests`.

A cited Anthropic text block is the cited span: its annotation covers the whole block, at the
block's place in the joined content. Rendering goes the other way: the content is cut at the
annotations' edges, each annotated span becoming a text block with its citations.
"""

import re
from typing import Any

from .shared import _count, _new_id

SEARCH_TOOL_TYPE = "web_search_20250305"
SEARCH_TOOL_NAME = "web_search"
SEARCH_KEY = "x_orca_search"  # canonical extension (canonical.EXTENSION_FIELDS)
TOOL_CALLS = "x_orca_tool_calls"  # canonical extension inside `usage`
CITATION_TYPE = "web_search_result_location"
CITED_TEXT_LIMIT = 150  # Anthropic's cited_text is at most this long

_SEARCH_TYPE = re.compile(r"^web_search_\d{8}$")
# search_context_size -> max_uses, as LiteLLM and new-api map it (§7.3)
_CONTEXT_MAX_USES = {"low": 1, "medium": 5, "high": 10}
_LOCATION_FIELDS = ("city", "region", "country", "timezone")


def is_search_tool(tool: Any) -> bool:
    """An Anthropic web search server tool (`web_search_YYYYMMDD`)."""
    return (
        isinstance(tool, dict)
        and isinstance(tool.get("type"), str)
        and bool(_SEARCH_TYPE.match(tool["type"]))
    )


def _strings(value: Any) -> list[str] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


# --- requests --------------------------------------------------------------------------------


def search_tool_to_canonical(tool: dict, out: dict) -> None:
    """An Anthropic web search tool as `web_search_options` + SEARCH_KEY on `out`."""
    options: dict[str, Any] = {}
    location = tool.get("user_location")
    if isinstance(location, dict):
        approximate = {k: location[k] for k in _LOCATION_FIELDS if isinstance(location.get(k), str)}
        options["user_location"] = {"type": "approximate", "approximate": approximate}
    search: dict[str, Any] = {}
    if isinstance(tool.get("max_uses"), int) and not isinstance(tool["max_uses"], bool):
        search["max_uses"] = tool["max_uses"]
    for name in ("allowed_domains", "blocked_domains"):
        domains = _strings(tool.get(name))
        if domains is not None:
            search[name] = domains
    out["web_search_options"] = options
    if search:
        out[SEARCH_KEY] = search


def canonical_to_search_tool(chat: dict) -> dict | None:
    """The Anthropic web search tool a canonical request asks for, or None."""
    options = chat.get("web_search_options")
    if not isinstance(options, dict):
        return None
    search = given if isinstance(given := chat.get(SEARCH_KEY), dict) else {}
    tool: dict[str, Any] = {"type": SEARCH_TOOL_TYPE, "name": SEARCH_TOOL_NAME}
    max_uses = search.get("max_uses")
    if isinstance(max_uses, int) and not isinstance(max_uses, bool) and max_uses > 0:
        tool["max_uses"] = max_uses
    elif options.get("search_context_size") in _CONTEXT_MAX_USES:
        tool["max_uses"] = _CONTEXT_MAX_USES[options["search_context_size"]]
    allowed = _strings(search.get("allowed_domains"))
    blocked = _strings(search.get("blocked_domains"))
    if allowed:
        tool["allowed_domains"] = allowed  # Anthropic takes one of the two: allowed is stricter
    elif blocked:
        tool["blocked_domains"] = blocked
    location = options.get("user_location")
    if isinstance(location, dict):
        inner = location.get("approximate")
        fields = inner if isinstance(inner, dict) else location  # nested (OpenAI) or flat
        flat = {k: fields[k] for k in _LOCATION_FIELDS if isinstance(fields.get(k), str)}
        tool["user_location"] = {"type": "approximate", **flat}
    return tool


# --- answers: Anthropic -> canonical ---------------------------------------------------------


def citation_annotation(citation: Any, start: int, end: int) -> dict | None:
    """A web_search_result_location citation as chat's url_citation over [start, end)."""
    if not isinstance(citation, dict) or citation.get("type") != CITATION_TYPE:
        return None
    return {
        "type": "url_citation",
        "url_citation": {
            "url": citation.get("url") if isinstance(citation.get("url"), str) else "",
            "title": citation.get("title") if isinstance(citation.get("title"), str) else "",
            "start_index": start,
            "end_index": end,
        },
    }


def blocks_annotations(content: Any) -> list[dict]:
    """The url_citation annotations of an answer's text blocks, indexed into the joined text."""
    annotations: list[dict] = []
    length = 0
    for block in content or ():
        if not isinstance(block, dict) or block.get("type") != "text":
            continue
        text: str = block["text"] if isinstance(block.get("text"), str) else ""
        for citation in block.get("citations") or ():
            annotation = citation_annotation(citation, length, length + len(text))
            if annotation is not None:
                annotations.append(annotation)
        length += len(text)
    return annotations


def is_search_call(block: Any) -> bool:
    return (
        isinstance(block, dict)
        and block.get("type") == "server_tool_use"
        and block.get("name") == SEARCH_TOOL_NAME
    )


def reported_searches(usage: Any) -> int | None:
    """usage.server_tool_use.web_search_requests, or None when not reported."""
    server = usage.get("server_tool_use") if isinstance(usage, dict) else None
    if not isinstance(server, dict) or "web_search_requests" not in server:
        return None
    return _count(server.get("web_search_requests"))


def add_searches(usage: dict, searches: int) -> dict:
    """Canonical usage with the searches counted under TOOL_CALLS (when there were any)."""
    if searches > 0:
        hosted = dict(usage.get(TOOL_CALLS) or {})
        hosted["web_search"] = searches
        usage[TOOL_CALLS] = hosted
    return usage


# --- answers: canonical -> Anthropic ---------------------------------------------------------


def canonical_searches(usage: Any) -> int:
    hosted = usage.get(TOOL_CALLS) if isinstance(usage, dict) else None
    return _count(hosted.get("web_search")) if isinstance(hosted, dict) else 0


def _url_citation(annotation: Any) -> dict | None:
    if not isinstance(annotation, dict) or annotation.get("type") != "url_citation":
        return None
    inner = annotation.get("url_citation")
    citation = inner if isinstance(inner, dict) else annotation  # nested (chat) or flat
    if not isinstance(citation.get("url"), str) or not citation["url"]:
        return None
    return citation


def _index(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def web_citation(citation: dict, cited_text: str) -> dict:
    """An Anthropic web_search_result_location for a chat url_citation."""
    return {
        "type": CITATION_TYPE,
        "url": citation["url"],
        "title": citation.get("title") if isinstance(citation.get("title"), str) else None,
        "encrypted_index": "",
        "cited_text": cited_text[:CITED_TEXT_LIMIT],
    }


def annotation_citation(annotation: Any, text: str) -> dict | None:
    """A chat annotation as an Anthropic citation, cited_text taken from `text` (the content
    so far), or None for an annotation of another kind."""
    citation = _url_citation(annotation)
    if citation is None:
        return None
    start, end = _index(citation.get("start_index")), _index(citation.get("end_index"))
    cited = text[start:end] if start is not None and end is not None and start < end else ""
    return web_citation(citation, cited)


def cited_text_blocks(text: str, annotations: Any) -> list[dict]:
    """`text` as Anthropic text blocks: cut at the annotations' edges, each annotated span a
    block with its citations. An annotation that overlaps an earlier span joins that span's
    block; one without usable indexes joins the last block."""
    spans: list[tuple[int, int, dict]] = []
    loose: list[dict] = []
    for annotation in annotations or ():
        citation = _url_citation(annotation)
        if citation is None:
            continue
        start, end = _index(citation.get("start_index")), _index(citation.get("end_index"))
        if start is None or end is None or not 0 <= start < end <= len(text):
            loose.append(web_citation(citation, ""))
        else:
            spans.append((start, end, citation))
    spans.sort(key=lambda span: (span[0], -span[1]))
    blocks: list[dict] = []
    cursor = 0
    for start, end, citation in spans:
        if start < cursor and blocks and "citations" in blocks[-1]:
            blocks[-1]["citations"].append(web_citation(citation, text[start:end]))
            continue
        start = max(start, cursor)
        if start >= end:
            continue
        if start > cursor:
            blocks.append({"type": "text", "text": text[cursor:start]})
        blocks.append(
            {
                "type": "text",
                "text": text[start:end],
                "citations": [web_citation(citation, text[start:end])],
            }
        )
        cursor = end
    if cursor < len(text):
        blocks.append({"type": "text", "text": text[cursor:]})
    if loose:
        if not blocks:
            blocks.append({"type": "text", "text": text})
        blocks[-1].setdefault("citations", []).extend(loose)
    return blocks


def cited_sources(annotations: Any) -> list[dict]:
    """The distinct (url, title) the annotations cite, in order."""
    seen: dict[str, dict] = {}
    for annotation in annotations or ():
        citation = _url_citation(annotation)
        if citation is not None and citation["url"] not in seen:
            title = citation.get("title")
            seen[citation["url"]] = {
                "url": citation["url"],
                "title": title if isinstance(title, str) else "",
            }
    return list(seen.values())


def search_blocks(sources: list[dict]) -> list[dict]:
    """A server_tool_use + web_search_tool_result pair standing for the upstream's searches,
    the cited sources as its results (the query and page contents are not known)."""
    call_id = _new_id("srvtoolu_")
    results = [
        {
            "type": "web_search_result",
            "url": source["url"],
            "title": source["title"],
            "encrypted_content": "",
            "page_age": None,
        }
        for source in sources
    ]
    return [
        {"type": "server_tool_use", "id": call_id, "name": SEARCH_TOOL_NAME, "input": {}},
        {"type": "web_search_tool_result", "tool_use_id": call_id, "content": results},
    ]


def server_tool_usage(searches: int) -> dict:
    return {"web_search_requests": searches, "web_fetch_requests": 0}
