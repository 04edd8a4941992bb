"""One model served by several providers: weighted balancing, preferences, variants."""

import time
from collections import Counter

import httpx
import openai
import pytest

from routing.models import Model, ModelAlternate, Provider
from tests.conftest import UPSTREAM_CREDENTIAL

HELLO = [{"role": "user", "content": "hi"}]


@pytest.fixture
def two_providers(live, django_db_blocker):
    """lb/m: provider `fake` (upstream fake-chat, weight 3, price 1) and provider `fake2`
    (upstream fake-chat-alt, weight 1, price 0.1); lb/failover: `fake` fails, `fake2` works."""
    with django_db_blocker.unblock():
        if not Provider.objects.filter(slug="fake2").exists():
            primary = Provider.objects.get(slug="fake")
            second = Provider(
                slug="fake2", name="Fake two", kind="openai", base_url=live.upstream.base_url
            )
            second.set_credential(UPSTREAM_CREDENTIAL)
            second.save()
            m = Model.objects.create(
                public_id="lb/m", provider=primary, upstream_name="fake-chat",
                input_price="1", output_price="1", weight=3,
            )  # fmt: skip
            ModelAlternate.objects.create(
                model=m, provider=second, upstream_name="fake-chat-alt", weight=1,
                input_price="0.1", output_price="0.1",
            )  # fmt: skip
            f = Model.objects.create(
                public_id="lb/failover", provider=primary, upstream_name="fake-error-500", weight=1
            )
            ModelAlternate.objects.create(
                model=f, provider=second, upstream_name="fake-chat", weight=0
            )
    deadline = time.monotonic() + 3
    while (
        httpx.get(
            f"{live.base_url}/models/lb/failover",
            headers={"Authorization": f"Bearer {live.key}"},
            timeout=5,
        ).status_code
        != 200
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)


def served_by(upstreams) -> str:
    return upstreams["openai"].requests[-1].json["model"]


def test_weighted_load_balancing_uses_both_providers(sdk, upstreams, two_providers):
    counts = Counter()
    for _ in range(40):
        sdk.chat.completions.create(model="lb/m", messages=HELLO)
        counts[served_by(upstreams)] += 1
    assert counts["fake-chat"] > counts["fake-chat-alt"] > 0


@pytest.mark.parametrize(
    ("provider", "expected"),
    [
        ({"only": ["fake2"]}, "fake-chat-alt"),
        ({"ignore": ["fake"]}, "fake-chat-alt"),
        ({"order": ["fake2", "fake"]}, "fake-chat-alt"),
        ({"order": ["fake"], "allow_fallbacks": False}, "fake-chat"),
        ({"sort": "price"}, "fake-chat-alt"),
        ({"max_price": {"prompt": 0.5}}, "fake-chat-alt"),
    ],
)
def test_provider_preferences(sdk, upstreams, two_providers, provider, expected):
    for _ in range(5):
        sdk.chat.completions.create(model="lb/m", messages=HELLO, extra_body={"provider": provider})
        assert served_by(upstreams) == expected
    assert all("provider" not in r.json for r in upstreams["openai"].requests)


def test_floor_and_nitro_variants(sdk, upstreams, two_providers):
    for _ in range(5):
        sdk.chat.completions.create(model="lb/m:floor", messages=HELLO)
        assert served_by(upstreams) == "fake-chat-alt"
    completion = sdk.chat.completions.create(model="lb/m:nitro", messages=HELLO)
    assert completion.choices[0].message.content == "Hello from the fake upstream."


def test_a_failing_provider_falls_over_to_the_next_unless_told_not_to(
    sdk, upstreams, two_providers
):
    raw = sdk.chat.completions.with_raw_response.create(model="lb/failover", messages=HELLO)
    assert raw.parse().choices[0].message.content == "Hello from the fake upstream."
    assert [r.json["model"] for r in upstreams["openai"].requests][-2:] == [
        "fake-error-500",
        "fake-chat",
    ]
    for header in raw.headers:
        assert "fake2" not in raw.headers[header] and "127.0.0.1" not in raw.headers[header]
    with pytest.raises(openai.InternalServerError):
        sdk.chat.completions.create(
            model="lb/failover", messages=HELLO, extra_body={"provider": {"allow_fallbacks": False}}
        )


@pytest.mark.parametrize(
    ("provider", "param"),
    [
        ("fake", "provider"),
        ({"only": "fake"}, "provider.only"),
        ({"sort": "vibes"}, "provider.sort"),
        ({"allow_fallbacks": "no"}, "provider.allow_fallbacks"),
        ({"max_price": {"prompt": -1}}, "provider.max_price.prompt"),
        ({"max_price": {"prompt": 0.01}}, "provider"),  # nothing that cheap
    ],
)
def test_bad_or_unsatisfiable_preferences_are_400(sdk, upstreams, two_providers, provider, param):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="lb/m", messages=HELLO, extra_body={"provider": provider})
    assert caught.value.body["param"] == param
    assert not upstreams["openai"].requests
