"""The engine's public value types: findings, screening results, errors."""

from dataclasses import dataclass

STAGES = ("input", "output")


@dataclass(frozen=True, slots=True)
class Match:
    """One finding. `detail` is short and never contains the matched text; `raw` is that text
    (the caller stores it only when the guardrail logs raw matches)."""

    rule_index: int
    rule_type: str
    action: str  # block | mask | flag
    stage: str  # input | output
    entity: str  # the pii entity as the rule names it, "" for other types
    detail: str  # e.g. "pii: email", "matched 2 keyword(s)", "pattern 1", "over 50000 chars"
    raw: str
    text_index: int
    start: int
    end: int


@dataclass(slots=True)
class Screening:
    blocked: Match | None  # the first blocking match in text order; any block wins
    matches: list[Match]  # every finding (flags, masks, blocks) in text order
    texts: list[str]  # after masking; the caller's list itself when nothing changed
    changed: bool


@dataclass(frozen=True, slots=True)
class ModerationRule:
    """A moderation rule for the caller to run (it needs an upstream call)."""

    rule_index: int
    stage: str  # input | output | both
    action: str  # block | flag
    model: str
    categories: tuple[str, ...]
    threshold: float | None

    def applies(self, stage: str) -> bool:
        return self.stage in (stage, "both")


class RuleError(ValueError):
    """An invalid policy; `field` points at it, e.g. `rules[2].pattern`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class Blocked(Exception):
    """A blocking match in a stream; the caller stops relaying it."""

    def __init__(self, match: Match) -> None:
        super().__init__(f"blocked: {match.rule_type}({match.detail})")
        self.match = match
