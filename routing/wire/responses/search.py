"""Web search between the Responses dialect and the canonical form.

Canonical form (routing/wire/canonical.py): chat's `web_search_options` {search_context_size?,
user_location? {type: approximate, approximate: {country, region, city, timezone}}} asks for a
search, with the extension `x_orca_search` {max_uses?, allowed_domains?, blocked_domains?}
for the knobs chat has no field for. Citations are chat's nested annotations
({type: url_citation, url_citation: {url, title, start_index, end_index}}), searches are
counted under usage.x_orca_tool_calls.web_search.

Responses client -> canonical: a `web_search` / `web_search_preview` tool (and their dated
names) becomes `web_search_options` (+ x_orca_search from filters.allowed_domains).
Canonical -> Responses client: the counted searches become `web_search_call` items (the
canonical answer does not say what was searched: the query shown is the request's last user
text, cut to QUERY_LIMIT characters) and the annotations flat `url_citation` ones.
"""

from __future__ import annotations

from typing import Any

from ..common import text_of

SEARCH_TYPES = frozenset(
    {"web_search", "web_search_2025_08_26", "web_search_preview", "web_search_preview_2025_03_11"}
)
SEARCH_KEY = "x_orca_search"
HOSTED_TOOLS_KEY = "x_orca_tool_calls"
QUERY_LIMIT = 200
_LOCATION_FIELDS = ("country", "region", "city", "timezone")


def is_search_tool(tool: Any) -> bool:
    return isinstance(tool, dict) and tool.get("type") in SEARCH_TYPES


def canonical_search(tool: dict) -> tuple[dict, dict | None]:
    """(web_search_options, x_orca_search or None) for a Responses web search tool."""
    options: dict[str, Any] = {}
    if tool.get("search_context_size") in ("low", "medium", "high"):
        options["search_context_size"] = tool["search_context_size"]
    location = tool.get("user_location")
    if isinstance(location, dict):
        approximate = {k: location[k] for k in _LOCATION_FIELDS if location.get(k) is not None}
        options["user_location"] = {"type": "approximate", "approximate": approximate}
    knobs: dict[str, Any] = {}
    filters = tool.get("filters")
    if isinstance(filters, dict):
        domains = filters.get("allowed_domains")
        if isinstance(domains, list) and domains:
            knobs["allowed_domains"] = [d for d in domains if isinstance(d, str)]
    return options, knobs or None


def search_count(usage: Any) -> int:
    """The searches a canonical usage counts (x_orca_tool_calls.web_search)."""
    hosted = usage.get(HOSTED_TOOLS_KEY) if isinstance(usage, dict) else None
    count = hosted.get("web_search") if isinstance(hosted, dict) else None
    if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
        return 0
    return min(count, 100)


def search_query(request: dict) -> str:
    """What the web_search_call items show as searched: the last user text of the request."""
    items = request.get("input")
    if isinstance(items, str):
        return items[:QUERY_LIMIT]
    for item in reversed(items if isinstance(items, list) else []):
        if not isinstance(item, dict) or item.get("role") != "user":
            continue
        content = item.get("content")
        text = content if isinstance(content, str) else text_of(content, ("input_text", "text"))
        if text:
            return text.strip()[:QUERY_LIMIT]
    return ""


def search_item(item_id: str, query: str, status: str = "completed") -> dict:
    return {
        "id": item_id,
        "type": "web_search_call",
        "status": status,
        "action": {"type": "search", "query": query, "queries": [query] if query else []},
    }


def flat_annotation(annotation: Any) -> dict | None:
    """A canonical (chat, nested) url_citation as a Responses (flat) one; None for others."""
    if not isinstance(annotation, dict) or annotation.get("type") != "url_citation":
        return None
    cited = annotation.get("url_citation")
    cited = cited if isinstance(cited, dict) else annotation  # already flat
    url = cited.get("url")
    if not isinstance(url, str) or not url:
        return None
    title = cited.get("title")
    start, end = cited.get("start_index"), cited.get("end_index")
    return {
        "type": "url_citation",
        "url": url,
        "title": title if isinstance(title, str) else "",
        "start_index": start if isinstance(start, int) and not isinstance(start, bool) else 0,
        "end_index": end if isinstance(end, int) and not isinstance(end, bool) else 0,
    }


def flat_annotations(annotations: Any) -> list[dict]:
    out = []
    for annotation in annotations if isinstance(annotations, list) else ():
        flat = flat_annotation(annotation)
        if flat is not None:
            out.append(flat)
    return out
