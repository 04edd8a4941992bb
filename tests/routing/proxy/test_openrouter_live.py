"""OpenRouter's account endpoints (/api/v1/key, /credits, /models, /generation and chat
completions under its base URL) against live gateways on PostgreSQL and Redis, with real
figures from calls billed through the relay."""

import time
from decimal import Decimal

import httpx
import openai
import pytest
from django.conf import settings

from billing.models import UsageRecord
from billing.pricing import format_usd
from billing.services import grant_credits
from routing.models import Model, Provider, ProviderCredential
from tests.conftest import UPSTREAM_CREDENTIAL
from tests.live import LiveServer
from tests.usage import wait_for_usage
from workspaces import services
from workspaces.models import ApiKey

HELLO = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def slow_writer(live, tmp_path_factory):
    """A gateway that keeps its usage records in memory for 30 s: what it answers about the
    calls it served comes from its buffer, what the other gateway answers from Redis."""
    log_path = tmp_path_factory.mktemp("slow-writer") / "server.log"
    server = LiveServer(log_path, ORCA_USAGE_FLUSH_SECONDS="30").start()
    yield server
    server.stop()


def workspace_with_key(django_db_blocker, slug: str, credits: str | None = "5", **key_fields):
    with django_db_blocker.unblock():
        workspace, _ = services.get_or_create_workspace(slug)
        ApiKey.objects.filter(workspace=workspace).delete()
        if credits:
            grant_credits(workspace.id, Decimal(credits), note="openrouter test")
        key, raw = services.create_api_key(workspace, name=f"{slug} key")
        if key_fields:
            ApiKey.objects.filter(pk=key.pk).update(**key_fields)
    time.sleep(0.5)  # the servers see the new key
    return workspace, key, raw


def get(base_url: str, path: str, key: str | None, **kwargs) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.get(base_url + path, headers=headers, timeout=10, **kwargs)


def chat(base_url: str, key: str, model: str = "fake/chat") -> str:
    client = openai.OpenAI(base_url=base_url + "/v1", api_key=key, max_retries=0, timeout=20)
    raw = client.chat.completions.with_raw_response.create(model=model, messages=HELLO)
    return raw.headers["x-orca-request-id"]


def usd(pico: int) -> float:
    return float(Decimal(pico) / 10**12)


def test_key_and_credits_show_what_billed_calls_really_cost(
    live, slow_writer, upstreams, django_db_blocker
):
    _, key, raw = workspace_with_key(
        django_db_blocker,
        "or-spend",
        spend_limit_usd=Decimal("2"),
        daily_limit_usd=Decimal("0.5"),
        rpm_limit=60,
        tpm_limit=100_000,
    )
    before = get(live.server.base_url, "/api/v1/key", raw)
    assert before.status_code == 200, before.text
    data = before.json()["data"]
    assert data["usage"] == data["usage_daily"] == 0
    assert data["label"] == key.prefix and data["name"] == "or-spend key"
    assert (data["limit"], data["limit_reset"], data["limit_remaining"]) == (0.5, "daily", 0.5)
    assert {b["reset_interval"]: b["limit_usd"] for b in data["budgets"]} == {None: 2, "daily": 0.5}
    assert data["is_free_tier"] is False
    assert data["rate_limit"]["requests"] == 60
    assert data["x_orca_rate_limits"]["key_tokens_per_minute"] == 100_000

    # Two calls through the gateway that holds its records back: neither is in PostgreSQL.
    calls = [chat(slow_writer.base_url, raw), chat(slow_writer.base_url, raw)]
    with django_db_blocker.unblock():
        assert not UsageRecord.objects.filter(request_id__in=calls).exists()
    # The call's cost as the generation endpoint of the serving gateway reports it.
    costs = [
        Decimal(
            get(slow_writer.base_url, "/v1/generation", raw, params={"id": c}).json()["data"][
                "total_cost"
            ]
        )
        for c in calls
    ]
    spent = sum(costs)
    assert spent > 0
    servers = [slow_writer.base_url]  # its own buffer
    if settings.REDIS_URL:
        time.sleep(0.2)  # the settlements ride along within 50 ms
        servers.append(live.server.base_url)  # the settled calls in Redis
    for base_url in servers:
        data = get(base_url, "/api/v1/key", raw).json()["data"]
        assert Decimal(str(data["usage"])) == spent, base_url
        assert data["usage_daily"] == data["usage_weekly"] == data["usage_monthly"] == data["usage"]
        assert data["limit_remaining"] == float(Decimal("0.5") - spent)
        credits = get(base_url, "/api/v1/credits", raw).json()["data"]
        assert credits == {"total_credits": 5.0, "total_usage": float(spent)}, base_url

    # Once written, the database alone gives the same figures.
    slow_writer.stop()
    slow_writer.start()
    records = [wait_for_usage(django_db_blocker, c) for c in calls]
    assert [Decimal(format_usd(r.cost_pico)) for r in records] == costs
    data = get(live.server.base_url, "/api/v1/key", raw).json()["data"]
    assert Decimal(str(data["usage"])) == spent
    credits = get(live.server.base_url, "/api/v1/credits", raw).json()["data"]
    assert credits["total_usage"] == usd(sum(r.cost_pico for r in records))


def test_a_key_without_caps_and_a_workspace_never_credited(live, django_db_blocker):
    _, _, raw = workspace_with_key(django_db_blocker, "or-free", credits=None)
    data = get(live.server.base_url, "/api/v1/key", raw).json()["data"]
    assert (data["limit"], data["limit_remaining"], data["limit_reset"]) == (None, None, None)
    assert data["budgets"] == [] and data["effective_budget"] is None
    assert data["is_free_tier"] is True
    assert data["rate_limit"]["requests"] == -1
    legacy = get(live.server.base_url, "/api/v1/auth/key", raw).json()["data"]
    assert legacy == data
    credits = get(live.server.base_url, "/api/v1/credits", raw).json()["data"]
    assert credits == {"total_credits": 0.0, "total_usage": 0.0}


def test_models_in_openrouter_shape_priced_per_token_as_the_workspace_pays(live, django_db_blocker):
    _, _, raw = workspace_with_key(django_db_blocker, "or-models", allowed_models=["fake/*"])
    answer = get(live.server.base_url, "/api/v1/models", raw)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    ids = [m["id"] for m in body["data"]]
    assert body["total_count"] == len(ids) and body["links"] == {"next": None}
    assert ids and all(i.startswith("fake/") for i in ids)
    assert "fake/embed" not in ids  # embeddings only when asked for
    chat_model = next(m for m in body["data"] if m["id"] == "fake/chat")
    with django_db_blocker.unblock():
        row = Model.objects.get(public_id="fake/chat")
    assert chat_model["pricing"]["prompt"] == format(
        (row.input_price / 10**6).normalize(), "f"
    )  # 0.15 per 1M -> "0.00000015"
    assert chat_model["pricing"]["prompt"] == "0.00000015"
    assert chat_model["pricing"]["completion"] == "0.0000006"
    assert chat_model["pricing"]["input_cache_read"] == "0.000000075"
    assert chat_model["context_length"] == 128_000
    assert chat_model["top_provider"] == {
        "context_length": 128_000,
        "max_completion_tokens": 16_384,
        "is_moderated": False,
    }
    assert chat_model["architecture"] == {
        "modality": "text->text",
        "input_modalities": ["text"],
        "output_modalities": ["text"],
        "tokenizer": "Other",
        "instruct_type": None,
    }
    assert {"tools", "response_format", "max_tokens"} <= set(chat_model["supported_parameters"])
    responder = next(m for m in body["data"] if m["id"] == "fake/responder")
    assert responder["pricing"]["web_search"] == "0.01"  # per search
    assert responder["architecture"]["input_modalities"] == ["text", "image"]

    embeddings = get(
        live.server.base_url, "/api/v1/models", raw, params={"output_modalities": "embeddings"}
    ).json()["data"]
    assert [m["id"] for m in embeddings] == ["fake/embed", "fake/embed-500", "fake/embed-leaky"]
    assert embeddings[0]["architecture"]["output_modalities"] == ["embeddings"]
    with_tools = get(
        live.server.base_url, "/api/v1/models", raw, params={"supported_parameters": "reasoning"}
    ).json()["data"]
    assert {m["id"] for m in with_tools} == {i for i in ids if i.startswith("fake/respo")}


def test_model_prices_include_the_workspace_markup(live, django_db_blocker):
    workspace, _, raw = workspace_with_key(django_db_blocker, "or-markup")
    with django_db_blocker.unblock():
        workspace.markup_percent = Decimal("10")
        workspace.save()
    time.sleep(0.5)
    models = get(live.server.base_url, "/api/v1/models", raw).json()["data"]
    chat_model = next(m for m in models if m["id"] == "fake/chat")
    assert chat_model["pricing"]["prompt"] == "0.000000165"  # 0.15 per 1M, plus 10 %
    plain = get(live.server.base_url, "/v1/models", raw).json()["data"]
    assert next(m for m in plain if m["id"] == "fake/chat")["pricing"]["prompt"] == "0.00000015"


def test_generation_under_both_paths(live, sdk, upstreams):
    raw = sdk.chat.completions.with_raw_response.create(model="fake/chat", messages=HELLO)
    request_id = raw.headers["x-orca-request-id"]
    orca = get(live.server.base_url, "/v1/generation", live.key, params={"id": request_id})
    openrouter = get(
        live.server.base_url, "/api/v1/generation", live.key, params={"id": request_id}
    )
    assert orca.status_code == openrouter.status_code == 200
    mine, theirs = orca.json()["data"], openrouter.json()["data"]
    assert isinstance(mine["total_cost"], str)  # /v1/generation's own shape is unchanged
    assert theirs["total_cost"] == theirs["usage"] == float(Decimal(mine["total_cost"]))
    assert theirs["x_orca_total_cost"] == mine["total_cost"]
    assert theirs["id"] == theirs["request_id"] == request_id
    assert (theirs["tokens_prompt"], theirs["tokens_completion"]) == (
        mine["tokens_prompt"],
        mine["tokens_completion"],
    )
    assert theirs["api_type"] == "completions" and theirs["cancelled"] is False
    other = get(
        live.server.base_url, "/api/v1/generation", live.other_key, params={"id": request_id}
    )
    assert other.status_code == 404
    assert other.json()["error"]["code"] == 404


def test_chat_completions_under_the_openrouter_base_url(live, upstreams):
    client = openai.OpenAI(
        base_url=live.server.base_url + "/api/v1", api_key=live.key, max_retries=0, timeout=20
    )
    answer = client.chat.completions.create(model="fake/chat", messages=HELLO)
    assert answer.choices[0].message.content
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="fake/no-such-model", messages=HELLO)
    assert caught.value.body["code"] == 404  # OpenRouter's envelope: the status as the code


@pytest.mark.parametrize(
    ("method", "path", "key", "status", "needle"),
    [
        ("GET", "/api/v1/key", None, 401, "missing API key"),
        ("GET", "/api/v1/key", "sk-orca-" + "x" * 43, 401, "invalid API key"),
        ("GET", "/api/v1/credits", "not-a-key", 401, "invalid API key"),
        ("GET", "/api/v1/models", None, 401, "missing API key"),
        ("POST", "/api/v1/key", "live", 405, "use GET"),
        ("GET", "/api/v1/no-such-thing", "live", 404, "Invalid URL"),
        ("GET", "/api/v1/generation", "live", 400, "`id` is required"),
        ("GET", "/api/v1/generation?id=" + "r" * 41, "live", 400, "longer than a request id"),
        ("GET", "/api/v1/generation?id=a%00b", "live", 400, "NUL"),
        ("GET", "/api/v1/generation?id=%FF", "live", 400, "UTF-8"),
        ("GET", "/api/v1/models?output_modalities=video", "live", 400, "output_modalities"),
        ("GET", "/api/v1/models?supported_parameters=,", "live", 400, "supported_parameters"),
        ("GET", "/api/v1/ke%00y", "live", 400, "NUL"),
    ],
)
def test_errors_in_openrouters_envelope(live, method, path, key, status, needle):
    raw_key = live.key if key == "live" else key
    headers = {"Authorization": f"Bearer {raw_key}"} if raw_key else {}
    response = httpx.request(method, live.server.base_url + path, headers=headers, timeout=10)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == status
    assert needle in error["message"]


def test_models_are_the_workspaces_view_own_credentials_and_unconfigured(
    live, upstreams, django_db_blocker
):
    """With its own credential for a provider a workspace pays the BYOK fee there (0 % on
    this gateway); a model no credential can serve is not listed; a BYOK call says so."""
    _, _, raw = workspace_with_key(django_db_blocker, "or-byok")
    with django_db_blocker.unblock():
        workspace = ApiKey.objects.get(workspace__slug="or-byok").workspace
        own = ProviderCredential(workspace=workspace, provider=Provider.objects.get(slug="fake"))
        own.set_credential(UPSTREAM_CREDENTIAL)
        own.save()
        bare = Provider.objects.create(  # its variable is set nowhere: not configured
            slug="or-bare", name="no credential", kind="openai",
            base_url="http://127.0.0.1:9/v1", credential_env="OR_BARE_UNSET_KEY",
        )  # fmt: skip
        Model.objects.create(public_id="or-bare/chat", provider=bare, upstream_name="x")
    try:
        time.sleep(0.6)
        models = {
            m["id"]: m for m in get(live.server.base_url, "/api/v1/models", raw).json()["data"]
        }
        assert "or-bare/chat" not in models
        assert models["fake/chat"]["pricing"]["prompt"] == "0"  # the fee share of the price
        assert models["anthropic-fake/claude"]["pricing"]["prompt"] == "0.000003"  # not theirs
        request_id = chat(live.server.base_url, raw)
        generation = get(live.server.base_url, "/api/v1/generation", raw, params={"id": request_id})
        assert generation.json()["data"]["is_byok"] is True
        assert generation.json()["data"]["total_cost"] == 0
    finally:
        with django_db_blocker.unblock():
            Model.objects.filter(provider=bare).delete()
            bare.delete()
            own.delete()
