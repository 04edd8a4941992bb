"""Writes for usage records."""

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from workspaces.services import mark_keys_used

from .models import UsageRecord


@dataclass(frozen=True, slots=True)
class UsageEvent:
    request_id: str
    workspace_id: int
    api_key_id: int | None
    endpoint: str
    model: str
    upstream_model: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    usage_reported: bool
    status_code: int
    error_code: str
    streamed: bool
    latency_ms: int
    ttft_ms: int | None
    created_at: datetime


def write_usage_batch(events: Sequence[UsageEvent]) -> None:
    """Insert a batch; a request id already stored (a retried flush) is skipped, not doubled."""
    UsageRecord.objects.bulk_create(
        [UsageRecord(**asdict(event)) for event in events], ignore_conflicts=True
    )
    last_used: dict[int, datetime] = {}
    for event in events:
        if event.api_key_id is not None:
            previous = last_used.get(event.api_key_id)
            if previous is None or event.created_at > previous:
                last_used[event.api_key_id] = event.created_at
    mark_keys_used(last_used)
