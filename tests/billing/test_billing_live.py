"""Prepaid balances, costs and rate limits through live gateway processes (PostgreSQL and
Redis in CI)."""

import asyncio
import time
from decimal import Decimal

import httpx
import openai
import pytest
from django.conf import settings

from billing.models import LedgerEntry, UsageRecord
from billing.pricing import cost_pico
from billing.selectors import balance_pico
from billing.services import grant_credits
from routing.models import Model, Provider
from tests.live import LiveServer
from tests.usage import wait_for_usage
from workspaces import services

HELLO = [{"role": "user", "content": "hi"}]
PER_CALL_PICO = 7 * 1_000_000  # 7 output tokens at 1 USD per 1M tokens


@pytest.fixture(scope="module")
def gateways(live, tmp_path_factory) -> list[str]:
    """Two gateway processes sharing Redis; embedded (no Redis) limits are per process by
    design, so there the same checks run against the one server."""
    if not settings.REDIS_URL:
        yield [live.server.base_url]
        return
    server = LiveServer(tmp_path_factory.mktemp("second") / "server.log").start()
    yield [live.server.base_url, server.base_url]
    server.stop()


def new_workspace(django_db_blocker, slug: str, credits: str | None = None, **settings):
    with django_db_blocker.unblock():
        workspace, _ = services.get_or_create_workspace(slug)
        for name, value in settings.items():
            setattr(workspace, name, value)
        workspace.save()
        if credits:
            grant_credits(workspace.id, Decimal(credits), note="test")
        _, raw = services.create_api_key(workspace, name="billing test")
    return workspace, raw


async def burst(urls: list[str], key: str, body: dict, count: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=200)) as client:
        calls = [
            client.post(
                f"{urls[i % len(urls)]}/v1/chat/completions",
                json=body,
                headers={"Authorization": f"Bearer {key}"},
            )
            for i in range(count)
        ]
        return await asyncio.gather(*calls)


def test_concurrent_calls_never_overdraw_and_the_ledger_adds_up(
    live, gateways, upstreams, django_db_blocker
):
    with django_db_blocker.unblock():
        fake = Provider.objects.get(slug="fake")
        Model.objects.get_or_create(
            public_id="billing/output-only",
            defaults={
                "provider": fake,
                "upstream_name": "fake-chat",
                "input_price": "0",
                "output_price": "1",
            },
        )
    workspace, key = new_workspace(django_db_blocker, "payg", credits=str(Decimal(50 * 7) / 10**6))
    time.sleep(0.5)  # both servers see the new model
    body = {"model": "billing/output-only", "messages": HELLO, "max_tokens": 7}
    responses = asyncio.run(burst(gateways, key, body, 200))

    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 50
    assert statuses.count(402) == 150
    refused = next(r for r in responses if r.status_code == 402).json()["error"]
    assert refused["code"] == "insufficient_quota"
    assert len(upstreams["openai"].requests) == 50  # refused calls never went upstream

    served = [r.headers["x-orca-request-id"] for r in responses if r.status_code == 200]
    for request_id in served:
        wait_for_usage(django_db_blocker, request_id)
    deadline = time.monotonic() + 5
    with django_db_blocker.unblock():
        while LedgerEntry.objects.filter(workspace=workspace, kind="spend").count() < 50:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        spends = LedgerEntry.objects.filter(workspace=workspace, kind="spend")
        assert sorted(spends.values_list("request_id", flat=True)) == sorted(served)
        assert all(s.amount_pico == -PER_CALL_PICO for s in spends)
        assert balance_pico(workspace.id) == 0  # granted 50 calls, spent exactly 50
        records = UsageRecord.objects.filter(workspace=workspace)
        assert sum(r.cost_pico for r in records) == 50 * PER_CALL_PICO


def test_a_rate_limit_holds_across_processes(live, gateways, upstreams, django_db_blocker):
    _, key = new_workspace(django_db_blocker, "limited", credits="10", rpm_limit=60)
    if time.time() % 60 > 45:  # keep the burst inside one minute window
        time.sleep(61 - time.time() % 60)
    body = {"model": "fake/chat", "messages": HELLO}
    responses = asyncio.run(burst(gateways, key, body, 100))
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 60
    assert statuses.count(429) == 40
    limited = next(r for r in responses if r.status_code == 429)
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert limited.json()["error"]["type"] == "orcarouter_api_error"
    assert 1 <= int(limited.headers["retry-after"]) <= 60


def test_cost_of_a_known_usage_is_exact_with_cached_tokens_and_markup(
    live, upstreams, django_db_blocker
):
    # fake/chat: 0.15 in, 0.60 out, 0.075 cached per 1M; the fake reports 11 prompt tokens
    # (3 cached) and 7 completion tokens.
    expected = 8 * 150_000 + 3 * 75_000 + 7 * 600_000  # pico-dollars
    assert expected == 5_625_000
    for slug, markup, want in (("exact", "0", expected), ("marked-up", "10", 6_187_500)):
        _, key = new_workspace(django_db_blocker, slug, credits="1", markup_percent=Decimal(markup))
        client = openai.OpenAI(base_url=live.base_url, api_key=key, max_retries=0)
        raw = client.chat.completions.with_raw_response.create(model="fake/chat", messages=HELLO)
        assert raw.headers["x-orca-cost"] == str(Decimal(want) / 10**12)
        assert raw.http_response.json()["usage"]["cost"] == pytest.approx(want / 10**12)
        assert f'"cost":{Decimal(want) / 10**12}' in raw.http_response.text  # exact digits
        record = wait_for_usage(django_db_blocker, raw.headers["x-orca-request-id"])
        assert record.cost_pico == want
        stream = client.chat.completions.create(
            model="fake/chat", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
        usage_chunk = [c for c in stream if not c.choices][-1]
        assert usage_chunk.usage.model_extra["cost"] == pytest.approx(want / 10**12)


def test_a_cancelled_stream_is_charged_for_its_partial_output(live, upstreams, django_db_blocker):
    with httpx.stream(
        "POST",
        f"{live.base_url}/chat/completions",
        headers={"Authorization": f"Bearer {live.key}"},
        json={"model": "fake/slow", "messages": HELLO, "stream": True},
        timeout=10,
    ) as response:
        request_id = response.headers["x-orca-request-id"]
        lines = response.iter_lines()
        for _ in range(12):
            next(lines)
    record = wait_for_usage(django_db_blocker, request_id)
    assert record.status_code == 499
    assert record.completion_tokens > 0 and not record.usage_reported
    assert record.prompt_tokens > 0  # estimated, as the upstream never reported it
    assert record.cost_pico == record.prompt_tokens * 150_000 + record.completion_tokens * 600_000
    deadline = time.monotonic() + 5
    with django_db_blocker.unblock():
        while not LedgerEntry.objects.filter(request_id=request_id).exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert LedgerEntry.objects.get(request_id=request_id).amount_pico == -record.cost_pico


def test_failed_calls_cost_nothing(live, sdk, upstreams, django_db_blocker):
    with pytest.raises(openai.InternalServerError) as caught:
        sdk.chat.completions.create(model="fake/error-500", messages=HELLO)
    request_id = caught.value.response.headers["x-orca-request-id"]
    record = wait_for_usage(django_db_blocker, request_id)
    assert record.cost_pico == 0
    with django_db_blocker.unblock():
        assert not LedgerEntry.objects.filter(request_id=request_id).exists()


def test_per_key_spend_limit_is_a_402_of_its_own(live, upstreams, django_db_blocker):
    workspace, _ = new_workspace(django_db_blocker, "capped-keys", credits="5")
    with django_db_blocker.unblock():
        key, raw = services.create_api_key(workspace, name="tiny")
        key.daily_limit_usd = Decimal("0.00002")
        key.save()
    time.sleep(0.4)
    client = openai.OpenAI(base_url=live.base_url, api_key=raw, max_retries=0)
    # Each call reserves 8 prompt tokens at 0.15 and 10 output tokens at 0.60 per 1M
    # (7.2e-6 USD) and then spends 5.625e-6 USD: the fourth no longer fits 2e-5 USD a day.
    results = []
    for _ in range(5):
        try:
            client.chat.completions.create(model="fake/chat", messages=HELLO, max_tokens=10)
            results.append(200)
        except openai.APIStatusError as exc:
            results.append((exc.status_code, exc.body["code"]))
    assert results == [200, 200, 200] + [(402, "key_spend_limit_exceeded")] * 2


def test_insufficient_balance_is_402_in_each_dialect(live, upstreams, django_db_blocker):
    _, key = new_workspace(django_db_blocker, "broke")
    response = httpx.post(
        f"{live.server.base_url}/v1/messages",
        headers={"x-api-key": key},
        json={"model": "anthropic-fake/claude", "max_tokens": 10, "messages": HELLO},
        timeout=10,
    )
    assert response.status_code == 402
    assert response.json()["error"]["type"] == "billing_error"
    assert not upstreams["anthropic"].requests
    free = httpx.post(
        f"{live.base_url}/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "orca/demo", "messages": HELLO},
        timeout=10,
    )
    assert free.status_code == 200  # a free model needs no balance


def test_hand_computed_costs():
    from billing.pricing import Metered, Prices

    prices = Prices.from_catalog(
        input_price=Decimal("3"), output_price=Decimal("15"), cached_input_price=Decimal("0.3"),
        cache_write_price=Decimal("3.75"), reasoning_price=Decimal("20"),
        extra_prices={"web_search_call": "0.01"},
    )  # fmt: skip
    used = Metered(
        prompt_tokens=1000, cached_tokens=400, cache_write_tokens=100,
        completion_tokens=300, reasoning_tokens=50, units={"web_search_call": 2},
    )  # fmt: skip
    # 500 plain input at 3, 400 cached at 0.3, 100 written at 3.75, 250 output at 15,
    # 50 reasoning at 20 (USD per 1M), and two searches at 0.01 USD.
    want = (500 * 3 + 400 * 0.3 + 100 * 3.75 + 250 * 15 + 50 * 20) * 10**6 + 2 * 10**10
    assert cost_pico(prices, used) == int(want)
    assert cost_pico(prices, used, Decimal("-10")) == int(want * 9 // 10)


def test_generation_endpoint_shows_one_call_of_the_own_workspace(
    live, sdk, upstreams, django_db_blocker
):
    with django_db_blocker.unblock():  # a model of its own: no cooldown from other tests
        fake = Provider.objects.get(slug="fake")
        Model.objects.create(public_id="gen/failing", provider=fake, upstream_name="fake-error-500")
    time.sleep(0.5)
    raw = sdk.chat.completions.with_raw_response.create(
        model="gen/failing",
        messages=HELLO,
        extra_body={"models": ["fake/chat"], "route": "fallback"},
    )
    request_id = raw.headers["x-orca-request-id"]
    for _ in range(2):  # straight away (from the buffer) and after the flush (database)
        response = httpx.get(
            f"{live.base_url}/generation",
            params={"id": request_id},
            headers={"Authorization": f"Bearer {live.key}"},
            timeout=5,
        )
        assert response.status_code == 200
        data = response.json()["data"]
        assert data["id"] == request_id and data["model"] == "fake/chat"
        assert (data["tokens_prompt"], data["tokens_completion"]) == (11, 7)
        assert data["total_cost"] == "0.000005625"
        assert data["fallback_level"] == 1
        assert data["attempts"] == [{"model": "gen/failing", "status": 500}]
        time.sleep(0.5)
    other = httpx.get(
        f"{live.base_url}/generation",
        params={"id": request_id},
        headers={"Authorization": f"Bearer {live.other_key}"},
        timeout=5,
    )
    assert other.status_code == 404
    missing = httpx.get(
        f"{live.base_url}/generation", headers={"Authorization": f"Bearer {live.key}"}, timeout=5
    )
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "id"


@pytest.mark.parametrize("retention", ["metadata", "keep", "zero"])
def test_data_retention(live, upstreams, django_db_blocker, retention):
    from billing.models import StoredExchange

    _, key = new_workspace(
        django_db_blocker, f"keeps-{retention}", credits="1", data_retention=retention,
        retention_days=7, keep_response_history=True,
    )  # fmt: skip
    client = openai.OpenAI(base_url=live.base_url, api_key=key, max_retries=0)
    ids = [
        client.chat.completions.with_raw_response.create(
            model="fake/chat",
            messages=[{"role": "user", "content": "secret recipe"}],
            stream=stream,
        ).headers["x-orca-request-id"]
        for stream in (False, True)
    ]
    response = client.responses.create(model="fake/chat", input="remember me")
    for request_id in ids:
        record = wait_for_usage(django_db_blocker, request_id)
        with django_db_blocker.unblock():
            kept = StoredExchange.objects.filter(usage=record).first()
        if retention == "keep":
            assert "secret recipe" in kept.request_body
            assert "Hello from the fake upstream." in kept.response_text
            assert 6.9 < (kept.delete_after - record.created_at).total_seconds() / 86400 <= 7
        else:
            assert kept is None
    continued = httpx.post(
        f"{live.base_url}/responses",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "fake/chat", "input": "again", "previous_response_id": response.id},
        timeout=10,
    )
    # Zero data retention overrides the workspace's response history.
    assert continued.status_code == (400 if retention == "zero" else 200)
