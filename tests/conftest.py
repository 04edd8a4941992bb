"""Shared fixtures: a fake OpenAI-compatible upstream, committed catalog and workspace data,
and a live Orca server process that the official SDKs talk to."""

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from billing.services import grant_credits
from routing.models import Model, Provider
from tests.fakes.anthropic_upstream import FakeAnthropicUpstream
from tests.fakes.gemini_upstream import FakeGeminiUpstream
from tests.fakes.openai_upstream import FakeOpenAIUpstream
from tests.fakes.stripe_api import FakeStripe
from tests.live import LiveServer, free_port
from workspaces import services
from workspaces.models import ApiKey, Workspace

# Every fake upstream (and test server) listens on 127.0.0.1, which the SSRF guard refuses by
# default: allowed for the whole session, in this process (pytest-django has loaded the
# settings by now) and in the servers it starts (tests/live.py). Tests of the guard itself
# turn it back off with the `settings` fixture.
settings.ORCA_UPSTREAM_ALLOW_PRIVATE = True

UPSTREAM_CREDENTIAL = "upstream-credential-CANARY-7f3a9c"
ANTHROPIC_CREDENTIAL = "anthropic-credential-CANARY-51d2"
GEMINI_CREDENTIAL = "gemini-credential-CANARY-90be"

# Public model id -> upstream model name the fake understands.
FAKE_MODELS = {
    "fake/chat": "fake-chat",
    "dup/chat": "fake-chat",  # makes the bare name "chat" ambiguous
    "fake/solo": "fake-chat",  # bare "solo" resolves unambiguously
    "fake/error-500": "fake-error-500",
    "fake/error-429": "fake-error-429",
    "fake/error-400": "fake-error-400",
    "fake/leaky": "fake-leaky-error",
    "fake/slow": "fake-slow-stream",
    "fake/hang": "fake-hang",
    "fake/stall": "fake-stall-midstream",
    "fake/drop": "fake-drop-midstream",
    "fake/malformed": "fake-malformed",
}


# Embedding models (catalog endpoint type "embeddings"), by provider slug:
# public id -> upstream model name. Priced per input token ($0.10/M), no output price.
EMBEDDING_MODELS = {
    "fake": {
        "fake/embed": "text-embedding-fake",
        "fake/embed-500": "fake-error-500",
        "fake/embed-leaky": "fake-leaky-error",
    },
    "fake-gemini": {
        "gemini-fake/embed": "gemini-embedding-fake",
        "gemini-fake/embed-500": "gemini-error-500",
    },
    "demo": {"orca/demo-embed": "orca-demo-embed"},
}


# Models on the fake OpenAI upstream's native Responses API (`endpoints` with "responses"):
# public id -> (upstream model name, endpoints). Web searches cost $0.01 each.
RESPONSES_MODELS = {
    "fake/responder": ("fake-responder", ["chat", "responses"]),
    "fake/responses-only": ("fake-pro", ["responses"]),
    "fake/responder-midstream": ("fake-midstream-error", ["chat", "responses"]),
    "fake/responder-leaky": ("fake-leaky-error", ["chat", "responses"]),
    "fake/responder-500": ("fake-error-500", ["chat", "responses"]),
}


# Native-kind fakes: public id -> upstream model name. Web searches cost $0.01 each.
ANTHROPIC_MODELS = {
    "anthropic-fake/claude": "claude-fake",
    "anthropic-fake/error-500": "claude-error-500",
    "anthropic-fake/error-529": "claude-error-529",
    "anthropic-fake/error-429": "claude-error-429",
    "anthropic-fake/error-400": "claude-error-400",
    "anthropic-fake/midstream": "claude-midstream-error",
    "anthropic-fake/slow": "claude-slow-stream",
    # Real model ids, for the fake's per-generation thinking rules (anthropic_validation.py).
    "anthropic-fake/opus-4.7": "claude-opus-4-7",
    "anthropic-fake/sonnet-4.5": "claude-sonnet-4-5-20250929",
}
GEMINI_MODELS = {
    "gemini-fake/flash": "gemini-fake",
    "gemini-fake/error-500": "gemini-error-500",
    "gemini-fake/error-429": "gemini-error-429",
    "gemini-fake/error-400": "gemini-error-400",
    "gemini-fake/midstream": "gemini-midstream-error",
    "gemini-fake/slow": "gemini-slow-stream",
    "gemini-fake/gemini-3": "gemini-3-flash-fake",  # Gemini 3's thought signature rule
}


@dataclass
class LiveOrca:
    server: LiveServer
    upstream: FakeOpenAIUpstream
    key: str  # a key of workspace "acme" that may use every model
    workspace: Workspace
    other_key: str  # a key of workspace "globex"
    other_workspace: Workspace
    log_path: Path
    anthropic_upstream: FakeAnthropicUpstream
    gemini_upstream: FakeGeminiUpstream
    stripe: FakeStripe  # the server's Stripe: top-ups on, webhooks signed by it

    @property
    def base_url(self) -> str:
        return self.server.base_url + "/v1"

    def new_key(self, **options) -> tuple[ApiKey, str]:
        return services.create_api_key(self.workspace, **options)


@pytest.fixture(scope="session")
def django_db_setup(
    request, django_test_environment, django_db_blocker, django_db_keepdb, django_db_createdb
):
    """Always set up the default test database: the live-server tests use it without the
    `django_db` mark (their rows must be committed for the server process to see them)."""
    from django.conf import settings
    from django.test.utils import setup_databases, teardown_databases

    if settings.REDIS_URL:
        # Balances and counters in Redis are keyed by database ids, which a new test
        # database hands out again: start from an empty Redis database (tests use their own).
        import redis

        redis.Redis.from_url(settings.REDIS_URL).flushdb()

    with django_db_blocker.unblock():
        config = setup_databases(
            verbosity=request.config.option.verbose,
            interactive=False,
            keepdb=django_db_keepdb and not django_db_createdb,
            aliases={"default"},
        )
    yield
    if not django_db_keepdb:
        with django_db_blocker.unblock():
            teardown_databases(config, verbosity=request.config.option.verbose)


@pytest.fixture(scope="session")
def fake_upstream() -> Iterator[FakeOpenAIUpstream]:
    upstream = FakeOpenAIUpstream(api_key=UPSTREAM_CREDENTIAL).start()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="session")
def fake_stripe() -> Iterator[FakeStripe]:
    stripe = FakeStripe().start()
    yield stripe
    stripe.stop()


def stripe_environment(stripe: FakeStripe, public_base_url: str) -> dict[str, str]:
    """The settings that turn Stripe top-ups on against the fake."""
    return {
        "STRIPE_SECRET_KEY": stripe.api_key,
        "STRIPE_WEBHOOK_SECRET": stripe.webhook_secret,
        "STRIPE_API_BASE": stripe.base_url,
        "ORCA_PUBLIC_BASE_URL": public_base_url,
    }


@pytest.fixture(scope="session")
def fake_native_upstreams() -> Iterator[tuple[FakeAnthropicUpstream, FakeGeminiUpstream]]:
    anthropic = FakeAnthropicUpstream(api_key=ANTHROPIC_CREDENTIAL).start()
    gemini = FakeGeminiUpstream(api_key=GEMINI_CREDENTIAL).start()
    yield anthropic, gemini
    anthropic.stop()
    gemini.stop()


def _seed_native(anthropic: FakeAnthropicUpstream, gemini: FakeGeminiUpstream) -> None:
    for slug, kind, base_url, credential, models in (
        (
            "fake-anthropic",
            "anthropic",
            anthropic.base_url + "/v1",
            ANTHROPIC_CREDENTIAL,
            ANTHROPIC_MODELS,
        ),
        ("fake-gemini", "gemini", gemini.base_url + "/v1beta", GEMINI_CREDENTIAL, GEMINI_MODELS),
    ):
        provider = Provider(slug=slug, name=slug, kind=kind, base_url=base_url)
        provider.set_credential(credential)
        provider.save()
        for public_id, upstream_name in models.items():
            Model.objects.create(
                public_id=public_id,
                provider=provider,
                upstream_name=upstream_name,
                input_price="3",
                output_price="15",
                cached_input_price="0.3",
                extra_prices={"web_search": "0.01"},
                context_length=200_000,
                max_output_tokens=8192,
                capabilities=["tools", "vision", "json_schema", "reasoning"],
            )


def _seed_catalog(upstream: FakeOpenAIUpstream) -> None:
    provider = Provider(
        slug="fake", name="Fake upstream", kind="openai", base_url=upstream.base_url
    )
    provider.set_credential(UPSTREAM_CREDENTIAL)
    provider.save()
    for public_id, upstream_name in FAKE_MODELS.items():
        Model.objects.create(
            public_id=public_id,
            provider=provider,
            upstream_name=upstream_name,
            input_price="0.15",
            output_price="0.60",
            cached_input_price="0.075",
            context_length=128_000,
            max_output_tokens=16_384,
            capabilities=["tools", "json_schema"],
        )
    demo = Provider.objects.create(slug="demo", name="Demo", kind="demo")
    Model.objects.create(public_id="orca/demo", provider=demo, upstream_name="orca-demo")


def _seed_responses() -> None:
    provider = Provider.objects.get(slug="fake")
    for public_id, (upstream_name, endpoints) in RESPONSES_MODELS.items():
        Model.objects.create(
            public_id=public_id,
            provider=provider,
            upstream_name=upstream_name,
            input_price="2",
            output_price="8",
            cached_input_price="0.5",
            extra_prices={"web_search": "0.01"},
            context_length=400_000,
            max_output_tokens=32_000,
            capabilities=["tools", "vision", "json_schema", "reasoning"],
            endpoint_types=endpoints,
        )


def _seed_embeddings() -> None:
    for slug, models in EMBEDDING_MODELS.items():
        provider = Provider.objects.get(slug=slug)
        for public_id, upstream_name in models.items():
            Model.objects.create(
                public_id=public_id,
                provider=provider,
                upstream_name=upstream_name,
                input_price="0.10",
                output_price="0",
                context_length=8192,
                endpoint_types=["embeddings"],
            )


@pytest.fixture(scope="session")
def live(
    django_db_setup,
    django_db_blocker,
    fake_upstream,
    fake_native_upstreams,
    fake_stripe,
    tmp_path_factory,
) -> Iterator[LiveOrca]:
    """Committed data (outside any test transaction) and one running server for the session."""
    with django_db_blocker.unblock():
        _seed_catalog(fake_upstream)
        _seed_native(*fake_native_upstreams)
        _seed_embeddings()
        _seed_responses()
        acme, _ = services.get_or_create_workspace("acme")
        globex, _ = services.get_or_create_workspace("globex")
        _, key = services.create_api_key(acme, name="live")
        _, other_key = services.create_api_key(globex, name="live")
        for workspace in (acme, globex):
            grant_credits(workspace.id, Decimal(1000), note="test session")
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    # JSON logs (ORCA_LOG_FORMAT=json): the canaries search them for secrets.
    server = LiveServer(
        log_path, port=port, ORCA_LOG_FORMAT="json", **stripe_environment(fake_stripe, public)
    )
    fake_stripe.webhook_url = public + "/billing/stripe/webhook/"
    server.start()
    try:
        yield LiveOrca(
            server,
            fake_upstream,
            key,
            acme,
            other_key,
            globex,
            log_path,
            *fake_native_upstreams,
            fake_stripe,
        )
    finally:
        server.stop()


@pytest.fixture
def upstream(live) -> FakeOpenAIUpstream:
    """The fake upstream with its request log cleared for this test."""
    live.upstream.reset()
    return live.upstream


@pytest.fixture
def upstreams(live) -> Iterator[dict]:
    """All three fakes by kind, their request logs cleared for this test."""
    fakes = {
        "openai": live.upstream,
        "anthropic": live.anthropic_upstream,
        "gemini": live.gemini_upstream,
    }
    for fake in fakes.values():
        fake.reset()
    yield fakes
    # Every request Orca sent must have been valid for the provider's own API.
    for kind in ("anthropic", "gemini"):
        assert fakes[kind].rejections == [], f"{kind} upstream refused: {fakes[kind].rejections}"


@pytest.fixture
def sdk(live):
    import openai

    return openai.OpenAI(base_url=live.base_url, api_key=live.key, max_retries=0, timeout=20)


@pytest.fixture
def db_access(django_db_blocker):
    """ORM access outside a transaction, for tests that share committed rows with the server."""
    with django_db_blocker.unblock():
        yield


@pytest.fixture(scope="session")
def redis_url():
    """A Redis database for tests of Redis code itself: db 14 of the configured server, else
    of a throwaway redis-server."""
    from django.conf import settings

    if settings.REDIS_URL:
        parts = urlsplit(settings.REDIS_URL)
        yield f"{parts.scheme}://{parts.netloc}/14"
        return
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("needs REDIS_URL or a redis-server binary")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/14"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def redis_db(redis_url):
    """A plain redis-py client on `redis_url`, emptied before and after the test."""
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Tests on the live server last: the session's committed data (the `live` fixture) is
    made when the first of them runs, and a transactional test run after that would empty
    every table under the server's feet."""
    items.sort(key=lambda item: "live" in getattr(item, "fixturenames", ()))
