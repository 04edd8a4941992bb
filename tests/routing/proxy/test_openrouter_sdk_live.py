"""OpenRouter's official Python SDK (`openrouter`) against a live Orca: its typed models
validate every answer, so a field Orca left out or typed wrongly fails here."""

import time
from decimal import Decimal

import pytest
from openrouter import OpenRouter, errors

from billing.models import UsageRecord
from billing.pricing import format_usd
from billing.services import grant_credits
from workspaces import services
from workspaces.models import ApiKey, ManagementKey, Role

HELLO = [{"role": "user", "content": "hi"}]
# The SDK warns whenever it parses a field OpenRouter deprecated but still requires (/key's
# rate_limit and is_provisioning_key): Orca sends them because the SDK refuses answers
# without them.
pytestmark = pytest.mark.filterwarnings("ignore:.*DEPRECATED.*:DeprecationWarning")


@pytest.fixture
def sdk_workspace(live, db_access):
    """A workspace with credit, an API key with a daily cap and an admin management key."""
    workspace, _ = services.get_or_create_workspace("or-sdk")
    ApiKey.objects.filter(workspace=workspace).delete()
    ManagementKey.objects.filter(workspace=workspace).delete()
    if not workspace.ledger.exists():
        grant_credits(workspace.id, Decimal(3), note="sdk test")
    key, raw = services.create_api_key(workspace, name="sdk")
    ApiKey.objects.filter(pk=key.pk).update(daily_limit_usd=Decimal("0.25"), rpm_limit=100)
    _, management = services.create_management_key(workspace, role=Role.ADMIN, name="sdk")
    time.sleep(0.5)  # the server sees the new keys
    return workspace, raw, management, key.id


def record_of_key(django_db_blocker, key_id: int, timeout: float = 5.0) -> UsageRecord:
    """The key's one call's usage record, once the server has written it."""
    deadline = time.monotonic() + timeout
    while True:
        with django_db_blocker.unblock():
            record = UsageRecord.objects.filter(api_key_id=key_id).first()
        if record is not None or time.monotonic() > deadline:
            assert record is not None, "no usage record"
            return record
        time.sleep(0.05)


def client(live, key: str) -> OpenRouter:
    return OpenRouter(api_key=key, server_url=live.server.base_url + "/api/v1", timeout_ms=20_000)


def test_the_sdk_reads_key_credits_models_and_generations(
    live, sdk_workspace, upstreams, django_db_blocker
):
    workspace, raw, _, key_id = sdk_workspace
    with client(live, raw) as sdk:
        answer = sdk.chat.send(model="fake/chat", messages=HELLO)
        assert answer.choices[0].message.content
        record = record_of_key(django_db_blocker, key_id)
        cost = Decimal(format_usd(record.cost_pico))
        assert cost > 0

        key = sdk.api_keys.get_current_key_metadata().data
        assert Decimal(str(key.usage)) == cost == Decimal(str(key.usage_daily))
        assert (key.limit, key.limit_reset) == (0.25, "daily")
        assert key.limit_remaining == float(Decimal("0.25") - cost)
        assert key.effective_budget is not None and key.effective_budget.scope == "key_limit"
        assert key.is_free_tier is False and key.workspace_id == workspace.slug

        credits = sdk.credits.get_credits().data
        assert (credits.total_credits, credits.total_usage) == (3.0, float(cost))

        generation = sdk.generations.get_generation(id=record.request_id).data
        assert generation.id == record.request_id and generation.total_cost == float(cost)
        assert generation.tokens_completion == record.completion_tokens

        listed = sdk.models.list()
        ids = [model.id for model in listed.result.data]
        assert "fake/chat" in ids and listed.result.total_count == len(ids)
        fake = next(model for model in listed.result.data if model.id == "fake/chat")
        assert (fake.pricing.prompt, fake.pricing.completion) == ("0.00000015", "0.0000006")
        assert fake.architecture.output_modalities == ["text"]

        with pytest.raises(errors.NotFoundResponseError):
            sdk.generations.get_generation(id="req_no_such_call")
    with (
        client(live, "sk-orca-" + "n" * 43) as stranger,
        pytest.raises(errors.UnauthorizedResponseError),
    ):
        stranger.api_keys.get_current_key_metadata()


def test_the_sdk_provisions_keys_with_a_management_key(live, sdk_workspace, upstreams):
    _, raw, management, _ = sdk_workspace
    with client(live, management) as admin, client(live, raw) as user:
        # /credits, which OpenRouter reads with a management key, takes one here too.
        credits = admin.credits.get_credits().data
        assert credits.total_credits == 3.0
        assert credits == user.credits.get_credits().data  # the same workspace's
        created = admin.api_keys.create(name="from the sdk", limit=2, limit_reset="weekly")
        assert created.key.startswith("sk-orca-") and created.data.name == "from the sdk"
        assert (created.data.limit, created.data.limit_reset) == (2.0, "weekly")
        key_hash = created.data.hash

        with client(live, created.key) as new:  # the new key calls the relay at once
            assert new.chat.send(model="fake/chat", messages=HELLO).choices

        listed = admin.api_keys.list(include_disabled=True).data
        assert key_hash in [k.hash for k in listed]
        updated = admin.api_keys.update(hash=key_hash, name="renamed", disabled=True)
        assert (updated.data.name, updated.data.disabled) == ("renamed", True)
        assert admin.api_keys.get(hash=key_hash).data.name == "renamed"
        admin.api_keys.delete(hash=key_hash)  # its answer, {"deleted": true}: the SDK parses it
        with pytest.raises(errors.NotFoundResponseError):
            admin.api_keys.get(hash=key_hash)
        with pytest.raises(errors.BadRequestResponseError) as bad:
            admin.api_keys.create(name="x", limit=-5)
        assert "between 0 and" in bad.value.data.error.message
