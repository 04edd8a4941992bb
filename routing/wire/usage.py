"""Canonical token usage, shared by every wire format."""

from dataclasses import dataclass


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int = 0
    reported: bool = False  # False: the upstream sent no usage, counts are estimates
    units: dict[str, int] | None = None  # counted units priced apart, e.g. {"image": 2}
