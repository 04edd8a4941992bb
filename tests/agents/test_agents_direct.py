"""The pinned real agents complete the scripted two-turn session against the fake directly
(no Orca in between): proof that the harness, the install and the fake's wire formats are right,
so a failure of the same session through Orca is Orca's.

Skipped when the agents are not installed (``npm ci --prefix tests/agents``), unless
ORCA_REQUIRE_AGENTS=1 is set, which makes a missing install a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agents import agents
from tests.agents.scripted_upstream import (
    DONE_MARKER,
    SEEN_MARKER,
    TOOL_COMMAND,
    ScriptedUpstream,
)

PROMPT = f"Run the shell command: {TOOL_COMMAND}"
MODEL = "fake-agent-model"


def _need(agent: str) -> None:
    absent = [m for m in agents.missing() if m.lower().startswith(agent)]
    if not absent:
        return
    if os.environ.get("ORCA_REQUIRE_AGENTS") == "1":
        pytest.fail(absent[0])
    pytest.skip(absent[0])


@pytest.fixture
def fake() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream(proxy_port=0) as upstream:
        yield upstream


def _dirs(tmp_path: Path) -> tuple[Path, Path]:
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    return work, home


def test_claude_code_completes_the_scripted_session(fake: ScriptedUpstream, tmp_path: Path):
    _need("claude")
    work, home = _dirs(tmp_path)
    proxy = f"http://127.0.0.1:{fake.proxy_port}"
    run = agents.run_claude(fake.base_url, "sk-agent-test", MODEL, PROMPT, work, home, proxy=proxy)

    assert run.returncode == 0, run.stderr[-2000:]
    assert DONE_MARKER in run.final_text and SEEN_MARKER in run.final_text, run.stdout[-2000:]
    assert run.details.get("num_turns") == 2
    calls = fake.model_requests()
    assert [c["answer"].get("tool") for c in calls] == ["Bash", None]
    first = calls[0]
    assert first["path"] == "/v1/messages" and first["query"] == "beta=true"
    assert first["headers"]["anthropic-version"] == "2023-06-01"
    assert "claude-code-20250219" in first["headers"]["anthropic-beta"]
    assert first["body"]["stream"] is True
    result = calls[1]["body"]["messages"][-1]["content"][0]
    assert result["type"] == "tool_result" and "orca-agent-ok" in str(result["content"])
    assert fake.proxy_attempts == []  # nothing tried to leave the machine


def test_codex_completes_the_scripted_session(fake: ScriptedUpstream, tmp_path: Path):
    _need("codex")
    work, home = _dirs(tmp_path)
    proxy = f"http://127.0.0.1:{fake.proxy_port}"
    run = agents.run_codex(fake.base_url, "sk-agent-test", MODEL, PROMPT, work, home, proxy=proxy)

    assert run.returncode == 0, run.stderr[-2000:]
    assert DONE_MARKER in run.final_text and SEEN_MARKER in run.final_text, run.stdout[-2000:]
    commands = [
        e["item"]
        for e in run.details["events"]
        if e.get("type") == "item.completed" and e["item"].get("type") == "command_execution"
    ]
    assert commands and commands[0]["exit_code"] == 0
    calls = fake.model_requests()
    assert [c["answer"].get("tool") for c in calls] == ["exec_command", None]
    first = calls[0]
    assert first["path"] == "/v1/responses"
    assert first["headers"]["authorization"].startswith("<redacted Bearer")
    assert first["body"]["stream"] is True and first["body"]["store"] is False
    outputs = [i for i in calls[1]["body"]["input"] if i.get("type") == "function_call_output"]
    assert outputs and "orca-agent-ok" in outputs[0]["output"]
    assert fake.proxy_attempts == []
