"""Run the pinned real coding agents (Claude Code, OpenAI Codex CLI) non-interactively against a
model server given by URL: Orca, or ``scripted_upstream.ScriptedUpstream`` for a direct check.

The agents come from the npm registry only: ``npm ci --prefix tests/agents`` (package.json and
package-lock.json beside this file pin them; each native binary is an optional npm package of its
own, so nothing is downloaded from anywhere else). Each run gets a fresh HOME / CODEX_HOME under
``home`` and an environment built from nothing (``env -i`` style) plus what is listed here, so no
login, config or key of the machine leaks in, and the switches below keep the agents from
reaching any host but ``base_url`` (checked by pointing HTTP(S)_PROXY at the fake's refusing
proxy: with these settings neither agent tries to connect anywhere else).

Claude Code (``claude -p``)::

    ANTHROPIC_BASE_URL=<server root, no /v1>   ANTHROPIC_API_KEY=<key> (sent as x-api-key;
    ANTHROPIC_AUTH_TOKEN instead sends Authorization: Bearer)
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 (alone stops every call to api.anthropic.com)
    DISABLE_AUTOUPDATER=1 DISABLE_TELEMETRY=1 DISABLE_ERROR_REPORTING=1 (belt and braces)
    CLAUDE_CODE_MAX_RETRIES=0 (default 10 with backoff: a 5xx answer hangs a run for minutes)
    claude -p PROMPT --model MODEL --output-format json --allowedTools Bash Read
                     [--permission-mode dontAsk] [--bare] [--no-session-persistence]

  ``--dangerously-skip-permissions`` and ``--permission-mode bypassPermissions`` refuse to run
  as root unless IS_SANDBOX=1 is set; ``--allowedTools`` works for any user.

Codex CLI (``codex exec``), configured by ``-c`` overrides only (no config.toml needed)::

    CODEX_HOME=<fresh dir>  ORCA_API_KEY=<key> (sent as Authorization: Bearer)
    codex exec --skip-git-repo-check --ephemeral --json -s workspace-write
      -c model_provider=orca
      -c 'model_providers.orca={name="Orca",base_url="<server>/v1",env_key="ORCA_API_KEY",
                                wire_api="responses",request_max_retries=0,
                                stream_max_retries=0}'
      -c approval_policy=never -c analytics.enabled=false -c features.plugins=false
      -c check_for_update_on_startup=false -m MODEL -o LAST_MESSAGE_FILE PROMPT  </dev/null

  ``analytics.enabled=false`` stops OTLP metrics to ab.chatgpt.com; ``features.plugins=false``
  stops the curated-plugin sync (github.com, api.github.com, chatgpt.com).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

AGENTS_DIR = Path(__file__).resolve().parent
NODE_MODULES = AGENTS_DIR / "node_modules"
CODEX_KEY_ENV = "ORCA_API_KEY"

# Variables every agent process gets from the parent (nothing else is inherited).
PASS_THROUGH = ("PATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT")


def _platform_key() -> str:
    machine = platform.machine().lower()
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine
    )
    system = platform.system().lower()
    if system == "linux" and platform.libc_ver()[0] != "glibc":
        return f"linux-{arch}-musl"
    return f"{system}-{arch}"


def claude_binary() -> Path | None:
    """The native Claude Code binary, straight from its platform package: it works even where
    npm ran without install scripts (the wrapper's postinstall only copies this file)."""
    native = NODE_MODULES / "@anthropic-ai" / f"claude-code-{_platform_key()}" / "claude"
    if native.is_file() and os.access(native, os.X_OK):
        return native
    wrapper = NODE_MODULES / "@anthropic-ai" / "claude-code" / "bin" / "claude.exe"
    if wrapper.is_file() and wrapper.stat().st_size > 100_000:  # the postinstall ran
        return wrapper
    return None


def codex_binary() -> Path | None:
    """Codex's npm launcher (a Node script that execs the native binary of its platform
    package)."""
    launcher = NODE_MODULES / ".bin" / "codex"
    if launcher.exists() and shutil.which("node"):
        return launcher
    return None


def missing() -> list[str]:
    """What is not installed, as messages; empty when both agents can run."""
    out = []
    if claude_binary() is None:
        out.append("Claude Code not installed (npm ci --prefix tests/agents)")
    if codex_binary() is None:
        out.append("Codex CLI not installed (npm ci --prefix tests/agents), or no node on PATH")
    return out


@dataclass
class AgentRun:
    agent: str
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    final_text: str  # the agent's last message
    details: dict[str, Any] = field(default_factory=dict)  # parsed result / events
    timed_out: bool = False  # killed (with every process it started) after its timeout


def _run(
    argv: list[str], workdir: Path, env: dict[str, str], timeout: float
) -> tuple[int, str, str, bool]:
    """Run one agent in a session of its own, stdin closed; on timeout kill the whole process
    group (Codex's Node launcher execs a native binary that a plain kill would orphan).
    Returns (returncode, stdout, stderr, timed_out)."""
    proc = subprocess.Popen(
        argv,
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err, False
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        try:  # a process that left the group may still hold the pipes: do not wait for it
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = "", ""
        return proc.returncode or -9, out, err + f"\n[agents.py] killed after {timeout:g} s", True


def _base_env(home: Path, proxy: str | None) -> dict[str, str]:
    env = {name: os.environ[name] for name in PASS_THROUGH if name in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update({"HOME": str(home), "TERM": "dumb", "NO_COLOR": "1"})
    if proxy:
        env.update(
            {
                "HTTPS_PROXY": proxy,
                "HTTP_PROXY": proxy,
                "ALL_PROXY": proxy,
                "NO_PROXY": "127.0.0.1,localhost,::1",
            }
        )
    return env


def claude_invocation(
    base_url: str,
    api_key: str,
    model: str,
    prompt: str,
    home: Path,
    *,
    bearer: bool = False,
    bare: bool = False,
    retries: int = 0,
    proxy: str | None = None,
    extra_args: tuple[str, ...] = (),
) -> tuple[list[str], dict[str, str]]:
    """argv and environment for one ``claude -p`` run. ``base_url`` is the server root (Claude
    Code appends ``/v1/messages?beta=true``)."""
    binary = claude_binary()
    if binary is None:
        raise RuntimeError("Claude Code is not installed: npm ci --prefix tests/agents")
    home.mkdir(parents=True, exist_ok=True)
    env = _base_env(home, proxy)
    env.update(
        {
            "ANTHROPIC_BASE_URL": base_url.rstrip("/"),
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
            # 10 by default, with backoff: a 5xx would hang the run for minutes
            "CLAUDE_CODE_MAX_RETRIES": str(retries),
        }
    )
    env["ANTHROPIC_AUTH_TOKEN" if bearer else "ANTHROPIC_API_KEY"] = api_key
    argv = [
        str(binary),
        "-p",
        prompt,
        "--model",
        model,
        "--output-format",
        "json",
        "--allowedTools",
        "Bash",
        "Read",
        "--no-session-persistence",
    ]
    if bare:
        argv.append("--bare")
    argv.extend(extra_args)
    return argv, env


def codex_invocation(
    base_url: str,
    api_key: str,
    model: str,
    prompt: str,
    home: Path,
    *,
    proxy: str | None = None,
    retries: int = 0,
    sandbox: str = "workspace-write",
    extra_args: tuple[str, ...] = (),
) -> tuple[list[str], dict[str, str]]:
    """argv and environment for one ``codex exec`` run. ``base_url`` is the server root; the
    provider's base_url is ``<root>/v1`` (Codex appends ``/responses``)."""
    binary = codex_binary()
    if binary is None:
        raise RuntimeError("Codex CLI is not installed: npm ci --prefix tests/agents")
    codex_home = home / "codex-home"
    codex_home.mkdir(parents=True, exist_ok=True)
    env = _base_env(home, proxy)
    env.update({"CODEX_HOME": str(codex_home), CODEX_KEY_ENV: api_key})
    root = base_url.rstrip("/")
    provider = (
        f'{{name="Orca",base_url="{root}/v1",env_key="{CODEX_KEY_ENV}",wire_api="responses",'
        f"request_max_retries={retries},stream_max_retries={retries}}}"
    )
    last = home / "codex-last-message.txt"
    argv = [
        str(binary),
        "exec",
        "--skip-git-repo-check",
        "--ephemeral",
        "--json",
        "-s",
        sandbox,
        "-c",
        "model_provider=orca",
        "-c",
        f"model_providers.orca={provider}",
        "-c",
        "approval_policy=never",
        "-c",
        "analytics.enabled=false",
        "-c",
        "features.plugins=false",
        "-c",
        "check_for_update_on_startup=false",
        "-m",
        model,
        "-o",
        str(last),
        *extra_args,
        prompt,
    ]
    return argv, env


def run_claude(
    base_url: str,
    api_key: str,
    model: str,
    prompt: str,
    workdir: Path,
    home: Path,
    *,
    timeout: float = 180,
    **kwargs: Any,
) -> AgentRun:
    argv, env = claude_invocation(base_url, api_key, model, prompt, home, **kwargs)
    code, out, err, timed_out = _run(argv, workdir, env, timeout)
    details: dict[str, Any] = {}
    with contextlib.suppress(ValueError):
        details = json.loads(out)
    if not isinstance(details, dict):
        details = {}
    return AgentRun(
        "claude", argv, code, out, err, str(details.get("result") or ""), details, timed_out
    )


def run_codex(
    base_url: str,
    api_key: str,
    model: str,
    prompt: str,
    workdir: Path,
    home: Path,
    *,
    timeout: float = 180,
    **kwargs: Any,
) -> AgentRun:
    argv, env = codex_invocation(base_url, api_key, model, prompt, home, **kwargs)
    last = home / "codex-last-message.txt"
    last.unlink(missing_ok=True)
    code, out, err, timed_out = _run(argv, workdir, env, timeout)
    events = []
    for line in out.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    final = last.read_text() if last.exists() else ""
    return AgentRun("codex", argv, code, out, err, final.strip(), {"events": events}, timed_out)


def main() -> None:
    """Run one or both agents through the scripted two-turn session, against the fake (default)
    or against ``--base-url`` (e.g. a live Orca), and say whether each finished it."""
    import argparse
    import tempfile

    try:
        from tests.agents.scripted_upstream import DONE_MARKER, SEEN_MARKER, ScriptedUpstream
    except ImportError:  # run as a script: this folder is on sys.path
        from scripted_upstream import DONE_MARKER, SEEN_MARKER, ScriptedUpstream

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("agent", choices=("claude", "codex", "both"))
    parser.add_argument("--base-url", help="model server root; default: a ScriptedUpstream")
    parser.add_argument("--api-key", default="sk-orca-agent-test")
    parser.add_argument("--model", default="fake-agent-model")
    parser.add_argument("--prompt", default="Run the shell command: echo orca-agent-ok")
    args = parser.parse_args()
    fake = None
    if args.base_url is None:
        fake = ScriptedUpstream(proxy_port=0).start()
    base = args.base_url or fake.base_url
    proxy = f"http://127.0.0.1:{fake.proxy_port}" if fake else None
    ok = True
    try:
        for name in ("claude", "codex") if args.agent == "both" else (args.agent,):
            with tempfile.TemporaryDirectory(prefix=f"orca-{name}-") as tmp:
                work, home = Path(tmp, "work"), Path(tmp, "home")
                work.mkdir()
                runner = run_claude if name == "claude" else run_codex
                result = runner(
                    base, args.api_key, args.model, args.prompt, work, home, proxy=proxy
                )
                done = DONE_MARKER in result.final_text and SEEN_MARKER in result.final_text
                ok &= done and result.returncode == 0
                print(
                    f"{name}: rc={result.returncode} final={result.final_text!r} "
                    f"{'COMPLETED' if done else 'NOT COMPLETED'}"
                )
                if not done:
                    print(result.stderr[-3000:])
        if fake:
            print(
                f"model requests: {len(fake.model_requests())}; "
                f"outside attempts: {fake.proxy_attempts or 'none'}"
            )
            ok &= not fake.proxy_attempts
    finally:
        if fake:
            fake.stop()
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
