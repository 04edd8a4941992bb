"""API key material and the create_key command."""

import re
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from billing.selectors import balance_usd
from workspaces import services
from workspaces.keys import display_prefix, generate_key, hash_key
from workspaces.models import ApiKey, Workspace
from workspaces.selectors import key_context

pytestmark = pytest.mark.django_db


def test_keys_are_long_url_safe_and_stored_only_as_a_keyed_hash():
    raw = generate_key()
    assert re.fullmatch(r"sk-orca-[A-Za-z0-9_-]{32,}", raw)
    assert generate_key() != raw
    workspace, _ = services.get_or_create_workspace("hashy")
    key, returned = services.create_api_key(workspace, name="k")
    stored = ApiKey.objects.get(pk=key.pk)
    assert stored.key_hash == hash_key(returned) and len(stored.key_hash) == 64
    assert returned not in str(ApiKey.objects.filter(pk=key.pk).values().get())
    assert stored.prefix == display_prefix(returned)
    assert len(stored.prefix) < 20


def test_hash_depends_on_the_server_secret(settings):
    raw = generate_key()
    before = hash_key(raw)
    settings.ORCA_KEY_HASH_SECRET = "another-secret"
    assert hash_key(raw) != before


def test_create_key_makes_the_workspace_and_prints_only_the_key():
    out = StringIO()
    call_command("create_key", "--workspace", "New Team", "--name", "ci", stdout=out)
    printed = out.getvalue()
    assert re.fullmatch(r"sk-orca-[A-Za-z0-9_-]{32,}\n", printed)
    workspace = Workspace.objects.get(slug="new-team")
    key = workspace.api_keys.get()
    assert key.name == "ci" and key.key_hash == hash_key(printed.strip())

    call_command("create_key", "--workspace", "new-team", "--credits", "12.50", stdout=StringIO())
    assert workspace.api_keys.count() == 2
    assert balance_usd(workspace.id) == Decimal("12.50")


@pytest.mark.parametrize("credits", ["lots", "-5", "0", "NaN"])
def test_create_key_rejects_bad_credits(credits):
    with pytest.raises(CommandError, match="--credits"):
        call_command("create_key", "--workspace", "w", "--credits", credits, stdout=StringIO())
    assert not Workspace.objects.filter(slug="w").exists()


def test_key_context_carries_patterns_and_networks():
    workspace, _ = services.get_or_create_workspace("ctx")
    _, raw = services.create_api_key(
        workspace,
        allowed_models=["openai/*", "anthropic/claude-haiku-*"],
        allowed_ips=["10.0.0.0/8"],
    )
    context = key_context(hash_key(raw))
    assert context.allows_model("openai/gpt-4.1")
    assert context.allows_model("OPENAI/GPT-4.1")
    assert context.allows_model("anthropic/claude-haiku-4.5")
    assert not context.allows_model("anthropic/claude-opus-5.5")
    assert context.allows_ip("10.1.2.3")
    assert not context.allows_ip("192.168.1.1")
    assert not context.allows_ip(None)
    assert key_context(hash_key(generate_key())) is None


def test_invalid_ip_allowlist_is_refused():
    workspace, _ = services.get_or_create_workspace("ips")
    with pytest.raises(services.InvalidKeySettings, match="not an IP"):
        services.create_api_key(workspace, allowed_ips=["office"])
    assert not workspace.api_keys.exists()
