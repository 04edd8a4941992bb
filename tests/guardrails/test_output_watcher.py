"""The stream side of the output watcher, without a server: held text released in order,
tool-call arguments kept whole per call, however the deltas are cut."""

import json
from types import SimpleNamespace

import pytest

from guardrails.engine import compile_policy
from guardrails.gateway import CallGuard, OutputWatcher
from guardrails.selectors import ActiveGuardrail

RULES = [
    {"type": "keyword", "stage": "output", "action": "mask", "keywords": ["secretword"]},
    {"type": "pii", "stage": "output", "action": "mask", "entities": ["email"]},
]


@pytest.fixture(autouse=True)
def matches(monkeypatch) -> list:
    """The matches the watcher hands to the feed (no database here)."""
    found: list = []
    monkeypatch.setattr("guardrails.gateway.feed", SimpleNamespace(add=found.extend))
    return found


def _watcher() -> OutputWatcher:
    policy = compile_policy(RULES)
    active = ActiveGuardrail(id=1, name="g", version=1, log_raw=False, policy=policy)
    key = SimpleNamespace(workspace_id=1, key_id=1)
    call = SimpleNamespace(guardrail_action="", key=key, request_id="req_x", endpoint="chat")
    return OutputWatcher(CallGuard(call, active))  # type: ignore[arg-type]


def _chunk(delta: dict, finish: str | None = None) -> dict:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def _collect(chunks: list[dict]) -> tuple[str, dict[int, str]]:
    watcher, text, arguments = _watcher(), "", {}
    for chunk in chunks:
        delta = watcher.chunk(None, chunk)["choices"][0]["delta"]  # type: ignore[index, arg-type]
        text += delta.get("content") or ""
        for call in delta.get("tool_calls") or []:
            piece = (call.get("function") or {}).get("arguments") or ""
            arguments[call["index"]] = arguments.get(call["index"], "") + piece
    return text, arguments


def test_parallel_tool_calls_keep_their_own_arguments_whole(matches):
    first, second = json.dumps({"x": "one secretword"}), json.dumps({"y": "second call"})
    chunks = [
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"tool_calls": [{"index": 0, "id": "a", "type": "function",
                                "function": {"name": "f", "arguments": ""}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": first[:9]}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": first[9:]}}]}),
        _chunk({"tool_calls": [{"index": 1, "id": "b", "type": "function",
                                "function": {"name": "f", "arguments": second}}]}),
        _chunk({}, finish="tool_calls"),
    ]  # fmt: skip
    _, arguments = _collect(chunks)
    assert json.loads(arguments[0]) == {"x": "one [REDACTED]"}
    assert [row.rule_type for row in matches] == ["keyword"]
    assert json.loads(arguments[1]) == {"y": "second call"}


def test_text_then_a_tool_call_in_one_delta_stays_in_order():
    call = {"index": 0, "id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    chunks = [
        _chunk({"content": "Hello there, "}),
        _chunk({"content": "I will call the tool now.", "tool_calls": [call]}),
        _chunk({}, finish="tool_calls"),
    ]
    text, arguments = _collect(chunks)
    assert text == "Hello there, I will call the tool now."
    assert arguments == {0: "{}"}


def test_an_email_split_across_chunks_is_masked_and_nothing_is_lost():
    pieces = ["Write to jo", "hn.doe@exa", "mple.com", " today, ", "please."]
    text, _ = _collect([_chunk({"content": p}) for p in pieces] + [_chunk({}, finish="stop")])
    assert text == "Write to [EMAIL] today, please."
