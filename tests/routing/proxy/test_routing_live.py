"""Fallback chains, named routers and provider health through a live server."""

import json
import time

import httpx
import openai
import pytest

from billing.models import UsageRecord
from routing.models import Model, Provider, Router
from tests.usage import wait_for_usage
from workspaces import services

HELLO = [{"role": "user", "content": "hi"}]
TOOLS = [
    {
        "type": "function",
        "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
    }
]


def add_models(live, django_db_blocker, specs: dict[str, dict]) -> None:
    """Create models on the fake upstream and wait until the server's catalog has them."""
    with django_db_blocker.unblock():
        provider = Provider.objects.get(slug="fake")
        for public_id, options in specs.items():
            Model.objects.create(public_id=public_id, provider=provider, **options)
    deadline = time.monotonic() + 3
    for public_id in specs:
        while (
            httpx.get(
                f"{live.base_url}/models/{public_id}",
                headers={"Authorization": f"Bearer {live.key}"},
                timeout=5,
            ).status_code
            != 200
        ):
            assert time.monotonic() < deadline, f"{public_id} never reached the catalog"
            time.sleep(0.05)


def model(upstream: str, price: str = "1", **options) -> dict:
    return {
        "upstream_name": upstream,
        "input_price": price,
        "output_price": price,
        "context_length": options.pop("context_length", 100_000),
        "max_output_tokens": 1000,
        **options,
    }


def chain(*models: str) -> dict:
    return {"models": list(models), "route": "fallback"}


def test_chain_moves_past_500_and_429_and_bills_the_model_that_served(
    live, sdk, upstreams, django_db_blocker
):
    add_models(
        live,
        django_db_blocker,
        {
            "chain1/a": model("fake-error-500"),
            "chain1/b": model("fake-error-429"),
            "chain1/c": model("fake-chat", price="2"),
        },
    )
    raw = sdk.chat.completions.with_raw_response.create(
        model="chain1/a", messages=HELLO, extra_body=chain("chain1/a", "chain1/b", "chain1/c")
    )
    assert raw.parse().choices[0].message.content == "Hello from the fake upstream."
    assert raw.headers["x-orca-fallback-level"] == "2"
    assert raw.headers["x-orca-fallback-model"] == "chain1/c"
    assert "x-orca-router" not in raw.headers
    sent = [r.json for r in upstreams["openai"].requests]
    assert [r["model"] for r in sent] == ["fake-error-500", "fake-error-429", "fake-chat"]
    assert all("models" not in r and "route" not in r for r in sent)

    record = wait_for_usage(django_db_blocker, raw.headers["x-orca-request-id"])
    assert record.model == "chain1/c" and record.status_code == 200
    assert record.fallback_level == 2
    assert record.attempts == [
        {"model": "chain1/a", "status": 500},
        {"model": "chain1/b", "status": 429},
    ]
    with django_db_blocker.unblock():
        assert UsageRecord.objects.filter(request_id=record.request_id).count() == 1


def test_primary_that_serves_is_level_0_without_a_fallback_model(sdk, upstreams):
    raw = sdk.chat.completions.with_raw_response.create(
        model="fake/chat", messages=HELLO, extra_body=chain("fake/chat", "fake/solo")
    )
    assert raw.headers["x-orca-fallback-level"] == "0"
    assert "x-orca-fallback-model" not in raw.headers
    assert len(upstreams["openai"].requests) == 1


def test_unresolvable_and_disallowed_entries_are_skipped(live, upstreams, db_access):
    _, raw_key = live.new_key(name="no dup", allowed_models=["fake/*"])
    client = openai.OpenAI(base_url=live.base_url, api_key=raw_key, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="nope/missing", messages=HELLO, extra_body=chain("dup/chat", "fake/solo")
    )
    assert raw.headers["x-orca-fallback-level"] == "2"
    assert raw.headers["x-orca-fallback-model"] == "fake/solo"
    assert len(upstreams["openai"].requests) == 1


def test_a_client_error_is_returned_and_the_next_model_never_called(
    live, sdk, upstreams, django_db_blocker
):
    add_models(
        live,
        django_db_blocker,
        {"chain3/a": model("fake-error-400"), "chain3/b": model("fake-chat")},
    )
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(
            model="chain3/a", messages=HELLO, extra_body=chain("chain3/a", "chain3/b")
        )
    assert "upstream says no" in caught.value.body["message"]
    assert [r.json["model"] for r in upstreams["openai"].requests] == ["fake-error-400"]


def test_exhausted_chain_is_502_listing_each_attempt(live, sdk, upstreams, django_db_blocker):
    add_models(
        live,
        django_db_blocker,
        {"chain4/a": model("fake-error-500"), "chain4/b": model("fake-error-429")},
    )
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(
            model="chain4/a", messages=HELLO, extra_body=chain("chain4/a", "chain4/b")
        )
    error = caught.value
    assert error.status_code == 502
    assert error.body["code"] == "fallback_exhausted"
    assert "chain4/a (500)" in error.body["message"] and "chain4/b (429)" in error.body["message"]
    assert "fake upstream" not in error.body["message"]  # no upstream details
    assert error.response.headers["x-orca-fallback-level"] == "1"


def test_stream_falls_back_before_the_first_byte_but_never_after(
    live, sdk, upstreams, django_db_blocker
):
    add_models(
        live,
        django_db_blocker,
        {
            "chain5/a": model("fake-error-500"),
            "chain5/b": model("fake-drop-midstream"),
            "chain5/c": model("fake-chat"),
        },
    )
    raw = sdk.chat.completions.with_raw_response.create(
        model="chain5/a", messages=HELLO, stream=True, extra_body=chain("chain5/a", "chain5/c")
    )
    assert raw.headers["x-orca-fallback-level"] == "1"
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text == "Hello from the fake upstream."

    upstreams["openai"].reset()
    with pytest.raises(openai.APIError):
        for _ in sdk.chat.completions.create(
            model="chain5/b", messages=HELLO, stream=True, extra_body=chain("chain5/b", "chain5/c")
        ):
            pass
    assert [r.json["model"] for r in upstreams["openai"].requests] == ["fake-drop-midstream"]


def test_stream_falls_back_after_a_first_byte_timeout(live, upstreams, django_db_blocker):
    add_models(
        live, django_db_blocker, {"chain6/a": model("fake-hang"), "chain6/b": model("fake-chat")}
    )
    with httpx.stream(
        "POST",
        f"{live.base_url}/chat/completions",
        headers={"Authorization": f"Bearer {live.key}"},
        json={
            "model": "chain6/a",
            "messages": HELLO,
            "stream": True,
            **chain("chain6/a", "chain6/b"),
        },
        timeout=20,
    ) as response:
        assert response.status_code == 200
        assert response.headers["x-orca-fallback-level"] == "1"
        body = response.read().decode()
    assert body.rstrip().endswith("data: [DONE]") and "error" not in body


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"route": "fallback", "models": "fake/chat"}, "models"),
        ({"route": "fallback", "models": ["a/1", "a/2", "a/3", "a/4", "a/5", "a/6"]}, "models"),
        ({"route": "sideways", "models": ["fake/chat"]}, "route"),
    ],
)
def test_bad_chains_are_400(sdk, upstreams, extra, param):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="fake/chat", messages=HELLO, extra_body=extra)
    assert caught.value.body["param"] == param
    assert not upstreams["openai"].requests


# --- routers ------------------------------------------------------------------------------


@pytest.fixture
def router_models(live, django_db_blocker):
    specs = {
        "r/a": model("fake-chat", price="0.1"),  # cheapest, no tools
        "r/b": model("fake-chat", price="0.5", capabilities=["tools"], context_length=4000),
        "r/c": model("fake-chat", price="2", capabilities=["tools"], context_length=200_000),
        "r/d": model("fake-error-503", price="0.2", capabilities=["tools"]),  # fails
    }
    with django_db_blocker.unblock():
        if not Model.objects.filter(public_id="r/a").exists():
            add_models(live, django_db_blocker, specs)


def routed(client, **options):
    raw = client.chat.completions.with_raw_response.create(messages=HELLO, **options)
    return raw, raw.headers.get("x-orca-resolved-model")


def test_auto_picks_the_cheapest_model_that_fits(live, upstreams, router_models, db_access):
    _, raw_key = live.new_key(name="auto abc", allowed_models=["r/a", "r/b", "r/c"])
    client = openai.OpenAI(base_url=live.base_url, api_key=raw_key, max_retries=0)

    raw, resolved = routed(client, model="orcarouter/auto")
    assert raw.headers["x-orca-router"] == "auto"
    assert resolved == "r/a"
    _, resolved = routed(client, model="orcarouter/auto", tools=TOOLS)
    assert resolved == "r/b"
    long_prompt = [{"role": "user", "content": "word " * 5000}]  # ~6k tokens: too big for r/b
    raw = client.chat.completions.with_raw_response.create(
        model="orcarouter/auto", messages=long_prompt, tools=TOOLS
    )
    assert raw.headers["x-orca-resolved-model"] == "r/c"
    for name in ("x-orca-fallback-level", "x-orca-fallback-model"):
        assert name not in raw.headers


def test_auto_skips_a_model_in_cooldown(
    live, upstreams, router_models, db_access, django_db_blocker
):
    _, raw_key = live.new_key(name="auto bcd", allowed_models=["r/b", "r/c", "r/d"])
    client = openai.OpenAI(base_url=live.base_url, api_key=raw_key, max_retries=0)
    # r/d is cheapest but fails: the router moves on to r/b, and after three failures in a
    # row r/d cools down and is not tried at all.
    for _ in range(3):
        raw, resolved = routed(client, model="orcarouter/auto", tools=TOOLS)
        assert resolved == "r/b"
    upstreams["openai"].reset()
    raw, resolved = routed(client, model="orcarouter/auto", tools=TOOLS)
    assert resolved == "r/b"
    assert [r.json["model"] for r in upstreams["openai"].requests] == ["fake-chat"]
    record = wait_for_usage(django_db_blocker, raw.headers["x-orca-request-id"])
    assert record.router == "orcarouter/auto" and record.attempts == []


def test_router_that_does_not_exist_or_fits_nothing(live, sdk, upstreams, db_access):
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model="orcarouter/nope", messages=HELLO)
    Router.objects.create(workspace=live.workspace, name="textonly", candidates=["r/a"])
    time.sleep(0.5)  # the server notices the new router on its next poll
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="orcarouter/textonly", messages=HELLO, tools=TOOLS)
    assert caught.value.body["code"] == "no_model_fits"
    assert "tools" in caught.value.body["message"]
    assert not upstreams["openai"].requests


def test_two_workspaces_routers_of_the_same_name_are_independent(
    live, upstreams, router_models, db_access
):
    Router.objects.create(workspace=live.workspace, name="mine", candidates=["r/a"])
    Router.objects.create(
        workspace=live.other_workspace, name="mine", candidates=["r/c"], strategy="fastest"
    )
    time.sleep(0.5)  # the servers notice the new routers on their next poll
    acme = openai.OpenAI(base_url=live.base_url, api_key=live.key, max_retries=0)
    globex = openai.OpenAI(base_url=live.base_url, api_key=live.other_key, max_retries=0)
    assert routed(acme, model="orcarouter/mine")[1] == "r/a"
    assert routed(globex, model="orcarouter/mine")[1] == "r/c"
    Router.objects.filter(workspace=live.other_workspace, name="mine").update(enabled=False)
    time.sleep(0.5)
    assert routed(acme, model="orcarouter/mine")[1] == "r/a"
    with pytest.raises(openai.NotFoundError):
        globex.chat.completions.create(model="orcarouter/mine", messages=HELLO)


def test_every_new_workspace_gets_orcarouter_auto(db):
    workspace, _ = services.get_or_create_workspace("fresh-team")
    router = Router.objects.get(workspace=workspace, name="auto")
    assert (router.strategy, router.candidates, router.enabled) == ("cheapest", [], True)


def test_routers_work_on_every_surface(live, upstreams, router_models, db_access):
    _, raw_key = live.new_key(name="auto a only", allowed_models=["r/a"])
    response = httpx.post(
        f"{live.server.base_url}/v1/messages",
        headers={"x-api-key": raw_key},
        json={"model": "orcarouter/auto", "max_tokens": 20, "messages": HELLO},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["x-orca-resolved-model"] == "r/a"
    assert json.loads(response.text)["content"][0]["text"] == "Hello from the fake upstream."


def test_provider_concurrency_cap_and_timeout_overrides(live, upstreams, django_db_blocker):
    with django_db_blocker.unblock():
        capped = Provider(
            slug="capped", name="Capped", kind="openai", base_url=live.upstream.base_url,
            max_concurrency=1, first_byte_timeout=0.3,
        )  # fmt: skip
        capped.set_credential(live.upstream.api_key)
        capped.save()
        for public_id, upstream in (
            ("capped/slow", "fake-slow-stream"),
            ("capped/hang", "fake-hang"),
        ):
            Model.objects.create(public_id=public_id, provider=capped, upstream_name=upstream)
    time.sleep(0.5)
    headers = {"Authorization": f"Bearer {live.key}"}
    url = f"{live.base_url}/chat/completions"
    slow = {"model": "capped/slow", "messages": HELLO, "stream": True}
    with httpx.stream("POST", url, headers=headers, json=slow, timeout=10) as first:
        lines = first.iter_lines()  # kept referenced: dropping it would close the stream
        next(lines)  # the only slot is taken while this stream runs
        second = httpx.post(url, headers=headers, json=slow, timeout=10)
        assert second.status_code == 429
        assert second.json()["error"]["code"] == "provider_busy"
    # The gateway frees the slot when it notices the client left (at the stream's next
    # chunk): until then the provider is still busy.
    deadline = time.monotonic() + 5
    while True:
        started = time.monotonic()
        hung = httpx.post(
            url, headers=headers, json={"model": "capped/hang", "messages": HELLO}, timeout=10
        )
        if hung.status_code != 429 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert hung.status_code == 504
    assert time.monotonic() - started < 1.2  # the provider's 0.3 s, not the gateway's 1.5 s
