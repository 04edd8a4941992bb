"""Dashboard pages for routers, the playground and the model catalog: role enforcement,
cross-workspace isolation, router validation shared with the API, and the playground calling
the relay in process (its ASGI app stubbed here) without ever echoing the key."""

import asyncio
import inspect
import json

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from routing import playground
from routing import views as routing_views
from routing.models import Model, Provider, Router
from workspaces import services
from workspaces.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    users = {
        role: get_user_model().objects.create_user(f"dash-{role}")
        for role in ("owner", "developer", "viewer", "outsider")
    }
    mine, _ = services.get_or_create_workspace("dash-mine")
    theirs, _ = services.get_or_create_workspace("dash-theirs")
    services.add_member(mine, users["owner"], Role.OWNER)
    services.add_member(mine, users["developer"], Role.DEVELOPER)
    services.add_member(mine, users["viewer"], Role.VIEWER)
    services.add_member(theirs, users["outsider"], Role.OWNER)
    provider = Provider.objects.create(slug="dash-prov", name="Dash provider", kind="demo")
    Model.objects.create(
        public_id="dashtest/alpha",
        provider=provider,
        upstream_name="alpha",
        input_price="0.15",
        output_price="0.60",
        cached_input_price="0.075",
        context_length=128_000,
        capabilities=["tools", "vision"],
    )
    Model.objects.create(
        public_id="dashother/beta",
        provider=provider,
        upstream_name="beta",
        input_price="3",
        output_price="15",
        context_length=200_000,
        capabilities=["reasoning"],
    )
    Model.objects.create(
        public_id="dashtest/hidden", provider=provider, upstream_name="x", enabled=False
    )
    Router.objects.create(workspace=mine, name="mine-router", candidates=["dashtest/*"])
    Router.objects.create(workspace=theirs, name="their-router", candidates=["dashtest/*"])
    return {"users": users, "mine": mine, "theirs": theirs}


def as_user(client, world, role):
    client.force_login(world["users"][role])
    return client


def urls(slug):
    return [
        reverse("dashboard:routers", args=[slug]),
        reverse("dashboard:router_edit", args=[slug, "mine-router"]),
        reverse("dashboard:playground", args=[slug]),
        reverse("dashboard:models", args=[slug]),
    ]


def test_anonymous_is_sent_to_login(client, world):
    for url in urls("dash-mine"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response["Location"], url


def names(workspace):
    return set(Router.objects.filter(workspace=workspace).values_list("name", flat=True))


def test_non_member_gets_404(client, world):
    before = names(world["mine"])
    as_user(client, world, "outsider")
    for url in urls("dash-mine"):
        assert client.get(url).status_code == 404, url
        assert client.post(url, {"name": "x", "delete": "1"}).status_code == 404, url
    assert names(world["mine"]) == before


def test_viewer_reads_but_cannot_write(client, world):
    as_user(client, world, "viewer")
    for url in urls("dash-mine"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert b"Routers" in response.content  # the nav shows: workspace in the context
    routers = reverse("dashboard:routers", args=["dash-mine"])
    edit = reverse("dashboard:router_edit", args=["dash-mine", "mine-router"])
    play = reverse("dashboard:playground", args=["dash-mine"])
    before = names(world["mine"])
    assert client.post(routers, {"name": "new", "strategy": "cheapest"}).status_code == 403
    assert client.post(edit, {"delete": "1"}).status_code == 403
    assert client.post(play, {"target": "dashtest/alpha", "prompt": "hi"}).status_code == 403
    assert names(world["mine"]) == before


def test_another_workspaces_router_name_is_404(client, world):
    as_user(client, world, "owner")
    edit = reverse("dashboard:router_edit", args=["dash-mine", "their-router"])
    assert client.get(edit).status_code == 404
    assert client.post(edit, {"delete": "1"}).status_code == 404
    assert client.post(edit, {"name": "stolen", "strategy": "cheapest"}).status_code == 404
    assert Router.objects.filter(workspace=world["theirs"], name="their-router").exists()
    response = client.get(reverse("dashboard:routers", args=["dash-mine"]))
    assert b"their-router" not in response.content and b"mine-router" in response.content


def test_developer_creates_edits_and_deletes_a_router(client, world):
    as_user(client, world, "developer")
    routers = reverse("dashboard:routers", args=["dash-mine"])
    response = client.post(
        routers,
        {
            "name": "cheap",
            "candidates": "dashtest/*\n\n  dashother/beta  \n",
            "strategy": "cheapest",
            "default_model": "dashtest/alpha",
            "enabled": "on",
        },
    )
    assert response.status_code == 302
    router = Router.objects.get(workspace=world["mine"], name="cheap")
    assert router.candidates == ["dashtest/*", "dashother/beta"]
    assert router.strategy == "cheapest" and router.default_model == "dashtest/alpha"
    assert router.enabled
    assert b"orcarouter/cheap" in client.get(routers).content

    edit = reverse("dashboard:router_edit", args=["dash-mine", "cheap"])
    page = client.get(edit)
    assert page.status_code == 200 and b"dashother/beta" in page.content
    response = client.post(
        edit, {"name": "cheap", "candidates": "dashother/beta", "strategy": "fastest"}
    )
    assert response.status_code == 302
    router.refresh_from_db()
    assert router.candidates == ["dashother/beta"] and router.strategy == "fastest"
    assert not router.enabled and router.default_model == ""

    response = client.post(edit, {"delete": "1"})
    assert response.status_code == 302 and response["Location"] == routers
    assert not Router.objects.filter(workspace=world["mine"], name="cheap").exists()


def test_a_name_taken_in_another_workspace_is_free_here(client, world):
    as_user(client, world, "developer")
    response = client.post(
        reverse("dashboard:routers", args=["dash-mine"]),
        {"name": "their-router", "strategy": "balanced"},
    )
    assert response.status_code == 302
    assert Router.objects.filter(name="their-router").count() == 2


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"name": "Bad Name!"}, "name", "use 1-50 of a-z"),
        ({"name": "orcarouter"}, "name", "is reserved"),
        ({"name": "mine-router"}, "name", "already has a router of that name"),
        ({"name": "ok", "default_model": "nope/missing"}, "default_model", "in the catalog"),
        ({"name": "ok", "default_model": "dashtest/hidden"}, "default_model", "in the catalog"),
    ],
)
def test_invalid_router_shows_the_error_and_creates_nothing(client, world, data, field, message):
    as_user(client, world, "developer")
    before = Router.objects.count()
    response = client.post(
        reverse("dashboard:routers", args=["dash-mine"]), {"strategy": "balanced", **data}
    )
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert message.encode() in response.content or b"reserved" in response.content
    assert Router.objects.count() == before


def test_renaming_onto_an_existing_name_is_refused(client, world):
    as_user(client, world, "developer")
    Router.objects.create(workspace=world["mine"], name="second")
    edit = reverse("dashboard:router_edit", args=["dash-mine", "second"])
    response = client.post(edit, {"name": "mine-router", "strategy": "balanced"})
    assert response.status_code == 400
    assert Router.objects.filter(workspace=world["mine"], name="second").exists()


def test_models_page_lists_the_enabled_catalog_and_filters(client, world):
    as_user(client, world, "viewer")
    url = reverse("dashboard:models", args=["dash-mine"])
    page = client.get(url).content.decode()
    assert "dashtest/alpha" in page and "dashother/beta" in page
    assert "dashtest/hidden" not in page
    assert "$0.15" in page and "$0.6" in page and "$0.075" in page and "128000" in page
    assert "available" in page

    def ids(**params):
        return [row["public_id"] for row in client.get(url, params).context["rows"]]

    assert "dashother/beta" not in ids(q="ALPHA") and "dashtest/alpha" in ids(q="ALPHA")
    assert ids(q="dash", capability="reasoning") == ["dashother/beta"]
    assert ids(q="dash", capability="vision") == ["dashtest/alpha"]
    assert ids(provider="dashother") == ["dashother/beta"]
    assert ids(provider="dashtest", capability="reasoning") == []


class FakeRelay:
    """Stands in for the relay's ASGI app: records each call and answers as told."""

    def __init__(self, status=200, payload=None, headers=(), fail=None):
        self.status, self.payload, self.headers, self.fail = status, payload, headers, fail
        self.calls = []

    async def __call__(self, scope, receive, send):
        message = await receive()
        self.calls.append({**scope, "body": json.loads(message["body"])})
        if self.fail is not None:
            raise self.fail
        body = json.dumps(self.payload).encode()
        headers = [(b"content-type", b"application/json")]
        headers += [(name.encode(), value.encode()) for name, value in self.headers]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture
def relay(monkeypatch):
    def install(**options):
        fake = FakeRelay(**options)
        monkeypatch.setattr(playground, "relay_app", lambda: fake)
        return fake

    return install


def test_playground_is_an_async_view():
    # A minute-long relay call waits in the event loop, not in a worker thread.
    assert inspect.iscoroutinefunction(routing_views.playground)


def test_playground_calls_the_relay_and_shows_the_outcome_but_never_the_key(client, world, relay):
    _, raw_key = services.create_api_key(world["mine"], name="play")
    fake = relay(
        payload={
            "id": "gen-123",
            "model": "dashtest/alpha",
            "choices": [{"message": {"role": "assistant", "content": "Hello from the stub"}}],
            "usage": {
                "prompt_tokens": 12,
                "completion_tokens": 34,
                "total_tokens": 46,
                "cost": "0.0000222",
            },
        },
        headers=[
            ("X-Orca-Request-Id", "gen-123"),
            ("X-Orca-Resolved-Model", "dashtest/alpha"),
            ("X-Orca-Router", "orcarouter/mine-router"),
            ("X-Orca-Cost", "0.0000222"),
            ("X-Other", "hidden-header"),
        ],
    )
    as_user(client, world, "developer")
    url = reverse("dashboard:playground", args=["dash-mine"])
    response = client.post(
        url,
        {"target": "orcarouter/mine-router", "prompt": "Say hi", "api_key": raw_key},
        HTTP_HOST="127.0.0.1:5432",  # must make no difference: no URL is built from it
        REMOTE_ADDR="203.0.113.9",
    )
    assert response.status_code == 200
    page = response.content.decode()
    [call] = fake.calls
    assert (call["method"], call["path"]) == ("POST", "/v1/chat/completions")
    assert call["body"] == {
        "model": "orcarouter/mine-router",
        "messages": [{"role": "user", "content": "Say hi"}],
    }
    assert (b"authorization", f"Bearer {raw_key}".encode()) in call["headers"]
    assert not any(name == b"host" for name, _ in call["headers"])
    assert call["client"] == ("203.0.113.9", 0)  # IP allow-lists see the developer's address
    assert "Hello from the stub" in page
    assert "x-orca-request-id" in page.lower() and "gen-123" in page
    assert "orcarouter/mine-router" in page and "x-orca-router" in page.lower()
    assert "x-orca-resolved-model" in page.lower()
    assert "$0.0000222" in page
    assert "12 prompt" in page and "34 completion" in page and "46 total" in page
    assert "hidden-header" not in page
    assert raw_key not in page and raw_key[8:20] not in page
    assert "no-store" in response["Cache-Control"]


def test_playground_shows_the_error_envelope(client, world, relay):
    _, raw_key = services.create_api_key(world["mine"], name="play")
    envelope = {"error": {"message": "Insufficient credits", "type": "orcarouter_api_error"}}
    relay(status=402, payload=envelope, headers=[("X-Orca-Request-Id", "gen-err")])
    as_user(client, world, "owner")
    response = client.post(
        reverse("dashboard:playground", args=["dash-mine"]),
        {"target": "dashtest/alpha", "prompt": "hi", "api_key": raw_key},
    )
    page = response.content.decode()
    assert "Error 402" in page and "Insufficient credits" in page and "orcarouter_api_error" in page
    assert "gen-err" in page
    assert raw_key not in page


def test_playground_masks_a_key_echoed_back(client, world, relay):
    _, raw_key = services.create_api_key(world["mine"], name="play")
    envelope = {"error": {"message": f"bad header Bearer {raw_key}", "type": "x"}}
    relay(status=401, payload=envelope, headers=[("X-Orca-Echo", raw_key)])
    as_user(client, world, "developer")
    response = client.post(
        reverse("dashboard:playground", args=["dash-mine"]),
        {"target": "dashtest/alpha", "prompt": "hi", "api_key": raw_key},
    )
    page = response.content.decode()
    assert "Error 401" in page and "bad header Bearer sk-orca-…" in page
    assert raw_key not in page and raw_key[8:20] not in page


def test_playground_refuses_a_key_of_another_workspace_without_calling(client, world, relay):
    _, other_key = services.create_api_key(world["theirs"], name="theirs")
    fake = relay(payload={})
    as_user(client, world, "developer")
    response = client.post(
        reverse("dashboard:playground", args=["dash-mine"]),
        {"target": "dashtest/alpha", "prompt": "hi", "api_key": other_key},
    )
    assert response.status_code == 400
    assert b"Not an API key of this workspace" in response.content
    assert other_key.encode() not in response.content
    assert fake.calls == []


def test_playground_reports_a_failed_relay_call_without_the_key(client, world, relay, caplog):
    _, raw_key = services.create_api_key(world["mine"], name="play")
    relay(fail=RuntimeError("boom"))
    as_user(client, world, "developer")
    response = client.post(
        reverse("dashboard:playground", args=["dash-mine"]),
        {"target": "dashtest/alpha", "prompt": "hi", "api_key": raw_key},
    )
    assert response.status_code == 200
    assert b"The relay failed (RuntimeError)" in response.content
    assert raw_key.encode() not in response.content
    assert "playground relay call failed" in caplog.text and raw_key not in caplog.text


def test_playground_gives_up_after_its_timeout(client, world, relay, monkeypatch):
    _, raw_key = services.create_api_key(world["mine"], name="play")

    class Stuck(FakeRelay):
        async def __call__(self, scope, receive, send):
            await asyncio.Event().wait()

    monkeypatch.setattr(playground, "relay_app", lambda: Stuck())
    monkeypatch.setattr(playground, "TIMEOUT_SECONDS", 0.01)
    as_user(client, world, "developer")
    response = client.post(
        reverse("dashboard:playground", args=["dash-mine"]),
        {"target": "dashtest/alpha", "prompt": "hi", "api_key": raw_key},
    )
    assert response.status_code == 200
    assert b"The relay did not answer within 0.01 seconds" in response.content


def test_playground_shows_bad_input_without_calling(client, world, relay):
    fake = relay(payload={})
    as_user(client, world, "developer")
    url = reverse("dashboard:playground", args=["dash-mine"])
    for data in (
        {"target": "nope/missing", "prompt": "hi", "api_key": "sk-orca-x"},
        {"target": "dashtest/alpha", "prompt": "", "api_key": "sk-orca-x"},
        {"target": "dashtest/alpha", "prompt": "hi", "api_key": "\x00" * 300},
    ):
        response = client.post(url, data)
        assert response.status_code == 400, data
    assert fake.calls == []


def test_playground_only_offers_this_workspaces_routers(client, world):
    as_user(client, world, "developer")
    page = client.get(reverse("dashboard:playground", args=["dash-mine"])).content
    assert b"orcarouter/mine-router" in page and b"their-router" not in page
    assert b'type="password"' in page
