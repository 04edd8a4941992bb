"""A gateway killed with SIGKILL in the middle of its streams: every call that delivered
output is still billed (from the progress its reservation carried), exactly once, even with
two settlement workers racing, and the live balance agrees with the ledger afterwards."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import pytest
import redis
from django.conf import settings
from django.db import connection
from django.db.models import Sum

from billing.models import LedgerEntry, UsageRecord
from billing.services import grant_credits
from billing.tasks import release_lost_holds
from tests.live import LiveServer
from workspaces import services

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="holds live in Redis")

STREAMS = 12
SEEN_BEFORE_KILL = 40  # chunks each stream has read (fake/slow sends one every 50 ms)
# The reservation hears of progress once a second, so what one stream may lose is the
# output of its last second: 20 chunks of fake/slow, plus a few for scheduling.
LOSS_BOUND = 26


def _stream(base_url: str, key: str, seen: dict, ready: threading.Barrier) -> None:
    body = {"model": "fake/slow", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"authorization": f"Bearer {key}"}
    chunks = 0
    try:
        with httpx.stream(
            "POST", f"{base_url}/v1/chat/completions", json=body, headers=headers, timeout=30
        ) as response:
            request_id = response.headers["x-orca-request-id"]
            for line in response.iter_lines():
                if line.startswith("data: {") and '"content"' in line:
                    chunks += 1
                    seen[request_id] = chunks
                    if chunks == SEEN_BEFORE_KILL:
                        ready.wait(30)
    except (httpx.TransportError, threading.BrokenBarrierError):
        pass  # the gateway died under us, as planned


def test_a_killed_gateway_still_bills_what_its_streams_delivered(live, django_db_blocker, tmp_path):
    with django_db_blocker.unblock():
        workspace, _ = services.get_or_create_workspace("crash-test")
        grant_credits(workspace.id, Decimal(50), note="crash test")
        _, key = services.create_api_key(workspace, name="crash")
        granted = LedgerEntry.objects.filter(workspace_id=workspace.id).aggregate(
            total=Sum("amount_pico")
        )["total"]
    # Its own gateway, so that killing it spares the session's; holds presumed lost
    # after 5 s instead of hours.
    server = LiveServer(tmp_path / "crash.log", ORCA_RESERVATION_HOLD_SECONDS="5").start()
    seen: dict[str, int] = {}
    ready = threading.Barrier(STREAMS + 1)
    threads = [
        threading.Thread(target=_stream, args=(server.base_url, key, seen, ready))
        for _ in range(STREAMS)
    ]
    for thread in threads:
        thread.start()
    try:
        ready.wait(30)  # every stream has read SEEN_BEFORE_KILL chunks (2 s of output)
        time.sleep(0.3)
    finally:
        server.kill()  # SIGKILL: no shutdown flush, no settlement
    for thread in threads:
        thread.join(30)
    assert len(seen) == STREAMS and min(seen.values()) >= SEEN_BEFORE_KILL

    with django_db_blocker.unblock():
        assert not UsageRecord.objects.filter(request_id__in=seen).exists()  # died with it

    # Two settlement workers at once, well after the holds and their grace ran out.
    later = time.time() + settings.ORCA_RESERVATION_HOLD_SECONDS + 60

    def settle_worker(_: int) -> int:
        try:
            return release_lost_holds(now=later)
        finally:
            connection.close()  # this thread's own connection

    with django_db_blocker.unblock():
        with ThreadPoolExecutor(2) as pool:
            released = sum(pool.map(settle_worker, range(2)))
        assert released == STREAMS
        assert release_lost_holds(now=later) == 0  # nothing is settled twice

        records = {r.request_id: r for r in UsageRecord.objects.filter(request_id__in=seen)}
        spends = LedgerEntry.objects.filter(request_id__in=seen)
        assert set(records) == set(seen)
        assert spends.count() == STREAMS  # one spend per call, never two
        for request_id, delivered in seen.items():
            record = records[request_id]
            assert record.error_code == "worker_lost" and record.streamed
            assert delivered - LOSS_BOUND <= record.completion_tokens <= delivered + 2
            assert record.cost_pico > 0
            assert spends.get(request_id=request_id).amount_pico == -record.cost_pico
        ledger = LedgerEntry.objects.filter(workspace_id=workspace.id).aggregate(
            total=Sum("amount_pico")
        )["total"]
    assert ledger == granted - sum(r.cost_pico for r in records.values())
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        assert int(client.get(f"orca:bal:{workspace.id}")) == ledger
    finally:
        client.close()
