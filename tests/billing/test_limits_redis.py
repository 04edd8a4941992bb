"""The Redis admission path: reservations are held until they settle, a call that gives up
while its reservation is being made leaves no money held, and settlements that never
arrive are released at the recorded cost once no call can still be running."""

import asyncio
import time

import pytest

from billing.limits import Limits, RedisLimiter, Ticket, _windows, release_lost_holds

BALANCE = "orca:bal:77"
HOLDS = "orca:holds:77"


async def _never_loaded() -> int:
    raise AssertionError("the balance is already in Redis")


def test_a_caller_cancelled_during_admission_gets_its_reservation_back(redis_url, redis_db):
    redis_db.set(BALANCE, 1_000_000)

    async def go():
        limiter = RedisLimiter(redis_url)
        try:
            # Connected, so the next admission is written at the end of this loop turn.
            ticket = await limiter.admit(77, 5, 100, 10, Limits(), _never_loaded)
            limiter.settle(ticket, 40, 8)
            admitting = asyncio.create_task(
                limiter.admit(77, 5, 250_000, 10, Limits(), _never_loaded)
            )
            await asyncio.sleep(0)  # the script is queued; its reply is not in yet
            admitting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await admitting
            for _ in range(100):  # the orphaned reply arrives, then the give-back lands
                await asyncio.sleep(0.02)
                if int(redis_db.get(BALANCE)) == 1_000_000 - 40:
                    break
        finally:
            await limiter.close()

    asyncio.run(go())
    assert int(redis_db.get(BALANCE)) == 1_000_000 - 40  # only the settled call's real cost


def test_refusals_name_the_limit_and_hold_nothing(redis_url, redis_db):
    redis_db.set(BALANCE, 500)

    async def go():
        limiter = RedisLimiter(redis_url)
        try:
            with pytest.raises(Exception) as refused:
                await limiter.admit(77, 5, 600, 10, Limits(), _never_loaded)
            return refused.value
        finally:
            await limiter.close()

    refusal = asyncio.run(go())
    assert refusal.status == 402 and refusal.code == "insufficient_quota"
    assert int(redis_db.get(BALANCE)) == 500


def _spent(redis_db, key_id: int) -> int:
    return int(redis_db.get(f"orca:spend:k:{key_id}:total") or 0)


def _admit_and_lose(redis_url, estimate: int, hold_id: str, *, hold_seconds: int) -> None:
    """Admit a call whose settlement never reaches Redis (the gateway died, say)."""

    async def go():
        limiter = RedisLimiter(redis_url)
        limiter._hold_seconds = hold_seconds
        try:
            await limiter.admit(77, 5, estimate, 10, Limits(), _never_loaded, hold_id=hold_id)
        finally:
            await limiter._client.close()  # no settlement, no flush

    asyncio.run(go())


def test_a_settled_call_leaves_no_hold(redis_url, redis_db):
    redis_db.set(BALANCE, 1_000_000)

    async def go():
        limiter = RedisLimiter(redis_url)
        try:
            ticket = await limiter.admit(77, 5, 3_000, 10, Limits(), _never_loaded, hold_id="r1")
            assert redis_db.zcard(HOLDS) == 1
            limiter.settle(ticket, 1_200, 7)
        finally:
            await limiter.close()

    asyncio.run(go())
    assert redis_db.zcard(HOLDS) == 0
    assert int(redis_db.get(BALANCE)) == 1_000_000 - 1_200
    assert _spent(redis_db, 5) == 1_200


def test_lost_settlements_are_released_at_the_recorded_cost_once(redis_url, redis_db):
    redis_db.set(BALANCE, 1_000_000)
    _admit_and_lose(redis_url, 50_000, "req_served", hold_seconds=60)
    _admit_and_lose(redis_url, 30_000, "req_never_recorded", hold_seconds=60)
    _admit_and_lose(redis_url, 20_000, "req_still_running", hold_seconds=3_600)
    assert int(redis_db.get(BALANCE)) == 1_000_000 - 100_000
    costs = {"req_served": 12_345}
    asked = []

    def costs_of(ids):
        asked.extend(ids)
        return {i: costs[i] for i in ids if i in costs}

    served = next(m for m in redis_db.zrange(HOLDS, 0, -1) if m.startswith(b"req_served|"))
    later = time.time() + 120
    # A hold without a usage record waits out the grace: its record may be on its way.
    assert release_lost_holds(redis_db, costs_of, now=later, unrecorded_grace=3_600) == 1
    assert int(redis_db.get(BALANCE)) == 1_000_000 - 12_345 - 30_000 - 20_000
    assert release_lost_holds(redis_db, costs_of, now=later) == 1
    assert sorted(set(asked)) == ["req_never_recorded", "req_served"]
    # The served call is charged what its record says; the unrecorded one nothing; the
    # running one keeps its reservation.
    assert int(redis_db.get(BALANCE)) == 1_000_000 - 12_345 - 20_000
    assert _spent(redis_db, 5) == 12_345 + 20_000
    assert [m.split(b"|")[0] for m in redis_db.zrange(HOLDS, 0, -1)] == [b"req_still_running"]
    # A second pass, or the settlement turning up after all, changes nothing.
    assert release_lost_holds(redis_db, costs_of, now=later) == 0
    admitted_at = int(served.split(b"|")[2])

    async def settle_late():
        limiter = RedisLimiter(redis_url)
        try:
            keys = _windows(77, 5, admitted_at)
            limiter.settle(Ticket(77, 5, 50_000, 10, keys, served.decode()), 12_345, 9)
        finally:
            await limiter.close()

    asyncio.run(settle_late())
    late = redis_db.zrange(HOLDS, 0, -1)
    assert int(redis_db.get(BALANCE)) == 1_000_000 - 12_345 - 20_000
    assert late and release_lost_holds(redis_db, costs_of, now=later + 7_200) == 1
    assert int(redis_db.get(BALANCE)) == 1_000_000 - 12_345


@pytest.mark.django_db(transaction=True)
def test_the_beat_task_settles_from_usage_records(redis_url, redis_db, settings):
    from datetime import UTC, datetime

    from billing.models import UsageRecord
    from billing.tasks import release_lost_holds as task
    from workspaces import services

    workspace, _ = services.get_or_create_workspace("holds", "Holds")
    balance = f"orca:bal:{workspace.id}"
    redis_db.set(balance, 500_000)
    UsageRecord.objects.create(
        request_id="req_task", workspace=workspace, endpoint="chat", model="m",
        upstream_model="m", status_code=200, cost_pico=4_000, latency_ms=1,
        created_at=datetime.now(UTC),
    )  # fmt: skip

    async def go():
        limiter = RedisLimiter(redis_url)
        limiter._hold_seconds = -1  # presumed lost at once
        try:
            await limiter.admit(workspace.id, 9, 90_000, 5, Limits(), _never_loaded, "req_task")
        finally:
            await limiter._client.close()

    asyncio.run(go())
    settings.REDIS_URL = redis_url
    assert task() == 1
    assert int(redis_db.get(balance)) == 500_000 - 4_000
    assert redis_db.zcard(f"orca:holds:{workspace.id}") == 0
