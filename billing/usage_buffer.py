"""Usage events collected in memory and written in batches, off the request path.

The gateway only appends; a background task flushes every ORCA_USAGE_FLUSH_SECONDS (or
sooner when a batch fills), and shutdown flushes whatever is left. Once a batch is written,
its calls are struck from Redis' settled hashes (billing.holds): until then, a call settled
in Redis stays there, so a process that dies holding its record still has it recorded.
Records this buffer drops (the memory cap, a batch failing MAX_ATTEMPTS times) are left
there too, and recorded by the beat task later.
"""

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from django.conf import settings
from django.db import close_old_connections, connection

from .limits import note_recorded
from .services import UNREACHABLE, UsageEvent, write_usage_batch

log = logging.getLogger(__name__)

_MAX_PENDING = 200_000
MAX_ATTEMPTS = 3  # for a flush failing for another reason than an unreachable database


class UsageBuffer:
    def __init__(self) -> None:
        self._pending: list[UsageEvent] = []
        self._writing: list[UsageEvent] = []  # the batch out to the writer, still findable
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        self._failures = 0  # consecutive flushes that failed for another reason than reach

    def add(self, event: UsageEvent) -> None:
        if len(self._pending) >= _MAX_PENDING:
            # The database has been unwritable for a long while; keep memory bounded.
            log.error("usage buffer full; dropping the oldest %d records", _MAX_PENDING // 10)
            del self._pending[: _MAX_PENDING // 10]
        self._pending.append(event)
        if self._task is None:
            self._start()
        elif len(self._pending) >= settings.ORCA_USAGE_BATCH_SIZE and self._wakeup:
            self._wakeup.set()

    def _start(self) -> None:
        self._wakeup = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="usage-flusher")

    async def _run(self) -> None:
        assert self._wakeup is not None
        while True:
            try:
                async with asyncio.timeout(settings.ORCA_USAGE_FLUSH_SECONDS):
                    await self._wakeup.wait()
            except TimeoutError:
                pass
            self._wakeup.clear()
            await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            if not self._pending:
                return
            batch, self._pending = self._pending, []
            self._writing = batch  # until it commits: /v1/generation must not miss it
            try:
                loop = asyncio.get_running_loop()
                await asyncio.shield(loop.run_in_executor(_writer, _write, batch))
            except asyncio.CancelledError:
                self._pending[:0] = batch  # shutdown: close() writes them
                raise
            except UNREACHABLE:
                # The writer isolates refused rows itself; this is the database being out
                # of reach, so keep the batch (written idempotently) for the next try.
                log.exception("usage flush failed; %d records kept for the next try", len(batch))
                self._pending[:0] = batch
                self._failures = 0
            except Exception:
                self._failed(batch)
            else:
                self._failures = 0
            finally:
                self._writing = []

    def _failed(self, batch: list[UsageEvent]) -> None:
        """A failure that is neither a refused row nor a lost database (a bug, a missing
        table): retried a few times, then given up rather than retried forever ahead of
        every later record."""
        self._failures += 1
        if self._failures < MAX_ATTEMPTS:
            log.exception(
                "usage flush failed (attempt %d of %d); %d records kept for the next try",
                self._failures, MAX_ATTEMPTS, len(batch),
            )  # fmt: skip
            self._pending[:0] = batch
            return
        self._failures = 0
        ids = ", ".join(e.request_id for e in batch[:20])
        log.exception(
            "usage flush failed %d times; %d records dropped (first: %s)",
            MAX_ATTEMPTS, len(batch), ids,
        )  # fmt: skip

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    def flush_sync(self) -> None:
        """Last-chance flush from a non-async context (interpreter exit)."""
        if self._pending:
            batch, self._pending = self._pending, []
            _write(batch)

    def find(self, workspace_id: int, request_id: str) -> UsageEvent | None:
        """A call whose record is not in the database yet: waiting, or being written."""
        for events in (self._pending, self._writing):
            for event in reversed(events):
                if event.request_id == request_id and event.workspace_id == workspace_id:
                    return event
        return None

    def unwritten(self) -> list[UsageEvent]:
        """A copy of the records not in the database yet (waiting, or being written)."""
        return [*self._writing, *self._pending]

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def unwritten_count(self) -> int:
        """Records waiting, plus those of the batch being written."""
        return len(self._pending) + len(self._writing)

    def lag_seconds(self) -> float:
        """How long the oldest record not yet written has waited (0 with none waiting): the
        writer's lag, for the metrics."""
        batch = self._writing or self._pending
        if not batch:
            return 0.0
        return max(0.0, (datetime.now(UTC) - batch[0].created_at).total_seconds())


# One long-lived writer thread, so its database connection (and the staging table that
# lives in the connection) is reused from flush to flush instead of reopened every time.
_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="orca-usage-writer")


def _write(batch: list[UsageEvent]) -> None:
    close_old_connections()  # past CONN_MAX_AGE or unusable: reconnect before writing
    try:
        write_usage_batch(batch)
    except Exception:
        connection.close()  # possibly broken: the next flush reconnects
        raise
    note_recorded([(event.workspace_id, event.request_id) for event in batch])
