"""The Redis admission path: a call that gives up while its reservation is being made
leaves no money held."""

import asyncio

import pytest

from billing.limits import Limits, RedisLimiter

BALANCE = "orca:bal:77"


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
