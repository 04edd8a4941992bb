"""The fault matrix's catalog (one model per upstream kind, plus one per kind whose provider
listens nowhere), its workspaces, and a second gateway with a short total timeout."""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import pytest

from billing.services import grant_credits
from routing.models import Model, Provider
from tests.conftest import ANTHROPIC_CREDENTIAL, GEMINI_CREDENTIAL, UPSTREAM_CREDENTIAL
from tests.live import LiveServer, free_port
from workspaces import services
from workspaces.models import Workspace

KINDS = ("openai", "anthropic", "gemini")
UPSTREAM_NAMES = {"openai": "fake-chat", "anthropic": "claude-fake", "gemini": "gemini-fake"}
# Dear enough that no "cheapest" router elsewhere would ever pick them while they exist.
INPUT_PRICE = Decimal(30)
OUTPUT_PRICE = Decimal(150)
MATRIX_TOTAL_TIMEOUT = 3.0


@dataclass
class FaultCatalog:
    models: dict[str, str]  # kind -> public id answered by that kind's fake
    unreachable: dict[str, str]  # kind -> public id whose provider's port is closed
    workspace: Workspace
    key: str


def _base_urls(live) -> dict[str, str]:
    return {
        "openai": live.upstream.base_url,
        "anthropic": live.anthropic_upstream.base_url + "/v1",
        "gemini": live.gemini_upstream.base_url + "/v1beta",
    }


@pytest.fixture(scope="package")
def fault_catalog(live, django_db_blocker) -> Iterator[FaultCatalog]:
    credentials = {
        "openai": UPSTREAM_CREDENTIAL,
        "anthropic": ANTHROPIC_CREDENTIAL,
        "gemini": GEMINI_CREDENTIAL,
    }
    closed = free_port()  # nothing listens there: connection refused
    paths = {"openai": "/v1", "anthropic": "/v1", "gemini": "/v1beta"}
    created: list[Provider] = []
    models, unreachable = {}, {}
    with django_db_blocker.unblock():
        for kind in KINDS:
            for slug, base_url, into in (
                (f"faults-{kind}", _base_urls(live)[kind], models),
                (f"faults-down-{kind}", f"http://127.0.0.1:{closed}{paths[kind]}", unreachable),
            ):
                provider = Provider(slug=slug, name=slug, kind=kind, base_url=base_url)
                provider.set_credential(credentials[kind])
                provider.save()
                created.append(provider)
                public_id = f"{slug.replace('-' + kind, '')}/{kind}"
                Model.objects.create(
                    public_id=public_id,
                    provider=provider,
                    upstream_name=UPSTREAM_NAMES[kind],
                    input_price=INPUT_PRICE,
                    output_price=OUTPUT_PRICE,
                    context_length=128_000,
                    max_output_tokens=4096,
                )
                into[kind] = public_id
        workspace, _ = services.get_or_create_workspace("fault-matrix")
        _, key = services.create_api_key(workspace, name="faults")
        grant_credits(workspace.id, Decimal(100), note="fault matrix")
    time.sleep(0.6)  # running servers poll the config version every 0.25 s
    yield FaultCatalog(models, unreachable, workspace, key)
    with django_db_blocker.unblock():
        for provider in created:  # other packages' routers must not meet these models
            Model.objects.filter(provider=provider).delete()
            provider.delete()


@pytest.fixture(scope="package")
def matrix_server(live, fault_catalog, tmp_path_factory) -> Iterator[LiveServer]:
    """A gateway whose total deadline is short enough to hit in a test."""
    log_path = tmp_path_factory.mktemp("matrix") / "server.log"
    server = LiveServer(log_path, ORCA_UPSTREAM_TOTAL_TIMEOUT=str(MATRIX_TOTAL_TIMEOUT)).start()
    yield server
    server.stop()
