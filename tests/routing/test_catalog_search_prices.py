"""The catalog's `extra_prices`: per-unit prices (one web search) load, are checked, and are
left alone by a file that does not give them."""

from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from billing.pricing import usd_to_pico
from routing.catalog import loader
from routing.models import Model

CATALOG_DIR = Path(__file__).resolve().parents[2] / "routing" / "catalog"

pytestmark = pytest.mark.django_db

CATALOG = """
[[providers]]
slug = "p"
name = "P"
kind = "openai"
base_url = "https://p.example/v1"
credential_env = "P_API_KEY"

[[models]]
id = "p/m"
provider = "p"
upstream = "m"
input = "1"
output = "2"
"""


def apply_text(tmp_path: Path, text: str) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(text)
    call_command("apply_catalog", str(path), stdout=StringIO())


def test_the_default_catalog_prices_a_web_search_where_the_provider_bills_one():
    _, models = loader.load_file(CATALOG_DIR / "default.toml")
    prices = {m.public_id: (m.extra_prices or {}).get("web_search") for m in models}
    assert prices["openai/gpt-6.1-sol"] == "0.01"  # the web_search tool: $10 / 1,000 calls
    assert prices["openai/gpt-4.1"] == "0.025"  # web_search_preview on gpt-4.1: $25 / 1,000
    assert prices["anthropic/claude-sonnet-4.5"] == "0.01"  # $10 / 1,000 searches
    assert prices["google/gemini-3.1-pro-preview"] == "0.014"  # 3.x: $14 / 1,000 queries
    assert prices["google/gemini-2.5-flash-lite"] == "0.035"  # 2.x: $35 / 1,000 prompts
    assert prices["grok/grok-4.5"] == "0.005"
    assert prices["deepseek/deepseek-flash"] is None  # no search billed
    assert prices["openai/text-embedding-3-small"] is None
    for price in filter(None, prices.values()):
        assert 0 < Decimal(price) < 1


def test_extra_prices_are_applied_and_left_alone_when_not_given(tmp_path):
    apply_text(tmp_path, CATALOG + 'extra_prices = { web_search = "0.01" }\n')
    model = Model.objects.get(public_id="p/m")
    assert model.extra_prices == {"web_search": "0.01"}
    assert usd_to_pico(model.extra_prices["web_search"]) == 10**10
    Model.objects.filter(pk=model.pk).update(extra_prices={"web_search": "0.02"})  # an admin's
    apply_text(tmp_path, CATALOG)  # the file says nothing: the admin's price stays
    assert Model.objects.get(public_id="p/m").extra_prices == {"web_search": "0.02"}
    apply_text(tmp_path, CATALOG + "extra_prices = {}\n")  # an empty table clears them
    assert Model.objects.get(public_id="p/m").extra_prices == {}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('extra_prices = "0.01"', "`extra_prices` must be a dict"),
        ("extra_prices = { web_search = 0.01 }", "`web_search` must be a str"),
        ('extra_prices = { web_search = "ten" }', "not a decimal number"),
        ('extra_prices = { web_search = "-1" }', "must be a non-negative price"),
    ],
)
def test_bad_extra_prices_are_refused(tmp_path, line, message):
    with pytest.raises(CommandError) as caught:
        apply_text(tmp_path, CATALOG + line + "\n")
    assert message in str(caught.value)
    assert not Model.objects.filter(public_id="p/m").exists()
