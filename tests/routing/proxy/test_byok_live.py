"""BYOK and "not configured" against the live gateway and the fake upstreams.

A workspace's own provider key (saved through the management API) is what the upstream
receives, before the platform's; with fallback on a refused own key gives way to the
platform's, with it off the call fails; the usage row and the ledger say the call was BYOK
and it is charged the platform's fee (a second gateway runs with a 5 % fee). A model whose
provider has no credential is refused with 503 provider_not_configured on every surface,
before any upstream call, and orcarouter/auto passes it over."""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import httpx
import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from billing.models import LedgerEntry, UsageRecord
from billing.pricing import Metered, Prices, cost_pico
from billing.services import grant_credits
from routing.models import Model, Provider, ProviderCredential, Router
from tests.conftest import UPSTREAM_CREDENTIAL
from tests.fakes.openai_upstream import FakeOpenAIUpstream
from tests.live import LiveServer
from tests.reliability.clients import SURFACES, call
from tests.usage import wait_for_usage
from workspaces import services
from workspaces.models import Role

OWN_KEY = "sk-own-byok-CANARY-3c81f0aa"  # what the workspace's own server accepts
WRONG_KEY = "sk-wrong-byok-CANARY-77d0"  # a key the platform's fake refuses (401)
BARE_ENV = "ORCA_TEST_BARE_PROVIDER_KEY"  # never set: the bare provider is not configured
FEE = Decimal(5)


@dataclass
class Byok:
    own: FakeOpenAIUpstream  # the workspace's own OpenAI-compatible server
    fee_server: LiveServer  # a gateway whose BYOK fee is 5 %


@pytest.fixture(scope="module")
def byok(live, django_db_blocker, tmp_path_factory) -> Iterator[Byok]:
    own = FakeOpenAIUpstream(api_key=OWN_KEY).start()
    with django_db_blocker.unblock():
        platform = Provider(
            slug="byok-prov", name="BYOK provider", kind="openai", base_url=live.upstream.base_url
        )
        platform.set_credential(UPSTREAM_CREDENTIAL)
        platform.save()
        for public_id, upstream in (("byok/chat", "fake-chat"), ("byok/leaky", "fake-leaky-error")):
            Model.objects.create(
                public_id=public_id, provider=platform, upstream_name=upstream,
                input_price="1", output_price="2", context_length=128_000, max_output_tokens=100,
            )  # fmt: skip
        bare = Provider.objects.create(
            slug="bare-prov", name="Bare", kind="openai", base_url=live.upstream.base_url,
            credential_env=BARE_ENV,
        )  # fmt: skip
        # Free, so that a cheapest router would pick it first were it not left out.
        Model.objects.create(
            public_id="aaa-bare/chat", provider=bare, upstream_name="fake-chat",
            input_price="0", output_price="0", capabilities=["tools", "json_schema"],
        )  # fmt: skip
    server = LiveServer(
        tmp_path_factory.mktemp("byok") / "server.log", ORCA_BYOK_FEE_PERCENT=str(FEE)
    ).start()
    time.sleep(0.6)  # the shared server polls the config version every 0.25 s
    try:
        yield Byok(own, server)
    finally:
        server.stop()
        own.stop()


def _workspace(django_db_blocker, slug: str, credits: str = "10") -> tuple[object, str, APIClient]:
    """A workspace with a key, credits and an admin's API client."""
    with django_db_blocker.unblock():
        workspace, _ = services.get_or_create_workspace(slug)
        ProviderCredential.objects.filter(workspace=workspace).delete()
        if Decimal(credits):
            grant_credits(workspace.id, Decimal(credits), note="byok tests")
        _, key = services.create_api_key(workspace, name="byok")
        admin, _ = get_user_model().objects.get_or_create(username=f"{slug}-admin")
        services.add_member(workspace, admin, Role.ADMIN)
    client = APIClient()
    client.force_authenticate(admin)
    return workspace, key, client


def _save(django_db_blocker, client: APIClient, slug: str, **body) -> dict:
    with django_db_blocker.unblock():
        response = client.post(f"/api/workspaces/{slug}/providers/", body, format="json")
    assert response.status_code in (200, 201), response.content
    assert OWN_KEY not in response.content.decode() and WRONG_KEY not in response.content.decode()
    time.sleep(0.6)  # every gateway drops its caches within a poll (0.25 s)
    return response.json()


def _chat(base_url: str, key: str, model: str = "byok/chat", **extra) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "Hello"}], **extra}
    return httpx.post(
        f"{base_url}/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=20,
    )


def _authorizations(fake: FakeOpenAIUpstream) -> list[str]:
    return [r.headers.get("authorization", "") for r in fake.requests]


def _list_price(record: UsageRecord) -> int:
    prices = Prices.from_catalog(input_price=Decimal(1), output_price=Decimal(2))
    used = Metered(prompt_tokens=record.prompt_tokens, completion_tokens=record.completion_tokens)
    return cost_pico(prices, used)


def test_the_workspaces_own_key_and_server_serve_its_calls_free_by_default(
    live, byok, upstream, django_db_blocker
):
    _, key, admin = _workspace(django_db_blocker, "byok-own")
    byok.own.reset()
    saved = _save(
        django_db_blocker, admin, "byok-own",
        provider="byok-prov", credential=OWN_KEY, base_url=byok.own.base_url, allow_fallback=False,
    )  # fmt: skip
    assert saved["hint"] == OWN_KEY[-4:]

    response = _chat(live.server.base_url, key)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"]
    assert _authorizations(byok.own) == [f"Bearer {OWN_KEY}"]
    assert upstream.requests == []  # the platform's upstream saw nothing
    assert response.headers["x-orca-cost"] == "0"
    record = wait_for_usage(django_db_blocker, response.headers["x-orca-request-id"])
    assert record.byok is True and record.cost_pico == 0 and record.completion_tokens > 0
    with django_db_blocker.unblock():
        assert not LedgerEntry.objects.filter(request_id=record.request_id).exists()

    # Another workspace calling the same model still goes through the platform's key.
    other = _chat(live.server.base_url, live.other_key)
    assert other.status_code == 200
    assert _authorizations(upstream) == [f"Bearer {UPSTREAM_CREDENTIAL}"]
    assert len(byok.own.requests) == 1
    other_record = wait_for_usage(django_db_blocker, other.headers["x-orca-request-id"])
    assert other_record.byok is False and other_record.cost_pico == _list_price(other_record)


def test_a_refused_own_key_falls_back_to_the_platforms_only_when_allowed(
    live, byok, upstream, django_db_blocker
):
    _, key, admin = _workspace(django_db_blocker, "byok-fallback")
    _save(django_db_blocker, admin, "byok-fallback", provider="byok-prov", credential=WRONG_KEY)

    served = _chat(live.server.base_url, key)
    assert served.status_code == 200, served.text
    # Own key first (the fake refused it), then the platform's.
    assert _authorizations(upstream) == [f"Bearer {WRONG_KEY}", f"Bearer {UPSTREAM_CREDENTIAL}"]
    record = wait_for_usage(django_db_blocker, served.headers["x-orca-request-id"])
    assert record.byok is False  # served by the platform's key: charged the model's price
    assert record.cost_pico == _list_price(record) > 0
    assert [a["status"] for a in record.attempts] == [502]
    with django_db_blocker.unblock():
        spend = LedgerEntry.objects.get(request_id=record.request_id)
    assert spend.amount_pico == -record.cost_pico and spend.note == "byok/chat"

    upstream.reset()
    with django_db_blocker.unblock():
        changed = admin.patch(
            "/api/workspaces/byok-fallback/providers/byok-prov/",
            {"allow_fallback": False},
            format="json",
        )
    assert changed.status_code == 200
    time.sleep(0.6)
    refused = _chat(live.server.base_url, key)
    assert refused.status_code == 502, refused.text
    error = refused.json()["error"]
    assert error["code"] == "upstream_auth_failed"
    assert "workspace's own credential" in error["message"]
    assert WRONG_KEY not in refused.text
    assert _authorizations(upstream) == [f"Bearer {WRONG_KEY}"]  # never the platform's
    record = wait_for_usage(django_db_blocker, refused.headers["x-orca-request-id"])
    assert record.byok is True and record.cost_pico == 0 and record.status_code == 502


def test_the_byok_fee_is_charged_and_held_by_the_same_rule(live, byok, django_db_blocker):
    _, key, admin = _workspace(django_db_blocker, "byok-fee")
    _save(
        django_db_blocker, admin, "byok-fee",
        provider="byok-prov", credential=OWN_KEY, base_url=byok.own.base_url, allow_fallback=False,
    )  # fmt: skip
    response = _chat(byok.fee_server.base_url, key)
    assert response.status_code == 200, response.text
    record = wait_for_usage(django_db_blocker, response.headers["x-orca-request-id"])
    list_price = _list_price(record)
    fee = -(-list_price * int(FEE) // 100)  # 5 % of the model's price, rounded up
    assert record.byok is True and record.cost_pico == fee > 0
    assert response.headers["x-orca-cost"] == format(Decimal(fee) / 10**12, "f").rstrip("0")
    with django_db_blocker.unblock():
        spend = LedgerEntry.objects.get(request_id=record.request_id)
    assert spend.amount_pico == -fee and spend.note == "BYOK fee: byok/chat"


def test_the_hold_is_the_byok_price_so_an_empty_balance_still_serves_a_free_byok_call(
    live, byok, django_db_blocker
):
    _, key, admin = _workspace(django_db_blocker, "byok-broke", credits="0")
    _save(
        django_db_blocker, admin, "byok-broke",
        provider="byok-prov", credential=OWN_KEY, base_url=byok.own.base_url, allow_fallback=True,
    )  # fmt: skip
    # With fallback on the platform's key may serve it at the model's price: that is held.
    held = _chat(live.server.base_url, key)
    assert held.status_code == 402, held.text
    assert held.json()["error"]["code"] == "insufficient_quota"
    with django_db_blocker.unblock():
        admin.patch(
            "/api/workspaces/byok-broke/providers/byok-prov/",
            {"allow_fallback": False},
            format="json",
        )
    time.sleep(0.6)
    served = _chat(live.server.base_url, key)  # only the own key, at the 0 % fee: holds 0
    assert served.status_code == 200, served.text
    # On the 5 % gateway the fee is held: an empty balance cannot pay it.
    assert _chat(byok.fee_server.base_url, key).status_code == 402


def test_an_own_base_url_is_guarded_again_when_connecting(live, byok, django_db_blocker):
    """A row whose base URL reaches a metadata address (say its DNS changed after saving)
    is refused when the gateway connects, even under ORCA_UPSTREAM_ALLOW_PRIVATE."""
    workspace, key, _ = _workspace(django_db_blocker, "byok-ssrf")
    with django_db_blocker.unblock():
        row = ProviderCredential(
            workspace=workspace,
            provider=Provider.objects.get(slug="byok-prov"),
            base_url="http://169.254.169.254/v1",
            allow_fallback=False,
        )
        row.set_credential(OWN_KEY)
        row.save()  # written directly: the API would refuse it
    time.sleep(0.6)
    response = _chat(live.server.base_url, key)
    assert response.status_code == 502, response.text
    assert "cloud metadata" in response.json()["error"]["message"]
    assert OWN_KEY not in response.text


# --- not configured ---------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("surface", SURFACES)
def test_a_model_without_a_credential_is_503_on_every_surface(
    live, byok, upstream, surface, stream, django_db_blocker
):
    outcome = call(live.server.base_url, live.key, surface, "aaa-bare/chat", "Hello", stream)
    assert outcome.status == 503, outcome.body
    error = outcome.error
    assert error is not None, outcome.body
    if surface == "messages":
        assert outcome.body.startswith('{"type":"error"') and error["type"] == "api_error"
    elif surface == "generate":
        assert error["status"] == "UNAVAILABLE" and error["code"] == 503
    else:
        assert error["code"] == "provider_not_configured", error
    assert BARE_ENV in error["message"] and "BYOK" in error["message"]
    assert upstream.requests == []  # nothing was sent anywhere
    record = wait_for_usage(django_db_blocker, outcome.request_id)  # in the request log
    assert (record.status_code, record.error_code) == (503, "provider_not_configured")
    assert record.cost_pico == 0 and record.model == "aaa-bare/chat"
    with django_db_blocker.unblock():
        assert not LedgerEntry.objects.filter(request_id=outcome.request_id).exists()


def test_the_chat_error_names_the_code_and_nothing_is_held(live, byok, upstream):
    response = _chat(live.server.base_url, live.key, "aaa-bare/chat")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "provider_not_configured" and error["param"] == "model"
    assert error["type"] == "orcarouter_api_error"
    # A fallback chain skips it and serves the next model.
    chained = _chat(
        live.server.base_url, live.key, "aaa-bare/chat", models=["fake/chat"], route="fallback"
    )
    assert chained.status_code == 200 and chained.headers["x-orca-fallback-level"] == "1"


def test_auto_and_routers_leave_unconfigured_models_out(live, byok, django_db_blocker):
    with django_db_blocker.unblock():
        Router.objects.get_or_create(
            workspace=live.workspace, name="bare-only", defaults={"candidates": ["aaa-bare/*"]}
        )
    time.sleep(0.6)
    auto = _chat(live.server.base_url, live.key, "orcarouter/auto")
    assert auto.status_code == 200, auto.text
    # aaa-bare/chat is free and first by name: the cheapest strategy would pick it.
    assert auto.headers["x-orca-resolved-model"] != "aaa-bare/chat"
    only = _chat(live.server.base_url, live.key, "orcarouter/bare-only")
    assert only.status_code == 400 and only.json()["error"]["code"] == "no_model_fits"


def test_the_workspaces_own_key_configures_a_model_for_it_alone(live, byok, django_db_blocker):
    _, key, admin = _workspace(django_db_blocker, "byok-bare")
    byok.own.reset()
    _save(
        django_db_blocker, admin, "byok-bare",
        provider="bare-prov", credential=OWN_KEY, base_url=byok.own.base_url,
    )  # fmt: skip
    served = _chat(live.server.base_url, key, "aaa-bare/chat")
    assert served.status_code == 200, served.text
    assert _authorizations(byok.own) == [f"Bearer {OWN_KEY}"]
    record = wait_for_usage(django_db_blocker, served.headers["x-orca-request-id"])
    assert record.byok is True
    auto = _chat(live.server.base_url, key, "orcarouter/auto")
    assert auto.headers["x-orca-resolved-model"] == "aaa-bare/chat"  # configured for it now
    # Everyone else still gets the 503.
    assert _chat(live.server.base_url, live.other_key, "aaa-bare/chat").status_code == 503
