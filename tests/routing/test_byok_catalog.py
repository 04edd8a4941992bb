"""The pure parts of BYOK and "not configured": which providers serve a model in a
workspace's view, in what order, and what a BYOK call costs and holds."""

import random
from dataclasses import replace
from decimal import Decimal

from billing.pricing import Metered, Prices, cost_pico, estimate_pico
from routing import selection
from routing.catalog.byok import OwnCredential, workspace_catalog
from routing.catalog.snapshot import Catalog, ModelRoute, ProviderRoute

PRICES = Prices.from_catalog(input_price=Decimal("1"), output_price=Decimal("2"))


def provider(slug: str, credential: str = "", env: str = "", kind: str = "openai"):
    return ProviderRoute(
        slug=slug, kind=kind, base_url=f"https://{slug}.test/v1", credential=credential,
        credential_env=env, max_concurrency=4,
    )  # fmt: skip


def route(public_id: str, *providers: ProviderRoute, weights=()) -> ModelRoute:
    def one(p: ProviderRoute, weight: int) -> ModelRoute:
        return ModelRoute(
            public_id=public_id, upstream_name=f"{public_id}@{p.slug}", provider=p,
            input_price=Decimal(1), output_price=Decimal(2), cached_input_price=None,
            context_length=0, max_output_tokens=0, capabilities=(), endpoint_types=("chat",),
            created=0, weight=weight, prices=PRICES,
        )  # fmt: skip

    weights = weights or [1] * len(providers)
    first, *rest = [one(p, w) for p, w in zip(providers, weights, strict=True)]
    return replace(first, alternates=tuple(rest))


def test_unconfigured_providers_serve_nothing_and_a_model_of_none_stays_unconfigured():
    keyed, bare, keyless = provider("a", "key-a"), provider("b", env="B_KEY"), provider("c")
    catalog = Catalog.build(
        [route("x/both", bare, keyed), route("x/bare", bare), route("x/local", keyless)]
    )
    both = catalog.resolve("x/both")
    assert both is not None and [d.provider.slug for d in both.deployments] == ["a"]
    assert both.upstream_name == "x/both@a"  # the configured alternate serves it
    only_bare = catalog.resolve("x/bare")
    assert only_bare is not None and not only_bare.configured
    assert only_bare.provider.credential_env == "B_KEY"
    local = catalog.resolve("x/local")  # names no variable: called without a credential
    assert local is not None and local.configured
    assert provider("d", kind="demo", env="X").configured


def test_a_workspaces_view_puts_its_own_key_first_at_the_fee():
    platform, other = provider("a", "platform-key"), provider("b", "b-key")
    catalog = Catalog.build([route("x/m", platform, other), route("y/m", other)])
    own = (OwnCredential("a", "own-key", "https://mine.test/v1/", True),)
    view = workspace_catalog(catalog, own, workspace_id=7, fee=Decimal(5))
    m = view.resolve("x/m")
    assert m is not None
    assert [(d.provider.slug, d.provider.byok) for d in m.deployments] == [
        ("a", True), ("a", False), ("b", False)
    ]  # fmt: skip
    mine = m.deployments[0]
    assert mine.provider.credential == "own-key" and mine.provider.owner == 7
    assert mine.provider.base_url == "https://mine.test/v1" and mine.provider.max_concurrency == 0
    assert mine.provider.secrets == (b"own-key",)  # scrubbed from what it answers
    assert mine.health_key == "a~7|x/m" != m.deployments[1].health_key
    assert mine.prices.percent == Decimal(5)
    assert view.resolve("y/m") is catalog.resolve("y/m")  # untouched routes are shared
    assert workspace_catalog(catalog, (), 7, Decimal(5)) is catalog


def test_no_fallback_drops_the_platforms_key_for_that_provider_only():
    platform, other = provider("a", "platform-key"), provider("b", "b-key")
    catalog = Catalog.build([route("x/m", platform, other)])
    view = workspace_catalog(catalog, (OwnCredential("a", "own", "", False),), 3, Decimal(0))
    m = view.resolve("x/m")
    assert m is not None
    assert [(d.provider.slug, d.provider.byok) for d in m.deployments] == [
        ("a", True), ("b", False)
    ]  # fmt: skip
    assert m.deployments[0].provider.base_url == "https://a.test/v1"  # the catalog's


def test_an_own_key_configures_an_unconfigured_provider():
    catalog = Catalog.build([route("x/m", provider("a", env="A_KEY"))])
    assert not catalog.resolve("x/m").configured
    view = workspace_catalog(catalog, (OwnCredential("a", "own", "", True),), 3, Decimal(0))
    m = view.resolve("x/m")
    assert m.configured and [d.provider.byok for d in m.deployments] == [True]


def test_own_routes_go_first_whatever_the_weights():
    platform = provider("a", "platform-key")
    catalog = Catalog.build([route("x/m", provider("b", "b"), platform, weights=(100, 1))])
    view = workspace_catalog(catalog, (OwnCredential("a", "own", "", True),), 3, Decimal(0))
    m = view.resolve("x/m")
    for seed in range(20):
        draw = random.Random(seed).choices
        ordered = selection.order_deployments(
            m, selection.NO_PREFERENCES, available=lambda d: True, latency=lambda d: None,
            throughput=lambda d: None, pick=lambda items, w, draw=draw: draw(items, w)[0],
        )  # fmt: skip
        assert ordered[0].provider.byok and not any(d.provider.byok for d in ordered[1:])
    only = selection.ProviderPreferences(allow_fallbacks=False)
    first = selection.order_deployments(
        m, only, available=lambda d: True, latency=lambda d: None, throughput=lambda d: None,
        pick=lambda items, weights: items[-1],
    )  # fmt: skip
    assert [d.provider.byok for d in first] == [True]


def test_the_fee_is_a_share_of_the_total_rounded_up_in_the_charge_and_the_hold():
    used = Metered(prompt_tokens=3, completion_tokens=1)  # 3 * 1 + 1 * 2 pico per token
    full = cost_pico(PRICES, used)
    assert full == 3 * 10**6 + 2 * 10**6
    fee = replace(PRICES, percent=Decimal(5))
    assert cost_pico(fee, used) == full * 5 // 100
    odd = Prices(input=1, output=0, percent=Decimal(5))  # 0.05 pico: rounds up to 1
    assert cost_pico(odd, Metered(prompt_tokens=1)) == 1
    assert cost_pico(replace(PRICES, percent=Decimal(0)), used) == 0
    # The hold uses the same rule, so it covers the charge and no more than the fee.
    assert estimate_pico(fee, 3, 1) == cost_pico(fee, used)
    assert estimate_pico(fee, 3, 1, Decimal(10)) == cost_pico(fee, used, Decimal(10))
