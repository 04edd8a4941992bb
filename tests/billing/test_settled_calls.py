"""A call settled in Redis whose usage record never reached PostgreSQL (its gateway died
before the usage flush, or the buffer dropped the record) is still recorded, once, at the
cost Redis charged: the settlement keeps the call in the workspace's settled hash, the
gateway's limiter strikes it once its usage writer has written the record, and the beat
task records what is left past the grace."""

import asyncio
import threading
import time
from datetime import UTC, datetime

import pytest
from django.db import connection

from billing import usage_buffer
from billing.limits import Limits, RedisLimiter
from billing.local_limits import LocalLimiter
from billing.models import LedgerEntry, UsageRecord
from billing.selectors import balance_pico
from billing.services import UsageEvent, write_usage_batch
from billing.tasks import release_lost_holds as task
from routing.wire.usage import Usage
from workspaces import services

pytestmark = pytest.mark.django_db(transaction=True)
GRANT = 10**12
RESERVED, COST = 900_000, 250_000


async def _not_needed() -> int:
    raise AssertionError("the balance is in Redis already")


@pytest.fixture
def tenant(redis_db, redis_url, settings):
    settings.REDIS_URL = redis_url  # the writer thread and the beat task read it
    workspace, _ = services.get_or_create_workspace("settled", "Settled")
    key, _raw = services.create_api_key(workspace, name="settled")
    LedgerEntry.objects.create(workspace=workspace, kind=LedgerEntry.Kind.GRANT, amount_pico=GRANT)
    redis_db.set(f"orca:bal:{workspace.id}", GRANT)
    return workspace.id, key.id


@pytest.fixture
def buffer():
    buf = usage_buffer.UsageBuffer()
    yield buf
    usage_buffer._writer.submit(lambda: connection.close()).result()


def _serve(url: str, ws: int, key_id: int, request_id: str = "req_settled") -> UsageEvent:
    """Admit and settle one call in Redis, as the pipeline does, and return the usage event
    it would hand the buffer; nothing is flushed (the gateway may die right after)."""

    async def go() -> None:
        limiter = RedisLimiter(url)
        try:
            ticket = await limiter.admit(
                ws, key_id, RESERVED, 300, Limits(), _not_needed, hold_id=request_id,
                model="fake/chat|v2", endpoint="chat",
            )  # fmt: skip
            usage = Usage(prompt_tokens=40, completion_tokens=12, reported=True)
            limiter.settle(ticket, COST, 52, 200, usage)
        finally:
            await limiter.close()  # waits for the settlement to land

    asyncio.run(go())
    return _event(ws, key_id, request_id)


def _event(ws: int, key_id: int, request_id: str = "req_settled") -> UsageEvent:
    return UsageEvent(
        request_id=request_id, workspace_id=ws, api_key_id=key_id, endpoint="chat",
        model="fake/chat|v2", upstream_model="fake-chat", prompt_tokens=40,
        completion_tokens=12, cached_tokens=0, reasoning_tokens=0, usage_reported=True,
        status_code=200, error_code="", streamed=False, latency_ms=7, ttft_ms=None,
        created_at=datetime.now(UTC), cost_pico=COST,
    )  # fmt: skip


def _later(settings) -> float:
    return time.time() + settings.ORCA_RESERVATION_HOLD_SECONDS + 60


def _assert_billed_once(redis_db, ws: int, request_id: str = "req_settled") -> None:
    assert UsageRecord.objects.filter(request_id=request_id).count() == 1
    spends = LedgerEntry.objects.filter(request_id=request_id)
    assert [s.amount_pico for s in spends] == [-COST]
    assert int(redis_db.get(f"orca:bal:{ws}")) == balance_pico(ws) == GRANT - COST
    assert redis_db.zcard(f"orca:holds:{ws}") == 0


def test_a_call_settled_but_never_flushed_is_recorded_once_at_its_cost(
    redis_url, redis_db, tenant, settings
):
    ws, key_id = tenant
    _serve(redis_url, ws, key_id)  # the process dies before its usage flush
    assert int(redis_db.get(f"orca:bal:{ws}")) == GRANT - COST  # Redis charged it
    assert balance_pico(ws) == GRANT  # the ledger does not know yet
    assert redis_db.hlen(f"orca:settled:{ws}") == 1
    assert task(now=time.time() + 60) == 0  # within the grace: its record may be coming
    assert not UsageRecord.objects.filter(request_id="req_settled").exists()

    later = _later(settings)
    assert task(now=later) == 1
    record = UsageRecord.objects.get(request_id="req_settled")
    assert (record.cost_pico, record.prompt_tokens, record.completion_tokens) == (COST, 40, 12)
    assert (record.status_code, record.error_code) == (200, "worker_lost_after_settle")
    assert (record.api_key_id, record.model, record.endpoint) == (key_id, "fake/chat|v2", "chat")
    assert record.usage_reported
    _assert_billed_once(redis_db, ws)
    assert int(redis_db.get(f"orca:spend:k:{key_id}:total")) == COST  # not charged again
    assert not redis_db.exists(f"orca:settled:{ws}")
    assert task(now=later) == 0  # a second run changes nothing
    _assert_billed_once(redis_db, ws)


def test_the_writer_strikes_a_written_call_and_the_beat_task_leaves_it(
    redis_url, redis_db, tenant, settings, buffer
):
    """Once the writer has committed a batch, the gateway's limiter strikes its calls from
    the settled hashes (one lazy HDEL per workspace on its own connection)."""
    ws, key_id = tenant

    async def go() -> tuple[int, bool]:
        limiter = RedisLimiter(redis_url)
        try:
            ticket = await limiter.admit(
                ws, key_id, RESERVED, 300, Limits(), _not_needed, hold_id="req_settled"
            )
            limiter.settle(ticket, COST, 52, 200, Usage(40, 12, reported=True))
            await asyncio.wait(list(limiter._unsettled), timeout=5)
            kept = redis_db.hlen(f"orca:settled:{ws}")
            buffer._pending.append(_event(ws, key_id))
            await buffer.flush()  # commits, then wakes this loop's limiter
            deadline = time.monotonic() + 5
            while redis_db.exists(f"orca:settled:{ws}") and time.monotonic() < deadline:
                limiter._client.flush()
                await asyncio.sleep(0.01)
            return kept, bool(redis_db.exists(f"orca:settled:{ws}"))
        finally:
            await limiter.close()

    assert asyncio.run(go()) == (1, False)
    assert task(now=_later(settings)) == 0
    assert UsageRecord.objects.get(request_id="req_settled").error_code == ""  # the real one
    _assert_billed_once(redis_db, ws)


def test_a_settled_call_whose_record_is_in_is_only_struck(redis_url, redis_db, tenant, settings):
    """The writer struck it before the settlement reached Redis (or could not reach Redis):
    the beat task finds the record and only drops the entry."""
    ws, key_id = tenant
    write_usage_batch([_serve(redis_url, ws, key_id)])  # written, not struck
    assert redis_db.hlen(f"orca:settled:{ws}") == 1
    assert task(now=_later(settings)) == 0
    assert not redis_db.exists(f"orca:settled:{ws}")
    assert UsageRecord.objects.get(request_id="req_settled").error_code == ""
    _assert_billed_once(redis_db, ws)


def test_a_record_the_buffer_dropped_is_recorded_by_the_beat_task(
    redis_url, redis_db, tenant, settings, buffer, monkeypatch
):
    ws, key_id = tenant
    buffer._pending.append(_serve(redis_url, ws, key_id))

    def broken(events) -> None:
        raise RuntimeError("a bug in the writer")

    monkeypatch.setattr(usage_buffer, "write_usage_batch", broken)
    for _ in range(usage_buffer.MAX_ATTEMPTS):
        asyncio.run(buffer.flush())
    assert buffer.pending == 0  # given up on
    monkeypatch.undo()
    assert task(now=_later(settings)) == 1
    assert UsageRecord.objects.get(request_id="req_settled").error_code == (
        "worker_lost_after_settle"
    )
    _assert_billed_once(redis_db, ws)


def test_two_beat_tasks_at_once_record_a_settled_call_once(redis_url, redis_db, tenant, settings):
    ws, key_id = tenant
    _serve(redis_url, ws, key_id)
    later = _later(settings)
    start = threading.Barrier(2)
    errors: list[BaseException] = []
    counts: list[int] = []

    def run() -> None:
        try:
            start.wait(10)
            counts.append(task(now=later))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sum(counts) <= 1  # never counted twice (by the run whose removal took effect)
    _assert_billed_once(redis_db, ws)
    assert not redis_db.exists(f"orca:settled:{ws}")


def test_the_embedded_limiter_takes_the_settled_facts_and_keeps_nothing():
    async def go() -> int:
        limiter = LocalLimiter()

        async def load() -> int:
            return 10_000

        ticket = await limiter.admit(1, 2, 100, 1, Limits(), load)
        limiter.settle(ticket, 60, 3, 200, Usage(prompt_tokens=1, completion_tokens=2))
        return limiter._counters["orca:bal:1"]

    assert asyncio.run(go()) == 10_000 - 60
