"""A gateway that dies mid-stream leaves its call billed: the hold says who called which
model, the call's progress (at most once a second) says what it delivered, and the beat
task that releases lost holds records the call and charges it that much, once."""

import asyncio
import time

import pytest

from billing.limits import Limits, RedisLimiter
from billing.local_limits import LocalLimiter
from billing.models import LedgerEntry, UsageRecord
from billing.selectors import balance_pico
from billing.tasks import WORKER_LOST
from billing.tasks import release_lost_holds as task
from workspaces import services

pytestmark = pytest.mark.django_db(transaction=True)
GRANT = 10**12


async def _not_needed() -> int:
    raise AssertionError("the balance is in Redis already")


@pytest.fixture
def tenant(redis_db):
    workspace, _ = services.get_or_create_workspace("lost", "Lost")
    key, _raw = services.create_api_key(workspace, name="lost")
    LedgerEntry.objects.create(workspace=workspace, kind=LedgerEntry.Kind.GRANT, amount_pico=GRANT)
    redis_db.set(f"orca:bal:{workspace.id}", GRANT)
    return workspace.id, key.id


def _die_mid_stream(url: str, ws: int, key_id: int, reports: list[tuple[int, int, int]]):
    """Admit a streamed call, report its progress, and never settle it."""

    async def go():
        limiter = RedisLimiter(url)
        try:
            ticket = await limiter.admit(
                ws, key_id, 900_000, 300, Limits(), _not_needed, hold_id="req_lost",
                model="fake/chat|v2", endpoint="chat",
            )  # fmt: skip
            for report in reports:
                ticket.next_progress = 0.0  # a second has passed
                limiter.progress(ticket, *report)
            limiter._client.flush()
            await asyncio.sleep(0.1)  # the progress is fire and forget: let it land
        finally:
            await limiter._client.close()  # killed: no settlement, no flush of anything

    asyncio.run(go())


def test_a_lost_stream_is_recorded_and_charged_at_its_progress_once(
    redis_url, redis_db, tenant, settings
):
    ws, key_id = tenant
    _die_mid_stream(redis_url, ws, key_id, [(10_000, 50, 4), (25_000, 50, 11)])
    assert int(redis_db.get(f"orca:bal:{ws}")) == GRANT - 900_000  # still held
    settings.REDIS_URL = redis_url
    hold = settings.ORCA_RESERVATION_HOLD_SECONDS
    assert task(now=time.time() + hold + 60) == 0  # lost, but its record may be coming
    assert not UsageRecord.objects.filter(request_id="req_lost").exists()
    later = time.time() + 2 * hold + 60
    assert task(now=later) == 1
    lost = UsageRecord.objects.get(request_id="req_lost")
    assert (lost.cost_pico, lost.prompt_tokens, lost.completion_tokens) == (25_000, 50, 11)
    assert (lost.status_code, lost.error_code, lost.usage_reported) == (200, WORKER_LOST, False)
    assert (lost.api_key_id, lost.model, lost.endpoint) == (key_id, "fake/chat|v2", "chat")
    spend = LedgerEntry.objects.get(request_id="req_lost")
    assert spend.amount_pico == -25_000
    assert int(redis_db.get(f"orca:bal:{ws}")) == balance_pico(ws) == GRANT - 25_000
    assert int(redis_db.get(f"orca:spend:k:{key_id}:total")) == 25_000
    assert redis_db.zcard(f"orca:holds:{ws}") == 0
    assert not redis_db.exists("orca:hold:req_lost")
    assert task(now=later) == 0  # a second run changes nothing
    assert UsageRecord.objects.filter(request_id="req_lost").count() == 1
    assert int(redis_db.get(f"orca:bal:{ws}")) == balance_pico(ws) == GRANT - 25_000


def test_a_lost_call_with_no_progress_is_released_at_nothing(redis_url, redis_db, tenant, settings):
    ws, key_id = tenant
    _die_mid_stream(redis_url, ws, key_id, [])
    settings.REDIS_URL = redis_url
    assert task(now=time.time() + 3 * settings.ORCA_RESERVATION_HOLD_SECONDS) == 1
    assert not UsageRecord.objects.filter(request_id="req_lost").exists()
    assert int(redis_db.get(f"orca:bal:{ws}")) == balance_pico(ws) == GRANT


def test_progress_is_throttled_and_a_settled_call_leaves_none_behind(redis_url, redis_db, tenant):
    ws, key_id = tenant

    async def go():
        limiter = RedisLimiter(redis_url)
        try:
            ticket = await limiter.admit(ws, key_id, 5_000, 10, Limits(), _not_needed, "req_p")
            limiter.progress(ticket, 100, 1, 1)  # within its first second: not worth a write
            ticket.next_progress = 0.0
            limiter.progress(ticket, 200, 2, 2)
            limiter.progress(ticket, 300, 3, 3)  # the same second again: dropped
            limiter._client.flush()
            await asyncio.sleep(0.1)
            reported = redis_db.hgetall("orca:hold:req_p")
            limiter.settle(ticket, 4_000, 10)
            return reported
        finally:
            await limiter.close()

    reported = asyncio.run(go())
    assert (reported[b"c"], reported[b"p"], reported[b"o"]) == (b"200", b"2", b"2")
    assert not redis_db.exists("orca:hold:req_p")
    assert int(redis_db.get(f"orca:bal:{ws}")) == GRANT - 4_000


def test_the_embedded_limiter_takes_progress_and_does_nothing_with_it():
    async def go():
        limiter = LocalLimiter()

        async def load() -> int:
            return 10_000

        ticket = await limiter.admit(1, 2, 100, 1, Limits(), load, model="m", endpoint="chat")
        limiter.progress(ticket, 50, 1, 1)
        limiter.settle(ticket, 60, 1)
        return limiter._counters["orca:bal:1"]

    assert asyncio.run(go()) == 10_000 - 60
