"""Redis losing its data (a restart with no persistence, a failover to an empty replica)
loses no money and lifts no cap: the first admission of a workspace afterwards rebuilds its
balance and its keys' spends from PostgreSQL, and puts back the holds of the calls this
gateway still has running. Each test runs its own redis-server and restarts it."""

import asyncio
from datetime import UTC, datetime

import pytest
from django.db import connection

from billing.limits import Limits, RedisLimiter, Refused
from billing.models import LedgerEntry, UsageRecord
from billing.selectors import balance_pico, seed_state
from billing.services import UsageEvent, write_usage_batch
from workspaces import services

pytestmark = pytest.mark.django_db(transaction=True)
CAP = 100_000_000  # $0.0001
COST = CAP // 8
GRANT = 10**12  # $1


def in_thread(fn, *args):
    """ORM work off the event loop, on a connection closed afterwards."""

    def call():
        try:
            return fn(*args)
        finally:
            connection.close()

    return asyncio.to_thread(call)


def record(workspace_id: int, key_id: int, request_id: str, cost: int) -> None:
    """What the usage buffer writes for a finished call: its record and ledger spend."""
    write_usage_batch(
        [
            UsageEvent(
                request_id=request_id, workspace_id=workspace_id, api_key_id=key_id,
                endpoint="chat", model="fake/chat", upstream_model="fake-chat",
                prompt_tokens=10, completion_tokens=10, cached_tokens=0, reasoning_tokens=0,
                usage_reported=True, status_code=200, error_code="", streamed=True,
                latency_ms=3, ttft_ms=1, created_at=datetime.now(UTC), cost_pico=cost,
            )
        ]
    )  # fmt: skip


@pytest.fixture
def tenant():
    workspace, _ = services.get_or_create_workspace("rebuild", "Rebuild")
    key, _raw = services.create_api_key(workspace, name="capped")
    other, _raw = services.create_api_key(workspace, name="daily")
    LedgerEntry.objects.create(workspace=workspace, kind=LedgerEntry.Kind.GRANT, amount_pico=GRANT)
    return workspace.id, key.id, other.id


class Gateway:
    """One gateway process's limiter, loading state the way the pipeline does."""

    def __init__(self, url: str, workspace_id: int) -> None:
        self.limiter = RedisLimiter(url)
        self.workspace_id = workspace_id
        self.calls = 0

    async def admit(self, key_id: int, estimate: int, limits: Limits, request_id: str):
        ws = self.workspace_id
        return await self.limiter.admit(
            ws, key_id, estimate, 20, limits,
            lambda: in_thread(balance_pico, ws),
            hold_id=request_id,
            load_state=lambda finished: in_thread(seed_state, ws, finished),
        )  # fmt: skip

    async def call(self, key_id: int, limits: Limits, cost: int = COST) -> None:
        """A whole call: admitted at `cost`, settled, its record written."""
        self.calls += 1
        request_id = f"req_{id(self)}_{self.calls}"
        ticket = await self.admit(key_id, cost, limits, request_id)
        self.limiter.settle(ticket, cost, 20)
        await self.landed()
        await in_thread(record, self.workspace_id, key_id, request_id, cost)

    async def landed(self) -> None:
        self.limiter._client.flush()
        if self.limiter._unsettled:
            await asyncio.wait(list(self.limiter._unsettled), timeout=5)


async def noticed() -> None:
    """Let the event loop see the old connection close (a live gateway's loop sees it at
    once; the test blocked it while restarting the server)."""
    await asyncio.sleep(0.1)


def redis_int(url: str, name: str) -> int:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return int(client.get(name) or 0)
    finally:
        client.close()


def spent_in_db(key_id: int) -> int:
    return sum(UsageRecord.objects.filter(api_key_id=key_id).values_list("cost_pico", flat=True))


def test_spend_caps_hold_across_a_restart_that_empties_redis(private_redis, tenant):
    ws, key_id, daily_id = tenant
    total_cap, day_cap = Limits(key_total_pico=CAP), Limits(key_day_pico=CAP)

    async def go():
        gateway = Gateway(private_redis.url, ws)
        try:
            for _ in range(8):
                await gateway.call(key_id, total_cap)
                await gateway.call(daily_id, day_cap)
            for key, limits in ((key_id, total_cap), (daily_id, day_cap)):
                with pytest.raises(Refused) as before:
                    await gateway.call(key, limits)
                assert before.value.status == 402
            private_redis.restart_empty()
            await noticed()
            refused = []
            for key, limits in ((key_id, total_cap), (daily_id, day_cap)):
                for _ in range(8):
                    try:
                        await gateway.call(key, limits)
                    except Refused as exc:
                        refused.append(exc.status)
            return refused
        finally:
            await gateway.limiter.close()

    assert asyncio.run(go()) == [402] * 16
    assert spent_in_db(key_id) == CAP and spent_in_db(daily_id) == CAP


def test_the_rebuilt_balance_is_the_ledger_minus_the_open_holds(private_redis, tenant):
    ws, key_id, _ = tenant

    async def go():
        gateway = Gateway(private_redis.url, ws)
        try:
            await gateway.call(key_id, Limits(), cost=7_000)
            running = await gateway.admit(key_id, 50_000, Limits(), "req_running")
            private_redis.restart_empty()
            await noticed()
            after = await gateway.admit(key_id, 30_000, Limits(), "req_after")
            return running, after
        finally:
            await gateway.limiter._client.close()  # neither call settles

    asyncio.run(go())
    ledger = balance_pico(ws)
    assert ledger == GRANT - 7_000
    assert redis_int(private_redis.url, f"orca:bal:{ws}") == ledger - 50_000 - 30_000
    assert redis_int(private_redis.url, f"orca:spend:k:{key_id}:total") == 7_000 + 80_000


@pytest.mark.parametrize("rebuilt_by", ["this gateway", "another gateway"])
def test_a_call_running_across_the_restart_settles_once(private_redis, tenant, rebuilt_by):
    """Charged exactly its cost: neither twice (its reservation and its settlement) nor
    not at all (its hold went with the data)."""
    ws, key_id, _ = tenant

    async def go():
        gateway, other = Gateway(private_redis.url, ws), Gateway(private_redis.url, ws)
        try:
            running = await gateway.admit(key_id, 90_000, Limits(), "req_across")
            private_redis.restart_empty()
            await noticed()
            rebuilder = gateway if rebuilt_by == "this gateway" else other
            await rebuilder.call(key_id, Limits(), cost=5_000)
            gateway.limiter.settle(running, 40_000, 20)
            await gateway.landed()
            await in_thread(record, ws, key_id, "req_across", 40_000)
        finally:
            await gateway.limiter.close()
            await other.limiter.close()

    asyncio.run(go())
    assert balance_pico(ws) == GRANT - 45_000
    assert redis_int(private_redis.url, f"orca:bal:{ws}") == GRANT - 45_000
    assert redis_int(private_redis.url, f"orca:spend:k:{key_id}:total") == 45_000


def test_while_redis_is_down_admissions_fail_and_afterwards_the_state_is_intact(
    private_redis, tenant
):
    ws, key_id, _ = tenant
    limits = Limits(key_total_pico=CAP)

    async def go():
        gateway = Gateway(private_redis.url, ws)
        try:
            for _ in range(6):
                await gateway.call(key_id, limits)
            private_redis.kill()
            failures = []
            for _ in range(3):
                try:
                    await gateway.call(key_id, limits)
                except Refused:
                    raise AssertionError("refused as if over a limit") from None
                except Exception as exc:  # the pipeline answers 503 limits_unavailable
                    failures.append(type(exc).__name__)
            private_redis.start()
            await noticed()
            await gateway.call(key_id, limits)
            await gateway.call(key_id, limits)
            with pytest.raises(Refused):
                await gateway.call(key_id, limits)
            return failures
        finally:
            await gateway.limiter.close()

    assert asyncio.run(go()) == ["RedisUnavailable"] * 3
    assert spent_in_db(key_id) == CAP
    assert redis_int(private_redis.url, f"orca:bal:{ws}") == balance_pico(ws) == GRANT - CAP


def test_without_a_state_loader_the_default_one_rebuilds_the_spends(private_redis, tenant):
    ws, key_id, _ = tenant
    limits = Limits(key_total_pico=CAP)

    async def go():
        limiter = RedisLimiter(private_redis.url)

        async def load() -> int:
            return await in_thread(balance_pico, ws)

        try:
            for i in range(9):
                if i == 4:
                    private_redis.restart_empty()
                    await noticed()
                try:
                    ticket = await limiter.admit(ws, key_id, COST * 2, 1, limits, load, f"r{i}")
                except Refused:
                    return i
                limiter.settle(ticket, COST * 2, 1)
                limiter._client.flush()
                await asyncio.wait(list(limiter._unsettled), timeout=5)
                await in_thread(record, ws, key_id, f"r{i}", COST * 2)
        finally:
            await limiter.close()

    assert asyncio.run(go()) == 4
    assert spent_in_db(key_id) == CAP


def test_a_finished_call_is_forgotten_once_its_record_is_written(private_redis, tenant):
    """The limiter remembers a finished call only until the usage writer commits its record
    (then a rebuild finds it in the ledger): tens of thousands of remembered calls would
    cost every request in garbage collection. One not yet written is still remembered."""
    from billing import limits
    from billing.usage_buffer import _write

    ws, key_id, _ = tenant

    async def go():
        gateway = Gateway(private_redis.url, ws)
        try:
            written = await gateway.admit(key_id, COST, Limits(), "req_written")
            pending = await gateway.admit(key_id, COST, Limits(), "req_pending")
            gateway.limiter.settle(written, COST, 20)
            gateway.limiter.settle(pending, COST, 20)
            await gateway.landed()
            remembered = set(gateway.limiter._tickets)
            event = UsageEvent(
                request_id="req_written", workspace_id=ws, api_key_id=key_id, endpoint="chat",
                model="fake/chat", upstream_model="fake-chat", prompt_tokens=10,
                completion_tokens=10, cached_tokens=0, reasoning_tokens=0, usage_reported=True,
                status_code=200, error_code="", streamed=False, latency_ms=3, ttft_ms=1,
                created_at=datetime.now(UTC), cost_pico=COST,
            )  # fmt: skip
            await in_thread(_write, [event])  # the writer's flush: commit, then note it
            later = await gateway.admit(key_id, COST, Limits(), "req_later")
            gateway.limiter.settle(later, COST, 20)  # settlements drain what was written
            await gateway.landed()
            return remembered, set(gateway.limiter._tickets)
        finally:
            await gateway.limiter.close()
            limits._recorded.clear()

    before, after = asyncio.run(go())
    assert before == {"req_written", "req_pending"}
    assert after == {"req_pending", "req_later"}
    assert UsageRecord.objects.filter(request_id="req_written").exists()
