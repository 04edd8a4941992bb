"""/metrics of a live gateway with two uvicorn workers in multiprocess mode (as `make serve`
runs it): values after real relayed calls, read back through the exposition and parsed,
summed across both workers; and the token guard."""

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import httpx
import pytest

from billing.services import grant_credits
from routing.models import Model, Provider
from tests.conftest import UPSTREAM_CREDENTIAL
from tests.live import LiveServer
from workspaces import services

from .metrics_helpers import TOKEN, scrape, value, wait_for

PROVIDER = "ops-fake"
MODELS = {
    "ops/chat": "fake-chat",
    "ops/error-500": "fake-error-500",
    "ops/error-429": "fake-error-429",
    "ops/slow": "fake-slow-stream",
}
FLUSH_SECONDS = 1.5  # the usage writer's interval on this server: long enough to see lag


@dataclass
class Ops:
    server: LiveServer
    key: str
    broke_key: str  # a key of a workspace with no credit

    def chat(self, model: str = "ops/chat", key: str | None = None, **extra) -> httpx.Response:
        return httpx.post(  # a new connection each time: either worker may take it
            f"{self.server.base_url}/v1/chat/completions",
            json={"model": model, "messages": [{"role": "user", "content": "hi"}], **extra},
            headers={"Authorization": f"Bearer {key or self.key}"},
            timeout=20,
        )


@pytest.fixture(scope="module")
def ops(live, django_db_blocker, tmp_path_factory) -> Iterator[Ops]:
    with django_db_blocker.unblock():
        provider = Provider(
            slug=PROVIDER, name=PROVIDER, kind="openai", base_url=live.upstream.base_url
        )
        provider.set_credential(UPSTREAM_CREDENTIAL)
        provider.save()
        for public_id, upstream_name in MODELS.items():
            Model.objects.create(
                public_id=public_id,
                provider=provider,
                upstream_name=upstream_name,
                input_price="1",
                output_price="2",
                context_length=128_000,
                max_output_tokens=4096,
            )
        workspace, _ = services.get_or_create_workspace("ops-metrics")
        grant_credits(workspace.id, Decimal(100), note="metrics tests")
        _, key = services.create_api_key(workspace, name="metrics")
        broke, _ = services.get_or_create_workspace("ops-broke")
        _, broke_key = services.create_api_key(broke, name="no credit")
    folder = tmp_path_factory.mktemp("prometheus")
    server = LiveServer(
        tmp_path_factory.mktemp("metrics") / "server.log",
        args=("--workers", "2"),
        PROMETHEUS_MULTIPROC_DIR=str(folder),
        ORCA_METRICS_TOKEN=TOKEN,
        ORCA_USAGE_FLUSH_SECONDS=str(FLUSH_SECONDS),
    ).start()
    try:
        yield Ops(server, key, broke_key)
    finally:
        server.stop()
        with django_db_blocker.unblock():
            Model.objects.filter(provider=provider).delete()
            provider.delete()


def _prefix(response: httpx.Response) -> str:
    return response.headers["x-orca-request-id"][:-10]  # per process: req_ + 14 hex digits


def test_calls_are_summed_across_both_workers(ops):
    base = ops.server.base_url
    before = scrape(base)
    labels = {"surface": "chat", "model": "ops/chat", "provider": PROVIDER, "status": "200"}
    workers: set[str] = set()
    calls = 0
    while len(workers) < 2 and calls < 200:
        response = ops.chat()
        assert response.status_code == 200, response.text
        workers.add(_prefix(response))
        calls += 1
    assert len(workers) == 2, "every call went to one worker"
    goal = value(before, "orca_requests_total", **labels) + calls
    after = wait_for(base, lambda s: value(s, "orca_requests_total", **labels) == goal)
    route = {"model": "ops/chat", "provider": PROVIDER}
    assert value(after, "orca_request_duration_seconds_count", **route) - value(
        before, "orca_request_duration_seconds_count", **route
    ) == pytest.approx(calls)


def test_a_non_stream_call(ops):
    base = ops.server.base_url
    route = {"model": "ops/chat", "provider": PROVIDER}
    before = scrape(base)
    response = ops.chat()
    assert response.status_code == 200
    usage = response.json()["usage"]
    after = wait_for(
        base,
        lambda s: (
            value(s, "orca_requests_total", status="200", **route)
            == value(before, "orca_requests_total", status="200", **route) + 1
        ),
    )

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("orca_tokens_total", direction="input", **route) == usage["prompt_tokens"] == 11
    assert delta("orca_tokens_total", direction="output", **route) == usage["completion_tokens"]
    assert delta("orca_cost_usd_total", **route) == pytest.approx(
        float(response.headers["x-orca-cost"]), rel=1e-9
    )
    assert delta("orca_request_duration_seconds_count", **route) == 1
    assert 0 < delta("orca_request_duration_seconds_sum", **route) < 5
    # The answer is a fraction of a second: it lands in the 10 s bucket and every one above.
    assert delta("orca_request_duration_seconds_bucket", le="10.0", **route) == 1
    assert delta("orca_request_duration_seconds_bucket", le="+Inf", **route) == 1
    assert delta("orca_time_to_first_token_seconds_count", **route) == 0  # not a stream


def test_a_stream(ops):
    base = ops.server.base_url
    route = {"model": "ops/chat", "provider": PROVIDER}
    before = scrape(base)
    with httpx.stream(
        "POST",
        f"{base}/v1/chat/completions",
        json={
            "model": "ops/chat",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        headers={"Authorization": f"Bearer {ops.key}"},
        timeout=20,
    ) as response:
        assert response.status_code == 200
        text = response.read().decode()
    assert text.rstrip().endswith("data: [DONE]")
    ttft = "orca_time_to_first_token_seconds_count"
    after = wait_for(base, lambda s: value(s, ttft, **route) == value(before, ttft, **route) + 1)
    assert value(after, "orca_requests_total", status="200", surface="chat", **route) == (
        value(before, "orca_requests_total", status="200", surface="chat", **route) + 1
    )
    assert value(after, "orca_tokens_total", direction="output", **route) == (
        value(before, "orca_tokens_total", direction="output", **route) + 7
    )
    ttft_sum = "orca_time_to_first_token_seconds_sum"
    assert 0 < value(after, ttft_sum, **route) - value(before, ttft_sum, **route) < 5


def test_an_upstream_error(ops):
    base = ops.server.base_url
    route = {"model": "ops/error-500", "provider": PROVIDER}
    before = scrape(base)
    response = ops.chat("ops/error-500")
    assert response.status_code == 500
    code = response.json()["error"].get("code") or "none"
    after = wait_for(
        base,
        lambda s: (
            value(s, "orca_requests_total", status="500", **route)
            == value(before, "orca_requests_total", status="500", **route) + 1
        ),
    )
    assert value(after, "orca_upstream_errors_total", status="500", **route) == (
        value(before, "orca_upstream_errors_total", status="500", **route) + 1
    )
    assert value(after, "orca_errors_total", surface="chat", code=code) == (
        value(before, "orca_errors_total", surface="chat", code=code) + 1
    )
    assert value(after, "orca_tokens_total", **route) == value(before, "orca_tokens_total", **route)


def test_a_call_refused_at_admission(ops):
    base = ops.server.base_url
    before = scrape(base)
    response = ops.chat(key=ops.broke_key)
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "insufficient_quota"
    refused = "orca_admission_refused_total"
    after = wait_for(
        base,
        lambda s: (
            value(s, refused, code="insufficient_quota")
            == value(before, refused, code="insufficient_quota") + 1
        ),
    )
    labels = {"surface": "chat", "model": "ops/chat", "provider": PROVIDER, "status": "402"}
    assert value(after, "orca_requests_total", **labels) == (
        value(before, "orca_requests_total", **labels) + 1
    )
    assert value(after, "orca_errors_total", surface="chat", code="insufficient_quota") == (
        value(before, "orca_errors_total", surface="chat", code="insufficient_quota") + 1
    )


def test_a_bad_key_counts_without_a_model(ops):
    base = ops.server.base_url
    before = scrape(base)
    response = ops.chat(key="sk-orca-" + "n" * 40)
    assert response.status_code == 401
    labels = {"surface": "chat", "model": "", "provider": "", "status": "401"}
    after = wait_for(
        base,
        lambda s: (
            value(s, "orca_requests_total", **labels)
            == value(before, "orca_requests_total", **labels) + 1
        ),
    )
    assert value(after, "orca_errors_total", surface="chat", code="invalid_api_key") == (
        value(before, "orca_errors_total", surface="chat", code="invalid_api_key") + 1
    )


def test_a_429_with_retry_after_is_a_cooldown(ops):
    base = ops.server.base_url
    route = {"model": "ops/error-429", "provider": PROVIDER}
    before = scrape(base)
    response = ops.chat("ops/error-429")
    assert response.status_code == 429
    after = wait_for(
        base,
        lambda s: (
            value(s, "orca_cooldowns_total", **route)
            == value(before, "orca_cooldowns_total", **route) + 1
            and value(s, "orca_models_in_cooldown") >= 1
        ),  # Retry-After: 7 s
    )
    assert value(after, "orca_upstream_errors_total", status="429", **route) >= 1


def test_in_flight_calls_and_the_usage_writers_lag(ops):
    """A stream held open counts as in flight until the client leaves (499); its usage
    record then waits for the writer (every 1.5 s here), which shows as lag."""
    base = ops.server.base_url
    opened, release = threading.Event(), threading.Event()

    def hold_a_stream() -> None:
        with httpx.stream(
            "POST",
            f"{base}/v1/chat/completions",
            json={
                "model": "ops/slow",
                "messages": [{"role": "user", "content": "hi"}],
                "stream": True,
            },
            headers={"Authorization": f"Bearer {ops.key}"},
            timeout=20,
        ) as response:
            pieces = response.iter_bytes()  # kept: closing the iterator would close the stream
            next(pieces)
            opened.set()
            release.wait(10)

    holder = threading.Thread(target=hold_a_stream)
    holder.start()
    try:
        assert opened.wait(10)
        wait_for(base, lambda s: value(s, "orca_in_flight_requests") >= 1)
    finally:
        release.set()
        holder.join()
    samples = wait_for(
        base,
        lambda s: (
            value(s, "orca_in_flight_requests") == 0 and value(s, "orca_usage_pending_records") >= 1
        ),
    )
    assert value(samples, "orca_usage_lag_seconds") > 0
    time.sleep(FLUSH_SECONDS)
    wait_for(base, lambda s: value(s, "orca_usage_pending_records") == 0, timeout=2 * FLUSH_SECONDS)
    labels = {"surface": "chat", "model": "ops/slow", "status": "499"}
    assert value(scrape(base), "orca_requests_total", **labels) == 1


# --- the token guard -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer", TOKEN],
)
def test_metrics_need_the_token(ops, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = httpx.get(f"{ops.server.base_url}/metrics", headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "invalid_metrics_token"
    assert "orca_requests" not in response.text


def test_metrics_are_refused_without_a_token_configured(live):
    """The session's gateway has no ORCA_METRICS_TOKEN: /metrics is off, whatever is sent."""
    for headers in ({}, {"Authorization": f"Bearer {TOKEN}"}, {"Authorization": "Bearer"}):
        response = httpx.get(f"{live.server.base_url}/metrics", headers=headers, timeout=10)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "metrics_disabled"
        assert "ORCA_METRICS_TOKEN" in response.json()["error"]["message"]


def test_metrics_take_only_get(ops):
    response = httpx.post(
        f"{ops.server.base_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
