"""The matches feed, written in batches off the request path.

A call appends its matches to this process's buffer (a list append); a background task
writes them every second, and interpreter exit writes what is left. Matches are an audit
trail, not billing facts: a batch the database refuses is logged and dropped, one it cannot
reach is kept for the next try, up to a memory cap.
"""

import asyncio
import atexit
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from django.db import InterfaceError, OperationalError, close_old_connections

log = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0
_MAX_PENDING = 50_000


@dataclass(frozen=True, slots=True)
class MatchRow:
    workspace_id: int
    guardrail_id: int
    guardrail_name: str
    version: int
    api_key_id: int | None
    request_id: str
    endpoint: str
    stage: str
    action: str
    rule_index: int
    rule_type: str
    entity: str
    detail: str
    raw_text: str
    created_at: datetime


class MatchFeed:
    def __init__(self) -> None:
        self._pending: list[MatchRow] = []
        self._task: asyncio.Task | None = None

    def add(self, rows: list[MatchRow]) -> None:
        if len(self._pending) + len(rows) > _MAX_PENDING:
            log.error("guardrail match feed full; dropping %d matches", len(rows))
            return
        self._pending.extend(rows)
        if self._task is None or self._task.done():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # a synchronous caller (the sandbox, a test): write now
                self.flush_sync()
                return
            self._task = loop.create_task(self._run(), name="guardrail-match-feed")

    async def _run(self) -> None:
        while self._pending:
            await asyncio.sleep(FLUSH_SECONDS)
            await self.flush()

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        loop = asyncio.get_running_loop()
        if not await asyncio.shield(loop.run_in_executor(_writer, _write, batch)):
            self._pending[:0] = batch[: _MAX_PENDING - len(self._pending)]

    def flush_sync(self) -> None:
        if self._pending:
            batch, self._pending = self._pending, []
            _write(batch)

    @property
    def pending(self) -> int:
        return len(self._pending)


_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="orca-guardrail-feed")


def _write(batch: list[MatchRow]) -> bool:
    """True once the batch is written (or refused for good); False to keep it for later."""
    from .models import GuardrailMatch

    close_old_connections()
    try:
        GuardrailMatch.objects.bulk_create(
            [GuardrailMatch(**_fields(row)) for row in batch], batch_size=500
        )
    except (OperationalError, InterfaceError):
        log.warning("guardrail matches kept for the next try: the database is unreachable")
        return False
    except Exception:
        log.exception("guardrail matches refused by the database; %d dropped", len(batch))
    return True


def _fields(row: MatchRow) -> dict:
    return {name: getattr(row, name) for name in MatchRow.__slots__}


feed = MatchFeed()


def _flush_at_exit() -> None:
    try:
        feed.flush_sync()
    except Exception:
        log.exception("guardrail match flush at exit failed")


atexit.register(_flush_at_exit)
