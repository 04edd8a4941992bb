"""The TOML catalog: the shipped files load, applying is idempotent, bad files are named."""

from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from routing.catalog import loader
from routing.models import Model, Provider

CATALOG_DIR = Path(__file__).resolve().parents[2] / "routing" / "catalog"

pytestmark = pytest.mark.django_db


def apply_file(path: Path, *args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("apply_catalog", str(path), *args, stdout=out)
    return out.getvalue()


def test_default_catalog_covers_the_real_providers_and_is_idempotent():
    first = apply_file(CATALOG_DIR / "default.toml")
    providers = set(Provider.objects.values_list("slug", flat=True))
    assert {
        "openai",
        "anthropic",
        "google",
        "xai",
        "deepseek",
        "qwen",
        "moonshot",
        "minimax",
        "zai",
    } <= providers
    assert "created" in first
    for provider in Provider.objects.all():
        assert provider.base_url.startswith("https://")
        assert provider.credential_env.endswith("_API_KEY")
        assert provider.models.exists()
    snapshot = list(Model.objects.order_by("public_id").values())

    second = apply_file(CATALOG_DIR / "default.toml")
    assert second == ("providers: 0 created, 0 updated; models: 0 created, 0 updated, 0 disabled\n")
    assert list(Model.objects.order_by("public_id").values()) == snapshot


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.toml"
    path.write_text(text)
    return path


PROVIDER = """
[[providers]]
slug = "p"
name = "P"
kind = "openai"
base_url = "https://example.test/v1"
credential_env = "P_KEY"
"""


def test_prices_are_exact_decimals_and_changes_update_in_place(tmp_path):
    model = '[[models]]\nid = "p/m"\nprovider = "p"\nupstream = "m"\ninput = "{price}"\noutput = "1.1"\n'  # noqa: E501
    apply_file(write(tmp_path, PROVIDER + model.format(price="0.000001")))
    assert Model.objects.get(public_id="p/m").input_price == Decimal("0.000001")
    out = apply_file(write(tmp_path, PROVIDER + model.format(price="2.5")))
    assert "models: 0 created, 1 updated" in out
    assert Model.objects.get(public_id="p/m").input_price == Decimal("2.5")


def test_prune_disables_models_the_file_no_longer_names(tmp_path):
    two = PROVIDER + "".join(
        f'[[models]]\nid = "p/{n}"\nprovider = "p"\nupstream = "{n}"\ninput = "1"\noutput = "1"\n'
        for n in ("a", "b")
    )
    apply_file(write(tmp_path, two))
    one = two.split('[[models]]\nid = "p/b"')[0]
    assert "1 disabled" in apply_file(write(tmp_path, one), "--prune")
    assert not Model.objects.get(public_id="p/b").enabled
    assert Model.objects.get(public_id="p/a").enabled


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[[providers]]\nslug='x'\nkind='carrier-pigeon'\nbase_url='https://x'\n",
            "kind 'carrier-pigeon'",
        ),
        (
            "[[providers]]\nslug='x'\nkind='openai'\nbase_url='ftp://x'\n",
            "`base_url` must be an http(s) URL",
        ),
        (
            "[[providers]]\nslug='x'\nkind='openai'\nbase_url='https://x'\napi_key='oops'\n",
            "unknown keys ['api_key']",
        ),
        (
            PROVIDER + "[[models]]\nid='p/m'\nprovider='p'\nupstream='m'\ninput=0.15\noutput='1'\n",
            "models[0]: `input` must be a str",
        ),
        (
            PROVIDER
            + "[[models]]\nid='p/m'\nprovider='p'\nupstream='m'\ninput='cheap'\noutput='1'\n",
            "not a decimal number",
        ),
        (
            PROVIDER + "[[models]]\nid='p/m'\nprovider='p'\nupstream='m'\ninput='-1'\noutput='1'\n",
            "non-negative",
        ),
        (
            PROVIDER + "[[models]]\nid='m'\nprovider='p'\nupstream='m'\ninput='1'\noutput='1'\n",
            "must look like vendor/name",
        ),
        (
            PROVIDER
            + "[[models]]\nid='p/m'\nprovider='ghost'\nupstream='m'\ninput='1'\noutput='1'\n",
            "unknown provider 'ghost'",
        ),
        (
            PROVIDER
            + "[[models]]\nid='p/m'\nprovider='p'\nupstream='m'\ninput='1'\noutput='1'\n"
            + "capabilities=['telepathy']\n",
            "unknown capabilities",
        ),
        ("this is = = not toml", "not valid TOML"),
    ],
)
def test_bad_catalogs_are_refused_naming_the_problem_and_write_nothing(tmp_path, text, message):
    with pytest.raises(CommandError, match=None) as caught:
        apply_file(write(tmp_path, text))
    assert message in str(caught.value)
    assert not Provider.objects.filter(slug__in=["x", "p"]).exists()


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(CommandError, match="no such catalog file"):
        apply_file(tmp_path / "absent.toml")


def test_parse_rejects_duplicate_ids():
    data = {
        "models": [
            {"id": "p/m", "provider": "p", "upstream": "m", "input": "1", "output": "1"},
            {"id": "P/M", "provider": "p", "upstream": "m", "input": "1", "output": "1"},
        ]
    }
    with pytest.raises(loader.CatalogError, match="duplicate id"):
        loader.parse(data)


ALTERNATES = (
    PROVIDER
    + """
[[providers]]
slug = "q"
name = "Q"
kind = "openai"
base_url = "https://q.example.test/v1"
credential_env = "Q_KEY"

[[models]]
id = "p/m"
provider = "p"
upstream = "m"
input = "1"
output = "2"
weight = 3

[[models.alternates]]
provider = "q"
upstream = "m-on-q"
weight = 1
input = "0.5"
"""
)


def test_alternate_providers_load_and_reapply_idempotently(tmp_path, monkeypatch):
    from routing.models import ModelAlternate
    from routing.selectors import load_catalog

    apply_file(write(tmp_path, ALTERNATES))
    alternate = ModelAlternate.objects.get(model__public_id="p/m")
    assert (alternate.provider.slug, alternate.upstream_name, alternate.weight) == (
        "q",
        "m-on-q",
        1,
    )
    assert alternate.input_price == Decimal("0.5") and alternate.output_price is None
    assert "models: 0 created, 0 updated" in apply_file(write(tmp_path, ALTERNATES))

    monkeypatch.setenv("P_KEY", "p-credential")
    monkeypatch.setenv("Q_KEY", "q-credential")
    route = load_catalog().resolve("p/m")
    assert [d.provider.slug for d in route.deployments] == ["p", "q"]
    assert route.alternates[0].output_price == Decimal("2")  # inherited from the model
    # A provider without a credential serves nothing; the model goes on through the other.
    monkeypatch.delenv("P_KEY")
    route = load_catalog().resolve("p/m")
    assert [(d.provider.slug, d.upstream_name) for d in route.deployments] == [("q", "m-on-q")]
    monkeypatch.delenv("Q_KEY")
    route = load_catalog().resolve("p/m")
    assert not route.configured and route.provider.credential_env == "P_KEY"

    without = ALTERNATES.split("[[models.alternates]]")[0]
    assert "models: 0 created, 1 updated" in apply_file(write(tmp_path, without), "--prune")
    assert not ModelAlternate.objects.exists()


def test_alternate_naming_an_unknown_provider_is_refused(tmp_path):
    bad = ALTERNATES.replace(
        'provider = "q"\nupstream = "m-on-q"', 'provider = "zz"\nupstream = "x"'
    )
    with pytest.raises(CommandError, match="unknown provider 'zz'"):
        apply_file(write(tmp_path, bad))
