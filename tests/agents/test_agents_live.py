"""The pinned real agents through a live Orca (issue 14 item 8): each runs the scripted two-turn
tool session (turn 1: the model calls the agent's shell tool with ``echo orca-agent-ok``; turn 2:
the agent sends the tool's output back and the model answers ``ORCA-AGENT-DONE
saw:orca-agent-ok``) against a ``ScriptedUpstream`` that Orca calls in the dialect of the
model's provider kind, strictly validated there (a translation error is a 400 in
``upstream.rejections``):

=====================================  ==========================  =========================
agent (client dialect)                 Orca model (provider kind)  upstream dialect
=====================================  ==========================  =========================
``claude -p`` (Messages)               anthropic                   Messages (pass-through)
``claude -p`` (Messages)               openai                      Chat Completions
``claude -p`` (Messages)               gemini                      streamGenerateContent
``codex exec`` (Responses)             openai, endpoint_types      Responses (pass-through)
                                       ``["chat", "responses"]``
``codex exec`` (Responses)             anthropic                   Messages
``claude -p`` (Messages)               openai, ``["responses"]``   Responses (translated)
=====================================  ==========================  =========================

Each test asserts the agent's own output (exit code, final message, the command it ran) and what
the upstream received (two model turns in its dialect, the first offering the shell tool, the
second carrying the tool call and its result ``orca-agent-ok``), that nothing was refused, and
that the agent tried to reach no other host (its HTTP(S)_PROXY is the fake's refusing proxy).
A failure message holds the agent's output, the upstream's rejections and Orca's log lines.

The providers and models are seeded into the session's database next to the ``live`` fixture's
catalog; the running server picks them up (the save bumps the config version). Model ids are
``agent/...``: unknown to Codex, so it sends its plain function-tool set (see CAPTURE.md).

Skipped when an agent is not installed (``npm ci --prefix tests/agents``) and ORCA_REQUIRE_AGENTS
is unset (or ``0``); with it set, a missing install fails.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.agents import agents
from tests.agents.scripted_upstream import (
    DONE_MARKER,
    SEEN_MARKER,
    TOOL_COMMAND,
    TOOL_OUTPUT,
    ScriptedUpstream,
)

PROMPT = f"Run the shell command: {TOOL_COMMAND}"
AGENT_TIMEOUT = 120  # seconds per agent run (a good one takes a few)

# provider slug -> (kind, path on the upstream's root the provider's base_url ends with)
PROVIDERS = {
    "agent-anthropic": ("anthropic", "/v1"),
    "agent-openai": ("openai", "/v1"),
    "agent-gemini": ("gemini", "/v1beta"),
}
# public id -> (provider slug, upstream model name, endpoint types)
MODELS = {
    "agent/cc-anthropic": ("agent-anthropic", "scripted-messages-cc", ["chat"]),
    "agent/cc-openai": ("agent-openai", "scripted-chat-cc", ["chat"]),
    "agent/cc-gemini": ("agent-gemini", "scripted-gemini-cc", ["chat"]),
    "agent/codex-responses": ("agent-openai", "scripted-responses-codex", ["chat", "responses"]),
    "agent/codex-anthropic": ("agent-anthropic", "scripted-messages-codex", ["chat"]),
    # beyond the five: a Responses-only model, which Messages clients reach translated
    "agent/cc-responses-only": ("agent-openai", "scripted-responses-cc", ["responses"]),
}


def _required() -> bool:
    return os.environ.get("ORCA_REQUIRE_AGENTS", "") not in ("", "0")


def _absent(agent: str) -> list[str]:
    return [m for m in agents.missing() if m.lower().startswith(agent)]


def _needs(agent: str) -> pytest.MarkDecorator:
    """Skip at collection (no server started) when the agent is missing and not required."""
    absent = _absent(agent)
    return pytest.mark.skipif(bool(absent) and not _required(), reason="; ".join(absent))


def _check_installed(agent: str) -> None:
    absent = _absent(agent)
    if absent:  # only reached with ORCA_REQUIRE_AGENTS set
        pytest.fail(absent[0])


@dataclass
class AgentOrca:
    base_url: str  # Orca's root (no /v1)
    key: str
    log_path: Path
    upstreams: dict[str, ScriptedUpstream]  # by provider slug
    proxy: ScriptedUpstream  # its refusing proxy is every agent's HTTP(S)_PROXY

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy.proxy_port}"


def _seed(upstreams: dict[str, ScriptedUpstream]) -> None:
    from routing.models import Model, Provider

    for slug, (kind, path) in PROVIDERS.items():
        provider = Provider(
            slug=slug, name=slug, kind=kind, base_url=upstreams[slug].base_url + path
        )
        provider.set_credential(upstreams[slug].api_key or "")
        provider.save()
    for public_id, (slug, upstream_name, endpoints) in MODELS.items():
        Model.objects.create(
            public_id=public_id,
            provider=Provider.objects.get(slug=slug),
            upstream_name=upstream_name,
            input_price="1",
            output_price="2",
            context_length=1_000_000,
            max_output_tokens=128_000,
            capabilities=["tools", "vision", "json_schema", "reasoning"],
            endpoint_types=endpoints,
        )


def _wait_for_catalog(base_url: str, key: str, timeout: float = 15) -> None:
    """Until the running server lists every seeded model (it reloads on the version bump)."""
    deadline = time.monotonic() + timeout
    listed: set[str] = set()
    while time.monotonic() < deadline:
        reply = httpx.get(
            f"{base_url}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=5
        )
        if reply.status_code == 200:
            listed = {m["id"] for m in reply.json().get("data", [])}
            if set(MODELS) <= listed:
                return
        time.sleep(0.2)
    raise AssertionError(f"Orca did not list the seeded models: missing {set(MODELS) - listed}")


@pytest.fixture(scope="module")
def agent_orca(live, django_db_blocker) -> Iterator[AgentOrca]:
    """One validating scripted upstream per provider (each wanting its own credential), the
    providers and models seeded, and the session's live Orca serving them."""
    upstreams = {
        slug: ScriptedUpstream(api_key=f"{slug}-credential-CANARY", proxy_port=0).start()
        for slug in PROVIDERS
    }
    try:
        with django_db_blocker.unblock():
            _seed(upstreams)
        _wait_for_catalog(live.server.base_url, live.key)
        yield AgentOrca(
            live.server.base_url, live.key, live.log_path, upstreams, upstreams["agent-anthropic"]
        )
    finally:
        for upstream in upstreams.values():
            upstream.stop()


@pytest.fixture
def orca(agent_orca: AgentOrca) -> AgentOrca:
    for upstream in agent_orca.upstreams.values():
        upstream.reset()
    return agent_orca


# --------------------------------------------------------------------------- helpers


def _log_offset(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _log_since(path: Path, offset: int, limit: int = 6000) -> str:
    if not path.exists():
        return ""
    with path.open("rb") as fh:
        fh.seek(offset)
        text = fh.read().decode("utf-8", "replace")
    return text[-limit:]


def _short(value: Any, limit: int = 1500) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def _report(run: agents.AgentRun, orca: AgentOrca, upstream: ScriptedUpstream, offset: int) -> str:
    """Everything needed to tell an Orca defect from an agent or harness problem."""
    turns = [
        {
            "path": r["path"],
            "query": r["query"],
            "answer": r["answer"],
            "body": _short(r["body"], 600),
        }
        for r in upstream.model_requests()
    ]
    return "\n".join(
        [
            f"{run.agent}: rc={run.returncode} timed_out={run.timed_out} final={run.final_text!r}",
            f"stdout (tail): {run.stdout[-2500:]}",
            f"stderr (tail): {run.stderr[-2500:]}",
            f"upstream rejections: {upstream.rejections}",
            f"upstream model turns: {_short(turns, 4000)}",
            "other upstreams: "
            + str(
                {
                    slug: [(r["path"], r.get("answer")) for r in up.model_requests()]
                    for slug, up in orca.upstreams.items()
                    if up is not upstream and up.model_requests()
                }
            ),
            f"outside attempts: {orca.proxy.proxy_attempts}",
            f"orca log since the run:\n{_log_since(orca.log_path, offset)}",
        ]
    )


def _claude(orca: AgentOrca, model: str, tmp_path: Path) -> agents.AgentRun:
    _check_installed("claude")
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    return agents.run_claude(
        orca.base_url,
        orca.key,
        model,
        PROMPT,
        work,
        home,
        proxy=orca.proxy_url,
        timeout=AGENT_TIMEOUT,
    )


def _codex(orca: AgentOrca, model: str, tmp_path: Path) -> agents.AgentRun:
    _check_installed("codex")
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    return agents.run_codex(
        orca.base_url,
        orca.key,
        model,
        PROMPT,
        work,
        home,
        proxy=orca.proxy_url,
        timeout=AGENT_TIMEOUT,
    )


def _assert_agent_done(run: agents.AgentRun, why: str) -> None:
    assert not run.timed_out, why
    assert run.returncode == 0, why
    assert DONE_MARKER in run.final_text and SEEN_MARKER in run.final_text, why


def _assert_claude_ran_tool(run: agents.AgentRun, why: str) -> None:
    assert run.details.get("num_turns") == 2, why
    assert run.details.get("is_error") is False, why


def _assert_codex_ran_tool(run: agents.AgentRun, why: str) -> None:
    commands = [
        e["item"]
        for e in run.details["events"]
        if e.get("type") == "item.completed" and e["item"].get("type") == "command_execution"
    ]
    assert commands, why
    assert commands[0]["exit_code"] == 0 and TOOL_OUTPUT in commands[0]["aggregated_output"], why


def _two_turns(upstream: ScriptedUpstream, dialect: str, tool: str, why: str) -> list[dict]:
    """The upstream's model turns: exactly [call the shell tool, final answer], in ``dialect``,
    nothing refused; no other upstream was called."""
    calls = upstream.model_requests()
    assert upstream.rejections == [], why
    assert [c["dialect"] for c in calls] == [dialect, dialect], why
    assert [c["answer"].get("tool") for c in calls] == [tool, None], why
    assert SEEN_MARKER in calls[1]["answer"]["text"], why
    return calls


def _no_other_traffic(orca: AgentOrca, used: ScriptedUpstream, why: str) -> None:
    for upstream in orca.upstreams.values():
        if upstream is not used:
            assert upstream.model_requests() == [], why
    assert orca.proxy.proxy_attempts == [], why  # nothing tried to leave the machine


def _anthropic_turn2(body: dict, tool: str) -> None:
    """Turn 2 in Messages: the assistant's tool_use of ``tool`` answered by a tool_result holding
    the command's output, at the start of the next user turn."""
    messages = [m for m in body["messages"] if m["role"] != "system"]
    assistant, user = messages[-2], messages[-1]
    uses = [b for b in assistant["content"] if b["type"] == "tool_use"]
    assert [u["name"] for u in uses] == [tool]
    result = user["content"][0]
    assert result["type"] == "tool_result" and result["tool_use_id"] == uses[0]["id"]
    content = result["content"]
    text = content if isinstance(content, str) else " ".join(p.get("text", "") for p in content)
    assert TOOL_OUTPUT in text


# --------------------------------------------------------------------------- Claude Code


@_needs("claude")
def test_claude_code_through_orca_on_an_anthropic_model(orca: AgentOrca, tmp_path: Path):
    upstream = orca.upstreams["agent-anthropic"]
    offset = _log_offset(orca.log_path)
    run = _claude(orca, "agent/cc-anthropic", tmp_path)
    why = _report(run, orca, upstream, offset)

    _assert_agent_done(run, why)
    _assert_claude_ran_tool(run, why)
    first, second = _two_turns(upstream, "anthropic", "Bash", why)
    _no_other_traffic(orca, upstream, why)
    assert first["path"] == "/v1/messages", why
    assert first["body"]["model"] == "scripted-messages-cc", why
    assert first["headers"]["anthropic-version"], why
    # pass-through: the client's beta flags reach the Anthropic upstream
    assert "claude-code-20250219" in first["headers"].get("anthropic-beta", ""), why
    _anthropic_turn2(second["body"], "Bash")


@_needs("claude")
def test_claude_code_through_orca_on_an_openai_model(orca: AgentOrca, tmp_path: Path):
    upstream = orca.upstreams["agent-openai"]
    offset = _log_offset(orca.log_path)
    run = _claude(orca, "agent/cc-openai", tmp_path)
    why = _report(run, orca, upstream, offset)

    _assert_agent_done(run, why)
    _assert_claude_ran_tool(run, why)
    first, second = _two_turns(upstream, "chat", "Bash", why)
    _no_other_traffic(orca, upstream, why)
    assert first["path"] == "/v1/chat/completions", why
    assert first["body"]["model"] == "scripted-chat-cc", why
    offered = [t["function"]["name"] for t in first["body"]["tools"]]
    assert "Bash" in offered, why
    messages = second["body"]["messages"]
    tool_messages = [m for m in messages if m["role"] == "tool"]
    assert len(tool_messages) == 1, why
    calls = [c for m in messages if m["role"] == "assistant" for c in m.get("tool_calls") or []]
    assert [c["function"]["name"] for c in calls] == ["Bash"], why
    assert json.loads(calls[0]["function"]["arguments"])["command"] == TOOL_COMMAND, why
    assert tool_messages[0]["tool_call_id"] == calls[0]["id"], why
    content = tool_messages[0]["content"]
    text = content if isinstance(content, str) else " ".join(p["text"] for p in content)
    assert TOOL_OUTPUT in text, why


@_needs("claude")
def test_claude_code_through_orca_on_a_gemini_model(orca: AgentOrca, tmp_path: Path):
    upstream = orca.upstreams["agent-gemini"]
    offset = _log_offset(orca.log_path)
    run = _claude(orca, "agent/cc-gemini", tmp_path)
    why = _report(run, orca, upstream, offset)

    _assert_agent_done(run, why)
    _assert_claude_ran_tool(run, why)
    first, second = _two_turns(upstream, "gemini", "Bash", why)
    _no_other_traffic(orca, upstream, why)
    assert first["path"] == "/v1beta/models/scripted-gemini-cc:streamGenerateContent", why
    assert first["query"] == "alt=sse", why
    declared = [
        d["name"] for t in first["body"]["tools"] for d in t.get("functionDeclarations", [])
    ]
    assert "Bash" in declared, why
    contents = second["body"]["contents"]
    model_turn, user_turn = contents[-2], contents[-1]
    calls = [p["functionCall"] for p in model_turn["parts"] if "functionCall" in p]
    assert [c["name"] for c in calls] == ["Bash"], why
    assert calls[0]["args"]["command"] == TOOL_COMMAND, why
    responses = [p["functionResponse"] for p in user_turn["parts"] if "functionResponse" in p]
    assert [r["name"] for r in responses] == ["Bash"], why
    assert TOOL_OUTPUT in json.dumps(responses[0]["response"]), why


@_needs("claude")
def test_claude_code_through_orca_on_a_responses_only_model(orca: AgentOrca, tmp_path: Path):
    """Beyond the five sessions: Messages -> canonical chat -> a native Responses upstream."""
    upstream = orca.upstreams["agent-openai"]
    offset = _log_offset(orca.log_path)
    run = _claude(orca, "agent/cc-responses-only", tmp_path)
    why = _report(run, orca, upstream, offset)

    _assert_agent_done(run, why)
    _assert_claude_ran_tool(run, why)
    first, second = _two_turns(upstream, "responses", "Bash", why)
    _no_other_traffic(orca, upstream, why)
    assert first["path"] == "/v1/responses", why
    assert first["body"]["model"] == "scripted-responses-cc", why
    offered = [t.get("name") for t in first["body"]["tools"] if t["type"] == "function"]
    assert "Bash" in offered, why
    items = second["body"]["input"]
    calls = [i for i in items if i.get("type") == "function_call"]
    outputs = [i for i in items if i.get("type") == "function_call_output"]
    assert [c["name"] for c in calls] == ["Bash"], why
    assert json.loads(calls[0]["arguments"])["command"] == TOOL_COMMAND, why
    assert len(outputs) == 1 and outputs[0]["call_id"] == calls[0]["call_id"], why
    assert TOOL_OUTPUT in json.dumps(outputs[0]["output"]), why


# --------------------------------------------------------------------------- Codex


@_needs("codex")
def test_codex_through_orca_on_a_responses_model_passes_through(orca: AgentOrca, tmp_path: Path):
    upstream = orca.upstreams["agent-openai"]
    offset = _log_offset(orca.log_path)
    run = _codex(orca, "agent/codex-responses", tmp_path)
    why = _report(run, orca, upstream, offset)

    _assert_agent_done(run, why)
    _assert_codex_ran_tool(run, why)
    first, second = _two_turns(upstream, "responses", "exec_command", why)
    _no_other_traffic(orca, upstream, why)
    assert first["path"] == "/v1/responses", why
    assert first["body"]["model"] == "scripted-responses-codex", why
    assert first["body"]["stream"] is True and first["body"]["store"] is False, why
    # passed through, not translated: Codex's own fields and hosted / namespace tools arrive
    assert {"client_metadata", "prompt_cache_key", "include"} <= set(first["body"]), why
    kinds = {t["type"] for t in first["body"]["tools"]}
    assert {"namespace", "web_search"} <= kinds, why
    items = second["body"]["input"]
    calls = [i for i in items if i.get("type") == "function_call"]
    outputs = [i for i in items if i.get("type") == "function_call_output"]
    assert [c["name"] for c in calls] == ["exec_command"], why
    assert json.loads(calls[0]["arguments"]) == {"cmd": TOOL_COMMAND}, why
    assert len(outputs) == 1 and outputs[0]["call_id"] == calls[0]["call_id"], why
    assert TOOL_OUTPUT in outputs[0]["output"], why


@_needs("codex")
def test_codex_through_orca_on_an_anthropic_model(orca: AgentOrca, tmp_path: Path):
    upstream = orca.upstreams["agent-anthropic"]
    offset = _log_offset(orca.log_path)
    run = _codex(orca, "agent/codex-anthropic", tmp_path)
    why = _report(run, orca, upstream, offset)

    _assert_agent_done(run, why)
    _assert_codex_ran_tool(run, why)
    first, second = _two_turns(upstream, "anthropic", "exec_command", why)
    _no_other_traffic(orca, upstream, why)
    assert first["path"] == "/v1/messages", why
    assert first["body"]["model"] == "scripted-messages-codex", why
    offered = [t["name"] for t in first["body"]["tools"]]
    assert "exec_command" in offered, why
    _anthropic_turn2(second["body"], "exec_command")
    uses = [
        b
        for m in second["body"]["messages"]
        if m["role"] == "assistant"
        for b in m["content"]
        if b["type"] == "tool_use"
    ]
    assert uses[-1]["input"] == {"cmd": TOOL_COMMAND}, why
