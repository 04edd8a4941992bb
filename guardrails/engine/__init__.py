"""Orca's guardrail engine: pure Python, no Django, no I/O.

    policy = compile_policy(rules)          # RuleError(field, message) when invalid
    result = policy.screen(texts, "input")  # Screening(blocked, matches, texts, changed)
    screen = policy.stream("output")        # StreamScreen: feed(fragment) / flush()

Moderation rules are not run here (they need an upstream call): `policy.moderation` lists them
for the caller. Measurements and design: docs/guardrails.md.
"""

from collections.abc import Sequence
from typing import Any

from guardrails.engine.model import (
    STAGES,
    Blocked,
    Match,
    ModerationRule,
    RuleError,
    Screening,
)
from guardrails.engine.rules import compile_rules
from guardrails.engine.scan import StageScanner
from guardrails.engine.stream import StreamScreen

__all__ = [
    "Blocked",
    "Match",
    "ModerationRule",
    "Policy",
    "RuleError",
    "Screening",
    "StreamScreen",
    "compile_policy",
]


class Policy:
    """A compiled policy; immutable and shared (build it once per policy version)."""

    __slots__ = ("_stages", "has_input", "has_output", "max_holdback", "moderation")

    def __init__(
        self,
        input_stage: StageScanner | None,
        output_stage: StageScanner | None,
        moderation: tuple[ModerationRule, ...],
    ) -> None:
        self._stages = {"input": input_stage, "output": output_stage}
        self.moderation = moderation
        self.has_input = input_stage is not None or any(m.applies("input") for m in moderation)
        self.has_output = output_stage is not None or any(m.applies("output") for m in moderation)
        # Chars a stream may hold back: the longest match any output unit can produce, plus one.
        self.max_holdback = output_stage.max_holdback if output_stage else 0

    def screen(self, texts: Sequence[str], stage: str) -> Screening:
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {', '.join(STAGES)}")
        scanner = self._stages[stage]
        if scanner is None or not texts:
            return Screening(None, [], texts if isinstance(texts, list) else list(texts), False)
        return scanner.screen(texts)

    def stream(self, stage: str = "output") -> StreamScreen:
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {', '.join(STAGES)}")
        return StreamScreen(self._stages[stage], stage)


def compile_policy(rules: Any) -> Policy:
    """Validate and compile the rules as authored; raises RuleError naming the field."""
    input_stage, output_stage, moderation = compile_rules(rules)
    return Policy(input_stage, output_stage, moderation)
