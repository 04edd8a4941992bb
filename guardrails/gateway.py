"""Guardrails on the relay's hooks: the input screen before planning, and an answer watcher
that screens output, streams included.

Resolution is from memory: a workspace's enabled guardrails are loaded once (one query, one
thread hop) and kept until the config version moves, which every write to a guardrail, a
version or a key's binding does; so an edit is seen by the next call on every process
within one poll interval. A workspace without guardrails costs a dict lookup per call.
"""

import asyncio
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from routing.proxy.errors import GatewayError
from routing.proxy.pipeline import hooks
from routing.proxy.pipeline.record import GUARDRAIL_BLOCKED
from routing.proxy.pipeline.refusals import record_refusal
from routing.proxy.pipeline.state import run_db, state
from workspaces.selectors import KeyContext

from . import texts
from .engine import Blocked, Match, StreamScreen
from .feed import MatchRow, feed
from .selectors import ActiveGuardrail, WorkspaceGuardrails, workspace_guardrails

if TYPE_CHECKING:
    from routing.proxy.pipeline.call import Call

_RANK = {"": 0, "flag": 1, "mask": 2, "block": 3}
_cache: dict[int, tuple[WorkspaceGuardrails, float]] = {}
_cache_generation = -1
_MAX_CACHED = 50_000


async def resolve(key: KeyContext) -> ActiveGuardrail | None:
    """The guardrail that screens this key's calls, if any."""
    global _cache_generation
    generation = state.generation
    if generation != _cache_generation:
        _cache.clear()
        _cache_generation = generation
    entry = _cache.get(key.workspace_id)
    bound = key.guardrail_id
    if (
        entry is None
        or not state.fresh(entry[1])
        # bound to a guardrail made since the load (before this process saw the change
        # signal): read again rather than take it for a disabled one
        or (bound is not None and bound not in entry[0].known)
    ):
        loaded_at = time.monotonic()
        found = await run_db(workspace_guardrails, key.workspace_id)
        if state.generation == generation:
            if len(_cache) >= _MAX_CACHED:
                _cache.clear()
            _cache[key.workspace_id] = (found, loaded_at)
        entry = (found, loaded_at)
    return entry[0].for_key(bound)


def refusal(active: ActiveGuardrail, match: Match, what: str = "request") -> GatewayError:
    return GatewayError(
        400,
        f'{what} blocked by guardrail "{active.name}": {match.rule_type}({match.detail})',
        code=GUARDRAIL_BLOCKED,
    )


class CallGuard:
    """One call's screening: the guardrail, what it did, and its matches for the feed."""

    __slots__ = ("active", "call", "recorded")

    def __init__(self, call: "Call", active: ActiveGuardrail) -> None:
        self.call = call
        self.active = active
        self.recorded = 0  # matches already handed to the feed

    def note(self, matches: list[Match], stage_action: str = "") -> None:
        """Record matches: the strongest action goes to the usage record, each match to the
        feed (its text only under log_raw)."""
        call = self.call
        strongest = call.guardrail_action
        for match in matches:
            if _RANK[match.action] > _RANK[strongest]:
                strongest = match.action
        if stage_action and _RANK[stage_action] > _RANK[strongest]:
            strongest = stage_action
        call.guardrail_action = strongest
        if not matches:
            return
        active, key = self.active, call.key
        now = datetime.now(UTC)
        feed.add(
            [
                MatchRow(
                    workspace_id=key.workspace_id,
                    guardrail_id=active.id,
                    guardrail_name=active.name,
                    version=active.version,
                    api_key_id=key.key_id,
                    request_id=call.request_id,
                    endpoint=call.endpoint[:64],
                    stage=match.stage,
                    action=match.action,
                    rule_index=match.rule_index,
                    rule_type=match.rule_type,
                    entity=match.entity,
                    detail=match.detail[:200],
                    raw_text=match.raw if active.log_raw else "",
                    created_at=now,
                )
                for match in matches
            ]
        )


async def screen_input(call: "Call") -> None:
    """before_plan: resolve the call's guardrail, block or mask its input text in place (the
    client's body, so a pass-through call sends the masked text too, and the canonical form
    derived from it)."""
    active = await resolve(call.key)
    if active is None:
        return
    guard = call.guard = CallGuard(call, active)
    call.guardrail = active.label
    header = active.header
    call.headers = (*call.headers, header)
    call.consumer.extra_headers = [*call.consumer.extra_headers, header]
    policy = active.policy
    if policy is None:
        raise GatewayError(
            503,
            f'guardrail "{active.name}" cannot be applied; its rules need to be saved again',
            code="guardrail_unavailable",
        )
    if not policy.has_input:
        return
    if call.surface.operation.name == "embeddings" and _token_inputs(call.body):
        raise GatewayError(
            400,
            f'guardrail "{active.name}" screens text: send `input` as text, not token ids',
            code="invalid_value",
            param="input",
        )
    if policy.has_output and (call.body.get("logprobs") or call.body.get("top_logprobs")):
        raise GatewayError(  # the tokens would carry what the output stage masks
            400,
            f'guardrail "{active.name}" screens output: `logprobs` cannot be returned with it',
            code="invalid_value",
            param="logprobs",
        )
    slots = texts.request_slots(call.surface.name, call.body)
    if not slots:
        return
    found = [container[key] for container, key in slots]
    if sum(map(len, found)) > LARGE_INPUT:  # screened where the loop keeps serving
        screening = await asyncio.to_thread(policy.screen, found, "input")
    else:
        screening = policy.screen(found, "input")
    if screening.blocked is not None:
        guard.note(screening.matches, "block")
        error = refusal(active, screening.blocked)
        record_refusal(
            call.key, call.request_id, call.endpoint, error, model=call.client.model,
            streamed=call.client.stream, guardrail=call.guardrail, guardrail_action="block",
        )  # fmt: skip
        raise error
    guard.note(screening.matches)
    if screening.changed:
        texts.write_back(slots, screening.texts)
        _retranslate(call)


LARGE_INPUT = 64 * 1024  # characters; above this the input screen runs in a worker thread


def _token_inputs(body: dict) -> bool:
    value = body.get("input")
    return isinstance(value, list) and any(not isinstance(item, str) for item in value)


def _retranslate(call: "Call") -> None:
    """The canonical form again, from the masked body (a pass-through call sends the body;
    a translated one the canonical form: both carry the masked text)."""
    from routing.wire.canonical import EXTENSION_FIELDS, InvalidRequest

    before = call.canonical
    try:
        canonical = call.surface.to_canonical(call.body, call.client)
    except InvalidRequest:  # only a native upstream takes it: the body is what goes out
        canonical = call.surface.planning_form(call.body, call.client) or before
    for name in EXTENSION_FIELDS:  # the first translation took these out of the body
        if name in before and name not in canonical:
            canonical[name] = before[name]
    call.canonical = canonical


class OutputWatcher:
    """Screens a call's answer: the whole completion, or a stream's text as it passes, with
    a bounded tail held back per channel (each choice's content and each tool call's
    arguments) so that a match split across chunks is still found."""

    def __init__(self, guard: CallGuard) -> None:
        self.guard = guard
        policy = guard.active.policy
        assert policy is not None
        self.policy = policy
        self.screens: dict[tuple[int, int], StreamScreen] = {}  # (choice, tool call or -1)
        self.open_tool: dict[int, int] = {}  # choice -> the tool call being streamed
        self.blocked = False

    # --- non-stream --------------------------------------------------------------------

    def completion(self, call: "Call", answer: dict) -> None:
        slots = texts.completion_slots(answer)
        if not slots:
            return
        screening = self.policy.screen([c[k] for c, k in slots], "output")
        if screening.blocked is not None:
            self.blocked = True
            self.guard.note(screening.matches, "block")
            raise refusal(self.guard.active, screening.blocked, "response")
        self.guard.note(screening.matches)
        if screening.changed:
            texts.write_back(slots, screening.texts)

    # --- stream ------------------------------------------------------------------------

    def _screen(self, choice: int, channel: int) -> StreamScreen:
        screen = self.screens.get((choice, channel))
        if screen is None:
            screen = self.screens[(choice, channel)] = self.policy.stream("output")
        return screen

    def _release(self, choice: int, channel: int) -> str:
        screen = self.screens.pop((choice, channel), None)
        if screen is None:
            return ""
        try:
            rest = screen.flush()
        finally:
            self.guard.note(screen.matches)
        return rest

    def chunk(self, call: "Call", chunk: dict) -> dict | None:
        choices = chunk.get("choices")
        if not choices:
            return chunk  # the usage chunk
        try:
            for choice in choices:
                self._choice(choice)
        except Blocked as exc:
            self.blocked = True
            self.guard.note([exc.match], "block")
            raise refusal(self.guard.active, exc.match, "response") from None
        return chunk

    def _choice(self, choice: dict) -> None:
        index = choice.get("index", 0)
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            delta = choice["delta"] = {}
        content = delta.get("content")
        calls = delta.get("tool_calls")
        if isinstance(content, str) and content:
            delta["content"] = self._screen(index, -1).feed(content)
        if calls:
            # Text before a tool call is complete once the call starts (encoders close it):
            # what was held goes out after what this delta released, before the call.
            rest = self._release(index, -1)
            if rest:
                delta["content"] = (delta.get("content") or "") + rest
            delta["tool_calls"] = self._tool_calls(index, calls)
        if choice.get("finish_reason"):
            rest = self._release(index, -1)
            if rest:
                delta["content"] = (delta.get("content") or "") + rest
            open_tool = self.open_tool.pop(index, None)
            if open_tool is not None:
                rest = self._release(index, open_tool)
                if rest:
                    _add_arguments(delta.setdefault("tool_calls", []), open_tool, rest)

    def _tool_calls(self, choice: int, calls: list) -> list:
        """The delta's tool calls, screened, with the held tail of a call that just ended
        (the next one started) put in just before the next one."""
        out: list = []
        for tool_call in calls:
            if not isinstance(tool_call, dict):
                out.append(tool_call)
                continue
            position = tool_call.get("index", 0)
            previous = self.open_tool.get(choice)
            if previous is not None and previous != position:
                rest = self._release(choice, previous)  # the earlier call is complete
                if rest:
                    _add_arguments(out, previous, rest)
            self.open_tool[choice] = position
            function = tool_call.get("function")
            if isinstance(function, dict):
                arguments = function.get("arguments")
                if isinstance(arguments, str) and arguments:
                    function["arguments"] = self._screen(choice, position).feed(arguments)
            out.append(tool_call)
        return out

    def finish(self, call: "Call") -> None:
        for screen in self.screens.values():  # a stream that ended without finishing
            self.guard.note(screen.matches)
        self.screens.clear()


def _add_arguments(calls: list, position: int, text: str) -> None:
    """Released argument text of tool call `position`: onto that call's delta if `calls`
    has one, else as a delta of its own at the end."""
    for tool_call in calls:
        if isinstance(tool_call, dict) and tool_call.get("index", 0) == position:
            function = tool_call.setdefault("function", {})
            function["arguments"] = (function.get("arguments") or "") + text
            return
    calls.append({"index": position, "function": {"arguments": text}})


def watch_output(call: "Call") -> OutputWatcher | None:
    guard = call.guard
    if guard is None or call.operation.name != "chat":
        return None
    policy = guard.active.policy
    if policy is None or not policy.has_output:
        return None
    return OutputWatcher(guard)


async def start_judges(call: "Call") -> None:
    """before_upstream: the call's moderation rules start judging its (masked) input, beside
    the upstream call (call.gate)."""
    guard = call.guard
    if guard is None or guard.active.policy is None:
        return
    if not any(rule.applies("input") for rule in guard.active.policy.moderation):
        return
    from .moderation import run_rules

    slots = texts.request_slots(call.surface.name, call.body)
    text = "\n".join(container[key] for container, key in slots)
    if text:
        call.gate = asyncio.ensure_future(run_rules(call, guard, text))


def install() -> None:
    """Put the guardrail hooks on the relay (once per process, from AppConfig.ready)."""
    if screen_input not in hooks.before_plan:
        hooks.before_plan.append(screen_input)
        hooks.before_upstream.append(start_judges)
        hooks.answer_watchers.append(watch_output)
